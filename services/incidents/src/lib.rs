//! Incident reports (`/v1/incidents`, `/open311/v2`): map pins, photos, routing to agencies,
//! the clerks' workflow, clustering for the map, and Open311 GeoReport v2.
//!
//! Entry points: [`IncidentsService::start`] opens the store and returns the API; [`IncidentsApi`] is
//! the poem-openapi surface the gateway mounts (or `city serve --only incidents` serves alone).
//!
//! Invariants: this service reads no other service's tables.

mod api;

use std::sync::Arc;

use city_platform::{Db, Platform};
use sqlx::migrate::Migrator;

pub use api::IncidentsApi;

/// The service's name: its SQLite file, PostgreSQL schema and `--only` argument.
pub const NAME: &str = "incidents";

/// The path prefixes this service owns.
pub const PREFIXES: &[&str] = &["/v1/incidents", "/open311/v2"];

/// This service's migrations (none yet).
pub static MIGRATOR: Migrator = Migrator::DEFAULT;

/// What the incidents handlers share.
pub struct IncidentsState {
    /// The service's own store.
    pub db: Db,
    /// Cache, bus and reference data.
    pub platform: Platform,
}

/// The running service.
pub struct IncidentsService;

impl IncidentsService {
    /// Opens and migrates the store and builds the API.
    pub async fn start(platform: Platform) -> Result<(IncidentsApi, Db), city_platform::db::DbError> {
        let db = Db::open(&platform.settings, NAME, &MIGRATOR).await?;
        let state = Arc::new(IncidentsState { db: db.clone(), platform });
        Ok((IncidentsApi::new(state), db))
    }
}
