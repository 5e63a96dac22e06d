//! HTTP surface of the incidents service (`/v1/incidents`); Open311 lives in `open311.rs`.
//!
//! Each handler reads its input (`params`), calls one use case of `reports`, and renders the
//! answer (`views`, GeoJSON for the map); errors are the use cases' typed errors, turned into
//! problems in `problems`, and each operation documents exactly the kinds it can return.
//! Layout: `dto` (the JSON shapes), `params`, `views`, `problems`.

mod dto;
mod internal;
mod params;
mod problems;
mod queue;
mod share;
mod views;

use std::collections::BTreeMap;
use std::sync::Arc;

use city_platform::auth::{CitizenAuth, Staff, StaffAuth};
use city_platform::coords::{Crs, CrsName, LatLon};
use city_platform::time::{from_ms, now_ms, rfc3339};
use city_platform::{Failure, JsonBody, Matching, Problem};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{Attachment, AttachmentType, Binary, Json};
use poem_openapi::{OpenApi, Tags};

use dto::*;
use params::{json_text, map_filter, parse_coord, parse_etag, queue_filter, queue_refine, rename_answers};
use problems::{
    ClerkOnlyErrors, CreateErrors, FollowErrors, MineErrors, PhotoErrors, PublicReadErrors, QueryErrors, QueueErrors,
    UploadErrors,
};
use views::{etag, round6};

use crate::domain::access::{self, Principal};
use crate::domain::{csv_cell, ReportId, State};
use crate::reports::map::{Cluster, MapView};
use crate::reports::read::{self, Detail};
use crate::reports::{self, uploads, ActError, Action, Submission};
use crate::store::StoreError;
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
    pub async fn recheck_held_text(&self) -> Result<usize, StoreError> {
        reports::recheck_pending(&self.state, crate::RECHECK_BATCH).await
    }

    /// One round of collecting uploads never attached to a report, as of `now_ms` (the service
    /// runs it every [`crate::PHOTO_SWEEP_SECS`] on the system clock; tests pass their own).
    pub async fn sweep_unattached_photos(&self, now_ms: i64) -> Result<usize, reports::UploadError> {
        reports::uploads::sweep_unattached(&self.state, now_ms, 1000).await
    }

    /// Open311 GeoReport v2 as plain poem routes with their full paths (`/open311/v2/...`),
    /// to be mounted with `nest_no_strip("/open311/v2", ...)`.
    pub fn open311_routes(&self) -> poem::Route {
        crate::open311::routes(self.state.clone())
    }
}

/// The answers and the clerks' workflow; [`IncidentsApi`] composes them with the share cards
/// (`share.rs`).
pub struct CoreApi {
    state: Arc<IncidentsState>,
}

#[OpenApi(prefix_path = "/v1/incidents", tag = "IncidentsTags::Incidents")]
impl CoreApi {
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
    async fn upload_photo(
        &self,
        auth: CitizenAuth,
        body: IncidentPhotoUpload,
    ) -> Result<Json<UploadedIncidentPhoto>, Failure<UploadErrors>> {
        if body.photo.size() > photos::MAX_BYTES {
            return Err(problems::photo_too_large().into());
        }
        let bytes = body.photo.into_vec().await.map_err(|e| Problem::malformed(Some("photo"), e.to_string()))?;
        let photo = uploads::upload(&self.state, &auth.0.citizen_id, bytes).await?;
        Ok(Json(UploadedIncidentPhoto {
            thumbnail_url: format!("/v1/incidents/photos/{}/thumbnail", photo.id),
            id: photo.id,
            width: photo.width,
            height: photo.height,
        }))
    }

    /// Get a photo
    ///
    /// The re-encoded JPEG of a filed report's photo.
    #[oai(path = "/photos/:id", method = "get", operation_id = "get_incident_photo")]
    async fn get_photo(&self, id: Path<String>) -> Result<IncidentImageResponse, Failure<PhotoErrors>> {
        self.photo_bytes(&id.0, false).await
    }

    /// Get a photo's thumbnail
    ///
    /// At most 256 px on its longer side.
    #[oai(path = "/photos/:id/thumbnail", method = "get", operation_id = "get_incident_photo_thumbnail")]
    async fn get_photo_thumbnail(&self, id: Path<String>) -> Result<IncidentImageResponse, Failure<PhotoErrors>> {
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
        /// `gcj02`, `wgs84` (the default) or `bd09`; also the datum of the answer.
        coord: Query<Option<Matching<CrsName>>>,
        /// Deprecated alias of `coord`.
        #[oai(deprecated)]
        crs: Query<Option<Matching<CrsName>>>,
        /// Search radius in metres (1 to 1000).
        radius_m: Query<Option<f64>>,
    ) -> Result<Json<Vec<NearbyIncident>>, Failure<QueryErrors>> {
        let crs = parse_coord(coord.0.as_deref(), crs.0.as_deref(), "")?;
        let pin = reports::parse_pin(crs, lat.0, lon.0, "lat", "lon")?;
        if self.state.catalogue.category(&category.0).is_none() {
            return Err(Problem::invalid("category", format!("no category `{}`", category.0)).into());
        }
        let radius = radius_m.0.unwrap_or(self.state.catalogue.duplicate_radius_m);
        if !(1.0..=1000.0).contains(&radius) {
            return Err(Problem::invalid("radius_m", "between 1 and 1000 metres").into());
        }
        let near = read::nearby(&self.state, &category.0, pin, radius).await?;
        Ok(Json(
            near.into_iter()
                .map(|(d, seen)| NearbyIncident {
                    report: views::incident(&self.state, seen, crs),
                    distance_m: (d * 10.0).round() / 10.0,
                })
                .collect(),
        ))
    }

    /// Report a problem
    ///
    /// The pin may be GCJ-02 (as WeChat's map gives it) or WGS-84; it is stored in WGS-84 with
    /// the original kept, and routed by district and category. The text is checked by WeChat's
    /// content-safety service before it is shown publicly. One report per citizen every few
    /// seconds.
    #[oai(path = "/", method = "post", operation_id = "create_incident")]
    async fn create_report(
        &self,
        auth: CitizenAuth,
        body: JsonBody<NewIncident>,
    ) -> Result<CreatedIncident, Failure<CreateErrors>> {
        let b = body.0;
        let crs = match (&b.location.coord, &b.location.crs) {
            (None, None) => {
                return Err(Problem::invalid("location.coord", "required: `gcj02`, `wgs84` or `bd09`").into())
            }
            (coord, crs) => parse_coord(coord.as_deref(), crs.as_deref(), "location.")?,
        };
        let mut answers = BTreeMap::new();
        for (k, v) in &b.answers {
            let values = match v {
                serde_json::Value::Array(a) => a.iter().map(json_text).collect::<Result<Vec<_>, _>>(),
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
        let location = format!("/v1/incidents/{}", report.id);
        let seen = read::show(&self.state, &Principal::Citizen(&auth.0.citizen_id), report, Detail::Card).await?;
        Ok(CreatedIncident::Created(Json(views::incident(&self.state, seen, crs)), location))
    }

    /// List my reports
    ///
    /// The caller's own reports and those they follow, newest first, each with its public history.
    #[oai(path = "/mine", method = "get", operation_id = "list_my_incidents")]
    async fn list_mine(
        &self,
        auth: CitizenAuth,
        /// `gcj02`, `wgs84` (the default) or `bd09`; also the datum of the answer.
        coord: Query<Option<Matching<CrsName>>>,
        /// Deprecated alias of `coord`.
        #[oai(deprecated)]
        crs: Query<Option<Matching<CrsName>>>,
    ) -> Result<Json<Vec<Incident>>, Failure<MineErrors>> {
        let crs = parse_coord(coord.0.as_deref(), crs.0.as_deref(), "")?;
        let mine = read::mine(&self.state, &auth.0.citizen_id).await?;
        let mut out = Vec::with_capacity(mine.len());
        for seen in mine {
            let mut incident = views::incident(&self.state, seen, crs);
            self.update_photos(&mut incident).await?;
            out.push(incident);
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
    /// `coord=gcj02` (or its deprecated alias `crs`) returns (and reads the bbox in) GCJ-02 for Chinese basemaps; RFC 7946
    /// itself is WGS-84, the default.
    #[oai(path = "/map", method = "get", operation_id = "get_incident_map")]
    async fn get_map(
        &self,
        bbox: Query<String>,
        zoom: Query<u8>,
        /// `gcj02`, `wgs84` (the default) or `bd09`; also the datum of the answer.
        coord: Query<Option<Matching<CrsName>>>,
        /// Deprecated alias of `coord`.
        #[oai(deprecated)]
        crs: Query<Option<Matching<CrsName>>>,
        /// Comma-separated category codes.
        category: Query<Option<String>>,
        /// Comma-separated states.
        state: Query<Option<String>>,
    ) -> Result<IncidentMapResponse, Failure<QueryErrors>> {
        let crs = parse_coord(coord.0.as_deref(), crs.0.as_deref(), "")?;
        let filter =
            map_filter(&self.state.catalogue, &bbox.0, zoom.0, crs, category.0.as_deref(), state.0.as_deref())?;
        let view = reports::map::view(&self.state, &filter, zoom.0).await?;
        Ok(IncidentMapResponse::Ok(Json(geojson(view, crs))))
    }

    /// Get a report
    ///
    /// The public view with its public history. The text is hidden while the content-safety
    /// check holds it; an anonymous reporter is never named.
    #[oai(path = "/:id", method = "get", operation_id = "get_incident")]
    async fn get_report(
        &self,
        id: Path<String>,
        /// `gcj02`, `wgs84` (the default) or `bd09`; also the datum of the answer.
        coord: Query<Option<Matching<CrsName>>>,
        /// Deprecated alias of `coord`.
        #[oai(deprecated)]
        crs: Query<Option<Matching<CrsName>>>,
    ) -> Result<Json<Incident>, Failure<PublicReadErrors>> {
        let crs = parse_coord(coord.0.as_deref(), crs.0.as_deref(), "")?;
        let seen = read::public(&self.state, &ReportId::from(id.0)).await?;
        let mut incident = views::incident(&self.state, seen, crs);
        self.update_photos(&mut incident).await?;
        Ok(Json(incident))
    }

    /// Follow a report ("me too")
    ///
    /// The caller gets its public updates as if they had reported it.
    #[oai(path = "/:id/followers", method = "post", operation_id = "follow_incident")]
    async fn follow_report(
        &self,
        auth: CitizenAuth,
        id: Path<String>,
    ) -> Result<Json<IncidentFollow>, Failure<FollowErrors>> {
        let (added, followers) = reports::follow(&self.state, &ReportId::from(id.0), &auth.0.citizen_id).await?;
        Ok(Json(IncidentFollow { following: true, added, followers }))
    }

    /// List the clerk queue
    ///
    /// Reports in the caller's districts and agencies, earliest due first. Filters: `state`
    /// (comma list), `category`, `district`, `agency`, `min_age_hours`, `overdue`, `assignee`
    /// (`me` or a staff id), `held` (text awaiting a decision), `q` (a reference or words of
    /// the description or address); `sort` `due`, `new` or `updated`. Counts per filter:
    /// `GET /v1/incidents/queue/counts`.
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
        held: Query<Option<bool>>,
        q: Query<Option<String>>,
        sort: Query<Option<String>>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Result<Json<Vec<IncidentForClerk>>, Failure<QueueErrors>> {
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
        let f = queue_refine(f, held.0, q.0, sort.0.as_deref())?;
        let rows = read::queue(&self.state, &auth.0, &f, Detail::Card).await?;
        Ok(Json(rows.into_iter().map(|seen| views::for_clerk(&self.state, seen)).collect()))
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
        held: Query<Option<bool>>,
        q: Query<Option<String>>,
        sort: Query<Option<String>>,
    ) -> Result<Attachment<Vec<u8>>, Failure<QueueErrors>> {
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
        let f = queue_refine(f, held.0, q.0, sort.0.as_deref())?;
        let rows = read::queue(&self.state, &auth.0, &f, Detail::Row).await?;
        Ok(Attachment::new(queue_csv(&auth.0, rows).into_bytes())
            .attachment_type(AttachmentType::Attachment)
            .filename("incidents.csv"))
    }

    /// List response templates
    ///
    /// Templates for public updates, per state and category.
    #[oai(path = "/templates", method = "get", operation_id = "list_incident_templates")]
    async fn list_templates(&self, auth: StaffAuth) -> Result<Json<Vec<IncidentTemplate>>, Failure<ClerkOnlyErrors>> {
        access::as_clerk(&Principal::Staff(&auth.0))?;
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
    async fn get_for_clerk(
        &self,
        auth: StaffAuth,
        id: Path<String>,
    ) -> Result<IncidentForClerkResponse, Failure<reports::ReadError>> {
        let seen = read::for_clerk(&self.state, &auth.0, &ReportId::from(id.0)).await?;
        let version = seen.report.version;
        let mut view = views::for_clerk(&self.state, seen);
        self.update_photos(&mut view.report).await?;
        Ok(IncidentForClerkResponse::Ok(Json(view), etag(version)))
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
    ) -> Result<IncidentForClerkResponse, Failure<ActError>> {
        let to = State::parse(&body.0.state).map_err(|e| Problem::invalid("state", e.to_string()))?;
        let action = Action::Transition {
            to,
            template: body.0.template.clone(),
            public_text: body.0.public_update.clone(),
            note: body.0.internal_note.clone(),
            photo: body.0.photo_id.clone(),
        };
        self.act(&auth.0, id.0, if_match.0.as_deref(), action).await
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
    ) -> Result<IncidentForClerkResponse, Failure<ActError>> {
        let who = if body.0.unassign {
            None
        } else {
            match &body.0.staff_id {
                Some(sid) => Some((sid.clone(), body.0.staff_name.clone().unwrap_or_else(|| sid.clone()))),
                None => Some((auth.0.staff_id.clone(), auth.0.username.clone())),
            }
        };
        self.act(&auth.0, id.0, if_match.0.as_deref(), Action::Assign(who)).await
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
    ) -> Result<IncidentForClerkResponse, Failure<ActError>> {
        let action = match (body.0.public, &body.0.photo_id) {
            (true, photo) => Action::PublicUpdate { text: body.0.text.clone(), photo: photo.clone() },
            (false, None) => Action::Note(body.0.text.clone()),
            (false, Some(_)) => return Err(Problem::invalid("photo_id", "a photo goes with a public update").into()),
        };
        self.act(&auth.0, id.0, if_match.0.as_deref(), action).await
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
    ) -> Result<IncidentForClerkResponse, Failure<ActError>> {
        let action = Action::Merge(ReportId::from(body.0.into.clone()));
        self.act(&auth.0, id.0, if_match.0.as_deref(), action).await
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
    ) -> Result<IncidentForClerkResponse, Failure<ActError>> {
        let action = Action::Moderate { approve: body.0.approve, note: body.0.note.clone() };
        self.act(&auth.0, id.0, if_match.0.as_deref(), action).await
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
    ) -> Result<IncidentForClerkResponse, Failure<ActError>> {
        let action = Action::Reroute { category: body.0.category.clone(), agency: body.0.agency.clone() };
        self.act(&auth.0, id.0, if_match.0.as_deref(), action).await
    }
}

impl CoreApi {
    /// A clerk's action: the clerk role first (as before any other check), then `If-Match`,
    /// then the use case; the answer is the report as the clerk sees it now, with its `ETag`.
    async fn act(
        &self,
        staff: &Staff,
        id: String,
        if_match: Option<&str>,
        action: Action,
    ) -> Result<IncidentForClerkResponse, Failure<ActError>> {
        access::as_clerk(&Principal::Staff(staff))?;
        let expected = match if_match {
            None => None,
            Some(v) => parse_etag(v)?,
        };
        let r = reports::act(&self.state, staff, &ReportId::from(id), expected, action).await?;
        let version = r.version;
        let seen = read::changed(&self.state, staff, r).await?;
        let mut view = views::for_clerk(&self.state, seen);
        self.update_photos(&mut view.report).await?;
        Ok(IncidentForClerkResponse::Ok(Json(view), etag(version)))
    }

    /// Puts the crew's photos on the history entries they illustrate (issue #19).
    async fn update_photos(&self, incident: &mut Incident) -> Result<(), StoreError> {
        if incident.history.iter().any(|u| u.kind == "public") {
            let pairs = crate::store::update_photos(&self.state.db.pool, &ReportId::from(incident.id.clone())).await?;
            views::with_update_photos(&mut incident.history, pairs);
        }
        Ok(())
    }

    async fn photo_bytes(&self, id: &str, thumb: bool) -> Result<IncidentImageResponse, Failure<PhotoErrors>> {
        let bytes = uploads::bytes(&self.state, id, thumb).await?.ok_or_else(|| Problem::not_found("photo"))?;
        Ok(IncidentImageResponse::Ok(Binary(bytes), "public, max-age=86400".into()))
    }
}

/// The queue as CSV (RFC 4180, formulas defused); an anonymous reporter is `(anonymous)`.
fn queue_csv(staff: &Staff, rows: Vec<read::Seen>) -> String {
    let now = now_ms();
    let mut csv = String::from(
        "id,created,category,state,district,agency,assignee,due,overdue,reporter,latitude,longitude,address,description\r\n",
    );
    for seen in rows {
        let r = &seen.report;
        let reporter = if access::may_see(&Principal::Staff(staff), r, access::Field::ReporterName) {
            r.reporter_name.clone().unwrap_or_default()
        } else {
            "(anonymous)".to_owned()
        };
        let cells = [
            r.id.to_string(),
            rfc3339(from_ms(r.created_at)),
            r.category.clone(),
            r.state.clone(),
            r.district.clone(),
            r.agency.clone(),
            r.assignee_name.clone().unwrap_or_default(),
            rfc3339(from_ms(r.due_at)),
            views::is_overdue(r, now).to_string(),
            reporter,
            format!("{:.6}", r.lat),
            format!("{:.6}", r.lon),
            r.address.clone(),
            r.description.clone(),
        ];
        csv.push_str(&cells.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(","));
        csv.push_str("\r\n");
    }
    csv
}

/// A map view as an RFC 7946 FeatureCollection in `crs` (with a foreign member naming the
/// datum when it is not WGS-84).
fn geojson(view: MapView, crs: Crs) -> serde_json::Value {
    let out = |lat: f64, lon: f64| {
        let (la, lo) = LatLon::new(lat, lon).map(|p| p.to_crs(crs)).unwrap_or((lat, lon));
        serde_json::json!([round6(lo), round6(la)])
    };
    let features: Vec<serde_json::Value> = match view {
        MapView::Pins(pins) => pins
            .iter()
            .map(|p| {
                serde_json::json!({
                    "type": "Feature", "id": p.id,
                    "geometry": {"type": "Point", "coordinates": out(p.lat, p.lon)},
                    "properties": {"kind": "report", "category": p.category, "state": p.state,
                                   "created_at": rfc3339(from_ms(p.created_at))}
                })
            })
            .collect(),
        MapView::Clusters { zoom, cells } => cells
            .into_iter()
            .map(|((row, col), Cluster { n, sum_lat: slat, sum_lon: slon, states })| {
                serde_json::json!({
                    "type": "Feature", "id": format!("cell:{zoom}:{row}:{col}"),
                    "geometry": {"type": "Point", "coordinates": out(slat / n as f64, slon / n as f64)},
                    "properties": {"kind": "cluster", "count": n, "states": states}
                })
            })
            .collect(),
    };
    let mut fc = serde_json::json!({"type": "FeatureCollection", "features": features});
    if crs != Crs::Wgs84 {
        // Not RFC 7946's datum: say so in a foreign member rather than silently.
        fc["coordinate_system"] = serde_json::json!(crs.code());
    }
    fc
}
