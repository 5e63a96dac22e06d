//! Ingestion: a batch of checked readings stored in one transaction with its `air.readings_stored`
//! event, then (after the commit) the stations' answers invalidated and alerts evaluated; the
//! event's consumer redoes that second half if the process stopped before finishing it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use city_platform::outbox;

use crate::answers::done_key;
use crate::hours::{city_day_label, city_day_start, day_of_hour_end};
use crate::ingest::CheckedReading;
use crate::state::{AirState, EngineError};
use crate::store::{self, NewReading};

/// What an ingestion did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Rows written: new hours, and corrections that changed a value.
    pub stored: u64,
    /// Valid rows that changed nothing (a resent hour, or a correction with the same value).
    pub unchanged: u64,
    /// Alerts raised or cleared as a result.
    pub alerts: u64,
}

/// What the transactional half of an ingestion did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    /// Rows written.
    pub stored: u64,
    /// Valid rows that changed nothing.
    pub unchanged: u64,
    /// The stations of the batch, sorted.
    pub stations: Vec<String>,
    /// The `air.readings_stored` event, when anything was written.
    pub event_id: Option<String>,
}

/// How long the deferred consumer of `air.readings_stored` waits before checking that the ingesting
/// request finished its after-commit work (the normal case: then it does nothing).
pub const DEFERRED_GRACE_MS: i64 = 2_000;
/// How long "this ingestion's after-commit work is done" is remembered.
const DONE_TTL: Duration = Duration::from_secs(3_600);
/// The event an ingestion writes in its own transaction.
pub const READINGS_STORED: &str = "air.readings_stored";

impl AirState {
    /// Which of `codes` name a station (active or not); readings for the others are rejected row by row.
    pub async fn known_stations(&self, codes: &[&str]) -> Result<HashSet<String>, EngineError> {
        let mut conn = self.db.pool.acquire().await?;
        Ok(store::existing_codes(&mut conn, codes).await?.into_iter().collect())
    }

    /// Stores checked readings, invalidates what they change, and evaluates alerts.
    ///
    /// `rows` pairs each reading with its correction flag; duplicates of the same key keep the first
    /// (the last, for corrections).
    pub async fn ingest(&self, rows: &[(CheckedReading, bool)], now: i64) -> Result<IngestOutcome, EngineError> {
        let stored = self.store_readings(rows, now).await?;
        let alerts = match &stored.event_id {
            Some(event_id) => self.after_commit(event_id, &stored.stations, now).await,
            None => 0,
        };
        Ok(IngestOutcome { stored: stored.stored, unchanged: stored.unchanged, alerts })
    }

    /// The transactional half of [`AirState::ingest`]: the rows, stale rollups dropped, and (when
    /// anything was written) an `air.readings_stored` event naming the stations, all in one
    /// transaction. What follows the commit (invalidation, alerts) is also what that event's
    /// consumer does if this process stops before finishing it.
    #[tracing::instrument(skip_all, fields(rows = rows.len(), station = tracing::field::Empty))]
    pub async fn store_readings(&self, rows: &[(CheckedReading, bool)], now: i64) -> Result<Stored, EngineError> {
        let mut normal: Vec<NewReading> = Vec::new();
        let mut corrections: BTreeMap<(String, i64, &'static str), NewReading> = BTreeMap::new();
        let mut seen: HashSet<(String, i64, &'static str)> = HashSet::new();
        let mut duplicates = 0_u64;
        let mut earliest_day: HashMap<String, i64> = HashMap::new();
        for (r, correction) in rows {
            let key = (r.station_code.clone(), r.hour_end, r.pollutant.code());
            let new = NewReading {
                station_code: r.station_code.clone(),
                hour_end: r.hour_end,
                pollutant: r.pollutant.code(),
                value: r.value.to_string(),
            };
            if *correction {
                if corrections.insert(key, new).is_some() {
                    duplicates += 1;
                }
            } else if seen.insert(key) {
                normal.push(new);
            } else {
                duplicates += 1;
            }
            let day = day_of_hour_end(r.hour_end);
            earliest_day.entry(r.station_code.clone()).and_modify(|d| *d = (*d).min(day)).or_insert(day);
        }
        let corrections: Vec<NewReading> = corrections.into_values().collect();
        let mut tx = self.db.begin_write().await?;
        let mut stored = store::insert_readings(&mut tx, &normal, false, now).await?;
        stored += store::insert_readings(&mut tx, &corrections, true, now).await?;
        let today = city_day_start(now);
        for (code, day) in &earliest_day {
            // Only finished days are rolled up, so only late or corrected hours make rollups stale.
            if *day < today {
                store::drop_rollups(&mut tx, code, &city_day_label(*day)).await?;
            }
        }
        let mut stations: Vec<String> = earliest_day.into_keys().collect();
        stations.sort_unstable();
        // One grep of a station code finds every batch that touched it.
        tracing::Span::current().record("station", stations.join(",").as_str());
        let event_id = if stored > 0 {
            let payload = serde_json::json!({ "stations": stations });
            Some(outbox::enqueue(&mut tx, READINGS_STORED, &payload).await?)
        } else {
            None
        };
        tx.commit().await?;
        let total = (normal.len() + corrections.len()) as u64 + duplicates;
        Ok(Stored { stored, unchanged: total - stored, stations, event_id })
    }

    /// After an ingestion committed: invalidates the stations' answers and the area values,
    /// evaluates alerts, then notes the event as done so its deferred consumer has nothing to do.
    /// Returns how many alerts were raised or cleared.
    #[tracing::instrument(skip_all, fields(event_id = %event_id, station = %stations.join(",")))]
    async fn after_commit(&self, event_id: &str, stations: &[String], now: i64) -> u64 {
        let invalidated = self.invalidate(stations).await;
        let alerts = match self.evaluate_alerts(&stations.iter().cloned().collect(), now).await {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::error!(error = %e, "air alert evaluation failed; the air.readings_stored consumer retries it");
                None
            }
        };
        if invalidated && alerts.is_some() {
            if let Err(e) = self.platform.cache.set(&done_key(event_id), b"1", DONE_TTL).await {
                tracing::warn!(error = %e, "air: could not note an ingestion as done; its consumer will redo it");
            }
        }
        alerts.unwrap_or(0)
    }

    /// The consumer of `air.readings_stored`: once the ingesting request has had time to finish,
    /// does its after-commit work again unless it is noted as done. Both halves are safe to repeat
    /// (a new token; alert transitions are conditional updates with stable notification ids), so
    /// a process that stopped between commit and alerts loses no crossing.
    #[tracing::instrument(skip_all, fields(event_id = %event.id, station = tracing::field::Empty))]
    pub async fn on_readings_stored(&self, event: &city_platform::bus::Event) -> Result<(), EngineError> {
        let wait = event.occurred_at_ms + DEFERRED_GRACE_MS - city_platform::time::now_ms();
        if wait > 0 {
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
        if let Ok(Some(_)) = self.platform.cache.get(&done_key(&event.id)).await {
            return Ok(());
        }
        let stations: Vec<String> = event.payload["stations"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        tracing::Span::current().record("station", stations.join(",").as_str());
        let now = city_platform::time::now_ms();
        self.invalidate(&stations).await;
        let alerts = self.evaluate_alerts(&stations.iter().cloned().collect(), now).await?;
        if alerts > 0 {
            tracing::info!(event_id = %event.id, alerts, "air: alerts raised or cleared by a deferred evaluation");
        }
        let _ = self.platform.cache.set(&done_key(&event.id), b"1", DONE_TTL).await;
        Ok(())
    }
}
