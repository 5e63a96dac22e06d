//! Doctor booking (`/v1/booking`): hospitals, departments, doctors, schedules and numbered
//! slots, real-name booking rules, holds, cancellation, waitlist, stop-diagnosis.
//!
//! Entry points: [`BookingService::start`] opens the store and returns the API; [`BookingApi`] is
//! the poem-openapi surface the gateway mounts (or `city serve --only booking` serves alone).
//!
//! Invariants: this service reads no other service's tables.

mod api;

use std::sync::Arc;

use city_platform::{Db, Platform};
use sqlx::migrate::Migrator;

pub use api::BookingApi;

/// The service's name: its SQLite file, PostgreSQL schema and `--only` argument.
pub const NAME: &str = "booking";

/// The path prefixes this service owns.
pub const PREFIXES: &[&str] = &["/v1/booking"];

/// This service's migrations (none yet).
pub static MIGRATOR: Migrator = Migrator::DEFAULT;

/// What the booking handlers share.
pub struct BookingState {
    /// The service's own store.
    pub db: Db,
    /// Cache, bus and reference data.
    pub platform: Platform,
}

/// The running service.
pub struct BookingService;

impl BookingService {
    /// Opens and migrates the store and builds the API.
    pub async fn start(platform: Platform) -> Result<(BookingApi, Db), city_platform::db::DbError> {
        let db = Db::open(&platform.settings, NAME, &MIGRATOR).await?;
        let state = Arc::new(BookingState { db: db.clone(), platform });
        Ok((BookingApi::new(state), db))
    }
}
