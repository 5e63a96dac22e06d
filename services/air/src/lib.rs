//! Air quality (`/v1/air`): monitoring stations, hourly readings, the China AQI (HJ 633-2026 by
//! default, HJ 633-2012 for history) and the US EPA AQI, nearest station and district views,
//! and alerts.
//!
//! Entry points: [`AirService::start`] opens the store and returns the API; [`AirApi`] is the
//! poem-openapi surface the gateway mounts (or `city serve --only air` serves alone).
//!
//! Invariants: the AQI arithmetic lives in `domain` and imports neither poem nor sqlx; this
//! service reads no other service's tables.

mod api;
pub mod domain;

use std::sync::Arc;

use city_platform::{Db, Platform};
use sqlx::migrate::Migrator;

pub use api::AirApi;

/// The service's name: its SQLite file, PostgreSQL schema and `--only` argument.
pub const NAME: &str = "air";

/// The path prefixes this service owns.
pub const PREFIXES: &[&str] = &["/v1/air"];

/// This service's migrations, compiled in.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/air");

/// What the air handlers share.
pub struct AirState {
    /// The service's own store.
    pub db: Db,
    /// Cache, bus and reference data.
    pub platform: Platform,
}

/// The running service.
pub struct AirService;

impl AirService {
    /// Opens and migrates the store and builds the API.
    pub async fn start(platform: Platform) -> Result<(AirApi, Db), city_platform::db::DbError> {
        let db = Db::open(&platform.settings, NAME, &MIGRATOR).await?;
        let state = Arc::new(AirState { db: db.clone(), platform });
        Ok((AirApi::new(state), db))
    }
}
