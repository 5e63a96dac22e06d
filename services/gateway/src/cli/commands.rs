//! The operator's subcommands that act on one service's store or on WeChat: staff and API keys,
//! payments imports and reconciliation, the Service Account menu; the demo's credentials and
//! the start banner; and the shutdown signal.

use anyhow::Context;
use city_platform::Settings;

use super::{ApikeyCommand, MenuCommand, PaymentsCommand, PaymentsImport, StaffCommand};

pub(super) enum IdentityCommand {
    Staff(StaffCommand),
    Apikey(ApikeyCommand),
}

/// `city staff ...` and `city apikey ...`: straight to identity's store, audited as `cli`.
pub(super) async fn identity_command(settings: Settings, command: IdentityCommand) -> anyhow::Result<()> {
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
        IdentityCommand::Staff(StaffCommand::Enable { username, username_flag }) => {
            let username = username.or(username_flag).unwrap_or_default();
            admin::cli_enable_staff(&platform, &username).await.map_err(failed).map(|row| {
                eprintln!("enabled staff member {}; they may sign in again", row.username);
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
        "editor" => Role::Editor,
        "agent" => Role::Agent,
        other => anyhow::bail!("unknown role `{other}`; one of: admin, clerk, scheduler, finance, editor, agent"),
    })
}

/// Ctrl-C or SIGTERM (what Kubernetes and CI send).
pub(super) async fn shutdown_signal() {
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

/// `city payments import fines FILE`: the fines use case the finance API calls, straight to the
/// store, printing what went in or every bad row. Whether the file was imported (or had been).
async fn import_fines(platform: city_platform::Platform, path: &std::path::Path) -> anyhow::Result<bool> {
    use city_payments::usecases::imports::{import_fines, FineImportError, FinesImported};
    let data = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let (_, _, state) = city_payments::PaymentsService::start_with_state(platform).await?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(match import_fines(&state, &data, &name, None).await {
        Ok(FinesImported::Now { import_id, rows, new_fines }) => {
            println!("imported {rows} fines, {new_fines} new (import {import_id})");
            true
        }
        Ok(FinesImported::Before { import_id }) => {
            println!("this file was imported before (import {import_id}); nothing changed");
            true
        }
        Err(FineImportError::BadRows(errors)) => {
            for e in &errors {
                let column = e.column.map(|c| format!("{c}: ")).unwrap_or_default();
                println!("line {}: {column}{}", e.line, e.message);
            }
            println!("{} bad rows; nothing was imported", errors.len());
            false
        }
        Err(err @ FineImportError::Store(_)) => anyhow::bail!("{err}"),
    })
}

/// `city payments ...`: straight to the payments store; exits non-zero on bad rows or mismatches.
pub(super) async fn payments_command(settings: Settings, cmd: PaymentsCommand) -> anyhow::Result<()> {
    city_platform::telemetry::init_logging(settings.log_format, "warn");
    let (trigger, signal) = city_platform::shutdown::channel();
    let platform = city_platform::Platform::build(settings, "cli", signal).await?;
    let ok = match cmd {
        PaymentsCommand::Import(PaymentsImport::Bills { file }) => {
            city_payments::import_bills_file(platform, &file).await.map_err(|e| anyhow::anyhow!("{e}"))?
        }
        PaymentsCommand::Import(PaymentsImport::Fines { file }) => import_fines(platform, &file).await?,
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

pub(super) async fn wechat_menu(settings: Settings, cmd: MenuCommand) -> anyhow::Result<()> {
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
            // A file is the city's menu being tried out; without one every account gets its seed.
            if file.is_none() {
                let mut failed = 0;
                for (key, pushed) in menu_ops::push_accounts(&settings).await {
                    match pushed {
                        Ok(menu) => println!("menu of account {key} pushed: keys {}", menu.keys().join(", ")),
                        Err(e) => {
                            failed += 1;
                            eprintln!("menu of account {key} not pushed: {e}");
                        }
                    }
                }
                anyhow::ensure!(failed == 0, "{failed} departmental account menus were not pushed");
            }
        }
        MenuCommand::Show => println!("{}", serde_json::to_string_pretty(&menu_ops::show(&api).await?)?),
        MenuCommand::Delete => {
            menu_ops::delete(&api).await?;
            println!("menu deleted");
        }
    }
    Ok(())
}

/// Prints a freshly generated demo set once (the short values; the keys stay in the file).
pub(super) fn print_demo_secrets(path: &std::path::Path) -> anyhow::Result<()> {
    let set = city_platform::secrets::DemoSecrets::read(path)
        .map_err(anyhow::Error::msg)?
        .ok_or_else(|| anyhow::anyhow!("{} vanished", path.display()))?;
    println!("DEMO credentials generated into {} (owner read/write only); shown this once:", path.display());
    for (key, value) in [
        ("wechat.oa_token", &set.oa_token),
        ("wechat.oa_aes_key", &set.oa_aes_key),
        ("wechat.mp_secret", &set.mp_secret),
        ("wechat.oa_secret", &set.oa_secret),
        ("payments.api_v3_key", &set.api_v3_key),
        ("internal_token", &set.internal_token),
    ] {
        println!("  {key} = {value}");
    }
    println!("  (identity's data and hash keys and the WeChat Pay key pairs are in the file)");
    println!("They work only against this demo's own WeChat sandbox; a deployment uses CITY_PROFILE=production.");
    Ok(())
}

/// The start banner: a demo says loudly what it is, production that nothing is left open.
pub(super) fn banner(app: &crate::App, addr: std::net::SocketAddr) {
    match (&app.profile, &app.demo_secrets) {
        (city_platform::config::Profile::Demo, Some(path)) => tracing::warn!(
            demo_secrets = %path.display(),
            "DEMO PROFILE: the WeChat sandbox answers at http://{addr}/sandbox/wechat (its _test helpers \
             pay any order and mint any login) and the credentials are the demo set in {}; \
             never expose this to the internet. A deployment sets CITY_PROFILE=production.",
            path.display()
        ),
        _ => tracing::info!(
            "production profile: no sandbox, WeChat and WeChat Pay at their configured https bases, every credential configured"
        ),
    }
}

/// `city config`'s last part: where WeChat calls go, all-in-one and when the services run apart
/// (the defaults differ: apart, the sandbox is its own process and browsers come through the
/// gateway).
pub(super) fn wechat_bases(settings: &Settings) -> String {
    let mut out = String::from("\n# Where WeChat calls go (values in effect, defaults filled in).\n");
    for (title, mode) in
        [("all-in-one (`city serve`)", crate::Mode::AllInOne), ("apart (`--only`, `--gateway`)", crate::Mode::Gateway)]
    {
        out.push_str(&format!("# {title}:\n"));
        for (key, value) in crate::wechat_bases(settings, &mode) {
            out.push_str(&format!("#   {key} = {value}\n"));
        }
    }
    out
}
