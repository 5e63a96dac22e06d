//! The JSON shapes of `/v1/incidents`: what clients send and what they get back. Names are
//! prefixed (`Incident...`) because OpenAPI schema names are global across the portal.

use std::collections::BTreeMap;

use poem_openapi::payload::{Binary, Json};
use poem_openapi::types::multipart::Upload;
use poem_openapi::{ApiResponse, Multipart, Object};
use serde::Deserialize;

/// A question of a category.
#[derive(Debug, Object)]
pub struct IncidentQuestion {
    /// Answer key in `answers`.
    pub code: String,
    /// `string`, `number`, `datetime`, `text`, `singlevaluelist`, `multivaluelist`.
    pub datatype: String,
    /// Whether an answer is required.
    pub required: bool,
    /// False: information shown to the reporter, no answer taken.
    pub variable: bool,
    /// Display order.
    pub order: u32,
    /// The question in English.
    pub description_en: String,
    /// The question in Chinese.
    pub description_zh: String,
    /// Options of list questions.
    pub values: Vec<IncidentQuestionOption>,
}

/// An option of a list question.
#[derive(Debug, Object)]
pub struct IncidentQuestionOption {
    /// The value to send.
    pub key: String,
    /// The label.
    pub name: String,
}

/// A category citizens can report.
#[derive(Debug, Object)]
pub struct IncidentCategory {
    /// Stable code.
    pub code: String,
    /// Group, e.g. `roads`.
    pub group: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// English description.
    pub description_en: String,
    /// Chinese description.
    pub description_zh: String,
    /// Hours within which the city aims to resolve it.
    pub sla_hours: i64,
    /// Extra questions.
    pub questions: Vec<IncidentQuestion>,
}

/// A map pin as sent by a client.
#[derive(Debug, Clone, Object, Deserialize)]
pub struct IncidentPin {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
    /// Datum: `gcj02` (what WeChat's map gives), `wgs84` or `bd09`; one of `coord` and `crs` is
    /// required. Checked by the handler rather than a declared pattern: a refusal inside this
    /// nested object then names its whole path (`location.coord`), which a validator cannot.
    #[serde(default)]
    pub coord: Option<String>,
    /// Deprecated alias of `coord` (the portal's one name, issue #22), still accepted; when both
    /// are sent they must agree.
    #[serde(default)]
    #[oai(deprecated)]
    pub crs: Option<String>,
}

/// A new report.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(skip_serializing_if_is_none)]
pub struct NewIncident {
    /// Category code from `GET /v1/incidents/categories`.
    pub category: String,
    /// What is wrong (at most 4,000 characters).
    pub description: String,
    /// Where it is.
    pub location: IncidentPin,
    /// Address text, most specific first.
    #[serde(default)]
    #[oai(default)]
    pub address: String,
    /// Answers to the category's questions: code → value, or a list for multi-value questions.
    #[serde(default)]
    #[oai(default)]
    pub answers: BTreeMap<String, serde_json::Value>,
    /// Ids from `POST /v1/incidents/photos` (at most 5).
    #[serde(default)]
    #[oai(default)]
    pub photo_ids: Vec<String>,
    /// Show the report without the reporter's name (the default).
    #[serde(default = "yes")]
    #[oai(default = "yes")]
    pub anonymous: bool,
    /// The name to show when not anonymous.
    #[serde(default)]
    pub display_name: Option<String>,
}

fn yes() -> bool {
    true
}

/// A point in the datum the client asked for.
#[derive(Debug, Object)]
pub struct IncidentPoint {
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Datum of these numbers.
    pub crs: String,
}

/// An agency.
#[derive(Debug, Object)]
// "IncidentAgency" is the name generators give the inline type of `Incident.agency`.
#[oai(rename = "IncidentsAgency")]
pub struct IncidentAgency {
    /// Id.
    pub id: String,
    /// Chinese name.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
}

/// A photo of a report.
#[derive(Debug, Object)]
pub struct IncidentPhoto {
    /// Id.
    pub id: String,
    /// The image (JPEG, metadata stripped).
    pub url: String,
    /// Its thumbnail.
    pub thumbnail_url: String,
}

/// One entry of a report's history.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct IncidentUpdate {
    /// Id.
    pub id: String,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// `created`, `public` or (clerks only) `internal`.
    pub kind: String,
    /// State before, when it changed.
    pub state_from: Option<String>,
    /// State after, when it changed.
    pub state_to: Option<String>,
    /// Text in Chinese.
    pub text_zh: String,
    /// Text in English.
    pub text_en: String,
    /// The clerk (clerks only).
    #[oai(skip_serializing_if_is_none)]
    pub staff_name: Option<String>,
    /// A photo the crew took for this update (a "fixed" photo, say).
    #[oai(skip_serializing_if_is_none)]
    pub photo: Option<IncidentPhoto>,
}

/// A report as the public and its reporter see it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Incident {
    /// Id (also the Open311 `service_request_id`).
    pub id: String,
    /// Category code.
    pub category: String,
    /// State (`open`, `confirmed`, ... `no_further_action`).
    pub state: String,
    /// `open` or `closed`.
    pub status: String,
    /// The description; null while it awaits the content-safety check (its reporter sees it).
    pub description: Option<String>,
    /// Address text.
    pub address: String,
    /// The pin.
    pub location: IncidentPoint,
    /// District code.
    pub district: String,
    /// The agency handling it.
    pub agency: IncidentAgency,
    /// The reporter's chosen name; absent for anonymous reports.
    #[oai(skip_serializing_if_is_none)]
    pub reporter_name: Option<String>,
    /// Photos.
    pub photos: Vec<IncidentPhoto>,
    /// Answers to the category's questions.
    pub answers: serde_json::Value,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Last changed.
    pub updated_at: String,
    /// Due by (the category's SLA).
    pub due_at: String,
    /// How many people said "me too".
    pub followers: i64,
    /// The original, when this one is a duplicate.
    pub duplicate_of: Option<String>,
    /// Public history, oldest first (with `mine` and the single-report view).
    pub history: Vec<IncidentUpdate>,
}

/// A report as a clerk sees it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct IncidentForClerk {
    /// What the public sees (with the text even while held, and the internal history).
    pub report: Incident,
    /// The version for `If-Match` (also the `ETag`).
    pub version: i64,
    /// `pass`, `review` (held by the check) or `pending` (not yet checked).
    pub moderation: String,
    /// Past its due date and still open.
    pub overdue: bool,
    /// Assigned clerk's id.
    pub assignee_id: Option<String>,
    /// Assigned clerk's name.
    pub assignee_name: Option<String>,
    /// `miniprogram` or `open311`.
    pub channel: String,
    /// The pin as the reporter sent it.
    pub original_location: IncidentPoint,
}

/// A possible duplicate near a pin.
#[derive(Debug, Object)]
pub struct NearbyIncident {
    /// The report.
    pub report: Incident,
    /// Metres from the pin.
    pub distance_m: f64,
}

/// The result of "me too".
#[derive(Debug, Object)]
pub struct IncidentFollow {
    /// The caller follows it now.
    pub following: bool,
    /// Whether this call added them (false when they already followed).
    pub added: bool,
    /// Followers now.
    pub followers: i64,
}

/// A stored photo.
#[derive(Debug, Object)]
pub struct UploadedIncidentPhoto {
    /// Id to put in `photo_ids`.
    pub id: String,
    /// Width after processing.
    pub width: i64,
    /// Height after processing.
    pub height: i64,
    /// Thumbnail (visible once the report is filed).
    pub thumbnail_url: String,
}

/// A photo upload.
#[derive(Debug, Multipart)]
pub struct IncidentPhotoUpload {
    /// The image: JPEG, PNG, WebP or GIF, at most 10 MB.
    pub photo: Upload,
}

/// A state change.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(skip_serializing_if_is_none)]
pub struct IncidentStateChange {
    /// Target state.
    pub state: String,
    /// A response template for the public update.
    #[serde(default)]
    pub template: Option<String>,
    /// Public update text (instead of the template's).
    #[serde(default)]
    pub public_update: Option<String>,
    /// Internal note for colleagues.
    #[serde(default)]
    pub internal_note: Option<String>,
    /// A photo for the public update: the id of the caller's own upload
    /// (`POST /v1/incidents/queue/photos`), not yet used.
    #[serde(default)]
    pub photo_id: Option<String>,
}

/// An assignment.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(skip_serializing_if_is_none)]
pub struct IncidentAssignment {
    /// The clerk's staff id; null unassigns; omitted means the caller.
    #[serde(default)]
    pub staff_id: Option<String>,
    /// Their name, for the queue.
    #[serde(default)]
    pub staff_name: Option<String>,
    /// Unassign.
    #[serde(default)]
    #[oai(default)]
    pub unassign: bool,
}

/// A note or public update.
#[derive(Debug, Clone, Object, Deserialize)]
pub struct IncidentNote {
    /// The text.
    pub text: String,
    /// Shown to the public (and notified to the reporter) rather than internal.
    #[serde(default)]
    #[oai(default)]
    pub public: bool,
    /// A photo for a public update: the id of the caller's own upload
    /// (`POST /v1/incidents/queue/photos`), not yet used.
    #[serde(default)]
    pub photo_id: Option<String>,
}

/// A merge.
#[derive(Debug, Clone, Object, Deserialize)]
pub struct IncidentMerge {
    /// The original report this one duplicates.
    pub into: String,
}

/// A clerk's decision on text the content-safety check held.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(skip_serializing_if_is_none)]
pub struct IncidentModeration {
    /// Show the text publicly (true) or keep it hidden (false).
    pub approve: bool,
    /// Internal note on the decision.
    #[serde(default)]
    pub note: Option<String>,
}

/// A reroute.
#[derive(Debug, Clone, Object, Deserialize)]
#[oai(skip_serializing_if_is_none)]
pub struct IncidentReroute {
    /// New category.
    #[serde(default)]
    pub category: Option<String>,
    /// New agency (default: the routing rule's).
    #[serde(default)]
    pub agency: Option<String>,
}

/// A response template.
#[derive(Debug, Object)]
pub struct IncidentTemplate {
    /// Id.
    pub id: String,
    /// The state it is for.
    pub state: String,
    /// Categories (empty: all).
    pub categories: Vec<String>,
    /// English title.
    pub title_en: String,
    /// Chinese title.
    pub title_zh: String,
    /// English text.
    pub text_en: String,
    /// Chinese text.
    pub text_zh: String,
}

/// A clerk's report with its ETag.
#[derive(Debug, ApiResponse)]
pub enum IncidentForClerkResponse {
    /// The report; `ETag` is its version for `If-Match`.
    #[oai(status = 200)]
    Ok(Json<IncidentForClerk>, #[oai(header = "ETag")] String),
}

/// A created report.
#[derive(Debug, ApiResponse)]
pub enum CreatedIncident {
    /// Filed; `Location` is its URL.
    #[oai(status = 201)]
    Created(Json<Incident>, #[oai(header = "Location")] String),
}

/// A GeoJSON map.
#[derive(Debug, ApiResponse)]
pub enum IncidentMapResponse {
    /// An RFC 7946 FeatureCollection: `kind: "report"` points, or `kind: "cluster"` points
    /// with `count` and `states` (counts per state).
    #[oai(status = 200, content_type = "application/geo+json")]
    Ok(Json<serde_json::Value>),
}

/// An image.
#[derive(Debug, ApiResponse)]
pub enum IncidentImageResponse {
    /// JPEG bytes.
    #[oai(status = 200, content_type = "image/jpeg")]
    Ok(Binary<Vec<u8>>, #[oai(header = "Cache-Control")] String),
}
