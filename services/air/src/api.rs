//! HTTP surface of the air service.

use std::sync::Arc;

use city_platform::auth::{ApiKeyAuth, CitizenAuth, Role, StaffAuth};
use city_platform::coords::{Crs, LatLon};
use city_platform::problem::FieldError;
use city_platform::time::{from_ms, now_ms, rfc3339};

use city_platform::{audit, outbox, CachedJson, JsonBody, Problem, ProblemResponse};
use poem::{Request, RequestBody};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Json, ParsePayload, Payload};
use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::{ApiRequest, ApiResponse, Object, OpenApi, Tags};
use serde::{Deserialize, Serialize};

use crate::domain::Scheme;
use crate::engine::{AirState, AreaNow, EngineError, FRESH_MS};
use crate::ingest::{self, RawReading};
use crate::store::{self, StationRow, SubscriptionRow};
use crate::views::{AqiView, StationNow};

#[derive(Tags)]
enum AirTags {
    /// Air quality: stations, readings, AQI near you and per district, alerts.
    Air,
}

/// The air service's operations.
pub struct AirApi {
    state: Arc<AirState>,
}

impl AirApi {
    /// The API over shared state.
    pub fn new(state: Arc<AirState>) -> Self {
        Self { state }
    }
}

/// An AQI scheme the service can compute.
#[derive(Debug, Object)]
pub struct SchemeView {
    /// Stable id used in `?scheme=`.
    pub id: String,
    /// The standard it implements, e.g. `HJ 633-2026`.
    pub standard: String,
    /// Its name in English.
    pub name_en: String,
    /// Its name in Chinese.
    pub name_zh: String,
    /// Whether citizens see this one unless they ask for another.
    pub default: bool,
}

/// Most rows one request may carry (JSON or CSV); larger backfills go in several requests.
pub const MAX_BATCH_ROWS: usize = 20_000;

/// Most alert subscriptions per citizen.
pub const MAX_SUBSCRIPTIONS: usize = 20;

fn internal(e: impl std::fmt::Display) -> ProblemResponse {
    tracing::error!(error = %e, "air service failure");
    Problem::internal().into()
}

impl From<EngineError> for ProblemResponse {
    fn from(e: EngineError) -> Self {
        internal(e)
    }
}

fn parse_scheme(scheme: Option<&str>) -> Result<Scheme, ProblemResponse> {
    match scheme {
        None | Some("") => Ok(Scheme::default()),
        Some(text) => Scheme::parse(text)
            .map_err(|_| Problem::invalid("scheme", "expected cn-2026 (default), cn-2012 or us").into()),
    }
}

fn parse_point(lat: f64, lon: f64, coord: Option<&str>) -> Result<LatLon, ProblemResponse> {
    let crs = match coord {
        None | Some("") => Crs::Gcj02,
        Some(text) => {
            Crs::parse(text).map_err(|_| Problem::invalid("coord", "expected gcj02 (default), wgs84 or bd09"))?
        }
    };
    LatLon::from_crs(crs, lat, lon).map_err(|e| {
        let field = if !(-90.0..=90.0).contains(&lat) || !lat.is_finite() { "lat" } else { "lon" };
        Problem::invalid(field, e.to_string()).into()
    })
}

/// A monitoring station.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct StationView {
    /// Network code, e.g. `1431A`.
    pub code: String,
    /// Display name.
    pub name: String,
    /// District code, absent outside the city's districts.
    pub district_code: Option<String>,
    /// Latitude, WGS-84.
    pub lat: f64,
    /// Longitude, WGS-84.
    pub lon: f64,
    /// Who runs it.
    pub operator: String,
    /// Whether it reports and is shown to citizens.
    pub active: bool,
}

impl From<&StationRow> for StationView {
    fn from(s: &StationRow) -> Self {
        Self {
            code: s.code.clone(),
            name: s.name.clone(),
            district_code: s.district_code.clone(),
            lat: s.lat,
            lon: s.lon,
            operator: s.operator.clone(),
            active: s.active,
        }
    }
}

/// A station to create or replace.
#[derive(Debug, Clone, Object, Deserialize)]
pub struct StationInput {
    /// Display name.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: String,
    /// Latitude in `coord`'s datum.
    pub lat: f64,
    /// Longitude in `coord`'s datum.
    pub lon: f64,
    /// Datum of `lat`/`lon`: `wgs84` (default; official station lists use it), `gcj02` or `bd09`.
    #[serde(default)]
    pub coord: Option<String>,
    /// Who runs it.
    #[serde(default)]
    #[oai(validator(max_length = 100))]
    pub operator: Option<String>,
    /// Whether it reports and is shown (default true).
    #[serde(default)]
    pub active: Option<bool>,
}

/// One hour of a station.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct HourView {
    /// End of the hour, RFC 3339.
    pub observed_at: String,
    /// The hourly index.
    pub report: AqiView,
}

/// One Beijing day of a station.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct DayView {
    /// The date, `YYYY-MM-DD` (Beijing).
    pub date: String,
    /// The daily index (today's is partial until the day has 20 hours).
    pub report: AqiView,
}

/// A station with its latest index and history.
#[derive(Debug, Clone, Object)]
pub struct StationDetail {
    /// The station.
    pub station: StationView,
    /// The latest hour with data and its index.
    pub current: StationNow,
    /// Whether the latest hour is recent enough to show as current (within 3 hours).
    pub fresh: bool,
    /// The 24 hours ending at the current hour, oldest first.
    pub last_24_hours: Vec<HourView>,
    /// The 30 Beijing days ending today, oldest first.
    pub last_30_days: Vec<DayView>,
}

/// One reading from a feed.
#[derive(Debug, Clone, Object, Deserialize)]
pub struct ReadingInput {
    /// Station code.
    pub station_code: String,
    /// End of the averaged hour, RFC 3339 on the whole hour, e.g. `2026-11-25T14:00:00+08:00`.
    pub observed_at: String,
    /// `pm25`, `pm10`, `so2`, `no2`, `co` or `o3` (names as feeds write them are accepted).
    pub pollutant: String,
    /// The 1-hour mean.
    pub value: f64,
    /// The standard's unit: `ug/m3` (`mg/m3` for CO).
    pub unit: String,
    /// Replace a stored value for this hour (an audited correction); default false.
    #[serde(default)]
    pub correction: Option<bool>,
}

/// A batch of readings (one reading is a batch of one).
#[derive(Debug, Clone, Object, Deserialize)]
pub struct ReadingBatch {
    /// The readings, at most 20 000.
    pub readings: Vec<ReadingInput>,
}

/// A CSV body (`text/csv`): header `station_code,observed_at,pollutant,value,unit[,correction]`.
pub struct CsvBody(pub String);

impl Payload for CsvBody {
    const CONTENT_TYPE: &'static str = "text/csv; charset=utf-8";

    fn check_content_type(content_type: &str) -> bool {
        matches!(content_type.parse::<mime::Mime>(), Ok(ct) if ct.type_() == "text" && ct.subtype() == "csv")
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")))
    }

    fn register(_registry: &mut Registry) {}
}

impl ParsePayload for CsvBody {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let data = <Vec<u8> as poem::FromRequest>::from_request(request, body).await?;
        String::from_utf8(data)
            .map(CsvBody)
            .map_err(|_| Problem::malformed(Some("body"), "the CSV is not UTF-8").into())
    }
}

/// Readings as JSON or CSV.
#[derive(ApiRequest)]
pub enum ReadingsBody {
    /// A JSON batch.
    Json(JsonBody<ReadingBatch>),
    /// A CSV batch for bulk backfill.
    Csv(CsvBody),
}

/// A row that was not taken.
#[derive(Debug, Clone, Object)]
pub struct RejectedRow {
    /// The row: `readings[3]` (JSON) or `line 4` (CSV, counting the header as line 1).
    pub row: String,
    /// The field at fault, e.g. `readings[3].unit`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// What a batch did.
#[derive(Debug, Clone, Object)]
pub struct IngestReport {
    /// Rows received.
    pub received: u64,
    /// Rows stored: new hours, and corrections that changed a value.
    pub stored: u64,
    /// Valid rows that changed nothing (a resent hour without `correction`).
    pub unchanged: u64,
    /// Rows rejected, each named.
    pub rejected: Vec<RejectedRow>,
    /// Alerts raised or cleared by this batch.
    pub alerts: u64,
}

/// The nearest station answer.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct NearestStationView {
    /// Station code.
    pub code: String,
    /// Display name.
    pub name: String,
    /// District code.
    pub district_code: Option<String>,
    /// Haversine distance from the point, metres.
    pub distance_m: f64,
}

/// A nearer station that was passed over.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct SkippedStation {
    /// Station code.
    pub code: String,
    /// Distance, metres.
    pub distance_m: f64,
    /// Why: `stale` (no hour within the last 3 hours).
    pub reason: String,
}

/// Air quality at a point: the nearest active station with a fresh hour. Lean on purpose (it is
/// the busiest answer); the station's full report with every sub-index is at `/v1/air/stations/{code}`.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct NearestView {
    /// The scheme of every number here.
    pub scheme: String,
    /// The station used.
    pub station: NearestStationView,
    /// The index; absent when HJ 633-2026 withholds it.
    pub aqi: Option<u16>,
    /// Level 1-6.
    pub level: Option<u8>,
    /// Category names.
    pub category: Option<crate::views::CategoryView>,
    /// The level's colour.
    pub colour: Option<crate::views::ColourView>,
    /// Primary pollutants.
    pub primary_pollutants: Vec<crate::views::PollutantView>,
    /// Health advice.
    pub advice: Option<crate::views::AdviceView>,
    /// End of the hour, RFC 3339.
    pub observed_at: String,
    /// Whether nearer stations were stale and skipped.
    pub fell_back: bool,
    /// The nearer stations skipped.
    pub skipped: Vec<SkippedStation>,
}

/// Writes `value` as JSON (a number or string) onto `out`.
fn push_json<V: Serialize + ?Sized>(out: &mut Vec<u8>, value: &V) {
    // Writing into a Vec cannot fail, and these values (f64 already rounded, &str) always serialise.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// Metres rounded to a decimetre, as shown.
fn shown_m(d: f64) -> f64 {
    (d * 10.0).round() / 10.0
}

/// The `/v1/air/nearest` body of a lookup, from the station's pre-rendered members: the same
/// JSON as [`NearestView`] (a test holds them equal), without building and walking a tree per request.
pub fn render_nearest(
    scheme: Scheme,
    near: &crate::engine::Nearest,
    found: &crate::engine::NearestFound,
    fragment: &str,
) -> Vec<u8> {
    let head = near.index.head(found.position);
    let mut out = Vec::with_capacity(head.len() + fragment.len() + 96 + near.skipped.len() * 64);
    out.extend_from_slice(b"{\"scheme\":\"");
    out.extend_from_slice(scheme.id().as_bytes());
    out.extend_from_slice(b"\",\"station\":{");
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(b",\"distance_m\":");
    push_json(&mut out, &shown_m(found.distance_m));
    out.extend_from_slice(b"},");
    out.extend_from_slice(fragment.as_bytes());
    out.extend_from_slice(if near.skipped.is_empty() {
        b",\"fell_back\":false,\"skipped\":["
    } else {
        b",\"fell_back\":true,\"skipped\":["
    });
    for (i, (position, d)) in near.skipped.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"code\":");
        push_json(&mut out, near.index.all()[*position as usize].code.as_str());
        out.extend_from_slice(b",\"distance_m\":");
        push_json(&mut out, &shown_m(*d));
        out.extend_from_slice(b",\"reason\":\"stale\"}");
    }
    out.extend_from_slice(b"]}");
    out
}

/// One district's value.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct DistrictAqiView {
    /// District code.
    pub code: String,
    /// Name in Chinese.
    pub name_zh: String,
    /// Name in English.
    pub name_en: String,
    /// End of the hour, RFC 3339; absent without fresh data.
    pub observed_at: Option<String>,
    /// The index of the district's mean concentrations; absent without fresh data.
    pub report: Option<AqiView>,
    /// Stations in the mean.
    pub stations_contributing: Vec<String>,
    /// Active stations of the district without data for that hour.
    pub stations_missing: Vec<String>,
}

/// Every district's value, with how it is computed.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct DistrictsView {
    /// The scheme.
    pub scheme: String,
    /// How a district value is computed.
    pub method: String,
    /// One entry per district of the city.
    pub districts: Vec<DistrictAqiView>,
}

/// The city at a glance, e.g. for the Service Account's reply.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct SummaryView {
    /// The scheme.
    pub scheme: String,
    /// The city's name.
    pub city: String,
    /// End of the hour, RFC 3339; absent without fresh data.
    pub observed_at: Option<String>,
    /// The city index (mean concentrations of all reporting stations).
    pub report: Option<AqiView>,
    /// District with the lowest index.
    pub best_district: Option<String>,
    /// District with the highest index.
    pub worst_district: Option<String>,
    /// A one-paragraph answer in Chinese.
    pub text_zh: String,
    /// The same in English.
    pub text_en: String,
}

/// A request to be alerted.
#[derive(Debug, Clone, Object, Deserialize)]
pub struct SubscriptionInput {
    /// A district code; give this or `lat`/`lon`.
    #[serde(default)]
    pub district_code: Option<String>,
    /// Latitude of a place.
    #[serde(default)]
    pub lat: Option<f64>,
    /// Longitude of a place.
    #[serde(default)]
    pub lon: Option<f64>,
    /// Datum of `lat`/`lon`: `gcj02` (default, as WeChat reports it), `wgs84` or `bd09`.
    #[serde(default)]
    pub coord: Option<String>,
    /// The citizen's name for it, e.g. "home".
    #[serde(default)]
    #[oai(validator(max_length = 40))]
    pub label: Option<String>,
    /// Alert when the level reaches this (2 good … 6 severely polluted); default 3 (lightly polluted, AQI > 100).
    #[serde(default)]
    pub threshold_level: Option<u8>,
    /// The scheme of the levels; default `cn-2026`.
    #[serde(default)]
    pub scheme: Option<String>,
}

/// An alert subscription.
#[derive(Debug, Clone, Object)]
#[oai(rename = "AirAlertSubscription")]
pub struct SubscriptionView {
    /// Id.
    pub id: String,
    /// District code, for a district subscription.
    pub district_code: Option<String>,
    /// Latitude (WGS-84), for a place subscription.
    pub lat: Option<f64>,
    /// Longitude (WGS-84), for a place subscription.
    pub lon: Option<f64>,
    /// The citizen's name for it.
    pub label: String,
    /// Scheme of the levels.
    pub scheme: String,
    /// The alert level.
    pub threshold_level: u8,
    /// The index at which an alert is raised.
    pub alert_at_aqi: u16,
    /// The index at or below which the all-clear is sent.
    pub clear_at_aqi: u16,
    /// Whether an alert is open now.
    pub alerting: bool,
    /// The last index seen.
    pub last_aqi: Option<i64>,
    /// When the subscription was made, RFC 3339.
    pub created_at: String,
}

impl From<&SubscriptionRow> for SubscriptionView {
    fn from(s: &SubscriptionRow) -> Self {
        let scheme = Scheme::parse(&s.scheme).unwrap_or_default();
        let level = u8::try_from(s.threshold_level).unwrap_or(3);
        Self {
            id: s.id.clone(),
            district_code: s.district_code.clone(),
            lat: s.lat,
            lon: s.lon,
            label: s.label.clone(),
            scheme: scheme.id().into(),
            threshold_level: level,
            alert_at_aqi: crate::domain::alert::entry_index(scheme, level),
            clear_at_aqi: crate::domain::alert::clear_index(scheme, level),
            alerting: s.alerting,
            last_aqi: s.last_aqi,
            created_at: rfc3339(from_ms(s.created_at)),
        }
    }
}

/// 201 with the created subscription.
#[derive(ApiResponse)]
pub enum CreatedSubscription {
    /// Subscribed.
    #[oai(status = 201)]
    Created(Json<SubscriptionView>),
}

/// 204.
#[derive(ApiResponse)]
pub enum Deleted {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

fn area_view(area: &AreaNow) -> (Option<String>, Option<AqiView>) {
    (area.hour_end.map(|h| rfc3339(from_ms(h))), area.report.as_ref().map(AqiView::from))
}

fn csv_rows(text: &str) -> Result<Vec<(usize, Vec<String>)>, Problem> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| Problem::malformed(Some("body"), format!("CSV header: {e}")))?.clone();
    let columns = ["station_code", "observed_at", "pollutant", "value", "unit", "correction"];
    let positions: Vec<Option<usize>> =
        columns.iter().map(|c| headers.iter().position(|h| h.eq_ignore_ascii_case(c))).collect();
    if let Some(i) = positions.iter().take(5).position(Option::is_none) {
        return Err(Problem::invalid("body", format!("the CSV header lacks the column `{}`", columns[i])));
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| Problem::malformed(Some(&format!("line {line}")), e.to_string()))?;
        let cell = |k: usize| positions[k].and_then(|p| record.get(p)).unwrap_or("").to_owned();
        rows.push((line, (0..6).map(cell).collect()));
    }
    Ok(rows)
}

#[OpenApi(prefix_path = "/v1/air", tag = "AirTags::Air")]
impl AirApi {
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
    async fn list_stations(&self) -> Result<Json<Vec<StationView>>, ProblemResponse> {
        let rows = store::list_stations(&self.state.db).await.map_err(internal)?;
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
    ) -> Result<Json<StationView>, ProblemResponse> {
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
        let now = now_ms();
        let mut tx = self.state.db.begin_write().await.map_err(internal)?;
        let before = store::get_station(&mut tx, &code).await.map_err(internal)?;
        let row = StationRow {
            code: code.clone(),
            name: input.name.trim().to_owned(),
            district_code: self.state.platform.districts.locate(at).map(|d| d.code.clone()),
            lat: at.lat(),
            lon: at.lon(),
            operator: input.operator.unwrap_or_default(),
            active: input.active.unwrap_or(true),
            created_at: before.as_ref().map_or(now, |b| b.created_at),
            updated_at: now.max(before.as_ref().map_or(0, |b| b.updated_at + 1)),
        };
        store::upsert_station(&mut tx, &row).await.map_err(internal)?;
        let after = StationView::from(&row);
        let entry = audit::AuditEntry::by_staff(&staff, crate::NAME, "put_station", format!("station:{code}"))
            .with_change(
                before.as_ref().map(|b| serde_json::to_value(StationView::from(b)).unwrap_or_default()),
                serde_json::to_value(&after).ok(),
            );
        audit::record(&mut tx, &entry).await.map_err(internal)?;
        outbox::enqueue(&mut tx, crate::engine::STATIONS_CHANGED, &serde_json::json!({ "code": code }))
            .await
            .map_err(internal)?;
        tx.commit().await.map_err(internal)?;
        self.state.refresh_index(true).await?;
        Ok(Json(after))
    }

    /// Get a station with its latest index and history
    ///
    /// The latest hourly index, the 24 hourly indices ending now and the daily indices of the last 30 days.
    #[oai(path = "/stations/:code", method = "get", operation_id = "get_air_station")]
    async fn get_station(
        &self,
        code: Path<String>,
        scheme: Query<Option<String>>,
    ) -> Result<Json<StationDetail>, ProblemResponse> {
        let scheme = parse_scheme(scheme.0.as_deref())?;
        let mut conn = self.state.db.pool.acquire().await.map_err(internal)?;
        let Some(row) = store::get_station(&mut conn, &code.0).await.map_err(internal)? else {
            return Err(Problem::not_found("station").into());
        };
        drop(conn);
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
    /// For data feeds with an API key of scope `air-ingest`. JSON (`{"readings": [...]}`) or CSV
    /// (`text/csv`, header `station_code,observed_at,pollutant,value,unit[,correction]`). Each
    /// (station, hour, pollutant) is stored once: a resent hour changes nothing unless marked as a
    /// correction. Bad rows are rejected one by one and named; the rest are stored in one transaction.
    #[oai(path = "/readings", method = "post", operation_id = "submit_air_readings")]
    async fn submit_readings(
        &self,
        ApiKeyAuth(integrator): ApiKeyAuth,
        body: ReadingsBody,
    ) -> Result<Json<IngestReport>, ProblemResponse> {
        integrator.require("air-ingest")?;
        // (row label, field prefix, cells: station, observed_at, pollutant, value, unit, correction)
        let rows: Vec<(String, String, [String; 6])> = match body {
            ReadingsBody::Json(JsonBody(batch)) => batch
                .readings
                .into_iter()
                .enumerate()
                .map(|(i, r)| {
                    let value = if r.value.is_finite() { format!("{}", r.value) } else { "NaN".into() };
                    let cells = [
                        r.station_code,
                        r.observed_at,
                        r.pollutant,
                        value,
                        r.unit,
                        r.correction.unwrap_or(false).to_string(),
                    ];
                    (format!("readings[{i}]"), format!("readings[{i}]."), cells)
                })
                .collect(),
            ReadingsBody::Csv(CsvBody(text)) => csv_rows(&text)?
                .into_iter()
                .map(|(line, cells)| {
                    let mut it = cells.into_iter();
                    let cells: [String; 6] = std::array::from_fn(|_| it.next().unwrap_or_default());
                    (format!("line {line}"), format!("line {line}: "), cells)
                })
                .collect(),
        };
        if rows.is_empty() {
            return Err(Problem::invalid("readings", "the batch is empty").into());
        }
        if rows.len() > MAX_BATCH_ROWS {
            return Err(Problem::invalid("readings", format!("at most {MAX_BATCH_ROWS} rows per request")).into());
        }
        let now = now_ms();
        let mut rejected = Vec::new();
        let mut checked = Vec::with_capacity(rows.len());
        for (label, prefix, cells) in &rows {
            let correction = match cells[5].to_ascii_lowercase().as_str() {
                "" | "false" | "0" | "no" => false,
                "true" | "1" | "yes" => true,
                _ => {
                    rejected.push(RejectedRow {
                        row: label.clone(),
                        field: format!("{prefix}correction"),
                        message: "expected true or false".into(),
                    });
                    continue;
                }
            };
            let raw = RawReading {
                station_code: &cells[0],
                observed_at: &cells[1],
                pollutant: &cells[2],
                value: &cells[3],
                unit: &cells[4],
            };
            match ingest::check(&raw, now) {
                Ok(r) => checked.push((label, prefix, r, correction)),
                Err(e) => rejected.push(RejectedRow {
                    row: label.clone(),
                    field: format!("{prefix}{}", e.field),
                    message: e.message,
                }),
            }
        }
        // Unknown stations are rejected per row too.
        let mut codes: Vec<&str> = checked.iter().map(|(_, _, r, _)| r.station_code.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        let mut conn = self.state.db.pool.acquire().await.map_err(internal)?;
        let known: std::collections::HashSet<String> =
            store::existing_codes(&mut conn, &codes).await.map_err(internal)?.into_iter().collect();
        drop(conn);
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
        coord: Query<Option<String>>,
        scheme: Query<Option<String>>,
    ) -> Result<CachedJson<NearestView>, ProblemResponse> {
        let scheme = parse_scheme(scheme.0.as_deref())?;
        let at = parse_point(lat.0, lon.0, coord.0.as_deref())?;
        let near = self.state.nearest(at, scheme, now_ms()).await?;
        let Some(found) = &near.found else {
            return Err(Problem::new(
                poem::http::StatusCode::NOT_FOUND,
                "no-station-nearby",
                "No station within 20 km has a reading from the last 3 hours",
            )
            .into());
        };
        let Some(fragment) = &found.answer.fragment else {
            return Err(internal("a fresh station without a report"));
        };
        Ok(CachedJson::from_rendered(render_nearest(scheme, &near, found, fragment)))
    }

    /// Air quality per district
    ///
    /// Each district's index for the latest hour, computed from the mean concentration of its
    /// reporting stations (as a city's AQI is computed), with the stations that contributed.
    #[oai(path = "/districts", method = "get", operation_id = "list_district_air_quality")]
    async fn districts(&self, scheme: Query<Option<String>>) -> Result<Json<DistrictsView>, ProblemResponse> {
        let scheme = parse_scheme(scheme.0.as_deref())?;
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

    /// The city's air quality at a glance
    ///
    /// The city index (mean concentrations of all reporting stations), the best and worst district
    /// and a one-paragraph answer in Chinese and English, as the Service Account replies.
    #[oai(path = "/summary", method = "get", operation_id = "get_air_summary")]
    async fn summary(&self, scheme: Query<Option<String>>) -> Result<Json<SummaryView>, ProblemResponse> {
        let scheme = parse_scheme(scheme.0.as_deref())?;
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
                let c = r.category.clone().unwrap_or(crate::views::CategoryView {
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

    /// Subscribe to air-quality alerts
    ///
    /// For a place (`lat`/`lon`, nearest fresh station) or a district. An alert goes out once when
    /// the index reaches the threshold level, an all-clear when it falls 20 points below the level;
    /// no new alert within 6 hours of the last.
    #[oai(path = "/alerts", method = "post", operation_id = "create_air_alert")]
    async fn create_alert(
        &self,
        CitizenAuth(citizen): CitizenAuth,
        body: JsonBody<SubscriptionInput>,
    ) -> Result<CreatedSubscription, ProblemResponse> {
        let input = body.0;
        let scheme = parse_scheme(input.scheme.as_deref())?;
        let level = input.threshold_level.unwrap_or(3);
        if !(2..=6).contains(&level) {
            return Err(Problem::invalid("threshold_level", "a level from 2 to 6").into());
        }
        let (district_code, place) = match (input.district_code, input.lat, input.lon) {
            (Some(code), None, None) => {
                if self.state.platform.districts.get(&code).is_none() {
                    return Err(Problem::invalid("district_code", "no district has this code").into());
                }
                (Some(code), None)
            }
            (None, Some(lat), Some(lon)) => (None, Some(parse_point(lat, lon, input.coord.as_deref())?)),
            (Some(_), _, _) => {
                return Err(Problem::invalid("district_code", "give a district or a place, not both").into())
            }
            (None, None, _) => return Err(Problem::invalid("lat", "give a district_code, or lat and lon").into()),
            (None, Some(_), None) => return Err(Problem::invalid("lon", "lon is required with lat").into()),
        };
        let existing = store::subscriptions_of(&self.state.db, &citizen.citizen_id).await.map_err(internal)?;
        if existing.len() >= MAX_SUBSCRIPTIONS {
            return Err(Problem::conflict(
                "too-many-subscriptions",
                format!("at most {MAX_SUBSCRIPTIONS} alert subscriptions"),
            )
            .into());
        }
        let row = SubscriptionRow {
            id: city_platform::ids::new_id(),
            citizen_id: citizen.citizen_id,
            district_code,
            lat: place.map(|p| p.lat()),
            lon: place.map(|p| p.lon()),
            label: input.label.unwrap_or_default().trim().to_owned(),
            scheme: scheme.id().into(),
            threshold_level: i64::from(level),
            alerting: false,
            episode: 0,
            last_aqi: None,
            last_hour_end: None,
            raised_at: None,
            cleared_at: None,
            created_at: now_ms(),
        };
        store::insert_subscription(&self.state.db, &row).await.map_err(internal)?;
        Ok(CreatedSubscription::Created(Json(SubscriptionView::from(&row))))
    }

    /// List my air-quality alerts
    ///
    /// The signed-in citizen's subscriptions and whether each is alerting now.
    #[oai(path = "/alerts", method = "get", operation_id = "list_air_alerts")]
    async fn list_alerts(
        &self,
        CitizenAuth(citizen): CitizenAuth,
    ) -> Result<Json<Vec<SubscriptionView>>, ProblemResponse> {
        let rows = store::subscriptions_of(&self.state.db, &citizen.citizen_id).await.map_err(internal)?;
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
    ) -> Result<Deleted, ProblemResponse> {
        if store::delete_subscription(&self.state.db, &id.0, &citizen.citizen_id).await.map_err(internal)? {
            Ok(Deleted::NoContent)
        } else {
            Err(Problem::not_found("alert subscription").into())
        }
    }
}
