//! The `city` command line: its arguments and the dispatch to each subcommand. `main.rs` only
//! parses, loads the settings and calls [`run`].

mod commands;

use std::time::Duration;

use anyhow::Context;
use city_platform::config::Profile;
use city_platform::secrets::DemoSecrets;
use city_platform::Settings;
use clap::{Parser, Subcommand};

use crate::{Mode, SERVICES};

/// City Services: the municipal portal backend (booking, payments, incidents, air quality).
#[derive(Parser)]
#[command(name = "city", version, about, long_about = None)]
pub struct Cli {
    /// What to do; `serve` when absent.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Serve the portal: all services in one process (default), one service alone, or the gateway.
    Serve(ServeArgs),
    /// Apply every service's migrations to its store and exit.
    Migrate,
    /// Load the demo data into empty stores and exit (`--air-days N`: also N days of air readings).
    Seed(SeedArgs),
    /// Print the whole portal's OpenAPI document (JSON).
    Openapi,
    /// Print the effective configuration, secrets masked.
    Config,
    /// Print the table of error kinds (`docs/errors.md`) as Markdown.
    Errors,
    /// Manage staff accounts (`city staff create ...`, `city staff disable --username U`).
    #[command(subcommand)]
    Staff(StaffCommand),
    /// Manage integrator API keys (`city apikey create --name N --scope S` prints the key alone).
    #[command(subcommand)]
    Apikey(ApikeyCommand),
    /// The WeChat Service Account (`city wechat menu push|show|delete`).
    #[command(subcommand)]
    Wechat(WechatCommand),
    /// Bills and fines (`city payments import bills|fines FILE`, `city payments reconcile --date D`).
    #[command(subcommand)]
    Payments(PaymentsCommand),
    /// The demo's generated credentials (`city demo-secrets init`).
    #[command(subcommand, name = "demo-secrets")]
    DemoSecrets(DemoSecretsCommand),
}

#[derive(Subcommand)]
pub enum DemoSecretsCommand {
    /// Write the demo credentials into the data directory (0600) unless they are there already,
    /// so every process of a split demo reads one set; the first demo start does the same.
    Init,
}

#[derive(Subcommand)]
pub enum PaymentsCommand {
    /// Import data files (`city payments import bills FILE`, `city payments import fines FILE`).
    #[command(subcommand)]
    Import(PaymentsImport),
    /// Three-way reconciliation (us, WeChat Pay's trade bill, billers) of a Beijing day, as JSON.
    Reconcile {
        /// The day, YYYY-MM-DD (default: yesterday in Beijing).
        #[arg(long)]
        date: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum PaymentsImport {
    /// A bill CSV (`biller_id,account_no,period,amount_yuan,due_date`): all rows or none; every
    /// bad row is printed with its line; the same file twice changes nothing.
    Bills {
        /// The CSV file.
        file: std::path::PathBuf,
    },
    /// The traffic police's fines CSV (`decision_no,plate,plate_type,engine_no,fine_yuan,
    /// decided_on,violation,location`): all rows or none, every bad row printed with its line;
    /// it feeds the vehicle registry too; the same file twice changes nothing.
    Fines {
        /// The CSV file.
        file: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
pub enum WechatCommand {
    /// The account's menu, sent through WeChat's API (the sandbox unless `wechat.api_base` is set).
    #[command(subcommand)]
    Menu(MenuCommand),
}

#[derive(Subcommand)]
pub enum MenuCommand {
    /// Check a menu file against WeChat's limits and create it (default: seeds/wechat/menu.json).
    Push {
        /// A WeChat menu JSON file instead of the shipped seed.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
    /// Print the menu in effect as WeChat menu JSON.
    Show,
    /// Remove the menu.
    Delete,
}

#[derive(Subcommand)]
pub enum StaffCommand {
    /// Create a staff member who signs in at `POST /v1/staff/sessions`.
    Create {
        /// Sign-in name (a-z, 0-9, '.', '_', '-').
        #[arg(long)]
        username: String,
        /// Password, at least 10 characters (or `CITY_STAFF_PASSWORD`, which stays out of shell history).
        #[arg(long, env = "CITY_STAFF_PASSWORD", hide_env_values = true)]
        password: String,
        /// A role: admin, clerk, scheduler, finance (repeat for several).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Shown in the back office.
        #[arg(long, default_value = "")]
        display_name: String,
        /// A district code they may act in (repeatable).
        #[arg(long = "district")]
        districts: Vec<String>,
        /// An agency id they may act for (repeatable).
        #[arg(long = "agency")]
        agencies: Vec<String>,
        /// A hospital id they may act at (repeatable).
        #[arg(long = "hospital")]
        hospitals: Vec<String>,
    },
    /// Disable a staff member: they cannot sign in and their sessions end.
    Disable {
        /// Their sign-in name.
        #[arg(long)]
        username: String,
    },
    /// Enable a staff member again (also clears a lockout after failed sign-ins):
    /// `city staff enable USERNAME` or `--username USERNAME`.
    Enable {
        /// Their sign-in name.
        #[arg(required_unless_present = "username_flag", conflicts_with = "username_flag")]
        username: Option<String>,
        /// Their sign-in name, as `disable` takes it.
        #[arg(long = "username", id = "username_flag", value_name = "USERNAME")]
        username_flag: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum ApikeyCommand {
    /// Create a key and print it alone on standard output (it is shown this once).
    Create {
        /// The integrator's name.
        #[arg(long)]
        name: String,
        /// A scope such as `air-ingest` or `open311` (repeatable).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
    },
}

#[derive(clap::Args, Default)]
pub struct SeedArgs {
    /// Backfill N days of the demo stations' simulated hourly air readings, through the ingestion
    /// use case; hours already stored are left as they are (demo profile only).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=366))]
    pub air_days: Option<u32>,
}

#[derive(clap::Args, Default)]
pub struct ServeArgs {
    /// Run one service alone on its own port (from `services.<name>` in the configuration):
    /// identity, booking, payments, incidents, air, channel (`wechat` is its older name), or
    /// `sandbox`, the WeChat sandbox of a split demo.
    #[arg(long, value_name = "SERVICE", conflicts_with = "gateway")]
    pub only: Option<String>,
    /// Serve the gateway's own routes and forward each service prefix to its configured URL.
    #[arg(long)]
    pub gateway: bool,
    /// Listen here instead of the configured address.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
}

/// Runs one subcommand to its end.
pub async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    // What only reads the configuration or the code needs no credentials; everything else
    // starts from settings checked for the profile (a demo's credentials filled in).
    let settings = match &command {
        Command::Config | Command::Errors | Command::Openapi | Command::DemoSecrets(_) => settings,
        _ => {
            let prepared = match city_platform::profile::prepare(settings) {
                Ok(prepared) => prepared,
                Err(err) => {
                    // A refused configuration is the operator's to fix, not a crash: no backtrace.
                    eprintln!("city: {err}");
                    std::process::exit(2);
                }
            };
            if let Some(path) = &prepared.created {
                commands::print_demo_secrets(path)?;
            }
            prepared.settings
        }
    };
    match command {
        Command::Config => {
            print!("{}", settings.to_masked_toml());
            print!("{}", commands::wechat_bases(&settings));
            if settings.profile == Profile::Production {
                let findings = city_platform::profile::production_findings(&settings);
                println!("\n# production start: {}", if findings.is_empty() { "ready" } else { "refused" });
                for finding in findings {
                    println!("#   - {finding}");
                }
            }
            Ok(())
        }
        Command::DemoSecrets(DemoSecretsCommand::Init) => {
            anyhow::ensure!(
                settings.profile == Profile::Demo,
                "demo credentials are for the demo profile; production configures its own"
            );
            let (_, created) = DemoSecrets::load_or_create(&settings.data_dir).map_err(anyhow::Error::msg)?;
            let path = DemoSecrets::path_in(&settings.data_dir);
            if created {
                commands::print_demo_secrets(&path)?;
            } else {
                println!("demo credentials already in {} (unchanged)", path.display());
            }
            Ok(())
        }
        Command::Staff(cmd) => commands::identity_command(settings, commands::IdentityCommand::Staff(cmd)).await,
        Command::Apikey(cmd) => commands::identity_command(settings, commands::IdentityCommand::Apikey(cmd)).await,
        Command::Wechat(WechatCommand::Menu(cmd)) => commands::wechat_menu(settings, cmd).await,
        Command::Payments(cmd) => commands::payments_command(settings, cmd).await,
        Command::Errors => {
            print!("{}", crate::errors_markdown());
            Ok(())
        }
        Command::Openapi => {
            let (spec, _) = crate::whole_document().await?;
            println!("{spec}");
            Ok(())
        }
        Command::Migrate => {
            city_platform::telemetry::init_logging(settings.log_format, &settings.log);
            let app = crate::build(Settings { seed_demo_data: false, ..settings }, Mode::AllInOne).await?;
            app.trigger.fire();
            println!("migrations applied ({})", app.backend);
            Ok(())
        }
        Command::Seed(args) => {
            city_platform::telemetry::init_logging(settings.log_format, &settings.log);
            if args.air_days.is_some() {
                anyhow::ensure!(settings.profile == Profile::Demo, "simulated air readings are for the demo profile");
            }
            // The command backfills what it is asked; the running portal's feed does the rest.
            let air = city_platform::config::AirSettings { demo_feed: false };
            let app = crate::build(Settings { seed_demo_data: true, air, ..settings.clone() }, Mode::AllInOne).await?;
            app.trigger.fire();
            println!("demo data loaded where stores were empty ({})", app.backend);
            if let Some(days) = args.air_days {
                let (trigger, signal) = city_platform::shutdown::channel();
                let platform = city_platform::Platform::build(settings, "cli", signal).await?;
                let done = city_air::demo::backfill_store(platform, days).await.map_err(|e| anyhow::anyhow!(e));
                trigger.fire();
                let done = done?;
                println!(
                    "air: {days} days of demo readings, {} rows stored, {} already there",
                    done.stored, done.unchanged
                );
            }
            Ok(())
        }
        Command::Serve(args) => {
            city_platform::telemetry::init_logging(settings.log_format, &settings.log);
            let mode = match (args.only, args.gateway) {
                (Some(name), _) => {
                    let name = if name == "wechat" {
                        tracing::warn!("`--only wechat` is the older name of `--only channel`; use `--only channel`");
                        crate::CHANNEL.to_owned()
                    } else {
                        name
                    };
                    if !SERVICES.contains(&name.as_str()) && name != crate::SANDBOX {
                        anyhow::bail!("unknown service `{name}`; one of: {}, sandbox", SERVICES.join(", "));
                    }
                    Mode::Only(name)
                }
                (None, true) => Mode::Gateway,
                (None, false) => Mode::AllInOne,
            };
            let listen = args.listen.unwrap_or_else(|| crate::default_listen(&settings, &mode));
            let settings = crate::public_base_for(settings, &mode);
            let grace = Duration::from_secs(settings.shutdown_grace_secs);
            let started = std::time::Instant::now();
            let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
            let addr = listener.local_addr()?;
            // The portal's own address is where its WeChat sandbox answers.
            let app = crate::build(Settings { listen: addr, ..settings }, mode.clone()).await?;
            commands::banner(&app, addr);
            tracing::info!(
                ready_ms = started.elapsed().as_millis() as u64,
                "city {:?} ready on http://{addr} ({}); Swagger UI at http://{addr}/docs",
                mode,
                app.backend
            );
            crate::serve(app, listener, commands::shutdown_signal(), grace).await?;
            tracing::info!("stopped");
            Ok(())
        }
    }
}
