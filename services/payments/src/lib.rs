//! Bills and fines (`/v1/payments`): utility accounts and bills, traffic fines with the legal
//! late surcharge, WeChat Pay v3 orders, notifications, refunds and reconciliation.
//!
//! Entry points: [`PaymentsService::start`] opens the store, seeds the demo data, starts the
//! background job and returns the API; [`PaymentsApi`] is the poem-openapi surface the gateway
//! mounts (or `city serve --only payments` serves alone); [`import_bills_file`] and
//! [`reconcile_day`] back the `city payments` commands.
//!
//! Layout: `domain` (pure rules: plates, surcharge, import CSV), `store` (SQL and the money
//! operations), `biller` (the biller adapter and its simulation), `api` (handlers).
//!
//! Invariants: the server computes every amount; money moves only through the conditional
//! updates in `store` (exactly once per order, refund and ledger entry); this service reads no
//! other service's tables.

mod api;
mod applier;
pub mod biller;
pub mod domain;
pub mod payers;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use city_platform::config::Settings;
use city_platform::time::now_ms;
use city_platform::{Db, Platform};
use city_wechat::crypto::pay::{MerchantSigner, PayPrivateKey, PayPublicKey, PayVerifier};
use city_wechat::pay_client::{demo, PayClient};
use sqlx::migrate::Migrator;
use tokio::sync::Notify;

pub use api::PaymentsApi;

/// The service's name: its SQLite file, PostgreSQL schema and `--only` argument.
pub const NAME: &str = "payments";

/// The path prefixes this service owns.
pub const PREFIXES: &[&str] = &["/v1/payments"];

/// This service's migrations, compiled in.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/payments");

/// What the payments handlers share.
pub struct PaymentsState {
    /// The service's own store.
    pub db: Db,
    /// Cache, bus and reference data.
    pub platform: Platform,
    /// The WeChat Pay client (merchant signer, platform verifier).
    pub pay: PayClient,
    /// The biller adapter.
    pub biller: Arc<dyn biller::Biller>,
    /// Wakes the background job (after a payment, so posting starts at once).
    pub kick: Arc<Notify>,
    /// Applies paid transactions in batched write transactions.
    pub applier: applier::Applier,
    /// The APIv3 key that decrypts notifications.
    pub api_v3_key: city_wechat::crypto::pay::ApiV3Key,
    /// Who pays: each citizen's Mini Program openid, from identity.
    pub payers: Arc<dyn payers::PayerDirectory>,
}

/// The running service.
pub struct PaymentsService;

/// Builds the WeChat Pay client from the settings; a bad key is a start-up error naming the key.
pub fn pay_client(settings: &Settings) -> Result<(PayClient, city_wechat::crypto::pay::ApiV3Key), String> {
    let p = &settings.payments;
    let pem = match (&p.merchant_private_key_path, &p.merchant_private_key_pem) {
        (Some(path), _) => {
            std::fs::read_to_string(path).map_err(|e| format!("payments.merchant_private_key_path: {e}"))?
        }
        (None, Some(pem)) => pem.expose().to_owned(),
        (None, None) => demo::MERCHANT_PRIVATE_KEY_PEM.to_owned(),
    };
    let key = PayPrivateKey::from_pem(&pem).map_err(|e| format!("payments merchant key: {e}"))?;
    let platform_pem = p.platform_public_key_pem.clone().unwrap_or_else(|| demo::PLATFORM_PUBLIC_KEY_PEM.to_owned());
    let platform =
        PayPublicKey::from_pem(&platform_pem).map_err(|e| format!("payments.platform_public_key_pem: {e}"))?;
    let mut verifier = PayVerifier::new();
    verifier.add_key(&p.platform_public_key_id, platform);
    let api_v3_key = city_wechat::crypto::pay::ApiV3Key::parse(p.api_v3_key.expose())
        .map_err(|_| "payments.api_v3_key: must be 32 characters".to_owned())?;
    let signer = MerchantSigner::new(p.mchid.clone(), p.merchant_serial_no.clone(), key);
    Ok((PayClient::new(settings.wechat_pay_base(), signer, verifier), api_v3_key))
}

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
        let db = Db::open(&platform.settings, NAME, &MIGRATOR).await?;
        let (pay, api_v3_key) = pay_client(&platform.settings).map_err(|reason| city_platform::db::DbError::Sql {
            service: NAME,
            source: sqlx::Error::Configuration(reason.into()),
        })?;
        if platform.settings.seed_demo_data {
            seed_demo(&db).await.map_err(|source| city_platform::db::DbError::Sql { service: NAME, source })?;
        }
        let kick = Arc::new(Notify::new());
        // All-in-one, identity answers on the portal's own address; apart, where it is configured.
        let configured = &platform.settings.services.identity;
        let identity = if *configured == Settings::default().services.identity {
            format!("http://{}", platform.settings.listen)
        } else {
            configured.clone()
        };
        let payers = Arc::new(payers::IdentityPayers::new(identity, platform.internal_token.clone()));
        let state = Arc::new(PaymentsState {
            db: db.clone(),
            biller: Arc::new(biller::SimulatedBiller::new(db.clone())),
            platform,
            pay,
            applier: applier::Applier::start(&db, kick.clone()),
            kick,
            api_v3_key,
            payers,
        });
        spawn_jobs(state.clone());
        subscribe(&state);
        Ok((PaymentsApi::new(state.clone()), db, state))
    }
}

/// How long the posting job waits after a payment for others to join its batch.
const POSTING_GATHER: Duration = Duration::from_millis(20);

/// Booking's events this service acts on: a fee to make payable, a booking that no longer
/// needs paying, a refund to make.
const BOOKING_TOPICS: &[&str] =
    &["booking.fee_due", "booking.expired", "booking.cancelled", "booking.refund_requested"];

fn subscribe(state: &Arc<PaymentsState>) {
    for topic in BOOKING_TOPICS {
        let s = state.clone();
        let handler: city_platform::bus::Handler = Arc::new(move |event: city_platform::bus::Event| {
            let s = s.clone();
            Box::pin(async move { on_booking_event(&s, event).await })
        });
        state.platform.bus.clone().subscribe(topic, NAME, handler, state.platform.shutdown.clone());
    }
}

/// Applies one of booking's events; each handler is idempotent on its own (see `store`), so a
/// redelivery changes nothing. `Err` has the bus deliver it again.
async fn on_booking_event(
    state: &PaymentsState,
    event: city_platform::bus::Event,
) -> city_platform::bus::HandlerResult {
    let p = &event.payload;
    match event.topic.as_str() {
        "booking.fee_due" => store::record_fee_due(state, p).await?,
        "booking.expired" | "booking.cancelled" => store::void_fee(state, p).await?,
        "booking.refund_requested" => store::refund_booking(state, p)
            .await
            .map_err(|problem| format!("booking refund not made yet: {}", problem.title))?,
        _ => {}
    }
    Ok(())
}

fn spawn_jobs(state: Arc<PaymentsState>) {
    let mut shutdown = state.platform.shutdown.clone();
    let interval = Duration::from_secs(state.platform.settings.payments.job_interval_secs.max(1));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {
                    if let Err(err) = store::run_jobs(&state).await {
                        tracing::warn!(error = %err, "payments job round failed");
                    }
                }
                () = state.kick.notified() => {
                    // Payments come in bursts: a moment's wait lets one round post the burst
                    // in one batch instead of taking the writer once per payment.
                    tokio::time::sleep(POSTING_GATHER).await;
                    if let Err(err) = store::run_postings(&state).await {
                        tracing::warn!(error = %err, "posting round failed");
                    }
                }
                () = shutdown.wait() => return,
            }
        }
    });
}

/// Loads `seeds/payments/demo.json` into an empty store (fines are dated relative to today).
async fn seed_demo(db: &Db) -> Result<(), sqlx::Error> {
    let (count,): (i64,) = sqlx::query_as("SELECT CAST(COUNT(*) AS BIGINT) FROM billers").fetch_one(&db.pool).await?;
    if count > 0 {
        return Ok(());
    }
    let seed: serde_json::Value =
        serde_json::from_str(include_str!("../../../seeds/payments/demo.json")).unwrap_or_default();
    let s = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let i = |v: &serde_json::Value, k: &str| v[k].as_i64().unwrap_or_default();
    let mut tx = db.begin_write().await?;
    for b in seed["billers"].as_array().into_iter().flatten() {
        sqlx::query("INSERT INTO billers (id, kind, name_zh, name_en, min_topup_fen) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING")
            .bind(s(b, "id"))
            .bind(s(b, "kind"))
            .bind(s(b, "name_zh"))
            .bind(s(b, "name_en"))
            .bind(i(b, "min_topup_fen"))
            .execute(&mut *tx)
            .await?;
    }
    for a in seed["accounts"].as_array().into_iter().flatten() {
        sqlx::query(
            "INSERT INTO sim_accounts (biller_id, account_no, holder_name, address, prepaid, balance_fen, posting_mode)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (biller_id, account_no) DO NOTHING",
        )
        .bind(s(a, "biller_id"))
        .bind(s(a, "account_no"))
        .bind(s(a, "holder_name"))
        .bind(s(a, "address"))
        .bind(a["prepaid"].as_bool().unwrap_or(false))
        .bind(i(a, "balance_fen"))
        .bind(a["posting_mode"].as_str().unwrap_or("ok"))
        .execute(&mut *tx)
        .await?;
    }
    let today = store::today();
    for b in seed["bills"].as_array().into_iter().flatten() {
        let due = today + chrono::Duration::days(i(b, "due_in_days"));
        sqlx::query(
            "INSERT INTO bills (id, biller_id, account_no, period, amount_fen, due_date, status, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, 'unpaid', $7) ON CONFLICT (biller_id, account_no, period) DO NOTHING",
        )
        .bind(city_platform::ids::new_id())
        .bind(s(b, "biller_id"))
        .bind(s(b, "account_no"))
        .bind(s(b, "period"))
        .bind(i(b, "amount_fen"))
        .bind(due.to_string())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    }
    for f in seed["fines"].as_array().into_iter().flatten() {
        let decided = today - chrono::Duration::days(i(f, "decided_days_ago"));
        sqlx::query(
            "INSERT INTO fines (id, decision_no, plate, plate_type, fine_fen, decided_on, violation, location, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'unpaid') ON CONFLICT (decision_no) DO NOTHING",
        )
        .bind(city_platform::ids::new_id())
        .bind(s(f, "decision_no"))
        .bind(s(f, "plate"))
        .bind(s(f, "plate_type"))
        .bind(i(f, "fine_fen"))
        .bind(decided.to_string())
        .bind(s(f, "violation"))
        .bind(s(f, "location"))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// `city payments import bills FILE`: imports a bill file, printing progress and every bad row.
/// Returns whether the file was imported (or had been already).
pub async fn import_bills_file(
    platform: Platform,
    path: &std::path::Path,
) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    let data = std::fs::read(path)?;
    let (_, _, state) = PaymentsService::start_with_state(platform).await?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let outcome =
        store::import_bills(&state, &data, &name, None, &|done, total| println!("{done}/{total} rows")).await?;
    Ok(match outcome {
        store::ImportOutcome::Imported { import_id, rows } => {
            println!("imported {rows} bills (import {import_id})");
            true
        }
        store::ImportOutcome::AlreadyImported { import_id } => {
            println!("this file was imported before (import {import_id}); nothing changed");
            true
        }
        store::ImportOutcome::Rejected(errors) => {
            for e in &errors {
                println!("line {}: {}{}", e.line, e.column.map(|c| format!("{c}: ")).unwrap_or_default(), e.message);
            }
            println!("{} bad rows; nothing was imported", errors.len());
            false
        }
    })
}

/// `city payments reconcile --date D`: the three-way report for a Beijing day (default:
/// yesterday), printed as JSON. Returns whether everything matched. WeChat Pay (or the running
/// portal's sandbox) must be reachable.
pub async fn reconcile_day(
    platform: Platform,
    date: Option<&str>,
) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    let date = match date {
        Some(d) => {
            chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| format!("--date {d}: expected YYYY-MM-DD"))?
        }
        None => store::today().pred_opt().unwrap_or_default(),
    };
    let (_, _, state) = PaymentsService::start_with_state(platform).await?;
    let report =
        store::reconcile(&state, date).await.map_err(|p| format!("{}: {}", p.title, p.detail.unwrap_or_default()))?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(report.mismatches.is_empty())
}
