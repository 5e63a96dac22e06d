//! A citizen's waitlists: join the queue of a full session, see it, accept an offer, leave.

use std::sync::Arc;

use city_platform::auth::CitizenAuth;
use city_platform::{Failure, JsonBody};
use poem::Request;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use super::problems::{AcceptErrors, JoinErrors, LeaveErrors, MineErrors};
use super::views::*;
use super::{appointment_view, BookingTags};
use crate::domain::SessionId;
use crate::state::BookingState;
use crate::store;

/// Waitlists.
pub struct WaitlistApi {
    pub(super) state: Arc<BookingState>,
}

#[OpenApi(prefix_path = "/v1/booking", tag = "BookingTags::Booking")]
impl WaitlistApi {
    /// Join a waitlist
    ///
    /// Only for a full session. When a number returns it is offered in queue order; accept
    /// (and pay) before the offer lapses or it passes to the next in line. Queues close at
    /// 23:00 the day before the visit.
    #[oai(path = "/waitlist", method = "post", operation_id = "create_waitlist_entry")]
    async fn create_waitlist_entry(
        &self,
        auth: CitizenAuth,
        req: &Request,
        body: JsonBody<NewWaitlistEntry>,
    ) -> Result<CreatedWaitlist, Failure<JoinErrors>> {
        let b = body.0;
        let authorization = req.header("authorization").unwrap_or_default();
        let entry = self
            .state
            .join_waitlist(&auth.0.citizen_id, authorization, &SessionId::from(b.session_id), &b.person_id)
            .await?;
        Ok(CreatedWaitlist::Created(Json(waitlist_view(entry))))
    }

    /// List my waitlist entries
    #[oai(path = "/waitlist", method = "get", operation_id = "list_waitlist_entries")]
    async fn list_waitlist(&self, auth: CitizenAuth) -> Result<Json<Vec<WaitlistView>>, Failure<MineErrors>> {
        let rows = store::list_waitlist(&self.state.db, &auth.0.citizen_id).await?;
        Ok(Json(rows.into_iter().map(waitlist_view).collect()))
    }

    /// Accept a waitlist offer
    ///
    /// The held number becomes the patient's booking (or a pending payment when the hospital
    /// charges online).
    #[oai(path = "/waitlist/:entry_id/accept", method = "post", operation_id = "accept_waitlist_offer")]
    async fn accept_offer(
        &self,
        auth: CitizenAuth,
        entry_id: Path<String>,
    ) -> Result<Json<AppointmentView>, Failure<AcceptErrors>> {
        let a = self.state.accept_offer(&auth.0.citizen_id, &entry_id.0).await?;
        Ok(Json(appointment_view(&self.state, a).await?))
    }

    /// Leave a waitlist
    ///
    /// Also declines an open offer; its number passes to the next in line.
    #[oai(path = "/waitlist/:entry_id", method = "delete", operation_id = "delete_waitlist_entry")]
    async fn leave_waitlist(&self, auth: CitizenAuth, entry_id: Path<String>) -> Result<Removed, Failure<LeaveErrors>> {
        self.state.leave_waitlist(&auth.0.citizen_id, &entry_id.0).await?;
        Ok(Removed::NoContent)
    }
}
