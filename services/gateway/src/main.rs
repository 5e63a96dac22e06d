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

/// A panic is logged as one line (where, and what), inside the request's span when a request
/// panicked, which the edge then answers 500. Not the default hook's backtrace: resolving one maps
/// the whole binary and keeps its parsed debug info for good, some 70 MB of a debug build on the
/// first panic (issue #15's fuzz). `CITY_PANIC_BACKTRACE=1` brings the default hook back.
fn log_panics() {
    if std::env::var_os("CITY_PANIC_BACKTRACE").is_some_and(|v| v == "1") {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        let payload = info.payload();
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        if tracing::dispatcher::has_been_set() {
            tracing::error!(at = %at, panic = %what, "panicked");
        } else {
            eprintln!("city: panicked at {at}: {what}");
        }
    }));
}

fn main() -> anyhow::Result<()> {
    log_panics();
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
