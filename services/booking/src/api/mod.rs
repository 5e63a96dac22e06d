//! HTTP surface of the booking service (`/v1/booking`), by resource: the catalogue (hospitals,
//! departments, doctors, their sessions and slots), sessions (schedulers), appointments and
//! suspensions, and waitlists. Handlers read the request, call one use case
//! (`crate::usecases`) and shape the answer; errors become problems in [`problems`].

mod appointments;
mod catalogue;
mod params;
mod problems;
mod sessions;
mod share;
mod views;
mod waitlist;

use std::sync::Arc;
use std::time::Duration;

use city_platform::Problem;
use poem_openapi::Tags;

use crate::state::BookingState;
use crate::store::{self, AppointmentRow};
use views::{appointment_view_named, AppointmentView};

#[derive(Tags)]
pub(crate) enum BookingTags {
    /// Doctor appointments: hospitals, doctors, slots, bookings, waitlists.
    Booking,
}

/// The booking service's operations for citizens and staff (`/v1/booking`).
pub(crate) type PublicApi = (
    catalogue::CatalogueApi,
    sessions::SessionsApi,
    appointments::AppointmentsApi,
    waitlist::WaitlistApi,
    share::ShareApi,
);

/// The public operations over shared state.
pub(crate) fn public(state: Arc<BookingState>) -> PublicApi {
    (
        catalogue::CatalogueApi { state: state.clone() },
        sessions::SessionsApi { state: state.clone() },
        appointments::AppointmentsApi { state: state.clone() },
        waitlist::WaitlistApi { state: state.clone() },
        share::ShareApi { state, cards: Default::default() },
    )
}

pub(crate) use crate::state::slot_generation_key;

/// How long a rendered slot list is kept; a change bumps the generation long before.
const SLOT_CACHE_TTL: Duration = Duration::from_secs(60);

/// An appointment's view with its doctor's, hospital's and department's names, and the
/// rebooking alternatives after a stop.
async fn appointment_view(state: &BookingState, a: AppointmentRow) -> Result<AppointmentView, Problem> {
    let names =
        store::get_doctor(&state.db, &a.doctor_id).await?.map(|d| (d.name, d.hospital_name_zh, d.department_name_zh));
    let rebooking = if a.cancel_reason.as_deref() == Some("stop_diagnosis") {
        store::rebooking_offer(&state.db, &a.id).await?
    } else {
        None
    };
    Ok(appointment_view_named(a, names, rebooking))
}
