//! The booking use cases: each holds one rule's steps, takes "now" from the service's [`Clock`]
//! (`crate::Clock`), calls the store and says what changed (the slot cache is told here). Each
//! opens a span carrying the ids it acts on (`appointment_id`, `slot_id`, `session_id`), so one
//! grep of an id in the logs tells its story. Errors are [`BookingError`]; `crate::api` maps them
//! to problems from `crate::errors`.

mod appointments;
mod book;
mod catalogue;
mod due_work;
mod error;
mod sessions;
mod waitlist;

pub use book::Booked;
pub use catalogue::HospitalRulesChange;
pub use due_work::DueWork;
pub use error::{BookingError, Unknown};
pub(crate) use sessions::parse_date;
pub use sessions::{SessionRequest, Stopped};

use city_platform::auth::{Role, Staff};

use crate::people::Person;
use crate::state::BookingState;

/// A scheduler whose scope includes `hospital_id`.
pub(crate) fn scheduler_at(staff: &Staff, hospital_id: &str) -> Result<(), BookingError> {
    scheduler(staff)?;
    if staff.may_act_at_hospital(hospital_id) {
        Ok(())
    } else {
        Err(BookingError::Forbidden("your scope does not include this hospital".into()))
    }
}

/// A scheduler, anywhere.
pub fn scheduler(staff: &Staff) -> Result<(), BookingError> {
    staff.require(&[Role::Scheduler]).map_err(|p| BookingError::Forbidden(p.detail.unwrap_or_default()))
}

impl BookingState {
    /// The citizen's own patient `person_id`, through identity (the citizen's `authorization`
    /// header is forwarded).
    async fn patient(&self, citizen_id: &str, authorization: &str, person_id: &str) -> Result<Person, BookingError> {
        self.options
            .people
            .person(citizen_id, authorization, person_id)
            .await
            .map_err(BookingError::People)?
            .ok_or(BookingError::UnknownPerson)
    }
}
