//! The `city` command: parse the command line, load configuration, run the subcommand. The
//! subcommands live in the library (`city::cli`), so tests drive the very same code.

use city_platform::Settings;
use clap::Parser;

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
