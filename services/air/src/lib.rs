//! Air quality (`/v1/air`): monitoring stations, hourly readings, the China AQI (HJ 633-2026 by
//! default, HJ 633-2012 for history) and the US EPA AQI, nearest station and district views,
//! and alerts.
//!
//! Entry points: [`AirService::start`] opens the store and returns the API; [`AirApi`] is the
//! poem-openapi surface the gateway mounts (or `city serve --only air` serves alone).
//!
//! Layers, each importing only those below it (and never this root):
//! - `api` (handlers, bodies, which problems each operation can answer) calls the use cases;
//! - `engine` (the use cases, `impl AirState` blocks: stations, history, ingestion, alerts);
//! - `state` ([`AirState`] and its cache plumbing), `answers` (what the hot path caches);
//! - `store` (every SQL statement), `index` (nearest-station grid), `ingest` (row checks), `views`;
//! - `domain` (the AQI arithmetic; the breakpoints are `domain/china.rs` and `domain/us.rs`).
//!
//! Invariants: the AQI arithmetic lives in `domain` and imports neither poem nor sqlx; SQL only in
//! `store`; this service reads no other service's tables. Its own error kinds are in [`errors`].

mod answers;
mod api;
pub mod demo;
pub mod domain;
pub mod engine;
mod erasure;
pub mod errors;
pub mod hours;
pub mod index;
pub mod ingest;
pub mod state;
pub mod store;
pub mod views;

use std::sync::Arc;

use city_platform::bus::{Event, Handler};
use city_platform::time::now_ms;
use city_platform::{Db, Platform};
use coords_seed::SeedFile;

pub use api::{AirApi, NearestView};
pub use errors::KINDS as ERROR_KINDS;
pub use state::AirState;
pub use store::{MIGRATOR, NAME};

/// The path prefixes this service owns.
pub const PREFIXES: &[&str] = &["/v1/air"];

/// The demo stations, compiled in so the portal runs from any working directory.
pub const STATIONS_SEED: &str = include_str!("../../../seeds/air/stations.json");

mod coords_seed {
    use serde::Deserialize;

    /// `seeds/air/stations.json`.
    #[derive(Deserialize)]
    pub struct SeedFile {
        pub stations: Vec<SeedStation>,
    }

    /// One demo station (WGS-84).
    #[derive(Deserialize)]
    pub struct SeedStation {
        pub code: String,
        pub name: String,
        pub lat: f64,
        pub lon: f64,
        #[serde(default)]
        pub operator: String,
    }
}

/// The running service.
pub struct AirService;

impl AirService {
    /// Opens and migrates the store and builds the API.
    pub async fn start(platform: Platform) -> Result<(AirApi, Db), city_platform::db::DbError> {
        let db = Db::open(&platform.settings, NAME, &MIGRATOR).await?;
        let state = Arc::new(AirState::new(db.clone(), platform));
        if state.platform.settings.seed_demo_data {
            if let Err(e) = seed_stations(&state).await {
                tracing::warn!(error = %e, "air: demo stations not loaded");
            }
        }
        subscribe(&state);
        erasure::start(&state);
        demo::start(&state, city_platform::time::Clock::system()).await;
        // Readings a previous run stored but stopped before evaluating (the in-process bus does
        // not keep undelivered events across a restart): judge every subscription once now.
        if let Err(e) = state.evaluate_all(now_ms()).await {
            tracing::warn!(error = %e, "air: alert evaluation at start failed; the next ingestion evaluates again");
        }
        Ok((AirApi::new(state), db))
    }
}

/// The service's consumers. They hold the state weakly: a dropped service stops acting.
fn subscribe(state: &Arc<AirState>) {
    let bus = state.platform.bus.clone();
    let shutdown = state.platform.shutdown.clone();

    // Every replica keeps its own index, so each needs every station change: a group of its own
    // (a group shares its events among its members). Events from before this replica started are
    // already in the index it built at start.
    let started = now_ms();
    let weak = Arc::downgrade(state);
    let handler: Handler = Arc::new(move |event: Event| {
        let weak = weak.clone();
        Box::pin(async move {
            let Some(state) = weak.upgrade() else { return Ok(()) };
            if event.occurred_at_ms >= started - 1_000 {
                state.refresh_index(false).await?;
            }
            Ok(())
        })
    });
    // Named after this replica (host and port), so a restart reuses it; deleted on a clean
    // shutdown, and a dead replica's is reaped by the next replica to start.
    let replica = city_platform::bus::replica_name(state.platform.settings.listen);
    bus.clone().subscribe_replica(
        engine::STATIONS_CHANGED,
        &format!("{NAME}-index"),
        &replica,
        handler,
        shutdown.clone(),
    );

    // One replica of the service finishes an ingestion whose request stopped after the commit.
    let weak = Arc::downgrade(state);
    let handler: Handler = Arc::new(move |event: Event| {
        let weak = weak.clone();
        Box::pin(async move {
            let Some(state) = weak.upgrade() else { return Ok(()) };
            state.on_readings_stored(&event).await?;
            Ok(())
        })
    });
    bus.subscribe(engine::READINGS_STORED, NAME, handler, shutdown);
}

/// Loads the demo stations when the station table is empty.
async fn seed_stations(state: &AirState) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (n, _) = store::stations_version(&state.db).await?;
    if n > 0 {
        return Ok(());
    }
    let seed: SeedFile = serde_json::from_str(STATIONS_SEED)?;
    let now = now_ms();
    let mut conn = state.db.pool.acquire().await?;
    for s in seed.stations {
        let district_code = city_platform::coords::LatLon::new(s.lat, s.lon)
            .and_then(|at| state.platform.districts.locate(at))
            .map(|d| d.code.clone());
        let row = store::StationRow {
            code: s.code,
            name: s.name,
            district_code,
            lat: s.lat,
            lon: s.lon,
            operator: s.operator,
            active: true,
            created_at: now,
            updated_at: now,
        };
        store::upsert_station(&mut conn, &row).await?;
    }
    Ok(())
}
