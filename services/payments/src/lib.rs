//! Bills and fines (`/v1/payments`): utility accounts and bills, traffic fines with the legal
//! late surcharge, WeChat Pay v3 orders, notifications, refunds and reconciliation.
//!
//! Entry points: [`PaymentsService::start`] opens the store, seeds the demo data, starts the
//! background job and returns the API; [`PaymentsApi`] is the poem-openapi surface the gateway
//! mounts (or `city serve --only payments` serves alone); [`import_bills_file`] and
//! [`reconcile_day`] back the `city payments` commands.
//!
//! Layout (handlers call use cases; use cases call the store and WeChat Pay):
//! - `api`: handlers and DTOs; `api::problems` maps the use cases' errors to [`errors`]' kinds.
//! - [`usecases`]: orders, settlement, refunds, jobs, reconciliation, accounts, imports, booking
//!   fees, vehicles (the registry that opens a car's fines).
//! - [`store`]: the SQL, one file per aggregate; returns [`store::StoreError`].
//! - [`domain`]: pure rules: plates, the late surcharge on fines (`domain::fines`), order numbers,
//!   the bill-import CSV and the fines file, engine codes. [`wechat`]: requests to and
//!   notifications from WeChat Pay.
//! - [`biller`]: the biller adapter and its simulation; `applier`: group commit of payments.
//! - [`state`]: what they share, including the injected [`clock::Clock`].
//!
//! Invariants: the server computes every amount; money moves only through the conditional
//! updates in `store` (exactly once per order, refund and ledger entry); this service reads no
//! other service's tables.

mod api;
mod applier;
pub mod biller;
pub mod clock;
pub mod demo;
pub mod domain;
mod erasure;
pub mod errors;
pub mod payers;
pub mod state;
pub mod store;
pub mod usecases;
pub mod wechat;

use std::sync::Arc;

use city_platform::{Db, Platform};
use sqlx::migrate::Migrator;
use tokio::sync::Notify;

pub use api::PaymentsApi;
pub use clock::Clock;
pub use errors::KINDS as ERROR_KINDS;
pub use state::PaymentsState;
pub use wechat::pay_client;

/// The service's name: its SQLite file, PostgreSQL schema and `--only` argument.
pub const NAME: &str = "payments";

/// The path prefixes this service owns.
pub const PREFIXES: &[&str] = &["/v1/payments"];

/// This service's migrations, compiled in.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/payments");

/// The running service.
pub struct PaymentsService;

impl PaymentsService {
    /// Opens and migrates the store, seeds demo data into an empty one, starts the background
    /// job and builds the API.
    pub async fn start(platform: Platform) -> Result<(PaymentsApi, Db), city_platform::db::DbError> {
        let (api, db, _) = Self::start_with_state(platform).await?;
        Ok((api, db))
    }

    /// Like [`PaymentsService::start`], also returning the shared state (tests, the CLI).
    pub async fn start_with_state(
        platform: Platform,
    ) -> Result<(PaymentsApi, Db, Arc<PaymentsState>), city_platform::db::DbError> {
        Self::start_with_clock(platform, Clock::system()).await
    }

    /// Like [`PaymentsService::start_with_state`] on a given clock.
    pub async fn start_with_clock(
        platform: Platform,
        clock: Clock,
    ) -> Result<(PaymentsApi, Db, Arc<PaymentsState>), city_platform::db::DbError> {
        let db = Db::open(&platform.settings, NAME, &MIGRATOR).await?;
        let (pay, api_v3_key) = pay_client(&platform.settings).map_err(|reason| city_platform::db::DbError::Sql {
            service: NAME,
            source: sqlx::Error::Configuration(reason.into()),
        })?;
        let store = store::Store::new(db.clone());
        if platform.settings.seed_demo_data {
            let seed: serde_json::Value =
                serde_json::from_str(include_str!("../../../seeds/payments/demo.json")).unwrap_or_default();
            let vehicle_key = usecases::vehicles::registry_key(&platform.settings);
            store
                .seed_demo(&seed, &vehicle_key, clock.today(), clock.now_ms())
                .await
                .map_err(|source| city_platform::db::DbError::Sql { service: NAME, source })?;
        }
        let kick = Arc::new(Notify::new());
        // All-in-one, identity answers on the portal's own address; apart, at its replicas: the
        // mode the process runs in says which, never the URL.
        let s = &platform.settings;
        let identity = s.peer("identity", &s.services.identity);
        let payers = Arc::new(payers::IdentityPayers::to(identity, platform.internal_token.clone()));
        let state = Arc::new(PaymentsState {
            db: db.clone(),
            biller: Arc::new(biller::SimulatedBiller::new(store.clone(), clock.clone())),
            store,
            platform,
            applier: applier::Applier::start(&db, clock.clone(), kick.clone()),
            clock,
            pay,
            kick,
            api_v3_key,
            payers,
        });
        usecases::jobs::start(&state);
        erasure::start(&state);
        demo::start(&state).await;
        Ok((PaymentsApi::new(state.clone()), db, state))
    }
}

/// `city payments import bills FILE`: imports a bill file, printing progress and every bad row.
/// Returns whether the file was imported (or had been already).
pub async fn import_bills_file(
    platform: Platform,
    path: &std::path::Path,
) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    use usecases::imports::{ImportError, Imported};
    let data = std::fs::read(path)?;
    let (_, _, state) = PaymentsService::start_with_state(platform).await?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // This is the command's own output, so it goes to stdout rather than the log.
    let say = |line: String| {
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), "{line}");
    };
    let outcome =
        usecases::imports::import_bills(&state, &data, &name, None, &|done, total| say(format!("{done}/{total} rows")))
            .await;
    Ok(match outcome {
        Ok(Imported::Now { import_id, rows }) => {
            say(format!("imported {rows} bills (import {import_id})"));
            true
        }
        Ok(Imported::Before { import_id }) => {
            say(format!("this file was imported before (import {import_id}); nothing changed"));
            true
        }
        Err(ImportError::BadRows(errors)) => {
            for e in &errors {
                say(format!(
                    "line {}: {}{}",
                    e.line,
                    e.column.map(|c| format!("{c}: ")).unwrap_or_default(),
                    e.message
                ));
            }
            say(format!("{} bad rows; nothing was imported", errors.len()));
            false
        }
        Err(ImportError::Store(err)) => return Err(err.into()),
    })
}

/// `city payments reconcile --date D`: the three-way report for a Beijing day (default:
/// yesterday), printed as JSON. Returns whether everything matched. WeChat Pay (or the running
/// portal's sandbox) must be reachable.
pub async fn reconcile_day(
    platform: Platform,
    date: Option<&str>,
) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    let asked = match date {
        Some(d) => Some(
            chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| format!("--date {d}: expected YYYY-MM-DD"))?,
        ),
        None => None,
    };
    let (_, _, state) = PaymentsService::start_with_state(platform).await?;
    let date = asked.unwrap_or_else(|| state.clock.today().pred_opt().unwrap_or_default());
    let report = usecases::reconciliation::reconcile(&state, date).await?;
    use std::io::Write as _;
    writeln!(std::io::stdout(), "{}", serde_json::to_string_pretty(&report)?)?;
    Ok(report.mismatches.is_empty())
}
