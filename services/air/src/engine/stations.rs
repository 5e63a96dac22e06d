//! The live station index, a station's latest hour (cached per scheme under the station's token),
//! the nearest fresh station, the tokens that invalidate cached answers, and station changes.

use std::sync::Arc;
use std::time::Instant;

use city_platform::audit;
use city_platform::auth::Staff;
use city_platform::coords::LatLon;
use city_platform::outbox;
use city_platform::time::{from_ms, rfc3339};
use parking_lot::RwLock;

use crate::answers::{
    cache_key_area, members_of, scheme_slot, token_key, Answer, HeadMembers, LiveIndex, Slot, Tagged, AREAS_TOKEN,
};
use crate::domain::series::{hourly_input, HourlySeries};
use crate::domain::{AqiReport, ReportPeriod, Scheme};
use crate::hours::{series_by_station, DAY_MS, FRESH_MS};
use crate::index::{IndexedStation, StationIndex};
use crate::state::{AirState, EngineError, INDEX_TTL};
use crate::store::{self, StationRow};
use crate::views::{AqiView, StationNow, StationView};

/// Nearest-station search radius; beyond it the answer is "no station near you".
pub const NEAREST_RADIUS_M: f64 = 20_000.0;
/// How many nearby stations are tried before giving up on stale ones.
pub const NEAREST_CANDIDATES: usize = 10;
/// The event a station change writes in its own transaction.
pub const STATIONS_CHANGED: &str = "air.stations_changed";

/// A station to create or replace, already checked field by field.
#[derive(Debug, Clone)]
pub struct StationChange {
    /// The network code.
    pub code: String,
    /// Display name.
    pub name: String,
    /// Where it is (WGS-84).
    pub at: LatLon,
    /// Who runs it.
    pub operator: String,
    /// Whether it reports and is shown.
    pub active: bool,
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
    /// Every station, active or not, by code.
    pub async fn stations(&self) -> Result<Vec<StationRow>, EngineError> {
        Ok(store::list_stations(&self.db).await?)
    }

    /// One station, if it exists.
    pub async fn station(&self, code: &str) -> Result<Option<StationRow>, EngineError> {
        let mut conn = self.db.pool.acquire().await?;
        Ok(store::get_station(&mut conn, code).await?)
    }

    /// Creates or replaces a station: its district is found from the location, the change is
    /// audited and `air.stations_changed` written in the same transaction, then this replica's
    /// index is rebuilt (the others rebuild on the event).
    #[tracing::instrument(skip_all, fields(station = %change.code))]
    pub async fn put_station(&self, staff: &Staff, change: StationChange, now: i64) -> Result<StationRow, EngineError> {
        let code = change.code;
        let mut tx = self.db.begin_write().await?;
        let before = store::get_station(&mut tx, &code).await?;
        let row = StationRow {
            code: code.clone(),
            name: change.name,
            district_code: self.platform.districts.locate(change.at).map(|d| d.code.clone()),
            lat: change.at.lat(),
            lon: change.at.lon(),
            operator: change.operator,
            active: change.active,
            created_at: before.as_ref().map_or(now, |b| b.created_at),
            updated_at: now.max(before.as_ref().map_or(0, |b| b.updated_at + 1)),
        };
        store::upsert_station(&mut tx, &row).await?;
        let entry = audit::AuditEntry::by_staff(staff, crate::store::NAME, "put_station", format!("station:{code}"))
            .with_change(
                before.as_ref().map(|b| serde_json::to_value(StationView::from(b)).unwrap_or_default()),
                serde_json::to_value(StationView::from(&row)).ok(),
            );
        audit::record(&mut tx, &entry).await?;
        outbox::enqueue(&mut tx, STATIONS_CHANGED, &serde_json::json!({ "code": code })).await?;
        tx.commit().await?;
        tracing::info!("air: station {code} stored");
        self.refresh_index(true).await?;
        Ok(row)
    }

    /// The index of active stations. Rebuilt on `air.stations_changed` (see the subscriptions made in `lib.rs`),
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

    /// The latest hourly index of a station (cached until the next ingestion for it).
    #[tracing::instrument(skip_all, fields(station = %code, scheme = %scheme))]
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
    pub(super) async fn keep(
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

    #[tracing::instrument(skip_all, fields(station = %code, scheme = %scheme))]
    pub(super) async fn compute_now(&self, code: &str, scheme: Scheme, now: i64) -> Result<StationNow, EngineError> {
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
}
