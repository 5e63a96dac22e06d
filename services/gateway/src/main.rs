//! The `city` command: parse the command line, load configuration, start logging, call the
//! library. Everything worth testing lives in `lib.rs`.

use std::time::Duration;

use anyhow::Context;
use city::{Mode, SERVICES};
use city_platform::Settings;
use clap::{Parser, Subcommand};

/// City Services: the municipal portal backend (booking, payments, incidents, air quality).
#[derive(Parser)]
#[command(name = "city", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the portal: all services in one process (default), one service alone, or the gateway.
    Serve(ServeArgs),
    /// Apply every service's migrations to its store and exit.
    Migrate,
    /// Load the demo data into empty stores and exit.
    Seed,
    /// Print the whole portal's OpenAPI document (JSON).
    Openapi,
    /// Print the effective configuration, secrets masked.
    Config,
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// Run one service alone on its own port (from `services.<name>` in the configuration).
    #[arg(long, value_name = "SERVICE", conflicts_with = "gateway")]
    only: Option<String>,
    /// Serve the gateway's own routes and forward each service prefix to its configured URL.
    #[arg(long)]
    gateway: bool,
    /// Listen here instead of the configured address.
    #[arg(long, value_name = "ADDR")]
    listen: Option<std::net::SocketAddr>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(err) => {
            eprintln!("city: {err}");
            std::process::exit(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(cli.command.unwrap_or(Command::Serve(ServeArgs::default())), settings))
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Config => {
            print!("{}", settings.to_masked_toml());
            Ok(())
        }
        Command::Openapi => {
            let (spec, _) = city::whole_document().await?;
            println!("{spec}");
            Ok(())
        }
        Command::Migrate => {
            city_platform::telemetry::init_logging(settings.log_format, &settings.log);
            let app = city::build(Settings { seed_demo_data: false, ..settings }, Mode::AllInOne).await?;
            app.trigger.fire();
            println!("migrations applied ({})", app.backend);
            Ok(())
        }
        Command::Seed => {
            city_platform::telemetry::init_logging(settings.log_format, &settings.log);
            let app = city::build(Settings { seed_demo_data: true, ..settings }, Mode::AllInOne).await?;
            app.trigger.fire();
            println!("demo data loaded where stores were empty ({})", app.backend);
            Ok(())
        }
        Command::Serve(args) => {
            city_platform::telemetry::init_logging(settings.log_format, &settings.log);
            let mode = match (args.only, args.gateway) {
                (Some(name), _) => {
                    if !SERVICES.contains(&name.as_str()) {
                        anyhow::bail!("unknown service `{name}`; one of: {}", SERVICES.join(", "));
                    }
                    Mode::Only(name)
                }
                (None, true) => Mode::Gateway,
                (None, false) => Mode::AllInOne,
            };
            let listen = args.listen.unwrap_or_else(|| city::default_listen(&settings, &mode));
            let grace = Duration::from_secs(settings.shutdown_grace_secs);
            let started = std::time::Instant::now();
            let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
            let addr = listener.local_addr()?;
            // The portal's own address is where its WeChat sandbox answers.
            let app = city::build(Settings { listen: addr, ..settings }, mode.clone()).await?;
            tracing::info!(
                ready_ms = started.elapsed().as_millis() as u64,
                "city {:?} ready on http://{addr} ({}); Swagger UI at http://{addr}/docs",
                mode,
                app.backend
            );
            city::serve(app, listener, shutdown_signal(), grace).await?;
            tracing::info!("stopped");
            Ok(())
        }
    }
}

/// Ctrl-C or SIGTERM (what Kubernetes and CI send).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
