//! The `city` command: parse the command line, load configuration, run the subcommand. The
//! subcommands live in the library (`city::cli`), so tests drive the very same code.

use city_platform::Settings;
use clap::Parser;

/// jemalloc instead of glibc's malloc: glibc keeps what a burst of requests freed in per-thread
/// arenas, so the process never shrinks after a peak; jemalloc, built with its background
/// thread on (the crate's `background_threads` feature), returns freed pages after its decay time
/// (10 s) even while no request comes. `_RJEM_MALLOC_CONF` tunes it for a measurement.
#[cfg(all(unix, not(target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<()> {
    let cli = city::cli::Cli::parse();
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(err) => {
            eprintln!("city: {err}");
            std::process::exit(2);
        }
    };
    let command = cli.command.unwrap_or_else(|| city::cli::Command::Serve(Default::default()));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(city::cli::run(command, settings))
}
