//! The clerk queue's counts and the colleagues an assignment may name (issue #19), so a
//! console pages a queue of any size with the counts from the server and offers only the
//! clerks the assignment will accept; and the clerk's photo upload (a "fixed" photo for a
//! public update). [`IncidentsApi`](super::IncidentsApi) composes these
//! operations with the rest (`share.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use city_platform::auth::StaffAuth;
use city_platform::{Failure, Problem};
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::dto::{IncidentPhotoUpload, UploadedIncidentPhoto};
use super::params::{queue_filter, queue_refine, split_list};
use super::problems::{self, QueueErrors, UploadErrors};
use super::IncidentsTags;
use crate::domain::access::{self, Principal};
use crate::domain::ReportId;
use crate::reports::{self, uploads, ReadError};
use crate::{photos, store, IncidentsState};

/// The most ids `GET /queue/in-scope` takes (a map view shows at most 300 pins).
const MAX_SCOPE_IDS: usize = 500;

/// The queue operations of issue #19.
pub struct QueueApi {
    pub(super) state: Arc<IncidentsState>,
}

/// How many reports a clerk's queue holds.
#[derive(Debug, Object)]
pub struct IncidentQueueCounts {
    /// Under every filter given (what the list pages through).
    pub matching: i64,
    /// The caller's whole queue, no filter.
    pub all: i64,
    /// The whole queue per state.
    pub state: BTreeMap<String, i64>,
    /// The whole queue per category.
    pub category: BTreeMap<String, i64>,
    /// The whole queue per district.
    pub district: BTreeMap<String, i64>,
    /// Assigned to the caller.
    pub mine: i64,
    /// Past due and still open.
    pub overdue: i64,
    /// Text awaiting a clerk's decision (`moderation` `review` or `pending`).
    pub held: i64,
}

/// A clerk an assignment may name.
#[derive(Debug, Object)]
pub struct IncidentColleague {
    /// Their staff id (`staff_id` of `POST /v1/incidents/queue/{id}/assignment`).
    pub staff_id: String,
    /// Their username.
    pub username: String,
}

#[OpenApi(prefix_path = "/v1/incidents", tag = "IncidentsTags::Incidents")]
impl QueueApi {
    /// Count the clerk queue
    ///
    /// `matching`: the reports under the filters given (the parameters of
    /// `GET /v1/incidents/queue`); the rest count the caller's whole queue, per state, category
    /// and district, assigned to the caller, overdue, and with held text.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/queue/counts", method = "get", operation_id = "count_incident_queue")]
    async fn counts(
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
    ) -> Result<Json<IncidentQueueCounts>, Failure<QueueErrors>> {
        let f = queue_filter(
            &auth.0,
            state.0,
            category.0,
            district.0,
            agency.0,
            min_age_hours.0,
            overdue.0,
            assignee.0,
            Some(1),
            None,
            1,
        )?;
        let f = queue_refine(f, held.0, q.0, None)?;
        let c = reports::queue::counts(&self.state, &auth.0, &f).await?;
        Ok(Json(IncidentQueueCounts {
            matching: c.matching,
            all: c.all,
            state: c.by_state,
            category: c.by_category,
            district: c.by_district,
            mine: c.mine,
            overdue: c.overdue,
            held: c.held,
        }))
    }

    /// List colleagues to assign to
    ///
    /// The other clerks an assignment may name, by username: with `report` (one the caller
    /// handles), those who may handle that report; without, those sharing a district or agency
    /// with the caller. Only clerks who have acted on the queue are known to this service.
    #[oai(path = "/queue/colleagues", method = "get", operation_id = "list_incident_colleagues")]
    async fn colleagues(
        &self,
        auth: StaffAuth,
        /// A report id from the caller's queue.
        report: Query<Option<String>>,
    ) -> Result<Json<Vec<IncidentColleague>>, Failure<ReadError>> {
        let report = report.0.filter(|r| !r.trim().is_empty()).map(ReportId::from);
        let found = reports::queue::colleagues(&self.state, &auth.0, report.as_ref()).await?;
        Ok(Json(found.into_iter().map(|s| IncidentColleague { staff_id: s.staff_id, username: s.username }).collect()))
    }

    /// Which of these reports are in my queue
    ///
    /// Of the report ids given (comma-separated, at most 500: the pins of a map view, which
    /// holds at most 300), those in the caller's queue scope, exactly as the queue decides; so a
    /// map makes only those pins open a ticket, whatever the queue's size. Unknown ids are left
    /// out, as are those outside the scope.
    #[oai(path = "/queue/in-scope", method = "get", operation_id = "list_incident_ids_in_scope")]
    async fn in_scope(
        &self,
        auth: StaffAuth,
        /// Report ids, comma-separated.
        ids: Query<String>,
    ) -> Result<Json<Vec<String>>, Failure<QueueErrors>> {
        let scope =
            access::queue_scope(&Principal::Staff(&auth.0)).map_err(city_platform::IntoProblem::into_problem)?;
        let ids = split_list(Some(&ids.0));
        if ids.len() > MAX_SCOPE_IDS {
            return Err(Problem::invalid("ids", format!("at most {MAX_SCOPE_IDS} ids")).into());
        }
        let mut held = Vec::new();
        for id in ids {
            if let Some(r) = store::get_report(&self.state.db.pool, &ReportId::from(id)).await? {
                if scope.holds(&r.category, &r.district, &r.agency) && !held.contains(&r.id.to_string()) {
                    held.push(r.id.to_string());
                }
            }
        }
        Ok(Json(held))
    }

    /// Upload a photo for a public update
    ///
    /// A clerk's photo (the crew's "fixed" photo, say), processed as a citizen's is: multipart
    /// field `photo`, re-encoded as JPEG without metadata. Send its id as `photo_id` with a
    /// public update (`/queue/{id}/notes` with `public: true`, or `/queue/{id}/state` with
    /// public words); it is shown on that history entry. Unused uploads are swept.
    #[oai(path = "/queue/photos", method = "post", operation_id = "upload_incident_update_photo")]
    async fn upload_update_photo(
        &self,
        auth: StaffAuth,
        body: IncidentPhotoUpload,
    ) -> Result<Json<UploadedIncidentPhoto>, Failure<UploadErrors>> {
        access::as_clerk(&Principal::Staff(&auth.0)).map_err(city_platform::IntoProblem::into_problem)?;
        if body.photo.size() > photos::MAX_BYTES {
            return Err(problems::photo_too_large().into());
        }
        let bytes = body.photo.into_vec().await.map_err(|e| Problem::malformed(Some("photo"), e.to_string()))?;
        let photo = uploads::upload(&self.state, &reports::staff_upload_owner(&auth.0), bytes).await?;
        Ok(Json(UploadedIncidentPhoto {
            thumbnail_url: format!("/v1/incidents/photos/{}/thumbnail", photo.id),
            id: photo.id,
            width: photo.width,
            height: photo.height,
        }))
    }
}
