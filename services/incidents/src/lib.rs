//! Incident reports (`/v1/incidents`, `/open311/v2`): map pins, photos, routing to agencies,
//! the clerks' workflow, clustering for the map, and Open311 GeoReport v2.
//!
//! Entry points: [`IncidentsService::start`] opens the store and returns the API;
//! [`IncidentsApi`] is the poem-openapi surface the gateway mounts, and
//! [`IncidentsApi::open311_routes`] the plain poem routes of Open311 (its formats are not
//! OpenAPI's). Layout: `domain` (pure rules: `access` decides who may see and handle a report,
//! `report` is the aggregate, plus the catalogue, states and map grid), `store/` (all SQL, by
//! aggregate), `reports/` (the use cases both surfaces share, each in a span with `report_id`),
//! `api/` (handlers, DTOs, views, and the one place typed errors become problems), `errors`
//! (this service's table of error kinds), `photos`, `safety` (WeChat `msg_sec_check`), `seed`
//! (bulk load for benchmarks), `state` (what the handlers share).
//!
//! The map never scans reports city-wide: each report carries its cell on a fixed world grid
//! and a count table per zoom is kept in the same transaction as every write that moves a
//! report on the map (`domain::grid`); a view sums count rows, or for street-level views
//! groups its few thousand reports through the map index.
//!
//! Invariants: this service reads no other service's tables; an anonymous report's reporter is
//! never in any response, export or Open311 answer; every clerk action is audited and
//! versioned in the same transaction as its change; the map's count table always equals a
//! grouping of the reports whose text is public.

mod api;
pub mod demo;
pub mod domain;
mod erasure;
pub mod errors;
mod open311;
pub mod photos;
mod reports;
pub mod safety;
pub mod seed;
mod state;
mod store;

use std::sync::Arc;

use city_platform::time::now_ms;
use city_platform::{Db, Platform};
use sqlx::migrate::Migrator;

pub use api::IncidentsApi;
use domain::Catalogue;
pub use errors::KINDS as ERROR_KINDS;
use safety::{SharedSafety, WechatSafety};
pub use state::IncidentsState;

/// The service's name: its SQLite file, PostgreSQL schema and `--only` argument.
pub const NAME: &str = "incidents";

/// The path prefixes this service owns.
pub const PREFIXES: &[&str] = &["/v1/incidents", "/open311/v2"];

/// This service's migrations, compiled in.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/incidents");

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store.
    #[error(transparent)]
    Db(#[from] city_platform::db::DbError),
    /// The seed catalogue.
    #[error(transparent)]
    Catalogue(#[from] domain::DomainError),
}

/// How often text held while the content-safety check was down is checked again, in seconds.
pub const RECHECK_SECS: u64 = 60;

/// Held texts re-checked per round.
pub const RECHECK_BATCH: i64 = 200;

/// The running service.
pub struct IncidentsService;

impl IncidentsService {
    /// Opens and migrates the store and builds the API, checking text with WeChat's
    /// `msg_sec_check` at the configured WeChat base (the sandbox by default).
    pub async fn start(platform: Platform) -> Result<(IncidentsApi, Db), StartError> {
        let s = &platform.settings;
        let safety = Arc::new(WechatSafety::new(
            s.wechat_api_base(),
            s.wechat.mp_appid.clone(),
            s.wechat.mp_secret.expose().to_owned(),
        ));
        Self::start_with(platform, safety).await
    }

    /// [`IncidentsService::start`] with another content-safety check (tests).
    pub async fn start_with(platform: Platform, safety: SharedSafety) -> Result<(IncidentsApi, Db), StartError> {
        let db = Db::open(&platform.settings, NAME, &MIGRATOR).await?;
        let catalogue = Catalogue::demo()?;
        let state = Arc::new(IncidentsState { db: db.clone(), platform, catalogue, safety });
        erasure::start(&state);
        demo::start(&state).await;
        spawn_recheck(state.clone());
        spawn_photo_sweep(state.clone(), now_ms);
        Ok((IncidentsApi::new(state), db))
    }
}

/// How often uploads never attached to a report are looked for, in seconds.
pub const PHOTO_SWEEP_SECS: u64 = 3600;

/// Collects uploads never attached to a report (issue #15) until shutdown, on `clock` (UTC ms).
/// Every replica may run it: a row is deleted only while still unattached.
fn spawn_photo_sweep(state: Arc<IncidentsState>, clock: fn() -> i64) {
    let mut shutdown = state.platform.shutdown.clone();
    tokio::spawn(async move {
        loop {
            match reports::uploads::sweep_unattached(&state, clock(), 1000).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(n, "unattached photo uploads collected"),
                Err(err) => tracing::warn!(error = %err, "collecting unattached photo uploads failed"),
            }
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_secs(PHOTO_SWEEP_SECS)) => {}
                () = shutdown.wait() => return,
            }
        }
    });
}

/// Re-checks held text in the background until shutdown. Every replica may run it: each
/// verdict is recorded only if the text is still pending.
fn spawn_recheck(state: Arc<IncidentsState>) {
    let mut shutdown = state.platform.shutdown.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_secs(RECHECK_SECS)) => {
                    match reports::recheck_pending(&state, RECHECK_BATCH).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(n, "held report text re-checked"),
                        Err(err) => tracing::warn!(error = %err, "re-checking held report text failed"),
                    }
                }
                () = shutdown.wait() => return,
            }
        }
    });
}
