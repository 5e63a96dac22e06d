//! The request and response bodies of the air API (schema names are global across the portal).

use city_platform::coords::CrsName;
use city_platform::time::{from_ms, rfc3339};
use city_platform::Matching;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};
use serde::{Deserialize, Serialize};

use crate::domain::Scheme;
use crate::engine::AreaNow;
use crate::store::SubscriptionRow;
use crate::views::{AqiView, StationNow, StationView};

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

/// A station to create or replace.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(skip_serializing_if_is_none)]
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
    pub coord: Option<Matching<CrsName>>,
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
#[oai(skip_serializing_if_is_none)]
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
#[oai(skip_serializing_if_is_none)]
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
#[oai(skip_serializing_if_is_none)]
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

/// One district's value.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
#[oai(skip_serializing_if_is_none)]
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
#[oai(skip_serializing_if_is_none)]
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
#[oai(skip_serializing_if_is_none)]
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
    pub coord: Option<Matching<CrsName>>,
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
#[oai(skip_serializing_if_is_none)]
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

/// The observation time and index of a district or the city.
pub(crate) fn area_view(area: &AreaNow) -> (Option<String>, Option<AqiView>) {
    (area.hour_end.map(|h| rfc3339(from_ms(h))), area.report.as_ref().map(AqiView::from))
}
