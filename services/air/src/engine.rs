//! What the handlers share: the station index, cached station indices, history, district and city
//! values, ingestion and alert evaluation. SQL lives in `store`, arithmetic in `domain`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate};
use city_platform::coords::LatLon;
use city_platform::time::{from_ms, rfc3339};
use city_platform::{outbox, Db, Platform};
use parking_lot::RwLock;

use crate::domain::alert::{self, AlertDecision, AlertState};
use crate::domain::series::{daily_input, hourly_input, HourlySeries};
use crate::domain::{AqiReport, Concentration, Pollutant, ReportPeriod, Scheme};
use crate::index::{IndexedStation, StationIndex};
use crate::ingest::CheckedReading;
use crate::store::{self, NewReading, StoredReading};
use crate::views::{AqiView, StationNow};

/// One hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;
/// One day in milliseconds.
pub const DAY_MS: i64 = 24 * HOUR_MS;
/// Beijing time is UTC+8 all year (no daylight saving).
const BEIJING_OFFSET_MS: i64 = 8 * HOUR_MS;
/// A station whose latest hour is older than this is stale (reference §4: 2-3 hours).
pub const FRESH_MS: i64 = 3 * HOUR_MS;
/// Nearest-station search radius; beyond it the answer is "no station near you".
pub const NEAREST_RADIUS_M: f64 = 20_000.0;
/// How many nearby stations are tried before giving up on stale ones.
pub const NEAREST_CANDIDATES: usize = 10;
/// How often a replica checks whether the station table changed.
const INDEX_TTL: Duration = Duration::from_secs(10);
/// How long computed answers stay cached (ingestion invalidates them sooner).
// Short enough that a value computed while another ingestion committed (a read-then-invalidate race) does not linger.
const CACHE_TTL: Duration = Duration::from_secs(120);
/// How long a replica keeps a station's index in its own memory, in front of the shared cache:
/// ingestion on this replica drops it at once; another replica's ingestion shows here within this.
const LOCAL_TTL: Duration = Duration::from_secs(2);

/// A failure of the store or the cache.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// The service's shared state.
pub struct AirState {
    /// The service's own store.
    pub db: Db,
    /// Cache, bus and reference data.
    pub platform: Platform,
    index: RwLock<Arc<StationIndex>>,
    index_checked: tokio::sync::Mutex<(Option<Instant>, (i64, i64))>,
    /// When the index was last checked, read without the async lock on the hot path.
    index_fresh_until: RwLock<Option<Instant>>,
    local: RwLock<HashMap<String, (Instant, Arc<StationNow>)>>,
}

/// The start of the Beijing day containing `ms`, UTC milliseconds.
pub fn city_day_start(ms: i64) -> i64 {
    (ms + BEIJING_OFFSET_MS).div_euclid(DAY_MS) * DAY_MS - BEIJING_OFFSET_MS
}

/// The Beijing date of the day starting at `start` (from [`city_day_start`]).
pub fn city_day_label(start: i64) -> String {
    let days = (start + BEIJING_OFFSET_MS).div_euclid(DAY_MS);
    let date = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default() + chrono::Days::new(days.max(0) as u64);
    date.format("%Y-%m-%d").to_string()
}

/// The day an hour belongs to: the hour ending at 24:00 is the last hour of its day.
fn day_of_hour_end(hour_end: i64) -> i64 {
    city_day_start(hour_end - 1)
}

/// The end of the latest whole hour at or before `ms`.
pub fn hour_floor(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

fn cache_key_now(code: &str, scheme: Scheme) -> String {
    format!("air:now:{code}:{}", scheme.id())
}

fn cache_key_area(kind: &str, scheme: Scheme) -> String {
    format!("air:{kind}:{}", scheme.id())
}

/// Readings grouped per station into series of `hours` hours ending at `end` (inclusive).
fn series_by_station(readings: &[StoredReading], end: i64, hours: usize) -> HashMap<String, HourlySeries> {
    let mut out: HashMap<String, HourlySeries> = HashMap::new();
    for r in readings {
        let back = (end - r.hour_end) / HOUR_MS;
        if back < 0 || back >= hours as i64 || (end - r.hour_end) % HOUR_MS != 0 {
            continue;
        }
        let (Ok(p), Ok(v)) = (Pollutant::parse(&r.pollutant), Concentration::parse(&r.value)) else { continue };
        out.entry(r.station_code.clone()).or_insert_with(|| HourlySeries::empty(hours)).set(
            p,
            hours - 1 - back as usize,
            v,
        );
    }
    out
}

/// A district's or the city's value for one hour: the mean concentration of the contributing stations.
#[derive(Debug, Clone)]
pub struct AreaNow {
    /// End of the hour, UTC milliseconds (`None` without any fresh station).
    pub hour_end: Option<i64>,
    /// The index.
    pub report: Option<AqiReport>,
    /// Stations whose hour is in the mean.
    pub contributing: Vec<String>,
    /// Active stations of the area without data for that hour.
    pub missing: Vec<String>,
}

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

impl AirState {
    /// State over an opened store.
    pub fn new(db: Db, platform: Platform) -> Self {
        Self {
            db,
            platform,
            index: RwLock::new(Arc::new(StationIndex::default())),
            index_checked: tokio::sync::Mutex::new((None, (-1, -1))),
            index_fresh_until: RwLock::new(None),
            local: RwLock::new(HashMap::new()),
        }
    }

    /// The index of active stations, rebuilt when the station table changed (checked every few seconds,
    /// so replicas follow another replica's changes).
    pub async fn index(&self) -> Result<Arc<StationIndex>, EngineError> {
        if self.index_fresh_until.read().is_some_and(|until| Instant::now() < until) {
            return Ok(self.index.read().clone());
        }
        self.refresh_index(false).await
    }

    /// Rebuilds the index when the table changed (or always, with `force`).
    pub async fn refresh_index(&self, force: bool) -> Result<Arc<StationIndex>, EngineError> {
        let mut checked = self.index_checked.lock().await;
        let version = store::stations_version(&self.db).await?;
        if force || version != checked.1 {
            let stations = store::list_stations(&self.db).await?;
            let indexed = stations
                .into_iter()
                .filter(|s| s.active)
                .filter_map(|s| {
                    Some(IndexedStation {
                        location: LatLon::new(s.lat, s.lon)?,
                        code: s.code,
                        name: s.name,
                        district_code: s.district_code,
                    })
                })
                .collect();
            *self.index.write() = Arc::new(StationIndex::new(indexed));
        }
        *checked = (Some(Instant::now()), version);
        *self.index_fresh_until.write() = Some(Instant::now() + INDEX_TTL);
        Ok(self.index.read().clone())
    }

    async fn cache_get<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        match self.platform.cache.get(key).await {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).ok(),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "air cache read failed");
                None
            }
        }
    }

    async fn cache_put<T: serde::Serialize>(&self, key: &str, value: &T) {
        if let Ok(bytes) = serde_json::to_vec(value) {
            if let Err(e) = self.platform.cache.set(key, &bytes, CACHE_TTL).await {
                tracing::warn!(error = %e, "air cache write failed");
            }
        }
    }

    /// The latest hourly index of a station (cached until the next ingestion for it).
    pub async fn station_now(&self, code: &str, scheme: Scheme, now: i64) -> Result<Arc<StationNow>, EngineError> {
        let key = cache_key_now(code, scheme);
        if let Some((at, hit)) = self.local.read().get(&key) {
            if at.elapsed() < LOCAL_TTL {
                return Ok(hit.clone());
            }
        }
        if let Some(hit) = self.cache_get::<StationNow>(&key).await {
            let hit = Arc::new(hit);
            self.remember_locally(key, hit.clone());
            return Ok(hit);
        }
        let end = now + crate::ingest::FUTURE_TOLERANCE_MS;
        let latest = store::latest_hour(&self.db, code, end).await?;
        let value = match latest {
            None => StationNow { observed_at: None, hour_end_ms: None, report: None },
            Some(last) => {
                let readings = store::readings_between(&self.db, &[code.to_owned()], last - DAY_MS, last).await?;
                let series =
                    series_by_station(&readings, last, 24).remove(code).unwrap_or_else(|| HourlySeries::empty(24));
                let report = AqiReport::compute(scheme, ReportPeriod::Hourly, &hourly_input(scheme, &series));
                StationNow {
                    observed_at: Some(rfc3339(from_ms(last))),
                    hour_end_ms: Some(last),
                    report: Some(AqiView::from(&report)),
                }
            }
        };
        self.cache_put(&key, &value).await;
        let value = Arc::new(value);
        self.remember_locally(key, value.clone());
        Ok(value)
    }

    fn remember_locally(&self, key: String, value: Arc<StationNow>) {
        let mut local = self.local.write();
        if local.len() >= 100_000 {
            // Bounded: expired entries go first, everything if that is not enough.
            local.retain(|_, (at, _)| at.elapsed() < LOCAL_TTL);
            if local.len() >= 100_000 {
                local.clear();
            }
        }
        local.insert(key, (Instant::now(), value));
    }

    /// Hourly reports of the 24 hours ending at the current hour (oldest first), and daily reports of the
    /// last 30 Beijing days including today (oldest first).
    pub async fn history(
        &self,
        code: &str,
        scheme: Scheme,
        now: i64,
    ) -> Result<(Vec<(i64, AqiReport)>, Vec<(String, AqiReport)>), EngineError> {
        let end = hour_floor(now);
        let codes = [code.to_owned()];
        let recent = store::readings_between(&self.db, &codes, end - 2 * DAY_MS, end).await?;
        let series = series_by_station(&recent, end, 48).remove(code).unwrap_or_else(|| HourlySeries::empty(48));
        let hourly = (24..48)
            .map(|i| {
                let at = end - (47 - i as i64) * HOUR_MS;
                (at, AqiReport::compute(scheme, ReportPeriod::Hourly, &hourly_input(scheme, &series.ending_at(i + 1))))
            })
            .collect();

        let today = city_day_start(now);
        let first = today - 29 * DAY_MS;
        let stored: HashMap<String, String> =
            store::rollups(&self.db, code, &city_day_label(first), &city_day_label(today - DAY_MS))
                .await?
                .into_iter()
                .collect();
        let mut days: Vec<(i64, Option<HourlySeries>)> = (0..30)
            .map(|i| {
                let start = first + i * DAY_MS;
                (start, stored.get(&city_day_label(start)).and_then(|json| series_from_rollup(json)))
            })
            .collect();
        // Days without a rollup (and today, always) come from the hourly rows in one query.
        let missing: Vec<i64> = days.iter().filter(|(_, s)| s.is_none()).map(|(start, _)| *start).collect();
        if let (Some(&lo), Some(&hi)) = (missing.first(), missing.last()) {
            let rows = store::readings_between(&self.db, &codes, lo, hi + DAY_MS).await?;
            for (start, slot) in days.iter_mut().filter(|(_, s)| s.is_none()) {
                let day_rows: Vec<StoredReading> =
                    rows.iter().filter(|r| r.hour_end > *start && r.hour_end <= *start + DAY_MS).cloned().collect();
                let day = series_by_station(&day_rows, *start + DAY_MS, 24)
                    .remove(code)
                    .unwrap_or_else(|| HourlySeries::empty(24));
                if *start + DAY_MS <= now - FRESH_MS {
                    // A finished day (allowing for late hours) is rolled up once.
                    store::put_rollup(&self.db, code, &city_day_label(*start), &rollup_json(&day), now).await?;
                }
                *slot = Some(day);
            }
        }
        let daily = days
            .into_iter()
            .map(|(start, day)| {
                let day = day.unwrap_or_else(|| HourlySeries::empty(24));
                (city_day_label(start), AqiReport::compute(scheme, ReportPeriod::Daily, &daily_input(scheme, &day)))
            })
            .collect();
        Ok((hourly, daily))
    }

    /// The value of each district and of the whole city for the latest hour with fresh data.
    pub async fn areas_now(&self, scheme: Scheme, now: i64) -> Result<(AreaNow, Vec<(String, AreaNow)>), EngineError> {
        let index = self.index().await?;
        let codes: Vec<String> = index.all().iter().map(|s| s.code.clone()).collect();
        let end = hour_floor(now + crate::ingest::FUTURE_TOLERANCE_MS);
        let readings = store::readings_between(&self.db, &codes, end - DAY_MS - FRESH_MS, end).await?;
        let latest = readings.iter().map(|r| r.hour_end).filter(|h| *h > now - FRESH_MS).max();
        let Some(last) = latest else {
            let empty =
                |members: Vec<String>| AreaNow { hour_end: None, report: None, contributing: vec![], missing: members };
            let districts = self
                .platform
                .districts
                .all()
                .iter()
                .map(|d| {
                    let members = index
                        .all()
                        .iter()
                        .filter(|s| s.district_code.as_deref() == Some(&d.code))
                        .map(|s| s.code.clone())
                        .collect();
                    (d.code.clone(), empty(members))
                })
                .collect();
            return Ok((empty(codes), districts));
        };
        let by_station = series_by_station(&readings, last, 24);
        let area = |members: Vec<&IndexedStation>| -> AreaNow {
            let (mut contributing, mut missing, mut series) = (Vec::new(), Vec::new(), Vec::new());
            for s in members {
                match by_station.get(&s.code).filter(|x| x.has_last_hour()) {
                    Some(x) => {
                        contributing.push(s.code.clone());
                        series.push(x);
                    }
                    None => missing.push(s.code.clone()),
                }
            }
            let report = (!series.is_empty()).then(|| {
                let mean = HourlySeries::mean_of(&series);
                AqiReport::compute(scheme, ReportPeriod::Hourly, &hourly_input(scheme, &mean))
            });
            AreaNow { hour_end: report.as_ref().map(|_| last), report, contributing, missing }
        };
        let city = area(index.all().iter().collect());
        let districts = self
            .platform
            .districts
            .all()
            .iter()
            .map(|d| {
                let members = index.all().iter().filter(|s| s.district_code.as_deref() == Some(&d.code)).collect();
                (d.code.clone(), area(members))
            })
            .collect();
        Ok((city, districts))
    }

    /// Stores checked readings in one transaction, invalidates what they change, and evaluates alerts.
    ///
    /// `rows` pairs each reading with its correction flag; duplicates of the same key keep the first
    /// (the last, for corrections).
    pub async fn ingest(&self, rows: &[(CheckedReading, bool)], now: i64) -> Result<IngestOutcome, EngineError> {
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
        tx.commit().await?;
        let total = (normal.len() + corrections.len()) as u64 + duplicates;
        let affected: HashSet<String> = earliest_day.into_keys().collect();
        self.invalidate(&affected).await;
        let alerts = if stored > 0 {
            match self.evaluate_alerts(&affected, now).await {
                Ok(n) => n,
                Err(e) => {
                    // The readings are stored; the next ingestion evaluates again.
                    tracing::error!(error = %e, "air alert evaluation failed");
                    0
                }
            }
        } else {
            0
        };
        Ok(IngestOutcome { stored, unchanged: total - stored, alerts })
    }

    async fn invalidate(&self, stations: &HashSet<String>) {
        let cache = &self.platform.cache;
        let mut keys: Vec<String> = Vec::with_capacity(stations.len() * 3 + 6);
        for scheme in Scheme::ALL {
            keys.extend(stations.iter().map(|c| cache_key_now(c, scheme)));
            keys.push(cache_key_area("districts", scheme));
            keys.push(cache_key_area("summary", scheme));
        }
        {
            let mut local = self.local.write();
            for key in &keys {
                local.remove(key);
            }
        }
        for key in keys {
            if let Err(e) = cache.delete(&key).await {
                tracing::warn!(error = %e, key, "air cache invalidation failed");
            }
        }
    }

    /// Cached district answer (see [`crate::api`]): read.
    pub async fn cached<T: serde::de::DeserializeOwned>(&self, kind: &str, scheme: Scheme) -> Option<T> {
        self.cache_get(&cache_key_area(kind, scheme)).await
    }

    /// Cached district answer: write.
    pub async fn remember<T: serde::Serialize>(&self, kind: &str, scheme: Scheme, value: &T) {
        self.cache_put(&cache_key_area(kind, scheme), value).await;
    }

    /// The nearest active station with a fresh hour, and the nearer stale ones skipped on the way.
    pub async fn nearest(
        &self,
        at: LatLon,
        scheme: Scheme,
        now: i64,
    ) -> Result<(Option<(IndexedStation, f64, Arc<StationNow>)>, Vec<(IndexedStation, f64)>), EngineError> {
        let index = self.index().await?;
        let mut skipped = Vec::new();
        for found in index.nearest(at, NEAREST_CANDIDATES, NEAREST_RADIUS_M) {
            let current = self.station_now(&found.station.code, scheme, now).await?;
            if current.hour_end_ms.is_some_and(|h| h > now - FRESH_MS) {
                return Ok((Some((found.station.clone(), found.distance_m, current)), skipped));
            }
            skipped.push((found.station.clone(), found.distance_m));
        }
        Ok((None, skipped))
    }

    /// Evaluates the subscriptions that `stations` can affect; returns how many alerts were raised or cleared.
    async fn evaluate_alerts(&self, stations: &HashSet<String>, now: i64) -> Result<u64, EngineError> {
        let subscriptions = store::all_subscriptions(&self.db).await?;
        if subscriptions.is_empty() {
            return Ok(0);
        }
        let index = self.index().await?;
        let districts: HashSet<&str> =
            stations.iter().filter_map(|c| index.get(c)).filter_map(|s| s.district_code.as_deref()).collect();
        let mut areas: HashMap<Scheme, Vec<(String, AreaNow)>> = HashMap::new();
        let mut changed = 0;
        for sub in subscriptions {
            let Ok(scheme) = Scheme::parse(&sub.scheme) else { continue };
            let (aqi, hour_end, place) = match (&sub.district_code, sub.lat, sub.lon) {
                (Some(code), _, _) => {
                    if !districts.contains(code.as_str()) {
                        continue;
                    }
                    let list = match areas.entry(scheme) {
                        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                        std::collections::hash_map::Entry::Vacant(e) => e.insert(self.areas_now(scheme, now).await?.1),
                    };
                    let Some(area) = list.iter().find(|(c, _)| c == code).map(|(_, a)| a) else { continue };
                    let (Some(aqi), Some(h)) = (area.report.as_ref().and_then(|r| r.aqi), area.hour_end) else {
                        continue;
                    };
                    let name = self.platform.districts.get(code).map(|d| (d.name_zh.clone(), d.name_en.clone()));
                    (aqi, h, name.unwrap_or_else(|| (code.clone(), code.clone())))
                }
                (None, Some(lat), Some(lon)) => {
                    let Some(at) = LatLon::new(lat, lon) else { continue };
                    let (found, _) = self.nearest(at, scheme, now).await?;
                    let Some((station, _, current)) = found else { continue };
                    if !stations.contains(&station.code) {
                        continue;
                    }
                    let (Some(aqi), Some(h)) = (current.report.as_ref().and_then(|r| r.aqi), current.hour_end_ms)
                    else {
                        continue;
                    };
                    (aqi, h, (station.name.clone(), station.name.clone()))
                }
                _ => continue,
            };
            let level = u8::try_from(sub.threshold_level).unwrap_or(3);
            let state = AlertState { alerting: sub.alerting, raised_at: sub.raised_at };
            match alert::decide(scheme, level, state, aqi, now) {
                AlertDecision::Stay => {
                    if sub.last_aqi != Some(i64::from(aqi)) || sub.last_hour_end != Some(hour_end) {
                        store::note_aqi(&self.db, &sub.id, i64::from(aqi), hour_end).await?;
                    }
                }
                decision => {
                    let mut tx = self.db.begin_write().await?;
                    let raise = decision == AlertDecision::Raise;
                    let applied = if raise {
                        store::raise_alert(&mut tx, &sub.id, sub.episode, i64::from(aqi), hour_end, now).await?
                    } else {
                        store::clear_alert(&mut tx, &sub.id, sub.episode, i64::from(aqi), hour_end, now).await?
                    };
                    if applied {
                        let episode = if raise { sub.episode + 1 } else { sub.episode };
                        let payload = notification(&sub, scheme, raise, episode, aqi, hour_end, &place);
                        outbox::enqueue(&mut tx, "notify.requested", &payload).await?;
                        tx.commit().await?;
                        changed += 1;
                    } else {
                        // Another ingestion got there first; its notification stands.
                        tx.rollback().await?;
                    }
                }
            }
        }
        Ok(changed)
    }
}

/// The `notify.requested` payload of an alert or all-clear; the id is stable per subscription and episode.
fn notification(
    sub: &store::SubscriptionRow,
    scheme: Scheme,
    raised: bool,
    episode: i64,
    aqi: u16,
    hour_end: i64,
    place: &(String, String),
) -> serde_json::Value {
    let category = scheme.category(aqi);
    let what = if raised { "raised" } else { "cleared" };
    let label = if sub.label.is_empty() { place.0.clone() } else { sub.label.clone() };
    let label_en = if sub.label.is_empty() { place.1.clone() } else { sub.label.clone() };
    let (title_zh, title_en, body_zh, body_en) = if raised {
        (
            format!("空气质量提醒：{label}{}", category.name_zh),
            format!("Air quality alert: {label_en} is {}", category.name_en.to_lowercase()),
            format!("{label}当前空气质量指数 {aqi}（{}）。{}", category.name_zh, category.advice_zh),
            format!("The air quality index at {label_en} is {aqi} ({}). {}", category.name_en, category.advice_en),
        )
    } else {
        (
            format!("空气质量好转：{label}",),
            format!("Air quality has improved: {label_en}"),
            format!("{label}当前空气质量指数 {aqi}（{}），已低于您设置的提醒级别。", category.name_zh),
            format!("The air quality index at {label_en} is {aqi} ({}), below your alert level.", category.name_en),
        )
    };
    serde_json::json!({
        "notification_id": format!("air:alert:{}:{episode}:{what}", sub.id),
        "citizen_id": sub.citizen_id,
        "kind": format!("air.alert_{what}"),
        "title_zh": title_zh,
        "title_en": title_en,
        "body_zh": body_zh,
        "body_en": body_en,
        "data": {
            "subscription_id": sub.id,
            "scheme": scheme.id(),
            "aqi": aqi,
            "level": category.level,
            "category_zh": category.name_zh,
            "category_en": category.name_en,
            "colour": category.colour.hex,
            "threshold_level": sub.threshold_level,
            "district_code": sub.district_code,
            "observed_at": rfc3339(from_ms(hour_end)),
        },
        "channels": ["miniprogram", "oa_template"],
    })
}

fn rollup_json(day: &HourlySeries) -> String {
    let map: BTreeMap<&str, Vec<Option<String>>> = Pollutant::ALL
        .iter()
        .map(|p| (p.code(), day.of(*p).iter().map(|v| v.map(|v| v.to_string())).collect()))
        .collect();
    serde_json::to_string(&map).unwrap_or_default()
}

fn series_from_rollup(json: &str) -> Option<HourlySeries> {
    let map: BTreeMap<String, Vec<Option<String>>> = serde_json::from_str(json).ok()?;
    let mut day = HourlySeries::empty(24);
    for (code, values) in map {
        let Ok(p) = Pollutant::parse(&code) else { continue };
        for (i, v) in values.iter().enumerate() {
            if let Some(c) = v.as_deref().and_then(|t| Concentration::parse(t).ok()) {
                day.set(p, i, c);
            }
        }
    }
    Some(day)
}

/// Parses an RFC 3339 instant to UTC milliseconds (for query parameters).
pub fn parse_instant(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_days_start_at_16_00_utc_and_the_24_00_hour_belongs_to_the_day_before() {
        // 2026-11-25T00:00:00+08:00 = 2026-11-24T16:00:00Z.
        let start = 1_795_536_000_000;
        assert_eq!(city_day_start(start), start);
        assert_eq!(city_day_start(start + DAY_MS - 1), start);
        assert_eq!(city_day_label(start), "2026-11-25");
        assert_eq!(day_of_hour_end(start + DAY_MS), start);
        assert_eq!(day_of_hour_end(start + HOUR_MS), start);
    }

    #[test]
    fn a_rollup_round_trips_exact_values() {
        let mut day = HourlySeries::empty(24);
        day.set(Pollutant::Co, 3, Concentration::parse("2.2").unwrap());
        assert_eq!(series_from_rollup(&rollup_json(&day)), Some(day));
    }
}
