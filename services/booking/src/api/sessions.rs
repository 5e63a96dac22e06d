//! Schedulers' sessions: publish a half-day, see who is booked, stop it (停诊).

use std::sync::Arc;

use city_platform::auth::StaffAuth;
use city_platform::{Failure, JsonBody};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use super::problems::{PublishErrors, SessionReadErrors, StopErrors};
use super::views::*;
use super::{appointment_view, BookingTags};
use crate::domain::SessionId;
use crate::state::BookingState;
use crate::usecases::SessionRequest;

/// Publishing, listing and stopping sessions.
pub struct SessionsApi {
    pub(super) state: Arc<BookingState>,
}

#[OpenApi(prefix_path = "/v1/booking", tag = "BookingTags::Booking")]
impl SessionsApi {
    /// Publish a session
    ///
    /// A doctor's half-day with `capacity` numbers in windows of `slot_minutes`. Schedulers of
    /// the doctor's hospital; audited.
    #[oai(path = "/sessions", method = "post", operation_id = "create_session")]
    async fn create_session(
        &self,
        auth: StaffAuth,
        body: JsonBody<NewClinicSession>,
    ) -> Result<CreatedSession, Failure<PublishErrors>> {
        let b = body.0;
        let req = SessionRequest {
            doctor_id: b.doctor_id,
            date: b.date,
            period: b.period,
            capacity: b.capacity,
            slot_minutes: b.slot_minutes,
        };
        let s = self.state.publish_session(&auth.0, req).await?;
        Ok(CreatedSession::Created(Json(session_view(s))))
    }

    /// List a session's appointments
    ///
    /// For the clinic: who is booked on a session. Schedulers of the hospital.
    #[oai(path = "/sessions/:session_id/appointments", method = "get", operation_id = "list_session_appointments")]
    async fn list_session_appointments(
        &self,
        auth: StaffAuth,
        session_id: Path<String>,
    ) -> Result<Json<Vec<AppointmentView>>, Failure<SessionReadErrors>> {
        let rows = self.state.session_appointments(&auth.0, &SessionId::from(session_id.0)).await?;
        let mut out = Vec::with_capacity(rows.len());
        for a in rows {
            out.push(appointment_view(&self.state, a).await?);
        }
        Ok(Json(out))
    }

    /// Stop a session (停诊)
    ///
    /// Cancels every booking on it exactly once, requests refunds for paid ones, tells the
    /// patients and offers same-grade alternatives, and closes its waitlist. Schedulers of the
    /// hospital; audited. A second stop is a 409.
    #[oai(path = "/sessions/:session_id/stop", method = "post", operation_id = "stop_session")]
    async fn stop_session(
        &self,
        auth: StaffAuth,
        session_id: Path<String>,
        body: JsonBody<StopSessionRequest>,
    ) -> Result<Json<StopSessionResult>, Failure<StopErrors>> {
        let stopped = self.state.stop_session(&auth.0, &SessionId::from(session_id.0), &body.0.reason).await?;
        Ok(Json(StopSessionResult {
            session_id: stopped.session.id,
            n_cancelled: stopped.cancelled.len() as i64,
            alternatives: serde_json::Value::Array(stopped.alternatives),
        }))
    }
}
