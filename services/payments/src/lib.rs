//! Bills and fines (`/v1/payments`): utility accounts and bills, traffic fines with the legal
//! late surcharge, WeChat Pay v3 orders, notifications, refunds and reconciliation.
//!
//! Entry points: [`PaymentsService::start`] opens the store and returns the API; [`PaymentsApi`] is
//! the poem-openapi surface the gateway mounts (or `city serve --only payments` serves alone).
//!
//! Invariants: this service reads no other service's tables.

mod api;

use std::sync::Arc;

use city_platform::{Db, Platform};
use sqlx::migrate::Migrator;

pub use api::PaymentsApi;

/// The service's name: its SQLite file, PostgreSQL schema and `--only` argument.
pub const NAME: &str = "payments";

/// The path prefixes this service owns.
pub const PREFIXES: &[&str] = &["/v1/payments"];

/// This service's migrations (none yet).
pub static MIGRATOR: Migrator = Migrator::DEFAULT;

/// What the payments handlers share.
pub struct PaymentsState {
    /// The service's own store.
    pub db: Db,
    /// Cache, bus and reference data.
    pub platform: Platform,
}

/// The running service.
pub struct PaymentsService;

impl PaymentsService {
    /// Opens and migrates the store and builds the API.
    pub async fn start(platform: Platform) -> Result<(PaymentsApi, Db), city_platform::db::DbError> {
        let db = Db::open(&platform.settings, NAME, &MIGRATOR).await?;
        let state = Arc::new(PaymentsState { db: db.clone(), platform });
        Ok((PaymentsApi::new(state), db))
    }
}
