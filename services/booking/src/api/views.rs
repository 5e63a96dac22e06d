//! The booking API's payloads (DTOs) and how rows become them. JSON shapes are the public
//! contract: money stays integer fen (`fee_fen`), instants RFC 3339 UTC.

use city_platform::time::{from_ms, rfc3339};
use city_platform::Problem;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};
use serde::Deserialize;

use crate::domain::DoctorTitle;
use crate::store::{self, AppointmentRow, DoctorRow, HospitalRow, SessionRow};

/// A point as the client sees it, in the datum it asked for.
#[derive(Debug, Object)]
pub struct HospitalLocation {
    /// Latitude in `coord`.
    pub lat: f64,
    /// Longitude in `coord`.
    pub lon: f64,
    /// `gcj02` (WeChat's maps, the default), `wgs84` or `bd09`.
    pub coord: String,
}

/// A hospital's booking rules.
#[derive(Debug, Object, Deserialize)]
pub struct BookingRulesView {
    /// Numbers for day D open D − this many days (Beijing time).
    #[oai(validator(minimum(value = "0"), maximum(value = "90")))]
    pub release_days_ahead: i64,
    /// Release time of day, `HH:MM` Beijing.
    pub release_time: String,
    /// Booking closes this many minutes before the session starts.
    #[oai(validator(minimum(value = "0"), maximum(value = "10080")))]
    pub cutoff_minutes_before: i64,
    /// Cancelling closes D − this many days ...
    #[oai(validator(minimum(value = "0"), maximum(value = "30")))]
    pub cancel_days_before: i64,
    /// ... at this time, `HH:MM` Beijing.
    pub cancel_time: String,
    /// Whether the fee is paid online at booking (holding the number until paid).
    pub charges_online: bool,
    /// Minutes an unpaid booking holds its number.
    #[oai(validator(minimum(value = "1"), maximum(value = "1440")))]
    pub hold_minutes: i64,
    /// Minutes a waitlist offer may be accepted (and paid) in.
    #[oai(validator(minimum(value = "1"), maximum(value = "2880")))]
    pub waitlist_accept_minutes: i64,
}

/// A department's overrides of its hospital's rules; a field left out inherits.
#[derive(Debug, Object, Deserialize)]
#[oai(skip_serializing_if_is_none)]
pub struct DepartmentRulesView {
    /// Numbers for day D open D − this many days.
    #[oai(validator(minimum(value = "0"), maximum(value = "90")))]
    pub release_days_ahead: Option<i64>,
    /// Release time of day, `HH:MM` Beijing.
    pub release_time: Option<String>,
    /// Booking closes this many minutes before the session starts.
    #[oai(validator(minimum(value = "0"), maximum(value = "10080")))]
    pub cutoff_minutes_before: Option<i64>,
    /// Cancelling closes D − this many days ...
    #[oai(validator(minimum(value = "0"), maximum(value = "30")))]
    pub cancel_days_before: Option<i64>,
    /// ... at this time, `HH:MM` Beijing.
    pub cancel_time: Option<String>,
}

pub(super) fn hhmm(minutes: i64) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

pub(super) fn parse_hhmm(field: &str, text: &str) -> Result<i64, Problem> {
    let bad = || Problem::invalid(field, "expected HH:MM (Beijing time)");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if !(0..24).contains(&h) || !(0..60).contains(&m) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

pub(super) fn rules_view(h: &HospitalRow) -> BookingRulesView {
    BookingRulesView {
        release_days_ahead: h.rules.release_days_ahead,
        release_time: hhmm(h.rules.release_minute_of_day),
        cutoff_minutes_before: h.rules.cutoff_minutes_before,
        cancel_days_before: h.rules.cancel_days_before,
        cancel_time: hhmm(h.rules.cancel_minute_of_day),
        charges_online: h.charges_online,
        hold_minutes: h.hold_minutes,
        waitlist_accept_minutes: h.waitlist_accept_minutes,
    }
}

/// A hospital.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct HospitalView {
    /// Id.
    pub id: String,
    /// 中文名.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// District code (`510107`).
    pub district_code: String,
    /// District name.
    pub district_name_zh: Option<String>,
    /// Grade, e.g. `三级甲等`.
    pub level: String,
    /// Street address.
    pub address: String,
    /// Switchboard.
    pub phone: String,
    /// Where it is.
    pub location: HospitalLocation,
    /// Metres from the point asked about, when one was given.
    pub distance_m: Option<i64>,
    /// Booking rules.
    pub rules: BookingRulesView,
}

/// A department.
#[derive(Debug, Object)]
pub struct DepartmentView {
    /// Id.
    pub id: String,
    /// 中文名.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
}

/// A hospital with its departments.
#[derive(Debug, Object)]
pub struct HospitalDetail {
    /// The hospital.
    pub hospital: HospitalView,
    /// Its departments.
    pub departments: Vec<DepartmentView>,
}

/// A doctor.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DoctorView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Title code: `chief_physician`, `associate_chief_physician`, `attending_physician`, `resident_physician`.
    pub title: String,
    /// Title in Chinese.
    pub title_zh: String,
    /// Specialty.
    pub specialty: String,
    /// Registration fee in fen.
    pub fee_fen: i64,
    /// Photo.
    pub photo_url: String,
    /// Hospital.
    pub hospital_id: String,
    /// Hospital name.
    pub hospital_name_zh: String,
    /// District code.
    pub district_code: String,
    /// Department.
    pub department_id: String,
    /// Department name.
    pub department_name_zh: String,
    /// Department name in English.
    pub department_name_en: String,
    /// Metres from the point asked about, when one was given.
    pub distance_m: Option<i64>,
}

pub(super) fn doctor_view(d: DoctorRow, distance_m: Option<i64>) -> DoctorView {
    let title_zh = DoctorTitle::parse(&d.title).map(|t| t.name_zh().to_owned()).unwrap_or_default();
    DoctorView {
        id: d.id,
        name: d.name,
        title: d.title,
        title_zh,
        specialty: d.specialty,
        fee_fen: d.fee_fen.0,
        photo_url: d.photo_url,
        hospital_id: d.hospital_id,
        hospital_name_zh: d.hospital_name_zh,
        district_code: d.district_code,
        department_id: d.department_id,
        department_name_zh: d.department_name_zh,
        department_name_en: d.department_name_en,
        distance_m,
    }
}

/// A doctor's half-day.
#[derive(Debug, Object)]
pub struct ClinicSessionView {
    /// Id.
    pub id: String,
    /// Doctor.
    pub doctor_id: String,
    /// Beijing date.
    pub date: String,
    /// `morning` | `afternoon`.
    pub period: String,
    /// Start (RFC 3339, UTC).
    pub starts_at: String,
    /// End.
    pub ends_at: String,
    /// Numbers.
    pub capacity: i64,
    /// Suggested window length.
    pub slot_minutes: i64,
    /// Fee in fen.
    pub fee_fen: i64,
    /// `open` | `stopped`.
    pub status: String,
    /// Free numbers now.
    pub n_free: i64,
}

pub(super) fn session_view(s: SessionRow) -> ClinicSessionView {
    ClinicSessionView {
        id: s.id,
        doctor_id: s.doctor_id,
        date: s.visit_date,
        period: s.period,
        starts_at: rfc3339(from_ms(s.starts_at)),
        ends_at: rfc3339(from_ms(s.ends_at)),
        capacity: s.capacity,
        slot_minutes: s.slot_minutes,
        fee_fen: s.fee_fen.0,
        status: s.status,
        n_free: s.n_free,
    }
}

/// One numbered slot.
#[derive(Debug, Object, serde::Serialize)]
pub struct SlotView {
    /// Id, for `POST /v1/booking/appointments`.
    pub id: String,
    /// Its session.
    pub session_id: String,
    /// `morning` | `afternoon`.
    pub period: String,
    /// 号序.
    pub number: i64,
    /// Suggested arrival window start (RFC 3339, UTC).
    pub window_start: String,
    /// Window end.
    pub window_end: String,
    /// Not taken by anyone. Whether it can be booked now also depends on the day's `opens_at`
    /// (numbers not yet released are refused with `not-yet-released`) and the booking cut-off.
    pub free: bool,
}

/// A doctor's slots on one day.
#[derive(Debug, Object, serde::Serialize)]
pub struct SlotsView {
    /// Doctor.
    pub doctor_id: String,
    /// Beijing date.
    pub date: String,
    /// When its numbers open (RFC 3339, UTC).
    pub opens_at: String,
    /// How many are free.
    pub n_free: i64,
    /// Every slot, in order.
    pub slots: Vec<SlotView>,
}

/// A booking request.
#[derive(Debug, Object, Deserialize)]
pub struct NewAppointment {
    /// The slot, from the free-slot list.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub slot_id: String,
    /// The patient: the citizen or a family member (identity's `/v1/me/people`).
    #[oai(validator(min_length = 1, max_length = 64))]
    pub person_id: String,
}

/// An appointment.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AppointmentView {
    /// Id.
    pub id: String,
    /// `pending_payment`, `offered`, `booked`, `checked_in`, `cancelled`, `expired`, `no_show`.
    pub status: String,
    /// Slot.
    pub slot_id: String,
    /// Session.
    pub session_id: String,
    /// Doctor.
    pub doctor_id: String,
    /// Doctor's name.
    pub doctor_name: Option<String>,
    /// Hospital.
    pub hospital_id: String,
    /// Hospital name.
    pub hospital_name_zh: Option<String>,
    /// Department.
    pub department_id: String,
    /// Department name.
    pub department_name_zh: Option<String>,
    /// Beijing date.
    pub visit_date: String,
    /// 号序.
    pub number: i64,
    /// Suggested arrival window (RFC 3339, UTC).
    pub window_start: String,
    /// Window end.
    pub window_end: String,
    /// The patient (masked).
    pub patient_name_masked: String,
    /// The patient's id in identity.
    pub person_id: String,
    /// Fee in fen.
    pub fee_fen: i64,
    /// Whether paid.
    pub paid: bool,
    /// `requested` | `refunded`, when a refund is due.
    pub refund_state: Option<String>,
    /// Until when an unpaid hold or a waitlist offer keeps the number (RFC 3339).
    pub hold_expires_at: Option<String>,
    /// Why it was cancelled: `patient`, `stop_diagnosis`, `hold_lapsed`, `offer_declined`.
    pub cancel_reason: Option<String>,
    /// Same-grade alternatives offered after a stop-diagnosis.
    pub rebooking_alternatives: Option<serde_json::Value>,
    /// Booked at.
    pub created_at: String,
}

/// "My appointments" split as the Mini Program shows them.
#[derive(Debug, Object)]
pub struct MyAppointments {
    /// Live ones still to come, soonest first.
    pub upcoming: Vec<AppointmentView>,
    /// Attended, missed or in the past.
    pub past: Vec<AppointmentView>,
    /// Cancelled or lapsed.
    pub cancelled: Vec<AppointmentView>,
}

/// A cancellation.
#[derive(Debug, Object, Deserialize)]
pub struct StopSessionRequest {
    /// Why (shown to patients).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub reason: String,
}

/// What a stop did.
#[derive(Debug, Object)]
pub struct StopSessionResult {
    /// The session.
    pub session_id: String,
    /// Bookings cancelled by this stop.
    pub n_cancelled: i64,
    /// Same-grade alternatives offered to each patient.
    pub alternatives: serde_json::Value,
}

/// A session to publish.
#[derive(Debug, Object, Deserialize)]
pub struct NewClinicSession {
    /// Doctor.
    pub doctor_id: String,
    /// Beijing date `YYYY-MM-DD`.
    pub date: String,
    /// `morning` | `afternoon`.
    pub period: String,
    /// Numbers.
    #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
    pub capacity: i64,
    /// Suggested window length in minutes.
    #[oai(validator(minimum(value = "5"), maximum(value = "240")))]
    pub slot_minutes: i64,
}

/// Joining a waitlist.
#[derive(Debug, Object, Deserialize)]
pub struct NewWaitlistEntry {
    /// A full session.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub session_id: String,
    /// The patient.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub person_id: String,
}

/// A waitlist entry.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct WaitlistView {
    /// Id.
    pub id: String,
    /// Session.
    pub session_id: String,
    /// `waiting`, `offered`, `accepted`, `expired`, `cleared`, `cancelled`, `skipped`.
    pub status: String,
    /// Place in the queue (1 = next), while waiting.
    pub position: Option<i64>,
    /// The patient (masked).
    pub patient_name_masked: String,
    /// The offered appointment, while offered.
    pub appointment_id: Option<String>,
    /// Accept before (RFC 3339).
    pub offer_expires_at: Option<String>,
}

/// A no-show suspension.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SuspensionView {
    /// Id.
    pub id: String,
    /// The patient (masked).
    pub patient_name_masked: String,
    /// From (RFC 3339).
    pub starts_at: String,
    /// Until.
    pub ends_at: String,
    /// The counted no-show that caused it.
    pub n_no_shows: i64,
    /// Whether lifted.
    pub lifted: bool,
    /// By whom.
    pub lifted_by: Option<String>,
    /// The hospital whose no-show imposed it.
    pub hospital_id: Option<String>,
}

/// Lifting a suspension.
#[derive(Debug, Object, Deserialize)]
pub struct LiftSuspensionRequest {
    /// Why (kept in the audit trail).
    #[oai(validator(min_length = 1, max_length = 500))]
    pub reason: String,
}

/// 201 with the created thing.
#[derive(ApiResponse)]
pub enum CreatedAppointment {
    /// Booked (or held pending payment).
    #[oai(status = 201)]
    Created(Json<AppointmentView>),
}

/// 201 with the created session.
#[derive(ApiResponse)]
pub enum CreatedSession {
    /// Published.
    #[oai(status = 201)]
    Created(Json<ClinicSessionView>),
}

/// 201 with the created waitlist entry.
#[derive(ApiResponse)]
pub enum CreatedWaitlist {
    /// Queued.
    #[oai(status = 201)]
    Created(Json<WaitlistView>),
}

/// 204.
#[derive(ApiResponse)]
pub enum Removed {
    /// Removed.
    #[oai(status = 204)]
    NoContent,
}

/// The view, given the doctor's, hospital's and department's names.
pub(super) fn appointment_view_named(
    a: AppointmentRow,
    names: Option<(String, String, String)>,
    rebooking: Option<serde_json::Value>,
) -> AppointmentView {
    let (doctor_name, hospital_name_zh, department_name_zh) = match names {
        Some((d, h, p)) => (Some(d), Some(h), Some(p)),
        None => (None, None, None),
    };
    AppointmentView {
        id: a.id,
        status: a.status,
        slot_id: a.slot_id,
        session_id: a.session_id,
        doctor_id: a.doctor_id,
        doctor_name,
        hospital_id: a.hospital_id,
        hospital_name_zh,
        department_id: a.department_id,
        department_name_zh,
        visit_date: a.visit_date,
        number: a.number,
        window_start: rfc3339(from_ms(a.starts_at)),
        window_end: rfc3339(from_ms(a.ends_at)),
        patient_name_masked: a.patient_name_masked,
        person_id: a.person_id,
        fee_fen: a.fee_fen.0,
        paid: a.paid,
        refund_state: a.refund_state,
        hold_expires_at: a.hold_expires_at.map(|t| rfc3339(from_ms(t))),
        cancel_reason: a.cancel_reason,
        rebooking_alternatives: rebooking,
        created_at: rfc3339(from_ms(a.created_at)),
    }
}

pub(super) fn waitlist_view(w: store::WaitlistRow) -> WaitlistView {
    WaitlistView {
        id: w.id,
        session_id: w.session_id,
        status: w.status,
        position: w.position,
        patient_name_masked: w.patient_name_masked,
        appointment_id: w.appointment_id,
        offer_expires_at: w.offer_expires_at.map(|t| rfc3339(from_ms(t))),
    }
}

pub(super) fn suspension_view(s: store::SuspensionRow) -> SuspensionView {
    SuspensionView {
        id: s.id,
        patient_name_masked: s.patient_name_masked,
        starts_at: rfc3339(from_ms(s.starts_at)),
        ends_at: rfc3339(from_ms(s.ends_at)),
        n_no_shows: s.n_no_shows,
        lifted: s.lifted_at.is_some(),
        lifted_by: s.lifted_by,
        hospital_id: s.hospital_id,
    }
}
