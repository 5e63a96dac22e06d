//! What the store can answer besides rows: a refusal the data decided inside a transaction (the
//! slot was taken first, the patient is suspended, the offer lapsed), or the database's failure.
//! Use cases turn these into `BookingError`s; the API turns those into problems.

use std::fmt;

use crate::domain::LimitExceeded;

/// A refusal decided by the data, or a database failure.
#[derive(Debug)]
pub enum StoreError {
    /// The slot is not free: `first` when someone took it first, else it already has a live
    /// appointment (the unique index refused a second).
    SlotTaken {
        /// Whether the conditional take found it taken (rather than the unique index).
        first: bool,
    },
    /// The session was stopped (停诊); `waitlist` when joining its queue.
    SessionStopped {
        /// Whether the refusal is of a waitlist join.
        waitlist: bool,
    },
    /// The patient's online booking is suspended until this instant (UTC ms).
    Suspended {
        /// The suspension's end.
        until: i64,
    },
    /// The patient would exceed a booking limit.
    Limit(LimitExceeded),
    /// The appointment is no longer cancellable (it is in `status`).
    NotCancellable {
        /// Its status.
        status: String,
    },
    /// The session still has free numbers: book one instead of queueing.
    SessionNotFull,
    /// The patient already has a place in this queue.
    AlreadyWaitlisted,
    /// The waitlist entry is no longer waiting (it is in `status`).
    NotWaiting {
        /// Its status.
        status: String,
    },
    /// The waitlist offer lapsed before it was accepted.
    OfferLapsed,
    /// Only a booked appointment can be checked in (it is in `status`).
    NotCheckable {
        /// Its status.
        status: String,
    },
    /// Only a booked appointment can become a no-show (it is in `status`).
    NotMarkable {
        /// Its status.
        status: String,
    },
    /// No suspension with that id is in force.
    NoActiveSuspension,
    /// The database failed.
    Db(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        Self::Db(err)
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SlotTaken { .. } => f.write_str("the slot is taken"),
            Self::SessionStopped { .. } => f.write_str("the session is stopped"),
            Self::Suspended { until } => write!(f, "the patient is suspended until {until}"),
            Self::Limit(e) => write!(f, "{e}"),
            Self::NotCancellable { status } => write!(f, "the appointment is {status}"),
            Self::SessionNotFull => f.write_str("the session has free numbers"),
            Self::AlreadyWaitlisted => f.write_str("the patient is already in this queue"),
            Self::NotWaiting { status } => write!(f, "the waitlist entry is {status}"),
            Self::OfferLapsed => f.write_str("the offer lapsed"),
            Self::NotCheckable { status } | Self::NotMarkable { status } => write!(f, "the appointment is {status}"),
            Self::NoActiveSuspension => f.write_str("no such active suspension"),
            Self::Db(e) => write!(f, "database: {e}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Db(e) => Some(e),
            _ => None,
        }
    }
}
