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
/// How often a replica checks the station table even without an `air.stations_changed` event
/// (a safety net: the event is what normally triggers the rebuild).
const INDEX_TTL: Duration = Duration::from_secs(60);
/// How long an answer stays in the shared cache. Not what keeps answers right (tokens do, see
/// [`AirState::invalidate`]); it only bounds memory.
const CACHE_TTL: Duration = Duration::from_secs(3_600);
/// How long a token lives. An expired token is replaced by a new one, which only costs a recomputation.
const TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3_600);
/// How long the deferred consumer of `air.readings_stored` waits before checking that the ingesting
/// request finished its after-commit work (the normal case: then it does nothing).
pub const DEFERRED_GRACE_MS: i64 = 2_000;
/// How long "this ingestion's after-commit work is done" is remembered.
const DONE_TTL: Duration = Duration::from_secs(3_600);
/// The event an ingestion writes in its own transaction.
pub const READINGS_STORED: &str = "air.readings_stored";
/// The event a station change writes in its own transaction.
pub const STATIONS_CHANGED: &str = "air.stations_changed";

/// A failure of the store or the cache.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// One station's cached answers, one per scheme. Lives as long as the process (a rebuilt index
/// reuses it), so an ingestion always reaches the slot a reader fills.
#[derive(Default)]
pub struct Slot {
    answers: [RwLock<Option<Arc<Answer>>>; 3],
}

/// A station's latest hour in one scheme, with the lean `/v1/air/nearest` members pre-rendered.
pub struct Answer {
    /// The token current when its inputs were read; valid while the station's token is unchanged.
    token: Box<[u8]>,
    /// The full latest-hour view.
    pub now: Arc<StationNow>,
    /// `"aqi":…,"level":…,…,"observed_at":"…"` (JSON members without braces), when there is a report.
    pub fragment: Option<Box<str>>,
}

/// The station index with what the hot path needs beside each station: its slot and its
/// pre-rendered `station` members.
pub struct LiveIndex {
    stations: StationIndex,
    slots: Vec<Arc<Slot>>,
    heads: Vec<Box<str>>,
    token_keys: Vec<Box<str>>,
}

impl std::ops::Deref for LiveIndex {
    type Target = StationIndex;

    fn deref(&self) -> &StationIndex {
        &self.stations
    }
}

impl LiveIndex {
    /// `"code":…,"name":…,"district_code":…` of the station at `position`.
    pub fn head(&self, position: u32) -> &str {
        &self.heads[position as usize]
    }
}

fn scheme_slot(scheme: Scheme) -> usize {
    match scheme {
        Scheme::Cn2026 => 0,
        Scheme::Cn2012 => 1,
        Scheme::Us => 2,
    }
}

/// The lean members of `/v1/air/nearest` that depend only on the station's latest hour.
#[derive(serde::Serialize)]
struct NearestMembers<'a> {
    aqi: Option<u16>,
    level: Option<u8>,
    category: &'a Option<crate::views::CategoryView>,
    colour: &'a Option<crate::views::ColourView>,
    primary_pollutants: &'a [crate::views::PollutantView],
    advice: &'a Option<crate::views::AdviceView>,
    observed_at: &'a Option<String>,
}

/// JSON members of an object, without its braces.
fn members_of<T: serde::Serialize>(value: &T) -> Box<str> {
    let text = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
    text[1..text.len() - 1].into()
}

impl Answer {
    fn new(token: Box<[u8]>, now: Arc<StationNow>) -> Self {
        let fragment = now.report.as_ref().map(|r| {
            members_of(&NearestMembers {
                aqi: r.aqi,
                level: r.level,
                category: &r.category,
                colour: &r.colour,
                primary_pollutants: &r.primary_pollutants,
                advice: &r.advice,
                observed_at: &now.observed_at,
            })
        });
        Self { token, now, fragment }
    }
}

#[derive(serde::Serialize)]
struct HeadMembers<'a> {
    code: &'a str,
    name: &'a str,
    district_code: &'a Option<String>,
}

/// A value in the shared cache with the token it was computed under.
#[derive(serde::Serialize, serde::Deserialize)]
struct Tagged<T> {
    token: String,
    value: T,
}

/// The shared cache key of a station's token.
fn token_key(code: &str) -> String {
    format!("air:token:{code}")
}

/// One token for every district and city value: any ingestion or station change replaces it.
const AREAS_TOKEN: &str = "air:token:areas";

fn done_key(event_id: &str) -> String {
    format!("air:ingested:{event_id}")
}

/// The service's shared state.
pub struct AirState {
    /// The service's own store.
    pub db: Db,
    /// Cache, bus and reference data.
    pub platform: Platform,
    index: RwLock<Arc<LiveIndex>>,
    index_checked: tokio::sync::Mutex<(i64, i64)>,
    /// Until when the index counts as checked, read without the async lock on the hot path.
    index_fresh_until: RwLock<Option<Instant>>,
    slots: RwLock<HashMap<String, Arc<Slot>>>,
    /// Whether answers also go to the shared cache (only worth it when another process can read it).
    share_answers: bool,
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

/// The answer of [`AirState::nearest`].
pub struct Nearest {
    /// The index the positions refer to.
    pub index: Arc<LiveIndex>,
    /// The station used.
    pub found: Option<NearestFound>,
    /// Nearer stations passed over as stale: (position, distance in metres).
    pub skipped: Vec<(u32, f64)>,
}

/// The station a nearest lookup settled on.
pub struct NearestFound {
    /// Its position in the index.
    pub position: u32,
    /// Haversine distance, metres.
    pub distance_m: f64,
    /// Its latest hour.
    pub answer: Arc<Answer>,
}

impl AirState {
    /// State over an opened store.
    pub fn new(db: Db, platform: Platform) -> Self {
        let share_answers = platform.cache.kind() != "memory";
        Self {
            db,
            platform,
            index: RwLock::new(Arc::new(LiveIndex {
                stations: StationIndex::default(),
                slots: Vec::new(),
                heads: Vec::new(),
                token_keys: Vec::new(),
            })),
            index_checked: tokio::sync::Mutex::new((-1, -1)),
            index_fresh_until: RwLock::new(None),
            slots: RwLock::new(HashMap::new()),
            share_answers,
        }
    }

    /// The index of active stations. Rebuilt on `air.stations_changed` (see [`crate::AirService`]),
    /// and checked against the table every minute as a safety net; a request never waits for a
    /// check once an index exists.
    pub async fn index(&self) -> Result<Arc<LiveIndex>, EngineError> {
        let checked = *self.index_fresh_until.read();
        match checked {
            Some(until) if Instant::now() < until => Ok(self.index.read().clone()),
            Some(_) => {
                if let Ok(guard) = self.index_checked.try_lock() {
                    if let Err(e) = self.refresh_locked(guard, false).await {
                        tracing::warn!(error = %e, "air: station index check failed; serving the current index");
                    }
                }
                Ok(self.index.read().clone())
            }
            None => self.refresh_index(false).await,
        }
    }

    /// Rebuilds the index when the table changed (or always, with `force`).
    pub async fn refresh_index(&self, force: bool) -> Result<Arc<LiveIndex>, EngineError> {
        let guard = self.index_checked.lock().await;
        self.refresh_locked(guard, force).await
    }

    async fn refresh_locked(
        &self,
        mut checked: tokio::sync::MutexGuard<'_, (i64, i64)>,
        force: bool,
    ) -> Result<Arc<LiveIndex>, EngineError> {
        let version = store::stations_version(&self.db).await?;
        if force || version != *checked {
            let stations = store::list_stations(&self.db).await?;
            let indexed: Vec<IndexedStation> = stations
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
            let slots = indexed.iter().map(|s| self.slot(&s.code)).collect();
            let heads = indexed
                .iter()
                .map(|s| members_of(&HeadMembers { code: &s.code, name: &s.name, district_code: &s.district_code }))
                .collect();
            let token_keys = indexed.iter().map(|s| token_key(&s.code).into_boxed_str()).collect();
            *self.index.write() =
                Arc::new(LiveIndex { stations: StationIndex::new(indexed), slots, heads, token_keys });
            // District membership may have changed with the stations.
            self.new_token(&[AREAS_TOKEN.to_owned()]).await;
        }
        *checked = version;
        *self.index_fresh_until.write() = Some(Instant::now() + INDEX_TTL);
        Ok(self.index.read().clone())
    }

    /// The slot of a station, made on first use.
    fn slot(&self, code: &str) -> Arc<Slot> {
        if let Some(slot) = self.slots.read().get(code) {
            return slot.clone();
        }
        self.slots.write().entry(code.to_owned()).or_default().clone()
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

    /// The current token under `key`, made when there is none; `None` when the cache fails (then
    /// nothing is cached or served from cache).
    async fn token(&self, key: &str) -> Option<Vec<u8>> {
        let cache = &self.platform.cache;
        let read = match cache.get(key).await {
            Ok(Some(token)) => return Some(token),
            Ok(None) => {
                let fresh = city_platform::ids::new_id();
                match cache.set_if_absent(key, fresh.as_bytes(), TOKEN_TTL).await {
                    Ok(true) => return Some(fresh.into_bytes()),
                    // Another reader made it first: use theirs.
                    Ok(false) => cache.get(key).await,
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        match read {
            Ok(token) => token,
            Err(e) => {
                tracing::warn!(error = %e, "air cache token read failed; answering from the store");
                None
            }
        }
    }

    /// Replaces the tokens under `keys` with one new token, so every answer tagged with an older one is dead.
    async fn new_token(&self, keys: &[String]) -> bool {
        let token = city_platform::ids::new_id();
        let cache = &self.platform.cache;
        let mut ok = true;
        // Concurrent writes: on Redis one pipelined round trip per batch instead of one per station.
        for chunk in keys.chunks(256) {
            let writes = chunk.iter().map(|key| cache.set(key, token.as_bytes(), TOKEN_TTL));
            for (key, res) in chunk.iter().zip(futures::future::join_all(writes).await) {
                if let Err(e) = res {
                    tracing::error!(error = %e, key, "air cache invalidation failed");
                    ok = false;
                }
            }
        }
        ok
    }

    /// The latest hourly index of a station (cached until the next ingestion for it).
    pub async fn station_now(&self, code: &str, scheme: Scheme, now: i64) -> Result<Arc<StationNow>, EngineError> {
        let slot = self.slot(code);
        Ok(self.answer(code, &token_key(code), &slot, scheme, now).await?.now.clone())
    }

    /// A station's answer: from this replica's slot or the shared cache when its token still
    /// matches, else computed from the store. The token is read before the store, so a value
    /// computed from rows an ingestion then replaced carries the old token and is never served
    /// after that ingestion's [`AirState::invalidate`].
    async fn answer(
        &self,
        code: &str,
        token_key: &str,
        slot: &Slot,
        scheme: Scheme,
        now: i64,
    ) -> Result<Arc<Answer>, EngineError> {
        let cell = &slot.answers[scheme_slot(scheme)];
        let token = self.token(token_key).await;
        if let Some(token) = &token {
            if let Some(hit) = cell.read().as_ref().filter(|a| *a.token == token[..]) {
                return Ok(hit.clone());
            }
        }
        let key = format!("air:now:{code}:{}", scheme.id());
        if let (Some(token), true) = (&token, self.share_answers) {
            if let Some(hit) = self.cache_get::<Tagged<StationNow>>(&key).await {
                if hit.token.as_bytes() == &token[..] {
                    let answer = Arc::new(Answer::new(token.clone().into_boxed_slice(), Arc::new(hit.value)));
                    *cell.write() = Some(answer.clone());
                    return Ok(answer);
                }
            }
        }
        let value = self.compute_now(code, scheme, now).await?;
        Ok(self.keep(cell, &key, token, value).await)
    }

    /// Caches a computed answer under the token read before its inputs (none: not cached).
    async fn keep(
        &self,
        cell: &RwLock<Option<Arc<Answer>>>,
        shared_key: &str,
        token: Option<Vec<u8>>,
        value: StationNow,
    ) -> Arc<Answer> {
        let value = Arc::new(value);
        let Some(token) = token else {
            return Arc::new(Answer::new(Box::default(), value));
        };
        if self.share_answers {
            let tagged =
                Tagged { token: String::from_utf8_lossy(&token).into_owned(), value: StationNow::clone(&value) };
            self.cache_put(shared_key, &tagged).await;
        }
        let answer = Arc::new(Answer::new(token.into_boxed_slice(), value));
        *cell.write() = Some(answer.clone());
        answer
    }

    async fn compute_now(&self, code: &str, scheme: Scheme, now: i64) -> Result<StationNow, EngineError> {
        let end = now + crate::ingest::FUTURE_TOLERANCE_MS;
        let latest = store::latest_hour(&self.db, code, end).await?;
        Ok(match latest {
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
        })
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
            // Read before the rows, so a rollup is only stored if nothing changed under it.
            let fingerprint = store::readings_fingerprint(&self.db, code, lo, hi + DAY_MS).await?;
            let rows = store::readings_between(&self.db, &codes, lo, hi + DAY_MS).await?;
            for (start, slot) in days.iter_mut().filter(|(_, s)| s.is_none()) {
                let day_rows: Vec<StoredReading> =
                    rows.iter().filter(|r| r.hour_end > *start && r.hour_end <= *start + DAY_MS).cloned().collect();
                let day = series_by_station(&day_rows, *start + DAY_MS, 24)
                    .remove(code)
                    .unwrap_or_else(|| HourlySeries::empty(24));
                if *start + DAY_MS <= now - FRESH_MS {
                    // A finished day (allowing for late hours) is rolled up once.
                    let label = city_day_label(*start);
                    let range = (lo, hi + DAY_MS);
                    store::put_rollup(&self.db, code, &label, &rollup_json(&day), now, range, fingerprint).await?;
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
        let now = city_platform::time::now_ms();
        self.invalidate(&stations).await;
        let alerts = self.evaluate_alerts(&stations.iter().cloned().collect(), now).await?;
        if alerts > 0 {
            tracing::info!(event_id = %event.id, alerts, "air: alerts raised or cleared by a deferred evaluation");
        }
        let _ = self.platform.cache.set(&done_key(&event.id), b"1", DONE_TTL).await;
        Ok(())
    }

    /// Kills every cached answer of `stations` and every area value by giving them new tokens.
    /// Runs after the commit; true when every token was replaced.
    pub async fn invalidate(&self, stations: &[String]) -> bool {
        let mut keys: Vec<String> = stations.iter().map(|c| token_key(c)).collect();
        keys.push(AREAS_TOKEN.to_owned());
        self.new_token(&keys).await
    }

    /// A cached district or city answer, if its token is current; and the token to [`AirState::remember`] a new one under.
    pub async fn cached<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
        scheme: Scheme,
    ) -> (Option<T>, Option<Vec<u8>>) {
        let Some(token) = self.token(AREAS_TOKEN).await else { return (None, None) };
        let hit = self
            .cache_get::<Tagged<T>>(&cache_key_area(kind, scheme))
            .await
            .filter(|t| t.token.as_bytes() == &token[..])
            .map(|t| t.value);
        (hit, Some(token))
    }

    /// Caches a district or city answer computed after [`AirState::cached`] gave `token`.
    pub async fn remember<T: serde::Serialize>(&self, kind: &str, scheme: Scheme, token: Option<Vec<u8>>, value: &T) {
        if let Some(token) = token {
            let tagged = Tagged { token: String::from_utf8_lossy(&token).into_owned(), value };
            self.cache_put(&cache_key_area(kind, scheme), &tagged).await;
        }
    }

    /// The nearest active station with a fresh hour, and the nearer stale ones skipped on the way.
    pub async fn nearest(&self, at: LatLon, scheme: Scheme, now: i64) -> Result<Nearest, EngineError> {
        let index = self.index().await?;
        let mut skipped = Vec::new();
        // The nearest station is almost always fresh: look for one first, and for the next
        // candidates only when it is not (the wider search costs several times more).
        for k in [1, NEAREST_CANDIDATES] {
            for found in index.nearest(at, k, NEAREST_RADIUS_M).into_iter().skip(skipped.len()) {
                let i = found.position as usize;
                let answer =
                    self.answer(&found.station.code, &index.token_keys[i], &index.slots[i], scheme, now).await?;
                if answer.now.hour_end_ms.is_some_and(|h| h > now - FRESH_MS) {
                    let found = Some(NearestFound { position: found.position, distance_m: found.distance_m, answer });
                    return Ok(Nearest { index: index.clone(), found, skipped });
                }
                skipped.push((found.position, found.distance_m));
            }
            if skipped.is_empty() {
                break;
            }
        }
        Ok(Nearest { index, found: None, skipped })
    }

    /// Evaluates every subscription against the current data; returns how many alerts changed.
    pub async fn evaluate_all(&self, now: i64) -> Result<u64, EngineError> {
        let stations: HashSet<String> = self.index().await?.all().iter().map(|s| s.code.clone()).collect();
        self.evaluate_alerts(&stations, now).await
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
                    let near = self.nearest(at, scheme, now).await?;
                    let Some(found) = &near.found else { continue };
                    let station = &near.index.all()[found.position as usize];
                    if !stations.contains(&station.code) {
                        continue;
                    }
                    let current = &found.answer.now;
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

    fn hour_rows(code: &str, hour_end: i64, pm25: &str) -> Vec<(CheckedReading, bool)> {
        let at = rfc3339(from_ms(hour_end));
        [("pm25", pm25, "ug/m3"), ("pm10", "40", "ug/m3"), ("so2", "5", "ug/m3"), ("co", "0.6", "mg/m3")]
            .into_iter()
            .map(|(p, v, u)| {
                let raw =
                    crate::ingest::RawReading { station_code: code, observed_at: &at, pollutant: p, value: v, unit: u };
                (crate::ingest::check(&raw, city_platform::time::now_ms()).unwrap(), true)
            })
            .collect()
    }

    /// The race the tokens close, played step by step: a reader takes the token and reads the
    /// store, an ingestion commits and invalidates, then the reader caches what it read.
    #[tokio::test]
    async fn an_answer_read_before_an_ingestion_and_cached_after_it_is_never_served() {
        let t = city_platform::testing::test_platform().await;
        let db = Db::open(&t.platform.settings, crate::NAME, &crate::MIGRATOR).await.unwrap();
        t.track(&db);
        let state = AirState::new(db.clone(), t.platform.clone());
        let now = city_platform::time::now_ms();
        let row = store::StationRow {
            code: "R1".into(),
            name: "R1".into(),
            district_code: None,
            lat: 30.6,
            lon: 104.0,
            operator: String::new(),
            active: true,
            created_at: now,
            updated_at: now,
        };
        store::upsert_station(&mut db.pool.acquire().await.unwrap(), &row).await.unwrap();
        let h = hour_floor(now);
        state.ingest(&hour_rows("R1", h, "80"), now).await.unwrap();
        let aqi = |n: &StationNow| n.report.as_ref().and_then(|r| r.aqi);
        let before = aqi(&state.station_now("R1", Scheme::Cn2026, now).await.unwrap());

        // The slow reader's first half.
        let key = token_key("R1");
        let token = state.token(&key).await;
        let read = state.compute_now("R1", Scheme::Cn2026, now).await.unwrap();
        // A correction commits and invalidates meanwhile.
        state.ingest(&hour_rows("R1", h, "160"), now).await.unwrap();
        // The reader's second half: it caches what it read, under the token it read first.
        let slot = state.slot("R1");
        state.keep(&slot.answers[scheme_slot(Scheme::Cn2026)], "air:now:R1:cn-2026", token, read).await;

        let after = aqi(&state.station_now("R1", Scheme::Cn2026, now).await.unwrap());
        assert_ne!(after, before, "the answer computed before the correction was served after it");
        assert_eq!(after, aqi(&state.compute_now("R1", Scheme::Cn2026, now).await.unwrap()));
        t.cleanup().await;
    }

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
