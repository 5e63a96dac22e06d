//! HTTP surface of the air service: each handler parses its input and calls a use case of
//! [`crate::engine`]; bodies are in [`dto`], the problems each operation can answer in [`problems`].

mod dto;
mod nearest;
mod problems;
mod readings;
mod share;

use std::sync::Arc;

use city_platform::auth::{ApiKeyAuth, CitizenAuth, Role, StaffAuth};
use city_platform::coords::{Crs, CrsName, LatLon};
use city_platform::problem::FieldError;
use city_platform::time::{from_ms, now_ms, rfc3339};
use city_platform::{CachedJson, Failure, JsonBody, Matching, Problem};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{OpenApi, Tags};

use crate::domain::Scheme;
use crate::engine::{AirState, NewSubscription, StationChange, Watch, FRESH_MS};
use crate::errors;
use crate::views::{AqiView, CategoryView, StationNow, StationView};
pub use dto::*;
pub use nearest::render_nearest;
use problems::{
    parse_point, parse_scheme, CitizenReadErrors, NearestErrors, ReadingsErrors, SchemeReadErrors, StationReadErrors,
    StationWriteErrors, SubscribeErrors, UnsubscribeErrors,
};
use readings::{check_rows, labelled_rows};
pub use readings::{ReadingsBody, MAX_BATCH_ROWS};
pub use share::AirApi;

city_platform::pattern!(
    /// An index scheme's name as a client may ask for it (see [`Scheme`]).
    pub SchemeName = "^(cn-2026|cn-2012|us)$"
);

#[derive(Tags)]
enum AirTags {
    /// Air quality: stations, readings, AQI near you and per district, alerts.
    Air,
}

/// The air service's answers (the share cards of some are in [`share`], which composes both).
pub struct CoreApi {
    state: Arc<AirState>,
}

#[OpenApi(prefix_path = "/v1/air", tag = "AirTags::Air")]
impl CoreApi {
    /// List the AQI schemes
    ///
    /// The schemes every air-quality answer can be computed in; each answer names its scheme.
    #[oai(path = "/schemes", method = "get", operation_id = "list_aqi_schemes")]
    async fn list_schemes(&self) -> Json<Vec<SchemeView>> {
        Json(
            Scheme::ALL
                .iter()
                .map(|s| SchemeView {
                    id: s.id().into(),
                    standard: s.standard().into(),
                    name_en: s.name_en().into(),
                    name_zh: s.name_zh().into(),
                    default: *s == Scheme::default(),
                })
                .collect(),
        )
    }

    /// List the monitoring stations
    ///
    /// Every station, active or not, by code.
    #[oai(path = "/stations", method = "get", operation_id = "list_air_stations")]
    async fn list_stations(&self) -> Result<Json<Vec<StationView>>, Failure<crate::engine::EngineError>> {
        let rows = self.state.stations().await?;
        Ok(Json(rows.iter().map(StationView::from).collect()))
    }

    /// Create or replace a station
    ///
    /// Admins only. The district is found from the location; the change is audited and replicas
    /// rebuild their nearest-station index.
    #[oai(path = "/stations/:code", method = "put", operation_id = "put_air_station")]
    async fn put_station(
        &self,
        StaffAuth(staff): StaffAuth,
        code: Path<String>,
        body: JsonBody<StationInput>,
    ) -> Result<Json<StationView>, Failure<StationWriteErrors>> {
        staff.require(&[Role::Admin])?;
        let code = code.0.trim().to_owned();
        if code.is_empty()
            || code.len() > 32
            || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Problem::invalid("code", "1 to 32 letters, digits, - or _").into());
        }
        let input = body.0;
        let crs = match input.coord.as_deref() {
            None | Some("") => Crs::Wgs84,
            Some(t) => Crs::parse(t).map_err(|_| Problem::invalid("coord", "expected wgs84, gcj02 or bd09"))?,
        };
        let at = LatLon::from_crs(crs, input.lat, input.lon).map_err(|e| Problem::invalid("lat", e.to_string()))?;
        let change = StationChange {
            code,
            name: input.name.trim().to_owned(),
            at,
            operator: input.operator.unwrap_or_default(),
            active: input.active.unwrap_or(true),
        };
        let row = self.state.put_station(&staff, change, now_ms()).await?;
        Ok(Json(StationView::from(&row)))
    }

    /// Get a station with its latest index and history
    ///
    /// The latest hourly index, the 24 hourly indices ending now and the daily indices of the last 30 days.
    #[oai(path = "/stations/:code", method = "get", operation_id = "get_air_station")]
    async fn get_station(
        &self,
        code: Path<String>,
        scheme: Query<Option<Matching<SchemeName>>>,
    ) -> Result<Json<StationDetail>, Failure<StationReadErrors>> {
        let scheme = parse_scheme(scheme.0.as_deref())?;
        let Some(row) = self.state.station(&code.0).await? else {
            return Err(Problem::not_found("station").into());
        };
        let now = now_ms();
        let current = StationNow::clone(&*self.state.station_now(&row.code, scheme, now).await?);
        let (hours, days) = self.state.history(&row.code, scheme, now).await?;
        Ok(Json(StationDetail {
            station: StationView::from(&row),
            fresh: current.hour_end_ms.is_some_and(|h| h > now - FRESH_MS),
            current,
            last_24_hours: hours
                .iter()
                .map(|(at, r)| HourView { observed_at: rfc3339(from_ms(*at)), report: AqiView::from(r) })
                .collect(),
            last_30_days: days
                .iter()
                .map(|(date, r)| DayView { date: date.clone(), report: AqiView::from(r) })
                .collect(),
        }))
    }

    /// Submit hourly readings
    ///
    /// For data feeds with an API key bound to the stations or the network it feeds (scope
    /// `air-ingest:<station code or network>`; a batch naming any other station is 403 and
    /// stores nothing). JSON (`{"readings": [...]}`) or CSV
    /// (`text/csv`, header `station_code,observed_at,pollutant,value,unit[,correction]`). Each
    /// (station, hour, pollutant) is stored once: a resent hour changes nothing unless marked as a
    /// correction. Bad rows are rejected one by one and named; the rest are stored in one transaction.
    #[oai(path = "/readings", method = "post", operation_id = "submit_air_readings")]
    async fn submit_readings(
        &self,
        ApiKeyAuth(integrator): ApiKeyAuth,
        body: ReadingsBody,
    ) -> Result<Json<IngestReport>, Failure<ReadingsErrors>> {
        let grants = crate::ingest::ingest_grants(&integrator.scopes);
        if grants.is_empty() {
            integrator.require("air-ingest")?;
            return Err(Problem::forbidden(
                "this API key is bound to no station: an admin grants it `air-ingest:<station code or network>`",
            )
            .into());
        }
        let rows = labelled_rows(body)?;
        if rows.is_empty() {
            return Err(Problem::invalid("readings", "the batch is empty").into());
        }
        if rows.len() > MAX_BATCH_ROWS {
            return Err(Problem::invalid("readings", format!("at most {MAX_BATCH_ROWS} rows per request")).into());
        }
        let now = now_ms();
        let (checked, mut rejected) = check_rows(&rows, now);
        // Unknown stations are rejected per row too.
        let mut codes: Vec<&str> = checked.iter().map(|(_, _, r, _)| r.station_code.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        let known = self.state.known_stations(&codes).await?;
        // The whole batch is refused when it writes a station the key does not feed.
        let networks: std::collections::HashMap<String, String> =
            self.state.stations().await?.into_iter().map(|s| (s.code, s.operator)).collect();
        let mut foreign: Vec<&str> = codes
            .iter()
            .copied()
            .filter(|c| known.contains(*c))
            .filter(|c| !crate::ingest::feeds(&grants, c, networks.get(*c).map_or("", String::as_str)))
            .collect();
        if !foreign.is_empty() {
            foreign.truncate(20);
            tracing::warn!(key_id = %integrator.key_id, stations = ?foreign, "an ingest key wrote stations it does not feed");
            return Err(Problem::forbidden(format!(
                "this API key does not feed station(s) {}; nothing was stored",
                foreign.join(", ")
            ))
            .into());
        }
        let mut good = Vec::with_capacity(checked.len());
        for (label, prefix, r, correction) in checked {
            if known.contains(&r.station_code) {
                good.push((r, correction));
            } else {
                rejected.push(RejectedRow {
                    row: label.clone(),
                    field: format!("{prefix}station_code"),
                    message: format!("no station has the code {}", r.station_code),
                });
            }
        }
        if good.is_empty() {
            let errors =
                rejected.into_iter().take(100).map(|r| FieldError { field: r.field, message: r.message }).collect();
            return Err(Problem::invalid_fields(errors).with_detail("no row of the batch was valid").into());
        }
        let outcome = self.state.ingest(&good, now).await?;
        Ok(Json(IngestReport {
            received: rows.len() as u64,
            stored: outcome.stored,
            unchanged: outcome.unchanged,
            rejected,
            alerts: outcome.alerts,
        }))
    }

    /// Air quality near a point
    ///
    /// The nearest active station (within 20 km) with a reading from the last 3 hours; nearer
    /// stations without one are skipped and listed. `coord` is the datum of the point: `gcj02`
    /// (default: WeChat's `wx.getLocation`), `wgs84` or `bd09`.
    #[oai(path = "/nearest", method = "get", operation_id = "get_nearest_air_quality")]
    async fn nearest(
        &self,
        lat: Query<f64>,
        lon: Query<f64>,
        coord: Query<Option<Matching<CrsName>>>,
        scheme: Query<Option<Matching<SchemeName>>>,
    ) -> Result<CachedJson<NearestView>, Failure<NearestErrors>> {
        let scheme = parse_scheme(scheme.0.as_deref())?;
        let at = parse_point(lat.0, lon.0, coord.0.as_deref())?;
        let near = self.state.nearest(at, scheme, now_ms()).await?;
        let Some(found) = &near.found else {
            return Err(Problem::of(&errors::NO_STATION_NEARBY).into());
        };
        let Some(fragment) = &found.answer.fragment else {
            tracing::error!(station = %near.index.all()[found.position as usize].code, "air: a fresh station without a report");
            return Err(Problem::internal().into());
        };
        Ok(CachedJson::from_rendered(render_nearest(scheme, &near, found, fragment)))
    }

    /// Air quality per district
    ///
    /// Each district's index for the latest hour, computed from the mean concentration of its
    /// reporting stations (as a city's AQI is computed), with the stations that contributed.
    #[oai(path = "/districts", method = "get", operation_id = "list_district_air_quality")]
    async fn districts(
        &self,
        scheme: Query<Option<Matching<SchemeName>>>,
    ) -> Result<Json<DistrictsView>, Failure<SchemeReadErrors>> {
        self.districts_now(scheme.0.as_deref()).await
    }

    /// The city's air quality at a glance
    ///
    /// The city index (mean concentrations of all reporting stations), the best and worst district
    /// and a one-paragraph answer in Chinese and English, as the Service Account replies.
    #[oai(path = "/summary", method = "get", operation_id = "get_air_summary")]
    async fn summary(
        &self,
        scheme: Query<Option<Matching<SchemeName>>>,
    ) -> Result<Json<SummaryView>, Failure<SchemeReadErrors>> {
        self.summary_now(scheme.0.as_deref()).await
    }

    /// Subscribe to air-quality alerts
    ///
    /// For a place inside the city (`lat`/`lon`, nearest fresh station; 422 naming `lat` outside
    /// every district) or a district. An alert goes out once when
    /// the index reaches the threshold level, an all-clear when it falls 20 points below the level;
    /// no new alert within 6 hours of the last.
    #[oai(path = "/alerts", method = "post", operation_id = "create_air_alert")]
    async fn create_alert(
        &self,
        CitizenAuth(citizen): CitizenAuth,
        body: JsonBody<SubscriptionInput>,
    ) -> Result<CreatedSubscription, Failure<SubscribeErrors>> {
        let input = body.0;
        let scheme = parse_scheme(input.scheme.as_deref())?;
        let level = input.threshold_level.unwrap_or(3);
        if !(2..=6).contains(&level) {
            return Err(Problem::invalid("threshold_level", "a level from 2 to 6").into());
        }
        let watch = match (input.district_code, input.lat, input.lon) {
            (Some(code), None, None) => {
                if self.state.platform.districts.get(&code).is_none() {
                    return Err(Problem::invalid("district_code", "no district has this code").into());
                }
                Watch::District(code)
            }
            (None, Some(lat), Some(lon)) => {
                let at = parse_point(lat, lon, input.coord.as_deref())?;
                // Alerts are the city's: a point outside every district has no station of ours.
                if self.state.platform.districts.locate(at).is_none() {
                    return Err(Problem::invalid("lat", "the point is outside the city's districts").into());
                }
                Watch::Place(at)
            }
            (Some(_), _, _) => {
                return Err(Problem::invalid("district_code", "give a district or a place, not both").into())
            }
            (None, None, _) => return Err(Problem::invalid("lat", "give a district_code, or lat and lon").into()),
            (None, Some(_), None) => return Err(Problem::invalid("lon", "lon is required with lat").into()),
        };
        let new = NewSubscription {
            citizen_id: citizen.citizen_id,
            watch,
            label: input.label.unwrap_or_default().trim().to_owned(),
            scheme,
            threshold_level: level,
        };
        let row = self.state.subscribe(new, now_ms()).await?;
        Ok(CreatedSubscription::Created(Json(SubscriptionView::from(&row))))
    }

    /// List my air-quality alerts
    ///
    /// The signed-in citizen's subscriptions and whether each is alerting now.
    #[oai(path = "/alerts", method = "get", operation_id = "list_air_alerts")]
    async fn list_alerts(
        &self,
        CitizenAuth(citizen): CitizenAuth,
    ) -> Result<Json<Vec<SubscriptionView>>, Failure<CitizenReadErrors>> {
        let rows = self.state.subscriptions_of(&citizen.citizen_id).await?;
        Ok(Json(rows.iter().map(SubscriptionView::from).collect()))
    }

    /// Cancel an air-quality alert
    ///
    /// Removes one of the signed-in citizen's subscriptions.
    #[oai(path = "/alerts/:id", method = "delete", operation_id = "delete_air_alert")]
    async fn delete_alert(
        &self,
        CitizenAuth(citizen): CitizenAuth,
        id: Path<String>,
    ) -> Result<Deleted, Failure<UnsubscribeErrors>> {
        if self.state.unsubscribe(&id.0, &citizen.citizen_id).await? {
            Ok(Deleted::NoContent)
        } else {
            Err(Problem::not_found("alert subscription").into())
        }
    }
}

// The read models behind two operations, also drawn by the share cards (share.rs), which take the
// scheme as given and leave an unknown one to `parse_scheme`'s 422.
impl CoreApi {
    /// Each district's index for the latest hour, under `scheme` (default cn-2026).
    pub(crate) async fn districts_now(
        &self,
        scheme: Option<&str>,
    ) -> Result<Json<DistrictsView>, Failure<SchemeReadErrors>> {
        let scheme = parse_scheme(scheme)?;
        let (hit, token) = self.state.cached::<DistrictsView>("districts", scheme).await;
        if let Some(hit) = hit {
            return Ok(Json(hit));
        }
        let (_, areas) = self.state.areas_now(scheme, now_ms()).await?;
        let view = DistrictsView {
            scheme: scheme.id().into(),
            method: "Per pollutant and hour, the arithmetic mean concentration over the district's active stations that \
                     reported the latest hour (HJ 663 practice for city values); the index is then computed from the means \
                     with the scheme's rules. Not the maximum or mean of station indices."
                .into(),
            districts: areas
                .iter()
                .map(|(code, area)| {
                    let d = self.state.platform.districts.get(code);
                    let (observed_at, report) = area_view(area);
                    DistrictAqiView {
                        code: code.clone(),
                        name_zh: d.map(|d| d.name_zh.clone()).unwrap_or_default(),
                        name_en: d.map(|d| d.name_en.clone()).unwrap_or_default(),
                        observed_at,
                        report,
                        stations_contributing: area.contributing.clone(),
                        stations_missing: area.missing.clone(),
                    }
                })
                .collect(),
        };
        self.state.remember("districts", scheme, token, &view).await;
        Ok(Json(view))
    }

    /// The city at a glance, under `scheme` (default cn-2026).
    pub(crate) async fn summary_now(
        &self,
        scheme: Option<&str>,
    ) -> Result<Json<SummaryView>, Failure<SchemeReadErrors>> {
        let scheme = parse_scheme(scheme)?;
        let (hit, token) = self.state.cached::<SummaryView>("summary", scheme).await;
        if let Some(hit) = hit {
            return Ok(Json(hit));
        }
        let (city, areas) = self.state.areas_now(scheme, now_ms()).await?;
        let districts = &self.state.platform.districts;
        let ranked: Vec<(u16, &str)> = areas
            .iter()
            .filter_map(|(code, a)| a.report.as_ref().and_then(|r| r.aqi).map(|aqi| (aqi, code.as_str())))
            .collect();
        let name = |code: &str| districts.get(code).map(|d| (d.name_zh.clone(), d.name_en.clone()));
        let best = ranked.iter().min_by_key(|(aqi, code)| (*aqi, *code)).and_then(|(_, c)| name(c));
        let worst = ranked.iter().max_by_key(|(aqi, code)| (*aqi, std::cmp::Reverse(*code))).and_then(|(_, c)| name(c));
        let (observed_at, report) = area_view(&city);
        let city_name = districts.city.clone();
        let (text_zh, text_en) = match report.as_ref().and_then(|r| r.aqi.map(|aqi| (aqi, r))) {
            Some((aqi, r)) => {
                let c = r.category.clone().unwrap_or(CategoryView {
                    level: 0,
                    level_zh: String::new(),
                    name_zh: String::new(),
                    name_en: String::new(),
                });
                let primary_zh: Vec<&str> = r.primary_pollutants.iter().map(|p| p.label.as_str()).collect();
                let advice = r.advice.clone();
                let mut zh = format!("{city_name}当前空气质量指数 {aqi}，{}", c.name_zh);
                let mut en = format!("Air quality in {city_name} now: AQI {aqi}, {}", c.name_en.to_lowercase());
                if !primary_zh.is_empty() {
                    zh.push_str(&format!("，首要污染物 {}", primary_zh.join("、")));
                    en.push_str(&format!(", primary pollutant {}", primary_zh.join(", ")));
                }
                zh.push('。');
                en.push('.');
                if let (Some(b), Some(w)) = (&best, &worst) {
                    zh.push_str(&format!("最好：{}；最差：{}。", b.0, w.0));
                    en.push_str(&format!(" Best: {}; worst: {}.", b.1, w.1));
                }
                if let Some(a) = advice {
                    zh.push_str(&a.zh);
                    en.push(' ');
                    en.push_str(&a.en);
                }
                (zh, en)
            }
            None => {
                (format!("{city_name}暂无最新空气质量数据。"), format!("No recent air-quality data for {city_name}."))
            }
        };
        let view = SummaryView {
            scheme: scheme.id().into(),
            city: city_name,
            observed_at,
            report,
            best_district: best.map(|b| b.1),
            worst_district: worst.map(|w| w.1),
            text_zh,
            text_en,
        };
        self.state.remember("summary", scheme, token, &view).await;
        Ok(Json(view))
    }
}
