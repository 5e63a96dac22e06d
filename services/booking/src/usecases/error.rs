//! What a booking use case can fail with. Each variant is one reason a client can act on (or the
//! store's or identity's failure); `crate::api::problems` maps each to one kind of
//! `crate::errors`.

use std::fmt;

use chrono::NaiveDate;
use city_platform::Problem;

use crate::domain::LimitExceeded;
use crate::store::{CountedVisit, StoreError};

/// The catalogue or schedule entry an id in the request names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    /// `hospital_id`.
    Hospital,
    /// `department_id`.
    Department,
    /// `doctor_id`.
    Doctor,
    /// `session_id`.
    Session,
    /// `slot_id`.
    Slot,
}

/// Why a booking use case failed.
#[derive(Debug)]
pub enum BookingError {
    /// A refusal the store decided inside its transaction, or the database's failure.
    Store(StoreError),
    /// No such thing for this caller (an appointment, a waitlist entry): `not-found`.
    NotFound(&'static str),
    /// An id in the path (`in_body` false) or in the body names nothing.
    Unknown {
        /// What it should have named.
        what: Unknown,
        /// Whether the id came in the body (422) rather than the path (404).
        in_body: bool,
    },
    /// The caller's role or scope does not allow this.
    Forbidden(String),
    /// A field breaks a rule.
    Invalid {
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A required header or parameter is missing or unreadable.
    Malformed {
        /// The header or parameter.
        field: &'static str,
        /// What is wrong.
        message: &'static str,
    },
    /// The date (or the slot's session) has passed.
    PastDate {
        /// The field naming it.
        field: &'static str,
    },
    /// The numbers of `day` open at `opens` (UTC ms).
    NotYetReleased {
        /// The visit day.
        day: NaiveDate,
        /// When they open.
        opens: i64,
    },
    /// Online booking closed at this instant (UTC ms).
    BookingClosed(i64),
    /// Queues close at 23:00 the day before the visit.
    WaitlistClosed,
    /// The person is not one of the citizen's patients.
    UnknownPerson,
    /// The doctor already has this half-day.
    SessionExists,
    /// The session was stopped before.
    SessionAlreadyStopped,
    /// Cancelling closed at this instant (UTC ms).
    CancelDeadlinePassed(i64),
    /// The waitlist entry has no open offer (it is in `status`).
    NoOffer {
        /// Its status.
        status: String,
    },
    /// Identity could not answer (already a problem: 503).
    People(Problem),
    /// A booking limit, with the counted visits this account made itself (all of them: when
    /// another account made any, the answer is [`BookingError::PatientNotBookable`]).
    Limit {
        /// Which limit.
        exceeded: LimitExceeded,
        /// The visits counted, all the caller's own.
        own: Vec<CountedVisit>,
    },
    /// A plain refusal: the patient's limits or suspension come from another account's
    /// appointments, whose details this account may not see (issue #15).
    PatientNotBookable,
}

impl From<StoreError> for BookingError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

impl From<sqlx::Error> for BookingError {
    fn from(err: sqlx::Error) -> Self {
        Self::Store(StoreError::Db(err))
    }
}

impl fmt::Display for BookingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Store(e) => write!(f, "{e}"),
            Self::NotFound(what) => write!(f, "no such {what}"),
            Self::Unknown { what, .. } => write!(f, "no such {what:?}"),
            Self::Forbidden(m) => write!(f, "forbidden: {m}"),
            Self::Invalid { field, message } => write!(f, "{field}: {message}"),
            Self::Malformed { field, message } => write!(f, "{field}: {message}"),
            Self::PastDate { field } => write!(f, "{field} has passed"),
            Self::NotYetReleased { day, .. } => write!(f, "numbers for {day} are not released yet"),
            Self::BookingClosed(_) => f.write_str("booking has closed"),
            Self::WaitlistClosed => f.write_str("the waitlist is closed"),
            Self::UnknownPerson => f.write_str("no such patient on the account"),
            Self::SessionExists => f.write_str("the session exists"),
            Self::SessionAlreadyStopped => f.write_str("the session is already stopped"),
            Self::CancelDeadlinePassed(_) => f.write_str("the cancellation deadline has passed"),
            Self::NoOffer { status } => write!(f, "no open offer (the entry is {status})"),
            Self::People(p) => write!(f, "identity: {p}"),
            Self::Limit { exceeded, .. } => write!(f, "{exceeded}"),
            Self::PatientNotBookable => f.write_str("the patient cannot be booked online from this account"),
        }
    }
}

impl std::error::Error for BookingError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Store(e) => Some(e),
            _ => None,
        }
    }
}
