//! Where booking's errors become problems: one match from [`BookingError`] to a kind of
//! `crate::errors` (or the platform's), and the error set each operation documents.

use city_platform::problem::{kind, ErrorKind, ErrorSet, IntoProblem};
use city_platform::time::{from_ms, rfc3339};
use city_platform::Problem;
use poem::http::StatusCode;

use crate::errors::*;
use crate::store::StoreError;
use crate::usecases::{BookingError, Unknown};

/// A refusal about one field: the same text as detail and as the field's message.
fn about_field(kind: &ErrorKind, field: &str, detail: impl Into<String>) -> Problem {
    let detail = detail.into();
    Problem::of(kind).with_detail(detail.clone()).with_field(field, detail)
}

fn status_detail(kind: &ErrorKind, status: &str) -> Problem {
    Problem::of(kind).with_detail(format!("it is {status}"))
}

fn unknown(what: Unknown, in_body: bool) -> Problem {
    let (kind, name, field) = match what {
        Unknown::Hospital => (&UNKNOWN_HOSPITAL, "hospital", "hospital_id"),
        Unknown::Department => (&UNKNOWN_DEPARTMENT, "department", "department_id"),
        Unknown::Doctor => (&UNKNOWN_DOCTOR, "doctor", "doctor_id"),
        Unknown::Session => (&UNKNOWN_SESSION, "session", "session_id"),
        Unknown::Slot => (&UNKNOWN_SLOT, "slot", "slot_id"),
    };
    let mut p = about_field(kind, field, format!("no such {name}"));
    if in_body {
        // The same kind, but an id in a body is a field of a well-formed request: 422.
        p.status = StatusCode::UNPROCESSABLE_ENTITY.as_u16();
    }
    p
}

fn store_problem(err: StoreError) -> Problem {
    match err {
        StoreError::SlotTaken { first: true } => {
            about_field(&SLOT_TAKEN, "slot_id", "someone booked this number first; choose another")
        }
        StoreError::SlotTaken { first: false } => about_field(&SLOT_TAKEN, "slot_id", "this number is already booked"),
        StoreError::SessionStopped { waitlist } => {
            let p = about_field(
                &SESSION_STOPPED,
                "slot_id",
                "this session was stopped (停诊); choose another doctor or day",
            );
            if waitlist {
                p.with_field("session_id", "stopped")
            } else {
                p
            }
        }
        StoreError::Suspended { until } => about_field(
            &PATIENT_SUSPENDED,
            "person_id",
            format!(
                "after missed appointments, online booking is suspended until {}; emergency care is not affected",
                rfc3339(from_ms(until))
            ),
        ),
        StoreError::Limit(e) => about_field(&BOOKING_LIMIT_EXCEEDED, "person_id", e.to_string()),
        StoreError::NotCancellable { status } => status_detail(&NOT_CANCELLABLE, &status),
        StoreError::SessionNotFull => {
            about_field(&SESSION_NOT_FULL, "session_id", "book one of the free numbers instead")
        }
        StoreError::AlreadyWaitlisted => {
            about_field(&ALREADY_WAITLISTED, "person_id", "one place per patient and session")
        }
        StoreError::NotWaiting { status } => status_detail(&NOT_WAITING, &status),
        StoreError::OfferLapsed => Problem::of(&OFFER_LAPSED).with_detail("the number passed to the next in line"),
        StoreError::NotCheckable { status } => status_detail(&NOT_CHECKABLE, &status),
        StoreError::NotMarkable { status } => status_detail(&NOT_MARKABLE, &status),
        StoreError::NoActiveSuspension => Problem::not_found("active suspension"),
        // The cause goes to the log (503 when the database is not answering, else 500).
        StoreError::Db(e) => Problem::from(e),
    }
}

impl IntoProblem for BookingError {
    fn into_problem(self) -> Problem {
        match self {
            BookingError::Store(e) => store_problem(e),
            BookingError::NotFound(what) => Problem::not_found(what),
            BookingError::Unknown { what, in_body } => unknown(what, in_body),
            BookingError::Forbidden(detail) => Problem::forbidden(detail),
            BookingError::Invalid { field, message } => Problem::invalid(field, message),
            BookingError::Malformed { field, message } => Problem::malformed(Some(field), message),
            BookingError::PastDate { field } => about_field(&PAST_DATE, field, "choose today or a later day"),
            BookingError::NotYetReleased { day, opens } => about_field(
                &NOT_YET_RELEASED,
                "slot_id",
                format!("numbers for {day} open at {}", rfc3339(from_ms(opens))),
            ),
            BookingError::BookingClosed(closes) => about_field(
                &BOOKING_CLOSED,
                "slot_id",
                format!("online booking closed at {}", rfc3339(from_ms(closes))),
            ),
            BookingError::WaitlistClosed => {
                Problem::of(&WAITLIST_CLOSED).with_field("session_id", "queues close at 23:00 the day before the visit")
            }
            BookingError::UnknownPerson => {
                Problem::of(&UNKNOWN_PERSON).with_field("person_id", "add the family member under /v1/me/people first")
            }
            BookingError::SessionExists => Problem::of(&SESSION_EXISTS).with_field("period", "already published"),
            BookingError::SessionAlreadyStopped => Problem::of(&SESSION_ALREADY_STOPPED),
            BookingError::CancelDeadlinePassed(deadline) => Problem::of(&CANCEL_DEADLINE_PASSED).with_detail(format!(
                "cancelling closed at {}; a booking not attended is a no-show",
                rfc3339(from_ms(deadline))
            )),
            BookingError::NoOffer { status } => status_detail(&NO_OFFER, &status),
            BookingError::People(p) => p,
            BookingError::Limit { exceeded, own } => {
                let visits: Vec<String> = own
                    .iter()
                    .map(|v| format!("{} {} {}", v.visit_date, v.hospital_name_zh, v.department_name_zh))
                    .collect();
                let detail = if visits.is_empty() {
                    exceeded.to_string()
                } else {
                    format!("{exceeded}; booked from this account: {}", visits.join("; "))
                };
                about_field(&BOOKING_LIMIT_EXCEEDED, "person_id", detail)
            }
            BookingError::PatientNotBookable => about_field(
                &PATIENT_NOT_BOOKABLE,
                "person_id",
                "this patient cannot be booked online from this account now; ask at the hospital",
            ),
        }
    }
}

impl ErrorSet for BookingError {
    fn kinds() -> Vec<&'static ErrorKind> {
        let mut all: Vec<&'static ErrorKind> = vec![&kind::NOT_FOUND, &kind::FORBIDDEN, &kind::VALIDATION];
        all.extend(KINDS.iter().copied());
        all
    }
}

// What each operation can answer besides the edge's own kinds (`kind::EDGE`). A citizen's or a
// staff member's route can answer 403 from its extractor; a JSON body with field rules, 422.
city_platform::error_set!(
    /// Searching the catalogue: a bad point or datum.
    pub SearchErrors = [kind::VALIDATION]
);
city_platform::error_set!(
    /// Reading a hospital.
    pub HospitalErrors = [kind::VALIDATION, UNKNOWN_HOSPITAL]
);
city_platform::error_set!(
    /// Changing a hospital's rules.
    pub HospitalRulesErrors = [kind::FORBIDDEN, kind::VALIDATION, UNKNOWN_HOSPITAL]
);
city_platform::error_set!(
    /// Changing a department's rules.
    pub DepartmentRulesErrors = [kind::FORBIDDEN, kind::VALIDATION, UNKNOWN_DEPARTMENT]
);
city_platform::error_set!(
    /// Reading a doctor or their sessions.
    pub DoctorErrors = [UNKNOWN_DOCTOR]
);
city_platform::error_set!(
    /// Reading a doctor's slots on a day.
    pub SlotListErrors = [UNKNOWN_DOCTOR, PAST_DATE]
);
city_platform::error_set!(
    /// Publishing a session.
    pub PublishErrors = [kind::FORBIDDEN, kind::VALIDATION, UNKNOWN_DOCTOR, PAST_DATE, SESSION_EXISTS]
);
city_platform::error_set!(
    /// Reading a session's appointments.
    pub SessionReadErrors = [kind::FORBIDDEN, UNKNOWN_SESSION]
);
city_platform::error_set!(
    /// Stopping a session.
    pub StopErrors = [kind::FORBIDDEN, kind::VALIDATION, UNKNOWN_SESSION, SESSION_ALREADY_STOPPED]
);
city_platform::error_set!(
    /// Booking.
    pub BookErrors = [
        kind::FORBIDDEN,
        kind::VALIDATION,
        kind::IDEMPOTENCY_IN_PROGRESS,
        kind::IDEMPOTENCY_KEY_REUSED,
        UNKNOWN_SLOT,
        UNKNOWN_PERSON,
        PAST_DATE,
        NOT_YET_RELEASED,
        BOOKING_CLOSED,
        SESSION_STOPPED,
        SLOT_TAKEN,
        PATIENT_SUSPENDED,
        BOOKING_LIMIT_EXCEEDED,
        PATIENT_NOT_BOOKABLE
    ]
);
city_platform::error_set!(
    /// Listing the caller's own things.
    pub MineErrors = [kind::FORBIDDEN]
);
city_platform::error_set!(
    /// Reading one of the caller's own things.
    pub OwnErrors = [kind::FORBIDDEN, kind::NOT_FOUND]
);
city_platform::error_set!(
    /// Cancelling.
    pub CancelErrors = [kind::FORBIDDEN, kind::NOT_FOUND, CANCEL_DEADLINE_PASSED, NOT_CANCELLABLE]
);
city_platform::error_set!(
    /// Checking a patient in.
    pub CheckInErrors = [kind::FORBIDDEN, kind::NOT_FOUND, NOT_CHECKABLE]
);
city_platform::error_set!(
    /// Marking a no-show.
    pub NoShowErrors = [kind::FORBIDDEN, kind::NOT_FOUND, NOT_MARKABLE]
);
city_platform::error_set!(
    /// Joining a waitlist.
    pub JoinErrors = [
        kind::FORBIDDEN,
        kind::VALIDATION,
        UNKNOWN_SESSION,
        WAITLIST_CLOSED,
        UNKNOWN_PERSON,
        PATIENT_SUSPENDED,
        BOOKING_LIMIT_EXCEEDED,
        PATIENT_NOT_BOOKABLE,
        SESSION_STOPPED,
        SESSION_NOT_FULL,
        ALREADY_WAITLISTED
    ]
);
city_platform::error_set!(
    /// Accepting an offer.
    pub AcceptErrors = [kind::FORBIDDEN, kind::NOT_FOUND, NO_OFFER, OFFER_LAPSED]
);
city_platform::error_set!(
    /// Leaving a waitlist.
    pub LeaveErrors = [kind::FORBIDDEN, kind::NOT_FOUND, NOT_WAITING]
);
city_platform::error_set!(
    /// Lifting a suspension.
    pub LiftErrors = [kind::FORBIDDEN, kind::NOT_FOUND, kind::VALIDATION]
);
