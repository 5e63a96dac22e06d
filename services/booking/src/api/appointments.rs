//! Appointments: a citizen books, lists, reads and cancels; schedulers check patients in, mark
//! no-shows and handle the suspensions no-shows bring.

use std::sync::Arc;

use city_platform::auth::{CitizenAuth, StaffAuth};
use city_platform::{Failure, JsonBody, Problem};
use poem::Request;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::OpenApi;

use super::problems::{BookErrors, CancelErrors, CheckInErrors, LiftErrors, MineErrors, NoShowErrors, OwnErrors};
use super::views::*;
use super::{appointment_view, BookingTags};
use crate::domain::{AppointmentId, SlotId};
use crate::state::BookingState;
use crate::store;

/// Appointments and suspensions.
pub struct AppointmentsApi {
    pub(super) state: Arc<BookingState>,
}

#[OpenApi(prefix_path = "/v1/booking", tag = "BookingTags::Booking")]
impl AppointmentsApi {
    /// Book an appointment
    ///
    /// Books `slot_id` for `person_id` (the citizen or a family member, real name from
    /// identity). Limits count per patient ID number. When the hospital charges online the
    /// number is held pending payment for the hospital's hold time. Requires an
    /// `Idempotency-Key`: a retry with the same key returns the same appointment.
    #[oai(path = "/appointments", method = "post", operation_id = "create_appointment")]
    async fn create_appointment(
        &self,
        auth: CitizenAuth,
        req: &Request,
        #[oai(name = "Idempotency-Key", validator(min_length = 1, max_length = 255))] idempotency_key: Header<String>,
        body: JsonBody<NewAppointment>,
    ) -> Result<CreatedAppointment, Failure<BookErrors>> {
        // Required so a retry cannot book twice; the edge replays a retry under the same key (and
        // refuses a malformed one before this runs; checked again for a mount without the edge).
        // Not a `pattern` validator: poem-openapi compiles that regex on every request, and
        // `^[!-~]{1,255}$` was ~8% of a booking's CPU under load (issue #24).
        if !idempotency_key.0.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Problem::malformed(Some("Idempotency-Key"), city_platform::idempotency::KEY_RULE).into());
        }
        let b = body.0;
        let authorization = req.header("authorization").unwrap_or_default();
        let booked = self.state.book(&auth.0.citizen_id, authorization, &SlotId::from(b.slot_id), &b.person_id).await?;
        let names = (booked.doctor_name, booked.hospital_name_zh, booked.department_name_zh);
        Ok(CreatedAppointment::Created(Json(appointment_view_named(booked.appointment, Some(names), None))))
    }

    /// List my appointments
    ///
    /// The signed-in citizen's appointments for every patient they manage: upcoming, past and
    /// cancelled.
    #[oai(path = "/appointments", method = "get", operation_id = "list_appointments")]
    async fn list_appointments(&self, auth: CitizenAuth) -> Result<Json<MyAppointments>, Failure<MineErrors>> {
        let now = self.state.options.clock.now_ms();
        let rows = store::list_appointments(&self.state.db, &auth.0.citizen_id).await?;
        let mut mine = MyAppointments { upcoming: vec![], past: vec![], cancelled: vec![] };
        for a in rows {
            let bucket = match a.status.as_str() {
                "cancelled" | "expired" => 2,
                "pending_payment" | "offered" | "booked" if a.ends_at > now => 0,
                _ => 1,
            };
            let v = appointment_view(&self.state, a).await?;
            match bucket {
                0 => mine.upcoming.push(v),
                1 => mine.past.push(v),
                _ => mine.cancelled.push(v),
            }
        }
        mine.upcoming.reverse();
        Ok(Json(mine))
    }

    /// Get an appointment
    #[oai(path = "/appointments/:appointment_id", method = "get", operation_id = "get_appointment")]
    async fn get_appointment(
        &self,
        auth: CitizenAuth,
        appointment_id: Path<String>,
    ) -> Result<Json<AppointmentView>, Failure<OwnErrors>> {
        let Some(a) = store::get_appointment(&self.state.db, &AppointmentId::from(appointment_id.0))
            .await?
            .filter(|a| a.citizen_id == auth.0.citizen_id)
        else {
            return Err(Problem::not_found("appointment").into());
        };
        Ok(Json(appointment_view(&self.state, a).await?))
    }

    /// Cancel an appointment
    ///
    /// Before the hospital's cancellation deadline (unpaid holds and offers any time): the
    /// number returns at once (to the waitlist first) and a paid fee is refunded.
    #[oai(path = "/appointments/:appointment_id/cancel", method = "post", operation_id = "cancel_appointment")]
    async fn cancel_appointment(
        &self,
        auth: CitizenAuth,
        appointment_id: Path<String>,
    ) -> Result<Json<AppointmentView>, Failure<CancelErrors>> {
        let a = self.state.cancel(&auth.0.citizen_id, &AppointmentId::from(appointment_id.0)).await?;
        Ok(Json(appointment_view(&self.state, a).await?))
    }

    /// Check a patient in
    ///
    /// Schedulers of the hospital; audited.
    #[oai(path = "/appointments/:appointment_id/check-in", method = "post", operation_id = "check_in_appointment")]
    async fn check_in(
        &self,
        auth: StaffAuth,
        appointment_id: Path<String>,
    ) -> Result<Json<AppointmentView>, Failure<CheckInErrors>> {
        let a = self.state.check_in(&auth.0, &AppointmentId::from(appointment_id.0)).await?;
        Ok(Json(appointment_view(&self.state, a).await?))
    }

    /// Mark a no-show
    ///
    /// Counts toward the patient's no-show rule (suspensions escalate). Schedulers of the
    /// hospital; audited. Unattended bookings also become no-shows automatically after their window.
    #[oai(path = "/appointments/:appointment_id/no-show", method = "post", operation_id = "mark_no_show")]
    async fn mark_no_show(
        &self,
        auth: StaffAuth,
        appointment_id: Path<String>,
    ) -> Result<Json<AppointmentView>, Failure<NoShowErrors>> {
        let a = self.state.mark_no_show(&auth.0, &AppointmentId::from(appointment_id.0)).await?;
        Ok(Json(appointment_view(&self.state, a).await?))
    }

    /// List suspensions in force
    ///
    /// Patients whose online booking is suspended after no-shows at the scheduler's own
    /// hospitals (admins: every hospital).
    #[oai(path = "/suspensions", method = "get", operation_id = "list_suspensions")]
    async fn list_suspensions(&self, auth: StaffAuth) -> Result<Json<Vec<SuspensionView>>, Failure<MineErrors>> {
        let rows = self.state.suspensions(&auth.0).await?;
        Ok(Json(rows.into_iter().map(suspension_view).collect()))
    }

    /// Lift a suspension
    ///
    /// An upheld appeal. Schedulers of the hospital whose no-show imposed it (another
    /// hospital's suspension is not found); audited with the reason.
    #[oai(path = "/suspensions/:suspension_id/lift", method = "post", operation_id = "lift_suspension")]
    async fn lift_suspension(
        &self,
        auth: StaffAuth,
        suspension_id: Path<String>,
        body: JsonBody<LiftSuspensionRequest>,
    ) -> Result<Json<SuspensionView>, Failure<LiftErrors>> {
        let s = self.state.lift_suspension(&auth.0, &suspension_id.0, &body.0.reason).await?;
        Ok(Json(suspension_view(s)))
    }
}
