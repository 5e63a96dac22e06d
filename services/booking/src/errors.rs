//! The booking service's table of error kinds: one line per kind a booking operation can answer
//! besides the platform's common ones (`city_platform::problem::kind`). Codes and English titles
//! are what clients switch on and show; they never change. Use cases raise
//! `usecases::BookingError`; `api/problems.rs` maps each variant to one kind here.

use city_platform::problem::ErrorKind;

/// A hospital id names no hospital.
pub const UNKNOWN_HOSPITAL: ErrorKind =
    ErrorKind::new(404, "unknown-hospital", "No such hospital", "医院不存在", "The hospital id names no hospital.");
/// A department id names no department.
pub const UNKNOWN_DEPARTMENT: ErrorKind = ErrorKind::new(
    404,
    "unknown-department",
    "No such department",
    "科室不存在",
    "The department id names no department.",
);
/// A doctor id names no doctor (422 when the id came in a request body).
pub const UNKNOWN_DOCTOR: ErrorKind = ErrorKind::new(
    404,
    "unknown-doctor",
    "No such doctor",
    "医生不存在",
    "The doctor id names no doctor; answered with 422 when the id came in the request body.",
);
/// A session id names no session (422 when the id came in a request body).
pub const UNKNOWN_SESSION: ErrorKind = ErrorKind::new(
    404,
    "unknown-session",
    "No such session",
    "出诊场次不存在",
    "The session id names no session; answered with 422 when the id came in the request body.",
);
/// The slot to book does not exist.
pub const UNKNOWN_SLOT: ErrorKind =
    ErrorKind::new(422, "unknown-slot", "No such slot", "号源不存在", "The `slot_id` in the body names no slot.");
/// The patient is not one of the citizen's.
pub const UNKNOWN_PERSON: ErrorKind = ErrorKind::new(
    422,
    "unknown-person",
    "No such patient on your account",
    "该就诊人不在您的账户下",
    "The `person_id` is not one of the signed-in citizen's patients (add them under /v1/me/people first).",
);
/// The day (or the session) has passed.
pub const PAST_DATE: ErrorKind = ErrorKind::new(
    422,
    "past-date",
    "The date has passed",
    "日期已过",
    "The date asked about, or the session of the slot, is in the past.",
);
/// The numbers are not released yet.
pub const NOT_YET_RELEASED: ErrorKind = ErrorKind::new(
    422,
    "not-yet-released",
    "These numbers are not released yet",
    "号源尚未开放",
    "Numbers open a configured number of days ahead at a set time (Beijing); `detail` says when.",
);
/// Online booking for the session has closed.
pub const BOOKING_CLOSED: ErrorKind = ErrorKind::new(
    422,
    "booking-closed",
    "Booking for this session has closed",
    "该场次已停止预约",
    "Online booking closes a configured number of minutes before the session starts.",
);
/// The session was stopped (停诊).
pub const SESSION_STOPPED: ErrorKind = ErrorKind::new(
    409,
    "session-stopped",
    "The doctor has stopped this session",
    "医生已停诊",
    "The doctor stopped the session (停诊); choose another doctor or day.",
);
/// Someone took the slot first.
pub const SLOT_TAKEN: ErrorKind = ErrorKind::new(
    409,
    "slot-taken",
    "The slot is already taken",
    "该号已被预约",
    "Someone booked this number first; choose another.",
);
/// The patient's online booking is suspended after no-shows.
pub const PATIENT_SUSPENDED: ErrorKind = ErrorKind::new(
    409,
    "patient-suspended",
    "Online booking is suspended for this patient",
    "该就诊人网上预约已暂停",
    "After missed appointments the patient's online booking is suspended until `detail`'s date; emergencies are not affected.",
);
/// A per-patient booking limit would be exceeded.
pub const BOOKING_LIMIT_EXCEEDED: ErrorKind = ErrorKind::new(
    409,
    "booking-limit-exceeded",
    "The patient has reached a booking limit",
    "该就诊人已达预约上限",
    "Per ID number: one per day, hospital and department; two per day; three within seven days.",
);
/// The patient's limits or suspension come from another account's appointments (issue #15).
pub const PATIENT_NOT_BOOKABLE: ErrorKind = ErrorKind::new(
    409,
    "patient-not-bookable",
    "This patient cannot be booked online from this account",
    "该就诊人暂无法通过本账户预约",
    "The patient's other appointments or a suspension stand in the way; their details are shown only to the account that made them. Ask at the hospital.",
);
/// The cancellation deadline has passed.
pub const CANCEL_DEADLINE_PASSED: ErrorKind = ErrorKind::new(
    409,
    "cancel-deadline-passed",
    "The cancellation deadline has passed",
    "已过取消截止时间",
    "Bookings can be cancelled until the hospital's deadline (by default 15:00 the day before); after it a missed visit is a no-show.",
);
/// The appointment is no longer live.
pub const NOT_CANCELLABLE: ErrorKind = ErrorKind::new(
    409,
    "not-cancellable",
    "The appointment cannot be cancelled",
    "该预约无法取消",
    "The appointment is already cancelled, expired, attended or missed.",
);
/// The session still has free numbers.
pub const SESSION_NOT_FULL: ErrorKind = ErrorKind::new(
    409,
    "session-not-full",
    "The session still has free numbers",
    "该场次仍有余号",
    "Only a full session has a waitlist; book one of the free numbers instead.",
);
/// The patient already queues for the session.
pub const ALREADY_WAITLISTED: ErrorKind = ErrorKind::new(
    409,
    "already-waitlisted",
    "The patient is already in this queue",
    "该就诊人已在候补队列中",
    "One waitlist place per patient and session.",
);
/// The waitlist entry is no longer waiting.
pub const NOT_WAITING: ErrorKind = ErrorKind::new(
    409,
    "not-waiting",
    "This entry is no longer waiting",
    "该候补已不在排队中",
    "The waitlist entry was already accepted, cleared, cancelled, skipped or expired.",
);
/// No open offer on the waitlist entry.
pub const NO_OFFER: ErrorKind = ErrorKind::new(
    409,
    "no-offer",
    "There is no open offer on this entry",
    "该候补暂无可确认的号源",
    "Only an entry with an open offer (status `offered`) can be accepted.",
);
/// The offer lapsed before it was accepted.
pub const OFFER_LAPSED: ErrorKind = ErrorKind::new(
    409,
    "offer-lapsed",
    "The offer has lapsed",
    "候补号源已过期",
    "The offer was not accepted in time; the number passed to the next in line.",
);
/// Only a booked appointment can be checked in.
pub const NOT_CHECKABLE: ErrorKind = ErrorKind::new(
    409,
    "not-checkable",
    "Only a booked appointment can be checked in",
    "仅已预约的号可签到",
    "The appointment is not in status `booked` (pending payment, cancelled, already checked in, ...).",
);
/// Only a booked appointment can become a no-show.
pub const NOT_MARKABLE: ErrorKind = ErrorKind::new(
    409,
    "not-markable",
    "Only a booked appointment can become a no-show",
    "仅已预约的号可记为爽约",
    "The appointment is not in status `booked`.",
);
/// The doctor already has this half-day.
pub const SESSION_EXISTS: ErrorKind = ErrorKind::new(
    409,
    "session-exists",
    "The doctor already has this half-day",
    "该医生此半天已排班",
    "A session for this doctor, date and period is already published.",
);
/// The session was stopped before.
pub const SESSION_ALREADY_STOPPED: ErrorKind = ErrorKind::new(
    409,
    "session-already-stopped",
    "The session is already stopped",
    "该场次已停诊",
    "A session is stopped once; its bookings were cancelled then.",
);
/// The session's queue is closed.
pub const WAITLIST_CLOSED: ErrorKind = ErrorKind::new(
    422,
    "waitlist-closed",
    "The waitlist for this session is closed",
    "该场次候补已截止",
    "Queues close at 23:00 (Beijing) the day before the visit.",
);

/// Every kind of this table.
pub const KINDS: &[&ErrorKind] = &[
    &UNKNOWN_HOSPITAL,
    &UNKNOWN_DEPARTMENT,
    &UNKNOWN_DOCTOR,
    &UNKNOWN_SESSION,
    &UNKNOWN_SLOT,
    &UNKNOWN_PERSON,
    &PAST_DATE,
    &NOT_YET_RELEASED,
    &BOOKING_CLOSED,
    &SESSION_STOPPED,
    &SLOT_TAKEN,
    &PATIENT_SUSPENDED,
    &BOOKING_LIMIT_EXCEEDED,
    &PATIENT_NOT_BOOKABLE,
    &CANCEL_DEADLINE_PASSED,
    &NOT_CANCELLABLE,
    &SESSION_NOT_FULL,
    &ALREADY_WAITLISTED,
    &NOT_WAITING,
    &NO_OFFER,
    &OFFER_LAPSED,
    &NOT_CHECKABLE,
    &NOT_MARKABLE,
    &SESSION_EXISTS,
    &SESSION_ALREADY_STOPPED,
    &WAITLIST_CLOSED,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_booking_code_is_defined_once_and_none_redefines_a_platform_kind() {
        let clashes = city_platform::problem::kind::defined_twice(&[
            ("platform", city_platform::problem::kind::COMMON),
            ("booking", KINDS),
        ]);
        assert!(clashes.is_empty(), "{clashes:?}");
    }
}
