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
    /// Manage staff accounts (`city staff create ...`, `city staff disable --username U`).
    #[command(subcommand)]
    Staff(StaffCommand),
    /// Manage integrator API keys (`city apikey create --name N --scope S` prints the key alone).
    #[command(subcommand)]
    Apikey(ApikeyCommand),
    /// The WeChat Service Account (`city wechat menu push|show|delete`).
    #[command(subcommand)]
    Wechat(WechatCommand),
    /// Bills and fines (`city payments import bills FILE`, `city payments reconcile --date D`).
    #[command(subcommand)]
    Payments(PaymentsCommand),
}

#[derive(Subcommand)]
enum PaymentsCommand {
    /// Import data files (`city payments import bills FILE`).
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
enum PaymentsImport {
    /// A bill CSV (`biller_id,account_no,period,amount_yuan,due_date`): all rows or none; every
    /// bad row is printed with its line; the same file twice changes nothing.
    Bills {
        /// The CSV file.
        file: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
enum WechatCommand {
    /// The account's menu, sent through WeChat's API (the sandbox unless `wechat.api_base` is set).
    #[command(subcommand)]
    Menu(MenuCommand),
}

#[derive(Subcommand)]
enum MenuCommand {
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
enum StaffCommand {
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
}

#[derive(Subcommand)]
enum ApikeyCommand {
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
        Command::Staff(cmd) => identity_command(settings, IdentityCommand::Staff(cmd)).await,
        Command::Apikey(cmd) => identity_command(settings, IdentityCommand::Apikey(cmd)).await,
        Command::Wechat(WechatCommand::Menu(cmd)) => wechat_menu(settings, cmd).await,
        Command::Payments(cmd) => payments_command(settings, cmd).await,
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

enum IdentityCommand {
    Staff(StaffCommand),
    Apikey(ApikeyCommand),
}

/// `city staff ...` and `city apikey ...`: straight to identity's store, audited as `cli`.
async fn identity_command(settings: Settings, command: IdentityCommand) -> anyhow::Result<()> {
    use city_identity::admin;
    let (trigger, signal) = city_platform::shutdown::channel();
    let platform = city_platform::Platform::build(settings, "cli", signal).await?;
    let failed = |p: city_platform::Problem| {
        let fields: Vec<String> = p.errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
        anyhow::anyhow!(
            "{} {}",
            p.title,
            if fields.is_empty() { p.detail.unwrap_or_default() } else { fields.join("; ") }
        )
    };
    let result = match command {
        IdentityCommand::Staff(StaffCommand::Create {
            username,
            password,
            roles,
            display_name,
            districts,
            agencies,
            hospitals,
        }) => {
            let roles = roles.iter().map(|r| parse_role(r)).collect::<anyhow::Result<Vec<_>>>()?;
            let scopes = city_platform::auth::Scopes { districts, agencies, hospitals };
            let new = admin::NewStaff { username, display_name, password, roles, scopes };
            admin::cli_create_staff(&platform, new).await.map_err(failed).map(|row| {
                eprintln!("created staff member {} ({})", row.username, row.id);
            })
        }
        IdentityCommand::Staff(StaffCommand::Disable { username }) => {
            admin::cli_disable_staff(&platform, &username).await.map_err(failed).map(|row| {
                eprintln!("disabled staff member {}; their sessions have ended", row.username);
            })
        }
        IdentityCommand::Apikey(ApikeyCommand::Create { name, scopes }) => {
            admin::cli_create_api_key(&platform, &name, &scopes).await.map_err(failed).map(|key| println!("{key}"))
        }
    };
    trigger.fire();
    result
}

fn parse_role(text: &str) -> anyhow::Result<city_platform::auth::Role> {
    use city_platform::auth::Role;
    Ok(match text {
        "admin" => Role::Admin,
        "clerk" => Role::Clerk,
        "scheduler" => Role::Scheduler,
        "finance" => Role::Finance,
        other => anyhow::bail!("unknown role `{other}`; one of: admin, clerk, scheduler, finance"),
    })
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

/// `city payments ...`: straight to the payments store; exits non-zero on bad rows or mismatches.
async fn payments_command(settings: Settings, cmd: PaymentsCommand) -> anyhow::Result<()> {
    city_platform::telemetry::init_logging(settings.log_format, "warn");
    let (trigger, signal) = city_platform::shutdown::channel();
    let platform = city_platform::Platform::build(settings, "cli", signal).await?;
    let ok = match cmd {
        PaymentsCommand::Import(PaymentsImport::Bills { file }) => {
            city_payments::import_bills_file(platform, &file).await.map_err(|e| anyhow::anyhow!("{e}"))?
        }
        PaymentsCommand::Reconcile { date } => {
            city_payments::reconcile_day(platform, date.as_deref()).await.map_err(|e| anyhow::anyhow!("{e}"))?
        }
    };
    trigger.fire();
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}

async fn wechat_menu(settings: Settings, cmd: MenuCommand) -> anyhow::Result<()> {
    use city_channel::menu_ops;
    let api = menu_ops::oa_api(&settings);
    match cmd {
        MenuCommand::Push { file } => {
            let text = match &file {
                Some(path) => {
                    Some(std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?)
                }
                None => None,
            };
            let menu = menu_ops::push(&api, text.as_deref()).await?;
            println!("menu pushed: {} top-level buttons, keys {}", menu.button.len(), menu.keys().join(", "));
        }
        MenuCommand::Show => println!("{}", serde_json::to_string_pretty(&menu_ops::show(&api).await?)?),
        MenuCommand::Delete => {
            menu_ops::delete(&api).await?;
            println!("menu deleted");
        }
    }
    Ok(())
}
