//! HTTP surface of the incidents service (`/v1/incidents`); Open311 lives in `open311.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use city_platform::auth::{CitizenAuth, Role, Staff, StaffAuth};
use city_platform::coords::{Crs, LatLon};
use city_platform::time::{from_ms, now_ms, rfc3339};
use city_platform::{JsonBody, Problem};
use poem::http::StatusCode;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{Attachment, AttachmentType, Binary, Json};
use poem_openapi::types::multipart::Upload;
use poem_openapi::{ApiResponse, Multipart, Object, OpenApi, Tags};
use serde::Deserialize;

use crate::domain::grid::{self, Bbox, CellRange};
use crate::domain::{csv_cell, public_name, State, MAX_BBOX_DEG, MAX_SINGLE_PINS};
use crate::reports::{self, internal, Action, Submission};
use crate::store::{self, MapFilter, QueueFilter, Report};
use crate::{photos, IncidentsState};

#[derive(Tags)]
enum IncidentsTags {
    /// Incident reports with a map pin, the clerks' workflow, and the public map.
    Incidents,
}

/// The incidents service's operations.
#[derive(Clone)]
pub struct IncidentsApi {
    state: Arc<IncidentsState>,
}

impl IncidentsApi {
    /// The API over shared state.
    pub fn new(state: Arc<IncidentsState>) -> Self {
        Self { state }
    }

    /// One round of re-checking text held while the content-safety check was unreachable
    /// (the service runs it every [`crate::RECHECK_SECS`]; tests call it directly).
    pub async fn recheck_held_text(&self) -> std::result::Result<usize, sqlx::Error> {
        reports::recheck_pending(&self.state, crate::RECHECK_BATCH).await
    }

    /// Open311 GeoReport v2 as plain poem routes with their full paths (`/open311/v2/...`),
    /// to be mounted with `nest_no_strip("/open311/v2", ...)`.
    pub fn open311_routes(&self) -> poem::Route {
        crate::open311::routes(self.state.clone())
    }
}

/// Errors of this service: the platform's problems plus 412 for a stale `If-Match` and 413.
#[derive(Debug, ApiResponse)]
pub enum IncidentFailure {
    /// The request could not be read.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// No credentials, or bad ones.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// The caller's role or scope does not allow this.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// No such report, or not one the caller may see.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The change conflicts with the report's state or with a concurrent edit.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// `If-Match` names a version that is no longer current.
    #[oai(status = 412, content_type = "application/problem+json")]
    PreconditionFailed(Json<Problem>),
    /// The photo is too large.
    #[oai(status = 413, content_type = "application/problem+json")]
    TooLarge(Json<Problem>),
    /// A field breaks a rule; `errors` names it.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// A second report within seconds.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] Option<String>),
    /// Our fault.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
}

impl From<Problem> for IncidentFailure {
    fn from(p: Problem) -> Self {
        match p.status {
            400 => Self::BadRequest(Json(p)),
            401 => Self::Unauthorized(Json(p)),
            403 => Self::Forbidden(Json(p)),
            404 => Self::NotFound(Json(p)),
            409 => Self::Conflict(Json(p)),
            412 => Self::PreconditionFailed(Json(p)),
            413 => Self::TooLarge(Json(p)),
            422 => Self::Unprocessable(Json(p)),
            429 => {
                let after = p.retry_after.map(|s| s.to_string());
                Self::TooManyRequests(Json(p), after)
            }
            _ => Self::Internal(Json(p)),
        }
    }
}

type Result<T> = std::result::Result<T, IncidentFailure>;

// ---------------------------------------------------------------------------------------------
// DTOs

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
    /// Datum: `gcj02` (what WeChat's map gives) or `wgs84`.
    pub crs: String,
}

/// A new report.
#[derive(Debug, Clone, Object, Deserialize)]
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
}

/// A report as the public and its reporter see it.
#[derive(Debug, Object)]
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
}

/// An assignment.
#[derive(Debug, Clone, Object, Deserialize)]
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
}

/// A merge.
#[derive(Debug, Clone, Object, Deserialize)]
pub struct IncidentMerge {
    /// The original report this one duplicates.
    pub into: String,
}

/// A clerk's decision on text the content-safety check held.
#[derive(Debug, Clone, Object, Deserialize)]
pub struct IncidentModeration {
    /// Show the text publicly (true) or keep it hidden (false).
    pub approve: bool,
    /// Internal note on the decision.
    #[serde(default)]
    pub note: Option<String>,
}

/// A reroute.
#[derive(Debug, Clone, Object, Deserialize)]
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

// ---------------------------------------------------------------------------------------------

#[OpenApi(prefix_path = "/v1/incidents", tag = "IncidentsTags::Incidents")]
impl IncidentsApi {
    /// List the report categories
    ///
    /// Every category with its questions and SLA, for the reporting form.
    #[oai(path = "/categories", method = "get", operation_id = "list_incident_categories")]
    async fn list_categories(&self) -> Json<Vec<IncidentCategory>> {
        Json(
            self.state
                .catalogue
                .categories
                .iter()
                .map(|c| IncidentCategory {
                    code: c.code.clone(),
                    group: c.group.clone(),
                    name_zh: c.name_zh.clone(),
                    name_en: c.name_en.clone(),
                    description_en: c.description_en.clone(),
                    description_zh: c.description_zh.clone(),
                    sla_hours: c.sla_hours,
                    questions: c
                        .questions
                        .iter()
                        .map(|q| IncidentQuestion {
                            code: q.code.clone(),
                            datatype: q.datatype.code().into(),
                            required: q.required,
                            variable: q.variable,
                            order: q.order,
                            description_en: q.description.clone(),
                            description_zh: q.description_zh.clone(),
                            values: q
                                .values
                                .iter()
                                .map(|v| IncidentQuestionOption { key: v.key.clone(), name: v.name.clone() })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
        )
    }

    /// Upload a photo
    ///
    /// Multipart field `photo`. The type is judged from the bytes; the image is re-encoded as
    /// JPEG (EXIF and GPS removed, orientation applied), shrunk to 2048 px, and given a thumbnail.
    #[oai(path = "/photos", method = "post", operation_id = "upload_incident_photo")]
    async fn upload_photo(&self, auth: CitizenAuth, body: IncidentPhotoUpload) -> Result<Json<UploadedIncidentPhoto>> {
        if body.photo.size() > photos::MAX_BYTES {
            return Err(Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "photo-too-large", "The photo is too large")
                .with_field("photo", format!("at most {} MB", photos::MAX_BYTES / 1024 / 1024))
                .into());
        }
        let bytes = body.photo.into_vec().await.map_err(|e| Problem::malformed(Some("photo"), e.to_string()))?;
        let processed = tokio::task::spawn_blocking(move || photos::process(&bytes))
            .await
            .map_err(|_| Problem::internal())?
            .map_err(|e| match e {
                photos::PhotoError::TooLarge => {
                    Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "photo-too-large", "The photo is too large")
                        .with_field("photo", e.to_string())
                }
                _ => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "not-an-image", "The file is not a usable image")
                    .with_field("photo", e.to_string()),
            })?;
        let id = city_platform::ids::new_id();
        let data_dir = &self.state.platform.settings.data_dir;
        let dir = photos::dir(data_dir);
        tokio::fs::create_dir_all(&dir).await.map_err(|e| Problem::internal_from(&e))?;
        tokio::fs::write(photos::file(data_dir, &id, false), &processed.jpeg)
            .await
            .map_err(|e| Problem::internal_from(&e))?;
        tokio::fs::write(photos::file(data_dir, &id, true), &processed.thumb)
            .await
            .map_err(|e| Problem::internal_from(&e))?;
        let photo = store::Photo {
            id: id.clone(),
            owner_id: auth.0.citizen_id.clone(),
            report_id: None,
            width: processed.width.into(),
            height: processed.height.into(),
        };
        store::insert_photo(&self.state.db.pool, &photo, processed.jpeg.len() as i64, now_ms())
            .await
            .map_err(internal)?;
        Ok(Json(UploadedIncidentPhoto {
            thumbnail_url: format!("/v1/incidents/photos/{id}/thumbnail"),
            id,
            width: photo.width,
            height: photo.height,
        }))
    }

    /// Get a photo
    ///
    /// The re-encoded JPEG of a filed report's photo.
    #[oai(path = "/photos/:id", method = "get", operation_id = "get_incident_photo")]
    async fn get_photo(&self, id: Path<String>) -> Result<IncidentImageResponse> {
        self.photo_bytes(&id.0, false).await
    }

    /// Get a photo's thumbnail
    ///
    /// At most 256 px on its longer side.
    #[oai(path = "/photos/:id/thumbnail", method = "get", operation_id = "get_incident_photo_thumbnail")]
    async fn get_photo_thumbnail(&self, id: Path<String>) -> Result<IncidentImageResponse> {
        self.photo_bytes(&id.0, true).await
    }

    /// Find possible duplicates near a pin
    ///
    /// Open reports of the same category within `radius_m` (default from the catalogue, 50 m),
    /// nearest first, so the citizen can follow one ("me too") instead of filing a new one.
    #[oai(path = "/nearby", method = "get", operation_id = "list_nearby_incidents")]
    async fn list_nearby(
        &self,
        lat: Query<f64>,
        lon: Query<f64>,
        category: Query<String>,
        /// `gcj02` or `wgs84`; also the datum of the answer.
        crs: Query<Option<String>>,
        /// Search radius in metres (1 to 1000).
        radius_m: Query<Option<f64>>,
    ) -> Result<Json<Vec<NearbyIncident>>> {
        let crs = parse_crs(crs.0.as_deref(), "crs")?;
        let pin = reports::parse_pin(crs, lat.0, lon.0, "lat", "lon")?;
        if self.state.catalogue.category(&category.0).is_none() {
            return Err(Problem::invalid("category", format!("no category `{}`", category.0)).into());
        }
        let radius = radius_m.0.unwrap_or(self.state.catalogue.duplicate_radius_m);
        if !(1.0..=1000.0).contains(&radius) {
            return Err(Problem::invalid("radius_m", "between 1 and 1000 metres").into());
        }
        // A box a little larger than the circle, then the exact distance.
        let dlat = radius / 111_000.0 * 1.1;
        let dlon = dlat / pin.lat().to_radians().cos().max(0.01);
        let rows = store::open_in_box(
            &self.state.db.pool,
            &category.0,
            (pin.lat() - dlat, pin.lon() - dlon, pin.lat() + dlat, pin.lon() + dlon),
        )
        .await
        .map_err(internal)?;
        let mut near: Vec<(f64, Report)> = rows
            .into_iter()
            .filter(|r| r.text_is_public())
            .map(|r| (pin.distance_m(LatLon::new(r.lat, r.lon).unwrap_or(pin)), r))
            .filter(|(d, _)| *d <= radius)
            .collect();
        near.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.created_at.cmp(&a.1.created_at)));
        near.truncate(5);
        let mut out = Vec::new();
        for (d, r) in near {
            out.push(NearbyIncident {
                report: self.view(&r, crs, false, false).await?,
                distance_m: (d * 10.0).round() / 10.0,
            });
        }
        Ok(Json(out))
    }

    /// Report a problem
    ///
    /// The pin may be GCJ-02 (as WeChat's map gives it) or WGS-84; it is stored in WGS-84 with
    /// the original kept, and routed by district and category. The text is checked by WeChat's
    /// content-safety service before it is shown publicly. One report per citizen every few
    /// seconds.
    #[oai(path = "/", method = "post", operation_id = "create_incident")]
    async fn create_report(&self, auth: CitizenAuth, body: JsonBody<NewIncident>) -> Result<CreatedIncident> {
        let b = body.0;
        let crs = parse_crs(Some(&b.location.crs), "location.crs")?;
        let mut answers = BTreeMap::new();
        for (k, v) in &b.answers {
            let values = match v {
                serde_json::Value::Array(a) => a.iter().map(json_text).collect::<std::result::Result<Vec<_>, _>>(),
                other => json_text(other).map(|s| vec![s]),
            }
            .map_err(|m| Problem::invalid(format!("answers.{k}"), m))?;
            answers.insert(k.clone(), values);
        }
        let citizen_id = auth.0.citizen_id.clone();
        let sub = Submission {
            photo_owner: citizen_id.clone(),
            reporter_key: format!("citizen:{citizen_id}"),
            citizen_id: Some(citizen_id),
            reporter_name: b.display_name.clone(),
            anonymous: b.anonymous,
            channel: "miniprogram",
            contact: None,
            category: b.category.clone(),
            description: b.description.clone(),
            address: b.address.clone(),
            answers,
            crs,
            lat: b.location.lat,
            lon: b.location.lon,
            photo_ids: b.photo_ids.clone(),
            lat_field: "location.lat",
            lon_field: "location.lon",
        };
        let report = reports::file(&self.state, sub).await.map_err(rename_answers)?;
        let view = self.view(&report, crs, true, false).await?;
        Ok(CreatedIncident::Created(Json(view), format!("/v1/incidents/{}", report.id)))
    }

    /// List my reports
    ///
    /// The caller's own reports and those they follow, newest first, each with its public history.
    #[oai(path = "/mine", method = "get", operation_id = "list_my_incidents")]
    async fn list_mine(&self, auth: CitizenAuth, crs: Query<Option<String>>) -> Result<Json<Vec<Incident>>> {
        let crs = parse_crs(crs.0.as_deref(), "crs")?;
        let rows = store::mine(&self.state.db.pool, &auth.0.citizen_id, 200).await.map_err(internal)?;
        let mut out = Vec::new();
        for r in rows {
            let own = r.citizen_id.as_deref() == Some(auth.0.citizen_id.as_str());
            out.push(self.view(&r, crs, own, true).await?);
        }
        Ok(Json(out))
    }

    /// Get the map
    ///
    /// GeoJSON (RFC 7946) for a viewport: `bbox=west,south,east,north` (longitude first, as in
    /// RFC 7946), web-map `zoom` 0–22. Single pins when the view holds at most 300 reports,
    /// otherwise clusters on a fixed world grid (cells of 90/2^zoom degrees, id
    /// `cell:<grid zoom>:<row>:<col>`) with counts per state: never finer than zoom 17 and at
    /// most 32 cells across the view, coarser for a larger box. Always current (not cached).
    /// `crs=gcj02` returns (and reads the bbox in) GCJ-02 for Chinese basemaps; RFC 7946
    /// itself is WGS-84, the default.
    #[oai(path = "/map", method = "get", operation_id = "get_incident_map")]
    async fn get_map(
        &self,
        bbox: Query<String>,
        zoom: Query<u8>,
        crs: Query<Option<String>>,
        /// Comma-separated category codes.
        category: Query<Option<String>>,
        /// Comma-separated states.
        state: Query<Option<String>>,
    ) -> Result<IncidentMapResponse> {
        let crs = parse_crs(crs.0.as_deref(), "crs")?;
        if zoom.0 > 22 {
            return Err(Problem::invalid("zoom", "0 to 22").into());
        }
        let nums: Vec<f64> = bbox
            .0
            .split(',')
            .map(|s| s.trim().parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|_| Problem::invalid("bbox", "four numbers: west,south,east,north"))?;
        let [west, south, east, north] = nums[..] else {
            return Err(Problem::invalid("bbox", "four numbers: west,south,east,north").into());
        };
        let sw = reports::parse_pin(crs, south, west, "bbox", "bbox").map_err(|_| {
            Problem::invalid("bbox", "out of range; the order is west,south,east,north (longitude first)")
        })?;
        let ne = reports::parse_pin(crs, north, east, "bbox", "bbox").map_err(|_| {
            Problem::invalid("bbox", "out of range; the order is west,south,east,north (longitude first)")
        })?;
        if sw.lat() > ne.lat() || sw.lon() > ne.lon() {
            return Err(Problem::invalid("bbox", "south must not exceed north nor west exceed east").into());
        }
        if ne.lat() - sw.lat() > MAX_BBOX_DEG || ne.lon() - sw.lon() > MAX_BBOX_DEG {
            return Err(Problem::invalid("bbox", format!("at most {MAX_BBOX_DEG} degrees on a side")).into());
        }
        let states = split_list(state.0.as_deref());
        for s in &states {
            State::parse(s).map_err(|e| Problem::invalid("state", e.to_string()))?;
        }
        let categories = split_list(category.0.as_deref());
        for c in &categories {
            if self.state.catalogue.category(c).is_none() {
                return Err(Problem::invalid("category", format!("no category `{c}`")).into());
            }
        }
        let bbox = Bbox { south: sw.lat(), west: sw.lon(), north: ne.lat(), east: ne.lon() };
        let filter = MapFilter { bbox, categories, states };
        let pool = &self.state.db.pool;
        let out = |lat: f64, lon: f64| {
            let (la, lo) = LatLon::new(lat, lon).map(|p| p.to_crs(crs)).unwrap_or((lat, lon));
            serde_json::json!([round6(lo), round6(la)])
        };
        // Cells sit on a fixed world grid, so panning does not move clusters. The count table
        // says at once whether the view holds few reports (pins) or many (clusters); only a
        // view on the edge of the limit, or too fine for the table, asks the reports.
        let zc = grid::cluster_zoom(zoom.0, &bbox);
        let cells = CellRange::covering(zc, &bbox);
        // A view surely holds too many for pins when its cells wholly inside it already do
        // (the count table says so at once); otherwise the map index counts the view itself.
        // Views finer than the table are bounded by its finest cells and grouped from reports.
        let (bound_zoom, bound) = match grid::count_zoom(zc) {
            Some(zt) => (zc, store::counted_cells(pool, &cells, zt, &filter).await.map_err(internal)?),
            None => {
                let zt = grid::COUNT_ZOOMS[grid::COUNT_ZOOMS.len() - 1];
                let coarse = CellRange::covering(zt, &bbox);
                (zt, store::counted_cells(pool, &coarse, zt, &filter).await.map_err(internal)?)
            }
        };
        let inside: i64 =
            bound.iter().filter(|c| grid::cell_inside(bound_zoom, (c.row, c.col), &bbox)).map(|c| c.n).sum();
        let few = inside <= MAX_SINGLE_PINS
            && store::count_upto(pool, &filter, MAX_SINGLE_PINS + 1).await.map_err(internal)? <= MAX_SINGLE_PINS;
        let (pins, counts) = if few {
            (store::pins(pool, &filter, MAX_SINGLE_PINS + 1).await.map_err(internal)?, Vec::new())
        } else if bound_zoom == zc {
            (Vec::new(), bound)
        } else {
            (Vec::new(), store::grouped_cells(pool, &cells, &filter).await.map_err(internal)?)
        };
        let features: Vec<serde_json::Value> = if counts.is_empty() {
            pins.iter()
                .map(|p| {
                    serde_json::json!({
                        "type": "Feature", "id": p.id,
                        "geometry": {"type": "Point", "coordinates": out(p.lat, p.lon)},
                        "properties": {"kind": "report", "category": p.category, "state": p.state,
                                       "created_at": rfc3339(from_ms(p.created_at))}
                    })
                })
                .collect()
        } else {
            let mut merged: BTreeMap<(i64, i64), Cluster> = BTreeMap::new();
            for c in counts {
                let e = merged.entry(grid::signed_cell(zc, (c.row, c.col))).or_default();
                e.n += c.n;
                e.sum_lat += c.sum_lat;
                e.sum_lon += c.sum_lon;
                *e.states.entry(c.state).or_default() += c.n;
            }
            merged
                .into_iter()
                .map(|((row, col), Cluster { n, sum_lat: slat, sum_lon: slon, states })| {
                    serde_json::json!({
                        "type": "Feature", "id": format!("cell:{zc}:{row}:{col}"),
                        "geometry": {"type": "Point", "coordinates": out(slat / n as f64, slon / n as f64)},
                        "properties": {"kind": "cluster", "count": n, "states": states}
                    })
                })
                .collect()
        };
        let mut fc = serde_json::json!({"type": "FeatureCollection", "features": features});
        if crs != Crs::Wgs84 {
            // Not RFC 7946's datum: say so in a foreign member rather than silently.
            fc["coordinate_system"] = serde_json::json!(crs.code());
        }
        Ok(IncidentMapResponse::Ok(Json(fc)))
    }

    /// Get a report
    ///
    /// The public view with its public history. The text is hidden while the content-safety
    /// check holds it; an anonymous reporter is never named.
    #[oai(path = "/:id", method = "get", operation_id = "get_incident")]
    async fn get_report(&self, id: Path<String>, crs: Query<Option<String>>) -> Result<Json<Incident>> {
        let crs = parse_crs(crs.0.as_deref(), "crs")?;
        let r = store::get_report(&self.state.db.pool, &id.0)
            .await
            .map_err(internal)?
            .ok_or_else(|| Problem::not_found("report"))?;
        Ok(Json(self.view(&r, crs, false, true).await?))
    }

    /// Follow a report ("me too")
    ///
    /// The caller gets its public updates as if they had reported it.
    #[oai(path = "/:id/followers", method = "post", operation_id = "follow_incident")]
    async fn follow_report(&self, auth: CitizenAuth, id: Path<String>) -> Result<Json<IncidentFollow>> {
        let (added, followers) = reports::follow(&self.state, &id.0, &auth.0.citizen_id).await?;
        Ok(Json(IncidentFollow { following: true, added, followers }))
    }

    /// List the clerk queue
    ///
    /// Reports in the caller's districts and agencies, earliest due first. Filters: `state`
    /// (comma list), `category`, `district`, `agency`, `min_age_hours`, `overdue`, `assignee`
    /// (`me` or a staff id).
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/queue", method = "get", operation_id = "list_incident_queue")]
    async fn list_queue(
        &self,
        auth: StaffAuth,
        state: Query<Option<String>>,
        category: Query<Option<String>>,
        district: Query<Option<String>>,
        agency: Query<Option<String>>,
        min_age_hours: Query<Option<i64>>,
        overdue: Query<Option<bool>>,
        assignee: Query<Option<String>>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Result<Json<Vec<IncidentForClerk>>> {
        let f = queue_filter(
            &auth.0,
            state.0,
            category.0,
            district.0,
            agency.0,
            min_age_hours.0,
            overdue.0,
            assignee.0,
            limit.0,
            offset.0,
            200,
        )?;
        let rows = store::queue(&self.state.db.pool, &f).await.map_err(internal)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(self.staff_view(&r, false).await?);
        }
        Ok(Json(out))
    }

    /// Export the clerk queue as CSV
    ///
    /// Exactly the filtered queue (same parameters, up to 10,000 rows). Anonymous reporters
    /// appear as `(anonymous)`.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/queue/export", method = "get", operation_id = "export_incident_queue")]
    async fn export_queue(
        &self,
        auth: StaffAuth,
        state: Query<Option<String>>,
        category: Query<Option<String>>,
        district: Query<Option<String>>,
        agency: Query<Option<String>>,
        min_age_hours: Query<Option<i64>>,
        overdue: Query<Option<bool>>,
        assignee: Query<Option<String>>,
    ) -> Result<Attachment<Vec<u8>>> {
        let f = queue_filter(
            &auth.0,
            state.0,
            category.0,
            district.0,
            agency.0,
            min_age_hours.0,
            overdue.0,
            assignee.0,
            Some(10_000),
            None,
            10_000,
        )?;
        let rows = store::queue(&self.state.db.pool, &f).await.map_err(internal)?;
        let now = now_ms();
        let mut csv = String::from(
            "id,created,category,state,district,agency,assignee,due,overdue,reporter,latitude,longitude,address,description\r\n",
        );
        for r in rows {
            let reporter =
                if r.anonymous { "(anonymous)".to_owned() } else { r.reporter_name.clone().unwrap_or_default() };
            let cells = [
                r.id.clone(),
                rfc3339(from_ms(r.created_at)),
                r.category.clone(),
                r.state.clone(),
                r.district.clone(),
                r.agency.clone(),
                r.assignee_name.clone().unwrap_or_default(),
                rfc3339(from_ms(r.due_at)),
                is_overdue(&r, now).to_string(),
                reporter,
                format!("{:.6}", r.lat),
                format!("{:.6}", r.lon),
                r.address.clone(),
                r.description.clone(),
            ];
            csv.push_str(&cells.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(","));
            csv.push_str("\r\n");
        }
        Ok(Attachment::new(csv.into_bytes()).attachment_type(AttachmentType::Attachment).filename("incidents.csv"))
    }

    /// List response templates
    ///
    /// Templates for public updates, per state and category.
    #[oai(path = "/templates", method = "get", operation_id = "list_incident_templates")]
    async fn list_templates(&self, auth: StaffAuth) -> Result<Json<Vec<IncidentTemplate>>> {
        auth.0.require(&[Role::Clerk])?;
        Ok(Json(
            self.state
                .catalogue
                .templates
                .iter()
                .map(|t| IncidentTemplate {
                    id: t.id.clone(),
                    state: t.state.clone(),
                    categories: t.categories.clone(),
                    title_en: t.title_en.clone(),
                    title_zh: t.title_zh.clone(),
                    text_en: t.text_en.clone(),
                    text_zh: t.text_zh.clone(),
                })
                .collect(),
        ))
    }

    /// Get a report as a clerk
    ///
    /// With internal notes, moderation state, assignee and the `ETag` to send as `If-Match`.
    #[oai(path = "/queue/:id", method = "get", operation_id = "get_incident_for_clerk")]
    async fn get_for_clerk(&self, auth: StaffAuth, id: Path<String>) -> Result<IncidentForClerkResponse> {
        auth.0.require(&[Role::Clerk])?;
        let r = store::get_report(&self.state.db.pool, &id.0)
            .await
            .map_err(internal)?
            .ok_or_else(|| Problem::not_found("report"))?;
        if !reports::may_handle(&auth.0, &r) {
            return Err(Problem::not_found("report").into());
        }
        self.staff_response(&r).await
    }

    /// Change a report's state
    ///
    /// With a public update (a template or text; the reporter and followers are notified) and/or
    /// an internal note. Send `If-Match` with the ETag you read: 412 if someone changed it since.
    #[oai(path = "/queue/:id/state", method = "post", operation_id = "change_incident_state")]
    async fn change_state(
        &self,
        auth: StaffAuth,
        id: Path<String>,
        #[oai(name = "If-Match")] if_match: Header<Option<String>>,
        body: JsonBody<IncidentStateChange>,
    ) -> Result<IncidentForClerkResponse> {
        let to = State::parse(&body.0.state).map_err(|e| Problem::invalid("state", e.to_string()))?;
        let action = Action::Transition {
            to,
            template: body.0.template.clone(),
            public_text: body.0.public_update.clone(),
            note: body.0.internal_note.clone(),
        };
        self.act(&auth.0, &id.0, if_match.0.as_deref(), action).await
    }

    /// Assign a report
    ///
    /// To the caller (no `staff_id`), a colleague, or nobody (`unassign`).
    #[oai(path = "/queue/:id/assignment", method = "post", operation_id = "assign_incident")]
    async fn assign(
        &self,
        auth: StaffAuth,
        id: Path<String>,
        #[oai(name = "If-Match")] if_match: Header<Option<String>>,
        body: JsonBody<IncidentAssignment>,
    ) -> Result<IncidentForClerkResponse> {
        let who = if body.0.unassign {
            None
        } else {
            match &body.0.staff_id {
                Some(sid) => Some((sid.clone(), body.0.staff_name.clone().unwrap_or_else(|| sid.clone()))),
                None => Some((auth.0.staff_id.clone(), auth.0.username.clone())),
            }
        };
        self.act(&auth.0, &id.0, if_match.0.as_deref(), Action::Assign(who)).await
    }

    /// Add a note or public update
    ///
    /// `public: true` posts it to the public history and notifies the reporter.
    #[oai(path = "/queue/:id/notes", method = "post", operation_id = "add_incident_note")]
    async fn add_note(
        &self,
        auth: StaffAuth,
        id: Path<String>,
        #[oai(name = "If-Match")] if_match: Header<Option<String>>,
        body: JsonBody<IncidentNote>,
    ) -> Result<IncidentForClerkResponse> {
        let action =
            if body.0.public { Action::PublicUpdate(body.0.text.clone()) } else { Action::Note(body.0.text.clone()) };
        self.act(&auth.0, &id.0, if_match.0.as_deref(), action).await
    }

    /// Merge a duplicate
    ///
    /// Closes this report as a duplicate of `into`; its reporter and followers follow the original.
    #[oai(path = "/queue/:id/merge", method = "post", operation_id = "merge_incident")]
    async fn merge(
        &self,
        auth: StaffAuth,
        id: Path<String>,
        #[oai(name = "If-Match")] if_match: Header<Option<String>>,
        body: JsonBody<IncidentMerge>,
    ) -> Result<IncidentForClerkResponse> {
        self.act(&auth.0, &id.0, if_match.0.as_deref(), Action::Merge(body.0.into.clone())).await
    }

    /// Approve or reject held text
    ///
    /// For a report whose text the content-safety check held (`moderation` `review` or
    /// `pending`): `approve: true` makes its text public and puts it on the map; `false` keeps
    /// it hidden for good. Audited; 409 when the text is not held.
    #[oai(path = "/queue/:id/moderation", method = "post", operation_id = "moderate_incident_text")]
    async fn moderate(
        &self,
        auth: StaffAuth,
        id: Path<String>,
        #[oai(name = "If-Match")] if_match: Header<Option<String>>,
        body: JsonBody<IncidentModeration>,
    ) -> Result<IncidentForClerkResponse> {
        let action = Action::Moderate { approve: body.0.approve, note: body.0.note.clone() };
        self.act(&auth.0, &id.0, if_match.0.as_deref(), action).await
    }

    /// Reroute a report
    ///
    /// Change its category and/or responsible agency; the SLA follows the new category.
    #[oai(path = "/queue/:id/routing", method = "post", operation_id = "reroute_incident")]
    async fn reroute(
        &self,
        auth: StaffAuth,
        id: Path<String>,
        #[oai(name = "If-Match")] if_match: Header<Option<String>>,
        body: JsonBody<IncidentReroute>,
    ) -> Result<IncidentForClerkResponse> {
        let action = Action::Reroute { category: body.0.category.clone(), agency: body.0.agency.clone() };
        self.act(&auth.0, &id.0, if_match.0.as_deref(), action).await
    }
}

impl IncidentsApi {
    async fn act(
        &self,
        staff: &Staff,
        id: &str,
        if_match: Option<&str>,
        action: Action,
    ) -> Result<IncidentForClerkResponse> {
        staff.require(&[Role::Clerk])?;
        let expected = match if_match {
            None => None,
            Some(v) => parse_etag(v)?,
        };
        let r = reports::act(&self.state, staff, id, expected, action).await?;
        self.staff_response(&r).await
    }

    async fn staff_response(&self, r: &Report) -> Result<IncidentForClerkResponse> {
        let view = self.staff_view(r, true).await?;
        Ok(IncidentForClerkResponse::Ok(Json(view), etag(r.version)))
    }

    async fn staff_view(&self, r: &Report, history: bool) -> Result<IncidentForClerk> {
        let mut report = self.view(r, Crs::Wgs84, true, false).await?;
        if history {
            let ups = store::updates(&self.state.db.pool, &r.id, true).await.map_err(internal)?;
            report.history = ups.into_iter().map(|u| update_view(u, true)).collect();
        }
        Ok(IncidentForClerk {
            report,
            version: r.version,
            moderation: r.moderation.clone(),
            overdue: is_overdue(r, now_ms()),
            assignee_id: r.assignee_id.clone(),
            assignee_name: r.assignee_name.clone(),
            channel: r.channel.clone(),
            original_location: IncidentPoint { lat: r.orig_lat, lon: r.orig_lon, crs: r.orig_crs.clone() },
        })
    }

    /// The public view; `privileged` shows held text (to its reporter or a clerk).
    async fn view(&self, r: &Report, crs: Crs, privileged: bool, history: bool) -> Result<Incident> {
        let agency = self.state.catalogue.agency(&r.agency);
        let (lat, lon) = LatLon::new(r.lat, r.lon).map(|p| p.to_crs(crs)).unwrap_or((r.lat, r.lon));
        let photo_ids = if r.n_photos > 0 {
            store::report_photos(&self.state.db.pool, &r.id).await.map_err(internal)?
        } else {
            Vec::new()
        };
        let history = if history {
            store::updates(&self.state.db.pool, &r.id, false)
                .await
                .map_err(internal)?
                .into_iter()
                .map(|u| update_view(u, false))
                .collect()
        } else {
            Vec::new()
        };
        Ok(Incident {
            id: r.id.clone(),
            category: r.category.clone(),
            state: r.state.clone(),
            status: State::parse(&r.state).map(State::open311_status).unwrap_or("open").into(),
            description: (privileged || r.text_is_public()).then(|| r.description.clone()),
            address: if privileged || r.text_is_public() { r.address.clone() } else { String::new() },
            location: IncidentPoint { lat: round6(lat), lon: round6(lon), crs: crs.code().into() },
            district: r.district.clone(),
            agency: IncidentAgency {
                id: r.agency.clone(),
                name_zh: agency.map(|a| a.name_zh.clone()).unwrap_or_default(),
                name_en: agency.map(|a| a.name_en.clone()).unwrap_or_default(),
            },
            reporter_name: public_name(r.anonymous, r.reporter_name.as_deref()),
            photos: photo_ids
                .into_iter()
                .map(|id| IncidentPhoto {
                    url: format!("/v1/incidents/photos/{id}"),
                    thumbnail_url: format!("/v1/incidents/photos/{id}/thumbnail"),
                    id,
                })
                .collect(),
            answers: serde_json::from_str(&r.attributes).unwrap_or_default(),
            created_at: rfc3339(from_ms(r.created_at)),
            updated_at: rfc3339(from_ms(r.updated_at)),
            due_at: rfc3339(from_ms(r.due_at)),
            followers: r.n_followers,
            duplicate_of: r.duplicate_of.clone(),
            history,
        })
    }

    async fn photo_bytes(&self, id: &str, thumb: bool) -> Result<IncidentImageResponse> {
        let photo = store::photo(&self.state.db.pool, id)
            .await
            .map_err(internal)?
            .ok_or_else(|| Problem::not_found("photo"))?;
        // Unattached uploads are nobody's business until the report is filed.
        if photo.report_id.is_none() {
            return Err(Problem::not_found("photo").into());
        }
        let bytes = tokio::fs::read(photos::file(&self.state.platform.settings.data_dir, &photo.id, thumb))
            .await
            .map_err(|_| Problem::not_found("photo"))?;
        Ok(IncidentImageResponse::Ok(Binary(bytes), "public, max-age=86400".into()))
    }
}

#[allow(clippy::too_many_arguments)]
fn queue_filter(
    staff: &Staff,
    state: Option<String>,
    category: Option<String>,
    district: Option<String>,
    agency: Option<String>,
    min_age_hours: Option<i64>,
    overdue: Option<bool>,
    assignee: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
    max_limit: i64,
) -> std::result::Result<QueueFilter, Problem> {
    staff.require(&[Role::Clerk])?;
    let states = split_list(state.as_deref());
    for s in &states {
        State::parse(s).map_err(|e| Problem::invalid("state", e.to_string()))?;
    }
    let now = now_ms();
    let limit = limit.unwrap_or(50);
    if !(1..=max_limit).contains(&limit) {
        return Err(Problem::invalid("limit", format!("1 to {max_limit}")));
    }
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(Problem::invalid("offset", "not negative"));
    }
    if let Some(h) = min_age_hours {
        if !(0..=24 * 3650).contains(&h) {
            return Err(Problem::invalid("min_age_hours", "0 to 87600"));
        }
    }
    let assignee = match assignee.as_deref() {
        Some("me") => Some(staff.staff_id.clone()),
        other => other.map(str::to_owned),
    };
    Ok(QueueFilter {
        states,
        category: category.filter(|s| !s.is_empty()),
        district: district.filter(|s| !s.is_empty()),
        agency: agency.filter(|s| !s.is_empty()),
        created_before: min_age_hours.map(|h| now - h * 3_600_000),
        due_before: overdue.filter(|o| *o).map(|_| now),
        assignee,
        scope_districts: staff.scopes.districts.clone(),
        scope_agencies: staff.scopes.agencies.clone(),
        unrestricted: staff.roles.contains(&Role::Admin),
        limit,
        offset,
    })
}

fn update_view(u: store::Update, staff: bool) -> IncidentUpdate {
    IncidentUpdate {
        id: u.id,
        at: rfc3339(from_ms(u.at)),
        kind: u.kind,
        state_from: u.state_from,
        state_to: u.state_to,
        text_zh: u.text_zh,
        text_en: u.text_en,
        staff_name: if staff { u.staff_name } else { None },
    }
}

fn is_overdue(r: &Report, now: i64) -> bool {
    r.due_at < now && State::parse(&r.state).map(State::is_open).unwrap_or(false)
}

fn etag(version: i64) -> String {
    format!("\"v{version}\"")
}

/// Reads `"v3"`, `W/"v3"` or `3`; `*` means "any version".
fn parse_etag(v: &str) -> std::result::Result<Option<i64>, Problem> {
    let t = v.trim();
    if t == "*" {
        return Ok(None);
    }
    let t = t.trim_start_matches("W/").trim_matches('"').trim_start_matches('v');
    t.parse::<i64>().map(Some).map_err(|_| Problem::malformed(Some("If-Match"), "an ETag from this API, e.g. \"v3\""))
}

fn parse_crs(v: Option<&str>, field: &str) -> std::result::Result<Crs, Problem> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(Crs::Wgs84),
        Some(s) => Crs::parse(s).map_err(|_| Problem::invalid(field, "`gcj02` or `wgs84`")),
    }
}

fn split_list(v: Option<&str>) -> Vec<String> {
    v.map(|s| s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()).unwrap_or_default()
}

fn json_text(v: &serde_json::Value) -> std::result::Result<String, String> {
    match v {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        serde_json::Value::Null => Ok(String::new()),
        _ => Err("a string, number or a list of them".into()),
    }
}

/// The native API calls answers `answers.code`, not Open311's `attribute[code]`.
fn rename_answers(mut p: Problem) -> Problem {
    for e in &mut p.errors {
        if let Some(code) = e.field.strip_prefix("attribute[").and_then(|s| s.strip_suffix(']')) {
            e.field = format!("answers.{code}");
        }
    }
    p
}

/// One grid cell's reports, summed over states.
#[derive(Default)]
struct Cluster {
    n: i64,
    sum_lat: f64,
    sum_lon: f64,
    states: BTreeMap<String, i64>,
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}
