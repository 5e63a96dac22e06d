//! HTTP surface of the booking service.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use city_platform::auth::{CitizenAuth, Role, Staff, StaffAuth};
use city_platform::coords::{Crs, LatLon};
use city_platform::time::{city_date, from_ms, rfc3339};
use city_platform::{JsonBody, Problem, ProblemResponse};
use poem::http::StatusCode;
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::{ToJSON, Type};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use serde::Deserialize;

use crate::domain::{DoctorTitle, Period, ReleaseRules};
use crate::people::Person;
use crate::store::{self, AppointmentRow, DoctorFilter, DoctorRow, HospitalRow, NewSession, SessionRow};
use crate::BookingState;

#[derive(Tags)]
pub(crate) enum BookingTags {
    /// Doctor appointments: hospitals, doctors, slots, bookings, waitlists.
    Booking,
}

/// The booking service's operations for citizens and staff (`/v1/booking`).
pub struct PublicApi {
    state: Arc<BookingState>,
}

impl PublicApi {
    /// The API over shared state.
    pub fn new(state: Arc<BookingState>) -> Self {
        Self { state }
    }
}

type ApiResult<T> = Result<T, ProblemResponse>;

/// The cache key holding the generation of a doctor-day's slot list; a booking bumps it.
pub(crate) fn slot_generation_key(doctor_id: &str, date: &str) -> String {
    format!("booking:slotgen:{doctor_id}:{date}")
}

/// How long a rendered slot list is kept; a change bumps the generation long before.
const SLOT_CACHE_TTL: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// DTOs.

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

/// A department's overrides of its hospital's rules; null inherits.
#[derive(Debug, Object, Deserialize)]
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

fn hhmm(minutes: i64) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn parse_hhmm(field: &str, text: &str) -> Result<i64, Problem> {
    let bad = || Problem::invalid(field, "expected HH:MM (Beijing time)");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if !(0..24).contains(&h) || !(0..60).contains(&m) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn rules_view(h: &HospitalRow) -> BookingRulesView {
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

fn doctor_view(d: DoctorRow, distance_m: Option<i64>) -> DoctorView {
    let title_zh = DoctorTitle::parse(&d.title).map(|t| t.name_zh().to_owned()).unwrap_or_default();
    DoctorView {
        id: d.id,
        name: d.name,
        title: d.title,
        title_zh,
        specialty: d.specialty,
        fee_fen: d.fee_fen,
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

fn session_view(s: SessionRow) -> ClinicSessionView {
    ClinicSessionView {
        id: s.id,
        doctor_id: s.doctor_id,
        date: s.visit_date,
        period: s.period,
        starts_at: rfc3339(from_ms(s.starts_at)),
        ends_at: rfc3339(from_ms(s.ends_at)),
        capacity: s.capacity,
        slot_minutes: s.slot_minutes,
        fee_fen: s.fee_fen,
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
    /// Whether it can be booked now.
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

// ---------------------------------------------------------------------------------------------
// Operations.

#[OpenApi(prefix_path = "/v1/booking", tag = "BookingTags::Booking")]
impl PublicApi {
    /// Find hospitals
    ///
    /// By name or address (`q`), district code, and distance from a point (`lat`, `lon` in
    /// `coord`: `gcj02` as WeChat reports it, `wgs84`, `bd09`), nearest first when a point is given.
    #[oai(path = "/hospitals", method = "get", operation_id = "list_hospitals")]
    #[allow(clippy::too_many_arguments)]
    async fn list_hospitals(
        &self,
        q: Query<Option<String>>,
        district: Query<Option<String>>,
        lat: Query<Option<f64>>,
        lon: Query<Option<f64>>,
        coord: Query<Option<String>>,
        radius_m: Query<Option<f64>>,
    ) -> ApiResult<Json<Vec<HospitalView>>> {
        let (crs, origin) = point(lat.0, lon.0, coord.0.as_deref())?;
        let rows =
            store::list_hospitals(&self.state.db, q.0.as_deref().filter(|s| !s.is_empty()), district.0.as_deref())
                .await?;
        let mut out: Vec<HospitalView> = rows
            .iter()
            .map(|h| self.hospital_view(h, crs, origin))
            .filter(|h| match (radius_m.0, h.distance_m) {
                (Some(r), Some(d)) => (d as f64) <= r,
                _ => true,
            })
            .collect();
        if origin.is_some() {
            out.sort_by_key(|h| h.distance_m.unwrap_or(i64::MAX));
        }
        Ok(Json(out))
    }

    /// Get a hospital
    ///
    /// The hospital, its booking rules and its departments.
    #[oai(path = "/hospitals/:hospital_id", method = "get", operation_id = "get_hospital")]
    async fn get_hospital(
        &self,
        hospital_id: Path<String>,
        coord: Query<Option<String>>,
    ) -> ApiResult<Json<HospitalDetail>> {
        let crs = parse_crs(coord.0.as_deref())?;
        let Some(h) = store::get_hospital(&self.state.db, &hospital_id.0).await? else {
            return Err(unknown("hospital", "hospital_id").into());
        };
        let departments = store::list_departments(&self.state.db, &h.id)
            .await?
            .into_iter()
            .map(|d| DepartmentView { id: d.id, name_zh: d.name_zh, name_en: d.name_en })
            .collect();
        Ok(Json(HospitalDetail { hospital: self.hospital_view(&h, crs, None), departments }))
    }

    /// Change a hospital's booking rules
    ///
    /// Release horizon and time, booking cut-off, cancellation deadline, online fee, hold and
    /// offer lengths. Schedulers of that hospital; audited.
    #[oai(path = "/hospitals/:hospital_id/rules", method = "put", operation_id = "update_hospital_rules")]
    async fn update_hospital_rules(
        &self,
        auth: StaffAuth,
        hospital_id: Path<String>,
        body: JsonBody<BookingRulesView>,
    ) -> ApiResult<Json<BookingRulesView>> {
        let Some(h) = store::get_hospital(&self.state.db, &hospital_id.0).await? else {
            return Err(unknown("hospital", "hospital_id").into());
        };
        scheduler_at(&auth.0, &h.id)?;
        let b = body.0;
        let rules = ReleaseRules {
            release_days_ahead: b.release_days_ahead,
            release_minute_of_day: parse_hhmm("release_time", &b.release_time)?,
            cutoff_minutes_before: b.cutoff_minutes_before,
            cancel_days_before: b.cancel_days_before,
            cancel_minute_of_day: parse_hhmm("cancel_time", &b.cancel_time)?,
        };
        rules.check().map_err(|field| Problem::invalid(field, "out of range"))?;
        store::set_hospital_rules(
            &self.state.db,
            &auth.0,
            &h,
            rules,
            b.charges_online,
            b.hold_minutes,
            b.waitlist_accept_minutes,
        )
        .await?;
        let h = store::get_hospital(&self.state.db, &h.id).await?.ok_or_else(Problem::internal)?;
        Ok(Json(rules_view(&h)))
    }

    /// Override a department's booking rules
    ///
    /// Any of release horizon, release time, cut-off and cancellation deadline; a field left
    /// out (or null) inherits the hospital's. Schedulers of that hospital; audited.
    #[oai(path = "/departments/:department_id/rules", method = "put", operation_id = "update_department_rules")]
    async fn update_department_rules(
        &self,
        auth: StaffAuth,
        department_id: Path<String>,
        body: JsonBody<DepartmentRulesView>,
    ) -> ApiResult<Json<DepartmentRulesView>> {
        let Some((hospital, _)) = store::department_rules(&self.state.db, &department_id.0).await? else {
            return Err(unknown("department", "department_id").into());
        };
        scheduler_at(&auth.0, &hospital.id)?;
        let b = body.0;
        let release = b.release_time.as_deref().map(|t| parse_hhmm("release_time", t)).transpose()?;
        let cancel = b.cancel_time.as_deref().map(|t| parse_hhmm("cancel_time", t)).transpose()?;
        let overrides = store::RuleOverrides {
            release_days_ahead: b.release_days_ahead,
            release_minute_of_day: release,
            cutoff_minutes_before: b.cutoff_minutes_before,
            cancel_days_before: b.cancel_days_before,
            cancel_minute_of_day: cancel,
        };
        let effective = overrides.over(hospital.rules);
        effective.check().map_err(|field| Problem::invalid(field, "out of range"))?;
        store::set_department_rules(&self.state.db, &auth.0, &department_id.0, &overrides).await?;
        Ok(Json(b))
    }

    /// Find doctors
    ///
    /// By name, specialty, department, hospital or district (`q` matches all of those), title,
    /// and distance from a point, nearest first when a point is given.
    #[oai(path = "/doctors", method = "get", operation_id = "list_doctors")]
    #[allow(clippy::too_many_arguments)]
    async fn list_doctors(
        &self,
        q: Query<Option<String>>,
        department: Query<Option<String>>,
        hospital_id: Query<Option<String>>,
        district: Query<Option<String>>,
        title: Query<Option<String>>,
        lat: Query<Option<f64>>,
        lon: Query<Option<f64>>,
        coord: Query<Option<String>>,
        radius_m: Query<Option<f64>>,
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<Vec<DoctorView>>> {
        let (_, origin) = point(lat.0, lon.0, coord.0.as_deref())?;
        if let Some(t) = title.0.as_deref() {
            if DoctorTitle::parse(t).is_none() {
                return Err(Problem::invalid(
                    "title",
                    "one of chief_physician, associate_chief_physician, attending_physician, resident_physician",
                )
                .into());
            }
        }
        let filter = DoctorFilter {
            q: q.0.filter(|s| !s.is_empty()),
            department: department.0.filter(|s| !s.is_empty()),
            hospital_id: hospital_id.0,
            district: district.0,
            title: title.0,
        };
        let rows = store::list_doctors(&self.state.db, &filter).await?;
        let mut out: Vec<DoctorView> = rows
            .into_iter()
            .map(|d| {
                let distance = origin.and_then(|o| LatLon::new(d.lat, d.lon).map(|at| o.distance_m(at).round() as i64));
                doctor_view(d, distance)
            })
            .filter(|d| match (radius_m.0, d.distance_m) {
                (Some(r), Some(m)) => (m as f64) <= r,
                _ => true,
            })
            .collect();
        if origin.is_some() {
            out.sort_by_key(|d| d.distance_m.unwrap_or(i64::MAX));
        }
        out.truncate(limit.0.unwrap_or(50).clamp(1, 200) as usize);
        Ok(Json(out))
    }

    /// Get a doctor
    #[oai(path = "/doctors/:doctor_id", method = "get", operation_id = "get_doctor")]
    async fn get_doctor(&self, doctor_id: Path<String>) -> ApiResult<Json<DoctorView>> {
        let Some(d) = store::get_doctor(&self.state.db, &doctor_id.0).await? else {
            return Err(unknown("doctor", "doctor_id").into());
        };
        Ok(Json(doctor_view(d, None)))
    }

    /// List a doctor's sessions
    ///
    /// Half-days from `from` (default today, Beijing) for `days` days (default 14).
    #[oai(path = "/doctors/:doctor_id/sessions", method = "get", operation_id = "list_doctor_sessions")]
    async fn list_sessions(
        &self,
        doctor_id: Path<String>,
        from: Query<Option<String>>,
        days: Query<Option<u32>>,
    ) -> ApiResult<Json<Vec<ClinicSessionView>>> {
        let today = city_date(from_ms(self.state.options.clock.now()));
        let from = match from.0 {
            Some(s) => parse_date("from", &s)?,
            None => today,
        };
        let to = from + chrono::Duration::days(i64::from(days.0.unwrap_or(14).clamp(1, 90)) - 1);
        if store::get_doctor(&self.state.db, &doctor_id.0).await?.is_none() {
            return Err(unknown("doctor", "doctor_id").into());
        }
        let rows = store::list_sessions(&self.state.db, &doctor_id.0, &from.to_string(), &to.to_string()).await?;
        Ok(Json(rows.into_iter().map(session_view).collect()))
    }

    /// List a doctor's slots on a day
    ///
    /// Every numbered slot of the doctor's sessions on `date` (Beijing), with its suggested
    /// window and whether it is free. Served from a cache that every booking invalidates.
    #[oai(path = "/doctors/:doctor_id/slots", method = "get", operation_id = "list_slots")]
    async fn list_slots(&self, doctor_id: Path<String>, date: Query<String>) -> ApiResult<RawJson<SlotsView>> {
        let day = parse_date("date", &date.0)?;
        let now = self.state.options.clock.now();
        if day < city_date(from_ms(now)) {
            return Err(past_date("date").into());
        }
        let cache = &self.state.platform.cache;
        let gen_key = slot_generation_key(&doctor_id.0, &date.0);
        // Without the generation nothing cached can be trusted: answer from the store.
        let generation = self.state.slot_generation(&gen_key).await;
        let memo_key = format!("{}:{}", doctor_id.0, date.0);
        if let Some(bytes) = generation.as_ref().and_then(|g| self.state.memo_get(&memo_key, g)) {
            return Ok(RawJson::new(bytes));
        }
        let key = generation.as_ref().map(|g| format!("booking:slots:{}:{}:{g}", doctor_id.0, date.0));
        if let (Some(key), Some(generation)) = (&key, &generation) {
            if let Ok(Some(bytes)) = cache.get(key).await {
                self.state.memo_put(memo_key, generation.clone(), bytes.clone());
                return Ok(RawJson::new(bytes));
            }
        }
        let Some(doctor) = store::get_doctor(&self.state.db, &doctor_id.0).await? else {
            return Err(unknown("doctor", "doctor_id").into());
        };
        let rules =
            store::department_rules(&self.state.db, &doctor.department_id).await?.map(|(_, r)| r).unwrap_or_default();
        let slots = store::list_slots(&self.state.db, &doctor.id, &date.0).await?;
        let view = SlotsView {
            doctor_id: doctor.id,
            date: date.0.clone(),
            opens_at: rfc3339(from_ms(rules.opens_at(day))),
            n_free: slots.iter().filter(|s| s.free).count() as i64,
            slots: slots
                .into_iter()
                .map(|s| SlotView {
                    id: s.id,
                    session_id: s.session_id,
                    period: s.period,
                    number: s.number,
                    window_start: rfc3339(from_ms(s.starts_at)),
                    window_end: rfc3339(from_ms(s.ends_at)),
                    free: s.free,
                })
                .collect(),
        };
        let bytes = serde_json::to_vec(&view.to_json()).unwrap_or_default();
        let (Some(key), Some(generation)) = (key, generation) else { return Ok(RawJson::new(bytes)) };
        if let Err(err) = cache.set(&key, &bytes, SLOT_CACHE_TTL).await {
            tracing::warn!(error = %err, "could not cache a slot list");
        }
        self.state.memo_put(memo_key, generation, bytes.clone());
        Ok(RawJson::new(bytes))
    }

    /// Publish a session
    ///
    /// A doctor's half-day with `capacity` numbers in windows of `slot_minutes`. Schedulers of
    /// the doctor's hospital; audited.
    #[oai(path = "/sessions", method = "post", operation_id = "create_session")]
    async fn create_session(&self, auth: StaffAuth, body: JsonBody<NewClinicSession>) -> ApiResult<CreatedSession> {
        let b = body.0;
        let Some(doctor) = store::get_doctor(&self.state.db, &b.doctor_id).await? else {
            return Err(unknown("doctor", "doctor_id").with_status(StatusCode::UNPROCESSABLE_ENTITY).into());
        };
        scheduler_at(&auth.0, &doctor.hospital_id)?;
        let day = parse_date("date", &b.date)?;
        let now = self.state.options.clock.now();
        if day < city_date(from_ms(now)) {
            return Err(past_date("date").into());
        }
        let Some(period) = Period::parse(&b.period) else {
            return Err(Problem::invalid("period", "morning or afternoon").into());
        };
        let new = NewSession {
            doctor: doctor.clone(),
            visit_date: day,
            period,
            capacity: b.capacity,
            slot_minutes: b.slot_minutes,
        };
        let Some(id) = store::publish_session(&self.state.db, Some(&auth.0), &new, now).await? else {
            return Err(Problem::conflict("session-exists", "The doctor already has this half-day")
                .with_field("period", "already published")
                .into());
        };
        self.state.slots_changed(&doctor.id, &b.date).await;
        let s = store::get_session(&self.state.db, &id).await?.ok_or_else(Problem::internal)?;
        Ok(CreatedSession::Created(Json(session_view(s))))
    }

    /// List a session's appointments
    ///
    /// For the clinic: who is booked on a session. Schedulers of the hospital.
    #[oai(path = "/sessions/:session_id/appointments", method = "get", operation_id = "list_session_appointments")]
    async fn list_session_appointments(
        &self,
        auth: StaffAuth,
        session_id: Path<String>,
    ) -> ApiResult<Json<Vec<AppointmentView>>> {
        let Some(s) = store::get_session(&self.state.db, &session_id.0).await? else {
            return Err(unknown("session", "session_id").into());
        };
        scheduler_at(&auth.0, &s.hospital_id)?;
        let rows = store::list_session_appointments(&self.state.db, &s.id).await?;
        let mut out = Vec::with_capacity(rows.len());
        for a in rows {
            out.push(self.appointment_view(a).await?);
        }
        Ok(Json(out))
    }

    /// Stop a session (停诊)
    ///
    /// Cancels every booking on it exactly once, requests refunds for paid ones, tells the
    /// patients and offers same-grade alternatives, and closes its waitlist. Schedulers of the
    /// hospital; audited. A second stop is a 409.
    #[oai(path = "/sessions/:session_id/stop", method = "post", operation_id = "stop_session")]
    async fn stop_session(
        &self,
        auth: StaffAuth,
        session_id: Path<String>,
        body: JsonBody<StopSessionRequest>,
    ) -> ApiResult<Json<StopSessionResult>> {
        let Some(s) = store::get_session(&self.state.db, &session_id.0).await? else {
            return Err(unknown("session", "session_id").into());
        };
        scheduler_at(&auth.0, &s.hospital_id)?;
        let now = self.state.options.clock.now();
        let alternatives = store::same_grade_alternatives(&self.state.db, &s, &s.visit_date, now).await?;
        let limits = self.state.options.limits;
        let res = store::stop_session(&self.state.db, &auth.0, &s, &body.0.reason, &alternatives, &limits, now).await?;
        let Some(cancelled) = res else {
            return Err(Problem::conflict("session-already-stopped", "The session is already stopped").into());
        };
        self.state.slots_changed(&s.doctor_id, &s.visit_date).await;
        Ok(Json(StopSessionResult {
            session_id: s.id,
            n_cancelled: cancelled.len() as i64,
            alternatives: serde_json::Value::Array(alternatives),
        }))
    }

    /// Book an appointment
    ///
    /// Books `slot_id` for `person_id` (the citizen or a family member, real name from
    /// identity). Limits count per patient ID number. When the hospital charges online the
    /// number is held pending payment for the hospital's hold time. Requires an
    /// `Idempotency-Key`: a retry with the same key returns the same appointment.
    #[oai(path = "/appointments", method = "post", operation_id = "create_appointment")]
    async fn create_appointment(
        &self,
        auth: CitizenAuth,
        req: &Request,
        #[oai(name = "Idempotency-Key")] idempotency_key: Header<Option<String>>,
        body: JsonBody<NewAppointment>,
    ) -> ApiResult<CreatedAppointment> {
        if idempotency_key.0.is_none() {
            return Err(Problem::malformed(
                Some("Idempotency-Key"),
                "booking needs an Idempotency-Key header so a retry cannot book twice",
            )
            .into());
        }
        let b = body.0;
        let now = self.state.options.clock.now();
        let Some(ctx) = store::slot_context(&self.state.db, &b.slot_id).await? else {
            return Err(unknown("slot", "slot_id").with_status(StatusCode::UNPROCESSABLE_ENTITY).into());
        };
        check_bookable(&ctx, now)?;
        let person = self.person(&auth, req, &b.person_id).await?;
        let appt =
            store::book(&self.state.db, &ctx, &auth.0.citizen_id, &person, &self.state.options.limits, now).await?;
        self.state.slots_changed(&appt.doctor_id, &appt.visit_date).await;
        let names = (ctx.doctor_name, ctx.hospital_name_zh, ctx.department_name_zh);
        Ok(CreatedAppointment::Created(Json(appointment_view_named(appt, Some(names), None))))
    }

    /// List my appointments
    ///
    /// The signed-in citizen's appointments for every patient they manage: upcoming, past and
    /// cancelled.
    #[oai(path = "/appointments", method = "get", operation_id = "list_appointments")]
    async fn list_appointments(&self, auth: CitizenAuth) -> ApiResult<Json<MyAppointments>> {
        let now = self.state.options.clock.now();
        let rows = store::list_appointments(&self.state.db, &auth.0.citizen_id).await?;
        let mut mine = MyAppointments { upcoming: vec![], past: vec![], cancelled: vec![] };
        for a in rows {
            let bucket = match a.status.as_str() {
                "cancelled" | "expired" => 2,
                "pending_payment" | "offered" | "booked" if a.ends_at > now => 0,
                _ => 1,
            };
            let v = self.appointment_view(a).await?;
            match bucket {
                0 => mine.upcoming.push(v),
                1 => mine.past.push(v),
                _ => mine.cancelled.push(v),
            }
        }
        mine.upcoming.reverse();
        Ok(Json(mine))
    }

    /// Get an appointment
    #[oai(path = "/appointments/:appointment_id", method = "get", operation_id = "get_appointment")]
    async fn get_appointment(
        &self,
        auth: CitizenAuth,
        appointment_id: Path<String>,
    ) -> ApiResult<Json<AppointmentView>> {
        let Some(a) = store::get_appointment(&self.state.db, &appointment_id.0)
            .await?
            .filter(|a| a.citizen_id == auth.0.citizen_id)
        else {
            return Err(Problem::not_found("appointment").into());
        };
        Ok(Json(self.appointment_view(a).await?))
    }

    /// Cancel an appointment
    ///
    /// Before the hospital's cancellation deadline (unpaid holds and offers any time): the
    /// number returns at once (to the waitlist first) and a paid fee is refunded.
    #[oai(path = "/appointments/:appointment_id/cancel", method = "post", operation_id = "cancel_appointment")]
    async fn cancel_appointment(
        &self,
        auth: CitizenAuth,
        appointment_id: Path<String>,
    ) -> ApiResult<Json<AppointmentView>> {
        let now = self.state.options.clock.now();
        let a = store::cancel(&self.state.db, &auth.0.citizen_id, &appointment_id.0, &self.state.options.limits, now)
            .await?;
        self.state.slots_changed(&a.doctor_id, &a.visit_date).await;
        Ok(Json(self.appointment_view(a).await?))
    }

    /// Check a patient in
    ///
    /// Schedulers of the hospital; audited.
    #[oai(path = "/appointments/:appointment_id/check-in", method = "post", operation_id = "check_in_appointment")]
    async fn check_in(&self, auth: StaffAuth, appointment_id: Path<String>) -> ApiResult<Json<AppointmentView>> {
        let a = self.staff_appointment(&auth.0, &appointment_id.0).await?;
        let a = store::check_in(&self.state.db, &auth.0, &a, self.state.options.clock.now()).await?;
        Ok(Json(self.appointment_view(a).await?))
    }

    /// Mark a no-show
    ///
    /// Counts toward the patient's no-show rule (suspensions escalate). Schedulers of the
    /// hospital; audited. Unattended bookings also become no-shows automatically after their window.
    #[oai(path = "/appointments/:appointment_id/no-show", method = "post", operation_id = "mark_no_show")]
    async fn mark_no_show(&self, auth: StaffAuth, appointment_id: Path<String>) -> ApiResult<Json<AppointmentView>> {
        let a = self.staff_appointment(&auth.0, &appointment_id.0).await?;
        let a = store::mark_no_show(
            &self.state.db,
            Some(&auth.0),
            &a,
            &self.state.options.no_show,
            self.state.options.clock.now(),
        )
        .await?;
        Ok(Json(self.appointment_view(a).await?))
    }

    /// Join a waitlist
    ///
    /// Only for a full session. When a number returns it is offered in queue order; accept
    /// (and pay) before the offer lapses or it passes to the next in line. Queues close at
    /// 23:00 the day before the visit.
    #[oai(path = "/waitlist", method = "post", operation_id = "create_waitlist_entry")]
    async fn create_waitlist_entry(
        &self,
        auth: CitizenAuth,
        req: &Request,
        body: JsonBody<NewWaitlistEntry>,
    ) -> ApiResult<CreatedWaitlist> {
        let b = body.0;
        let now = self.state.options.clock.now();
        let Some(session) = store::get_session(&self.state.db, &b.session_id).await? else {
            return Err(unknown("session", "session_id").with_status(StatusCode::UNPROCESSABLE_ENTITY).into());
        };
        let day: NaiveDate = session.visit_date.parse().unwrap_or_default();
        if now >= crate::domain::local_instant(day - chrono::Duration::days(1), 23 * 60) {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "waitlist-closed",
                "The waitlist for this session is closed",
            )
            .with_field("session_id", "queues close at 23:00 the day before the visit")
            .into());
        }
        let person = self.person(&auth, req, &b.person_id).await?;
        let id = store::join_waitlist(
            &self.state.db,
            &session,
            &auth.0.citizen_id,
            &person,
            &self.state.options.limits,
            now,
        )
        .await?;
        let entry = store::get_waitlist_entry(&self.state.db, &id).await?.ok_or_else(Problem::internal)?;
        Ok(CreatedWaitlist::Created(Json(waitlist_view(entry))))
    }

    /// List my waitlist entries
    #[oai(path = "/waitlist", method = "get", operation_id = "list_waitlist_entries")]
    async fn list_waitlist(&self, auth: CitizenAuth) -> ApiResult<Json<Vec<WaitlistView>>> {
        let rows = store::list_waitlist(&self.state.db, &auth.0.citizen_id).await?;
        Ok(Json(rows.into_iter().map(waitlist_view).collect()))
    }

    /// Accept a waitlist offer
    ///
    /// The held number becomes the patient's booking (or a pending payment when the hospital
    /// charges online).
    #[oai(path = "/waitlist/:entry_id/accept", method = "post", operation_id = "accept_waitlist_offer")]
    async fn accept_offer(&self, auth: CitizenAuth, entry_id: Path<String>) -> ApiResult<Json<AppointmentView>> {
        let a = store::accept_offer(&self.state.db, &auth.0.citizen_id, &entry_id.0, self.state.options.clock.now())
            .await?;
        self.state.slots_changed(&a.doctor_id, &a.visit_date).await;
        Ok(Json(self.appointment_view(a).await?))
    }

    /// Leave a waitlist
    ///
    /// Also declines an open offer; its number passes to the next in line.
    #[oai(path = "/waitlist/:entry_id", method = "delete", operation_id = "delete_waitlist_entry")]
    async fn leave_waitlist(&self, auth: CitizenAuth, entry_id: Path<String>) -> ApiResult<Removed> {
        let now = self.state.options.clock.now();
        store::leave_waitlist(&self.state.db, &auth.0.citizen_id, &entry_id.0, &self.state.options.limits, now).await?;
        Ok(Removed::NoContent)
    }

    /// List suspensions in force
    ///
    /// Patients whose online booking is suspended after no-shows. Schedulers.
    #[oai(path = "/suspensions", method = "get", operation_id = "list_suspensions")]
    async fn list_suspensions(&self, auth: StaffAuth) -> ApiResult<Json<Vec<SuspensionView>>> {
        auth.0.require(&[Role::Scheduler])?;
        let rows = store::list_suspensions(&self.state.db, self.state.options.clock.now()).await?;
        Ok(Json(rows.into_iter().map(suspension_view).collect()))
    }

    /// Lift a suspension
    ///
    /// An upheld appeal. Schedulers; audited with the reason.
    #[oai(path = "/suspensions/:suspension_id/lift", method = "post", operation_id = "lift_suspension")]
    async fn lift_suspension(
        &self,
        auth: StaffAuth,
        suspension_id: Path<String>,
        body: JsonBody<LiftSuspensionRequest>,
    ) -> ApiResult<Json<SuspensionView>> {
        auth.0.require(&[Role::Scheduler])?;
        let s = store::lift_suspension(
            &self.state.db,
            &auth.0,
            &suspension_id.0,
            &body.0.reason,
            self.state.options.clock.now(),
        )
        .await?;
        Ok(Json(suspension_view(s)))
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

impl PublicApi {
    fn hospital_view(&self, h: &HospitalRow, crs: Crs, origin: Option<LatLon>) -> HospitalView {
        let at = LatLon::new(h.lat, h.lon);
        let (lat, lon) = at.map(|p| p.to_crs(crs)).unwrap_or((h.lat, h.lon));
        HospitalView {
            id: h.id.clone(),
            name_zh: h.name_zh.clone(),
            name_en: h.name_en.clone(),
            district_code: h.district_code.clone(),
            district_name_zh: self.state.platform.districts.get(&h.district_code).map(|d| d.name_zh.clone()),
            level: h.level.clone(),
            address: h.address.clone(),
            phone: h.phone.clone(),
            location: HospitalLocation { lat, lon, coord: crs.code().into() },
            distance_m: origin.zip(at).map(|(o, p)| o.distance_m(p).round() as i64),
            rules: rules_view(h),
        }
    }

    async fn person(&self, auth: &CitizenAuth, req: &Request, person_id: &str) -> Result<Person, Problem> {
        let authorization = req.header("authorization").unwrap_or_default();
        self.state.options.people.person(&auth.0.citizen_id, authorization, person_id).await?.ok_or_else(|| {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown-person", "No such patient on your account")
                .with_field("person_id", "add the family member under /v1/me/people first")
        })
    }

    async fn staff_appointment(&self, staff: &Staff, id: &str) -> Result<AppointmentRow, Problem> {
        staff.require(&[Role::Scheduler])?;
        let Some(a) = store::get_appointment(&self.state.db, id).await? else {
            return Err(Problem::not_found("appointment"));
        };
        scheduler_at(staff, &a.hospital_id)?;
        Ok(a)
    }

    async fn appointment_view(&self, a: AppointmentRow) -> Result<AppointmentView, Problem> {
        let names = store::get_doctor(&self.state.db, &a.doctor_id)
            .await?
            .map(|d| (d.name, d.hospital_name_zh, d.department_name_zh));
        let rebooking = if a.cancel_reason.as_deref() == Some("stop_diagnosis") {
            store::rebooking_offer(&self.state.db, &a.id).await?
        } else {
            None
        };
        Ok(appointment_view_named(a, names, rebooking))
    }
}

/// The view, given the doctor's, hospital's and department's names.
fn appointment_view_named(
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
        fee_fen: a.fee_fen,
        paid: a.paid,
        refund_state: a.refund_state,
        hold_expires_at: a.hold_expires_at.map(|t| rfc3339(from_ms(t))),
        cancel_reason: a.cancel_reason,
        rebooking_alternatives: rebooking,
        created_at: rfc3339(from_ms(a.created_at)),
    }
}

fn waitlist_view(w: store::WaitlistRow) -> WaitlistView {
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

fn suspension_view(s: store::SuspensionRow) -> SuspensionView {
    SuspensionView {
        id: s.id,
        patient_name_masked: s.patient_name_masked,
        starts_at: rfc3339(from_ms(s.starts_at)),
        ends_at: rfc3339(from_ms(s.ends_at)),
        n_no_shows: s.n_no_shows,
        lifted: s.lifted_at.is_some(),
        lifted_by: s.lifted_by,
    }
}

/// Release, cut-off and past-date checks, each its own problem type.
fn check_bookable(ctx: &store::SlotContext, now: i64) -> Result<(), Problem> {
    let day: NaiveDate = ctx.session.visit_date.parse().unwrap_or_default();
    if ctx.session.status == "stopped" || ctx.status == "stopped" {
        return Err(store::rule_problem(
            StatusCode::CONFLICT,
            "session-stopped",
            "The doctor has stopped this session",
            "slot_id",
            "this session was stopped (停诊); choose another doctor or day",
        ));
    }
    if ctx.session.starts_at <= now {
        return Err(past_date("slot_id"));
    }
    let opens = ctx.rules.opens_at(day);
    if now < opens {
        return Err(store::rule_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not-yet-released",
            "These numbers are not released yet",
            "slot_id",
            format!("numbers for {day} open at {}", rfc3339(from_ms(opens))),
        ));
    }
    let closes = ctx.rules.closes_at(ctx.session.starts_at);
    if now >= closes {
        return Err(store::rule_problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "booking-closed",
            "Booking for this session has closed",
            "slot_id",
            format!("online booking closed at {}", rfc3339(from_ms(closes))),
        ));
    }
    Ok(())
}

fn past_date(field: &str) -> Problem {
    store::rule_problem(
        StatusCode::UNPROCESSABLE_ENTITY,
        "past-date",
        "The date has passed",
        field,
        "choose today or a later day",
    )
}

fn unknown(what: &str, field: &str) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, &format!("unknown-{what}"), format!("No such {what}"))
        .with_detail(format!("no such {what}"))
        .with_field(field, format!("no such {what}"))
}

trait WithStatus {
    fn with_status(self, status: StatusCode) -> Self;
}

impl WithStatus for Problem {
    /// The same kind at another status: an unknown id in a body is 422, in a path 404.
    fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status.as_u16();
        self
    }
}

fn scheduler_at(staff: &Staff, hospital_id: &str) -> Result<(), Problem> {
    staff.require(&[Role::Scheduler])?;
    if staff.may_act_at_hospital(hospital_id) {
        Ok(())
    } else {
        Err(Problem::forbidden("your scope does not include this hospital"))
    }
}

fn parse_date(field: &str, text: &str) -> Result<NaiveDate, Problem> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| Problem::malformed(Some(field), "expected a date YYYY-MM-DD"))
}

fn parse_crs(coord: Option<&str>) -> Result<Crs, Problem> {
    match coord {
        None => Ok(Crs::Gcj02),
        Some(c) => Crs::parse(c).map_err(|_| Problem::invalid("coord", "one of gcj02, wgs84, bd09")),
    }
}

/// The datum and, when both coordinates were given, the WGS-84 point.
fn point(lat: Option<f64>, lon: Option<f64>, coord: Option<&str>) -> Result<(Crs, Option<LatLon>), Problem> {
    let crs = parse_crs(coord)?;
    match (lat, lon) {
        (None, None) => Ok((crs, None)),
        (Some(lat), Some(lon)) => LatLon::from_crs(crs, lat, lon)
            .map(|p| (crs, Some(p)))
            .map_err(|e| Problem::invalid("lat", format!("not a usable point: {e:?}"))),
        (Some(_), None) => Err(Problem::invalid("lon", "give lat and lon together")),
        (None, Some(_)) => Err(Problem::invalid("lat", "give lat and lon together")),
    }
}

/// A JSON body already rendered (from the slot cache), documented as `T`.
pub struct RawJson<T> {
    bytes: Vec<u8>,
    _doc: PhantomData<fn() -> T>,
}

impl<T> RawJson<T> {
    fn new(bytes: Vec<u8>) -> Self {
        Self { bytes, _doc: PhantomData }
    }
}

impl<T: Type> Payload for RawJson<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Send> poem::IntoResponse for RawJson<T> {
    fn into_response(self) -> poem::Response {
        poem::Response::builder().content_type("application/json; charset=utf-8").body(self.bytes)
    }
}

impl<T: Type + Send> ApiResponse for RawJson<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType { content_type: Self::CONTENT_TYPE, schema: Self::schema_ref() }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}
