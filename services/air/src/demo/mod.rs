//! The demo feed (issue #25): the demo stations' hourly readings from [`model`], sent through the
//! same checks ([`crate::ingest::check`]) and the same use case ([`AirState::ingest`]) as an
//! integrator's batch, so alerts, rollups and cached answers behave as they would in a city.
//!
//! At start it catches up: the last day is stored before the service answers (so the first
//! request already finds current air), and the rest of the window (30 days on a first start, the
//! hours missed while it was down otherwise) behind it, newest first. Then one batch every hour.
//!
//! Demo profile only, with `seed_demo_data` and `air.demo_feed`; production never feeds anything.
//! Several replicas may all feed: a resent hour is stored once and counted as unchanged.

pub mod model;

use std::sync::Arc;
use std::time::Duration;

use city_platform::config::Profile;
use city_platform::time::{from_ms, rfc3339, Clock};
use city_platform::Settings;

use crate::engine::{IngestOutcome, HOUR_MS};
use crate::hours::hour_floor;
use crate::ingest::{self, CheckedReading, RawReading};
use crate::state::{AirState, EngineError};
use crate::store;
pub use model::Site;

/// Days of readings a first start backfills.
pub const BACKFILL_DAYS: i64 = 30;
/// Hours stored before the service answers; older hours follow in the background.
pub const FIRST_HOURS: i64 = 24;
/// Hours per ingestion batch: 12 stations × 48 hours × 6 pollutants is about 3,500 rows.
const BATCH_HOURS: i64 = 48;
/// How long after the whole hour the next batch goes, as a feed's data arrives a little late.
const AFTER_HOUR_MS: i64 = 20_000;

/// Whether these settings run the demo feed.
pub fn enabled(settings: &Settings) -> bool {
    settings.profile == Profile::Demo && settings.seed_demo_data && settings.air.demo_feed
}

/// The demo stations (`seeds/air/stations.json`) with their districts.
pub fn sites(state: &AirState) -> Vec<Site> {
    let seed: crate::SeedFile = match serde_json::from_str(crate::STATIONS_SEED) {
        Ok(seed) => seed,
        Err(_) => return Vec::new(),
    };
    seed.stations
        .into_iter()
        .map(|s| {
            let district = city_platform::coords::LatLon::new(s.lat, s.lon)
                .and_then(|at| state.platform.districts.locate(at))
                .map(|d| d.code.clone())
                .unwrap_or_default();
            Site { station: s.code, district }
        })
        .collect()
}

/// The checked rows of `sites` for the hours ending in `(from, to]`.
pub fn rows(sites: &[Site], from: i64, to: i64, now: i64) -> Vec<(CheckedReading, bool)> {
    let mut out = Vec::new();
    let mut hour = hour_floor(from) + HOUR_MS;
    while hour <= to {
        let observed_at = rfc3339(from_ms(hour));
        for site in sites {
            for s in model::sample(site, hour) {
                let raw = RawReading {
                    station_code: &site.station,
                    observed_at: &observed_at,
                    pollutant: s.pollutant.code(),
                    value: &s.value,
                    unit: s.pollutant.unit().code(),
                };
                match ingest::check(&raw, now) {
                    Ok(r) => out.push((r, false)),
                    // The model stays within the checks (a unit test says so); never send a bad row.
                    Err(e) => tracing::warn!(station = %site.station, field = e.field, "air demo: {}", e.message),
                }
            }
        }
        hour += HOUR_MS;
    }
    out
}

/// Stores the hours ending in `(from, to]` for `sites`, newest batch first, through the
/// ingestion use case. Returns the summed outcome.
pub async fn fill(
    state: &AirState,
    sites: &[Site],
    from: i64,
    to: i64,
    now: i64,
) -> Result<IngestOutcome, EngineError> {
    let mut total = IngestOutcome::default();
    let mut upper = hour_floor(to);
    while upper > from {
        let lower = (upper - BATCH_HOURS * HOUR_MS).max(from);
        let outcome = state.ingest(&rows(sites, lower, upper, now), now).await?;
        total.stored += outcome.stored;
        total.unchanged += outcome.unchanged;
        total.alerts += outcome.alerts;
        upper = lower;
    }
    Ok(total)
}

/// Where a catch-up starts: the oldest of the demo stations' latest hours, at most `days` back;
/// the window's start when a station lacks its oldest hour (a first start stopped before its
/// backfill finished: batches go newest first, so the oldest hour is the last one written).
async fn catch_up_from(state: &AirState, sites: &[Site], now: i64, days: i64) -> Result<i64, EngineError> {
    let floor = hour_floor(now) - days * 24 * HOUR_MS;
    let mut from = i64::MAX;
    for site in sites {
        if store::latest_hour(&state.db, &site.station, floor + HOUR_MS).await? != Some(floor + HOUR_MS) {
            return Ok(floor);
        }
        let latest = store::latest_hour(&state.db, &site.station, now).await?;
        from = from.min(latest.unwrap_or(floor).max(floor));
    }
    Ok(if from == i64::MAX { floor } else { from })
}

/// The last `days` days of every demo station, through the ingestion use case, to the end.
pub async fn backfill(state: &AirState, days: i64, clock: &Clock) -> Result<IngestOutcome, EngineError> {
    let now = clock.now_ms();
    fill(state, &sites(state), now - days * 24 * HOUR_MS, now, now).await
}

/// `city seed --air-days N`: opens the air store (loading the demo stations when it has none)
/// and backfills the last `days` days. A resent hour is counted as unchanged.
pub async fn backfill_store(
    platform: city_platform::Platform,
    days: u32,
) -> Result<IngestOutcome, Box<dyn std::error::Error + Send + Sync>> {
    let db = city_platform::Db::open(&platform.settings, store::NAME, &store::MIGRATOR).await?;
    let state = AirState::new(db, platform);
    crate::seed_stations(&state).await?;
    Ok(backfill(&state, i64::from(days), &Clock::system()).await?)
}

/// Starts the feed when the settings ask for it: catches up on the last [`FIRST_HOURS`] before
/// returning, then the older missing hours and one batch every hour in the background, until
/// shutdown.
pub async fn start(state: &Arc<AirState>, clock: Clock) {
    if !enabled(&state.platform.settings) {
        return;
    }
    let sites = sites(state);
    let now = clock.now_ms();
    let started = std::time::Instant::now();
    let from = match catch_up_from(state, &sites, now, BACKFILL_DAYS).await {
        Ok(from) => from,
        Err(e) => {
            tracing::warn!(error = %e, "air demo feed: could not read the latest hours; not feeding");
            return;
        }
    };
    let recent = from.max(hour_floor(now) - FIRST_HOURS * HOUR_MS);
    // Until the first hourly batch, `done` is the last hour known stored.
    let mut done = match fill(state, &sites, recent, now, now).await {
        Ok(o) => {
            tracing::info!(
                stored = o.stored,
                ms = started.elapsed().as_millis() as u64,
                "air demo feed: the last hours stored before ready"
            );
            hour_floor(now)
        }
        Err(e) => {
            tracing::warn!(error = %e, "air demo feed: catching up failed; the hourly batch tries again");
            recent
        }
    };
    let mut shutdown = state.platform.shutdown.clone();
    let state = Arc::downgrade(state);
    tokio::spawn(async move {
        if recent > from {
            let started = std::time::Instant::now();
            let Some(s) = state.upgrade() else { return };
            match fill(&s, &sites, from, recent, clock.now_ms()).await {
                Ok(o) => tracing::info!(
                    stored = o.stored,
                    ms = started.elapsed().as_millis() as u64,
                    "air demo feed: older hours backfilled"
                ),
                Err(e) => tracing::warn!(error = %e, "air demo feed: backfill failed"),
            }
        }
        loop {
            let wait = HOUR_MS - clock.now_ms().rem_euclid(HOUR_MS) + AFTER_HOUR_MS;
            let sleep = tokio::time::sleep(Duration::from_millis(wait as u64));
            tokio::select! {
                () = sleep => {}
                () = shutdown.wait() => return,
            }
            let Some(s) = state.upgrade() else { return };
            let now = clock.now_ms();
            // The hours since the last batch, a missed hour included; at most the backfill window.
            let from = done.max(hour_floor(now) - BACKFILL_DAYS * 24 * HOUR_MS);
            match fill(&s, &sites, from, now, now).await {
                Ok(o) => {
                    done = hour_floor(now);
                    tracing::info!(stored = o.stored, alerts = o.alerts, "air demo feed: hourly readings stored");
                }
                Err(e) => tracing::warn!(error = %e, "air demo feed: the hourly batch failed; the next one catches up"),
            }
        }
    });
}

#[cfg(test)]
mod tests;
