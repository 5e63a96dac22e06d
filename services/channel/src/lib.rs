//! The WeChat Service Account channel (`/wechat`): the callback WeChat pushes messages and events
//! to, the menu, answers drawn from the other services, and the delivery of notifications
//! (through `city-notify`).
//!
//! Entry points: [`ChannelService::start`] opens the store and returns the API and the plain
//! routes that are not JSON (the XML callback).
//!
//! Invariants: this service reads no other service's tables; it asks them over HTTP.

mod api;

use std::sync::Arc;

use city_platform::{Db, Platform};
use sqlx::migrate::Migrator;

pub use api::ChannelApi;

/// The service's name: its SQLite file, PostgreSQL schema and `--only` argument.
pub const NAME: &str = "wechat";

/// The path prefixes this service owns.
pub const PREFIXES: &[&str] = &["/wechat"];

/// This service's migrations (none yet).
pub static MIGRATOR: Migrator = Migrator::DEFAULT;

/// What the channel handlers share.
pub struct ChannelState {
    /// The service's own store.
    pub db: Db,
    /// Cache, bus and reference data.
    pub platform: Platform,
}

/// The running service.
pub struct ChannelService;

impl ChannelService {
    /// Opens and migrates the store and builds the API, plus plain (non-OpenAPI) routes to be
    /// mounted at the root.
    pub async fn start(platform: Platform) -> Result<(ChannelApi, poem::Route, Db), city_platform::db::DbError> {
        let db = Db::open(&platform.settings, NAME, &MIGRATOR).await?;
        let state = Arc::new(ChannelState { db: db.clone(), platform });
        Ok((ChannelApi::new(state), poem::Route::new(), db))
    }
}
