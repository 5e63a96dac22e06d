//! Internal endpoints (`/v1/internal/booking/...`): questions other City Services services ask
//! about bookings on a citizen's behalf, such as the Service Account channel's "my next
//! appointment" menu. Every call carries the platform's `X-Internal-Token`; citizens, staff
//! and integrators never reach these (the gateway does not forward `/v1/internal` from outside).

use std::sync::Arc;

use city_platform::auth::InternalAuth;
use city_platform::problem::kind;
use city_platform::{Failure, Problem};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use crate::api::BookingTags;
use crate::domain::visit_window_text;
use crate::state::BookingState;
use crate::store;

city_platform::error_set!(
    /// Asking for a citizen's next appointment.
    pub NextErrors = [kind::NOT_FOUND]
);

city_platform::error_set!(
    /// Asking for a district's patients: the code is not one of the city's, or `days` is out
    /// of range.
    pub DistrictErrors = [kind::VALIDATION]
);

/// The citizens with a live appointment at a district's hospitals.
#[derive(Debug, Object)]
#[oai(rename = "BookingDistrictCitizens")]
pub struct DistrictCitizens {
    /// The district code asked about.
    pub district: String,
    /// The first Beijing date counted (`YYYY-MM-DD`, today).
    pub from: String,
    /// The last Beijing date counted.
    pub to: String,
    /// Their citizen ids, each once.
    pub citizen_ids: Vec<String>,
}

/// The internal operations.
pub struct InternalApi {
    state: Arc<BookingState>,
}

impl InternalApi {
    /// The API over shared state.
    pub fn new(state: Arc<BookingState>) -> Self {
        Self { state }
    }
}

/// A citizen's next visit, worded for a chat message.
#[derive(Debug, Object)]
#[oai(rename = "BookingNextAppointment")]
pub struct NextAppointment {
    /// The appointment's id.
    pub appointment_id: String,
    /// `<hospital> <department> <doctor>`, e.g. `四川大学华西医院 心内科 王医生`.
    pub place: String,
    /// `YYYY-MM-DD HH:MM–HH:MM (Beijing time)`: the number's suggested arrival window.
    pub when: String,
    /// The patient's masked name (`张*`).
    pub patient: String,
}

#[OpenApi(prefix_path = "/v1/internal/booking", tag = "BookingTags::Booking")]
impl InternalApi {
    /// Internal: a citizen's next appointment
    ///
    /// The earliest appointment of any of the citizen's patients that is booked or awaiting
    /// payment and whose window has not ended. 404 when there is none. Service-to-service only
    /// (`X-Internal-Token`).
    #[oai(
        path = "/citizens/:citizen_id/next-appointment",
        method = "get",
        operation_id = "get_internal_next_appointment"
    )]
    async fn next_appointment(
        &self,
        _auth: InternalAuth,
        citizen_id: Path<String>,
    ) -> Result<Json<NextAppointment>, Failure<NextErrors>> {
        let now = self.state.options.clock.now_ms();
        let Some((appt, doctor)) = store::next_appointment(&self.state.db, &citizen_id.0, now).await? else {
            return Err(Problem::not_found("upcoming appointment for this citizen").into());
        };
        let place = match doctor {
            Some(d) => format!("{} {} {}", d.hospital_name_zh, d.department_name_zh, d.name),
            None => appt.hospital_id.clone(),
        };
        Ok(Json(NextAppointment {
            appointment_id: appt.id,
            place,
            when: visit_window_text(appt.starts_at, appt.ends_at),
            patient: appt.patient_name_masked,
        }))
    }

    /// Internal: citizens with an appointment in a district
    ///
    /// Each citizen with an appointment (for themselves or family) at a hospital in the district,
    /// on a Beijing date from today to `days` days ahead (3 unless given; 0 to 14), that is not
    /// cancelled, expired or missed; each once. Used by the channel to send urgent notices to
    /// those concerned. Service-to-service only (`X-Internal-Token`).
    #[oai(path = "/districts/:code/citizens", method = "get", operation_id = "get_internal_booking_district_citizens")]
    async fn district_citizens(
        &self,
        _auth: InternalAuth,
        code: Path<String>,
        /// Beijing days ahead of today to include (0: today only).
        days: Query<Option<i64>>,
    ) -> Result<Json<DistrictCitizens>, Failure<DistrictErrors>> {
        if self.state.platform.districts.get(&code.0).is_none() {
            return Err(Problem::invalid("code", "not a district code of this city").into());
        }
        let days = days.0.unwrap_or(3);
        if !(0..=14).contains(&days) {
            return Err(Problem::invalid("days", "0 to 14").into());
        }
        let today = self.state.options.clock.today();
        let last = today + chrono::Days::new(days.unsigned_abs());
        let (from, to) = (today.to_string(), last.to_string());
        let citizen_ids = store::internal::district_citizens(&self.state.db, &code.0, &from, &to).await?;
        Ok(Json(DistrictCitizens { district: code.0, from, to, citizen_ids }))
    }
}
