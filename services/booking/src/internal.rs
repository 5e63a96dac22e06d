//! Internal endpoints (`/v1/internal/booking/...`): questions other City Services services ask
//! about bookings on a citizen's behalf, such as the Service Account channel's "my next
//! appointment" menu. Every call carries the platform's `X-Internal-Token`; citizens, staff
//! and integrators never reach these (the gateway does not forward `/v1/internal` from outside).

use std::sync::Arc;

use city_platform::auth::InternalAuth;
use city_platform::problem::kind;
use city_platform::{Failure, Problem};
use poem_openapi::param::Path;
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
}
