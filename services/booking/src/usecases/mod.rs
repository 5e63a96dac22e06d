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

use crate::domain::LimitScope;
use crate::people::Person;
use crate::state::BookingState;
use crate::store::{self, StoreError};

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

    /// What a refused booking may tell this account (issue #15): a limit names the visits it
    /// counted and a suspension its end only when they come from this account's own
    /// appointments; when another account holds any of them, a plain refusal, so borrowing
    /// someone's ID number reveals nothing about their visits.
    async fn disclosed(&self, err: StoreError, citizen_id: &str, person: &Person, scope: &LimitScope) -> BookingError {
        let hash = &person.id_number_hash;
        match err {
            StoreError::Limit(exceeded) => match store::counted_visits(&self.db, hash, scope).await {
                Ok(visits) if visits.iter().all(|v| v.citizen_id == citizen_id) => {
                    BookingError::Limit { exceeded, own: visits }
                }
                Ok(_) => BookingError::PatientNotBookable,
                Err(e) => e.into(),
            },
            StoreError::Suspended { until } => match store::no_shows_by_others(&self.db, hash, citizen_id).await {
                Ok(false) => StoreError::Suspended { until }.into(),
                Ok(true) => BookingError::PatientNotBookable,
                Err(e) => e.into(),
            },
            other => other.into(),
        }
    }
}
