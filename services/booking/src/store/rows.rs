//! The rows the store answers with, and how each is read from a result row.

use city_platform::money::Fen;
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::domain::messages::About;
use crate::domain::ReleaseRules;

/// A hospital with its effective rules.
#[derive(Debug, Clone)]
pub struct HospitalRow {
    /// Id.
    pub id: String,
    /// 中文名.
    pub name_zh: String,
    /// English name.
    pub name_en: String,
    /// District code.
    pub district_code: String,
    /// `三级甲等` etc.
    pub level: String,
    /// Street address.
    pub address: String,
    /// WGS-84.
    pub lat: f64,
    /// WGS-84.
    pub lon: f64,
    /// Switchboard.
    pub phone: String,
    /// Whether the fee is paid online at booking.
    pub charges_online: bool,
    /// Release rules.
    pub rules: ReleaseRules,
    /// Minutes a pending payment holds the slot.
    pub hold_minutes: i64,
    /// Minutes a waitlist offer may be accepted in.
    pub waitlist_accept_minutes: i64,
}

// Booleans travel as BIGINT: the Any driver cannot decode SQLite's BOOLEAN.
pub(super) const HOSPITAL_COLS: &str = "id, name_zh, name_en, district_code, level, address, lat, lon, phone,
    CAST(CASE WHEN charges_online THEN 1 ELSE 0 END AS BIGINT) AS charges_online,
    release_days_ahead, release_minute_of_day, cutoff_minutes_before, cancel_days_before, cancel_minute_of_day,
    hold_minutes, waitlist_accept_minutes";

pub(super) fn hospital_from(row: &AnyRow) -> Result<HospitalRow, sqlx::Error> {
    Ok(HospitalRow {
        id: row.try_get("id")?,
        name_zh: row.try_get("name_zh")?,
        name_en: row.try_get("name_en")?,
        district_code: row.try_get("district_code")?,
        level: row.try_get("level")?,
        address: row.try_get("address")?,
        lat: row.try_get("lat")?,
        lon: row.try_get("lon")?,
        phone: row.try_get("phone")?,
        charges_online: row.try_get::<i64, _>("charges_online")? != 0,
        rules: ReleaseRules {
            release_days_ahead: row.try_get("release_days_ahead")?,
            release_minute_of_day: row.try_get("release_minute_of_day")?,
            cutoff_minutes_before: row.try_get("cutoff_minutes_before")?,
            cancel_days_before: row.try_get("cancel_days_before")?,
            cancel_minute_of_day: row.try_get("cancel_minute_of_day")?,
        },
        hold_minutes: row.try_get("hold_minutes")?,
        waitlist_accept_minutes: row.try_get("waitlist_accept_minutes")?,
    })
}

/// A doctor with hospital and department names.
#[derive(Debug, Clone)]
pub struct DoctorRow {
    /// Id.
    pub id: String,
    /// Full name (doctors' names are public).
    pub name: String,
    /// Title code.
    pub title: String,
    /// Specialty.
    pub specialty: String,
    /// Fee in fen.
    pub fee_fen: Fen,
    /// Photo.
    pub photo_url: String,
    /// Hospital id.
    pub hospital_id: String,
    /// Hospital name.
    pub hospital_name_zh: String,
    /// District.
    pub district_code: String,
    /// Department id.
    pub department_id: String,
    /// Department name.
    pub department_name_zh: String,
    /// Department English name.
    pub department_name_en: String,
    /// Hospital location, WGS-84.
    pub lat: f64,
    /// Hospital location, WGS-84.
    pub lon: f64,
}

/// Filters for the doctor search.
#[derive(Debug, Default, Clone)]
pub struct DoctorFilter {
    /// Matches doctor name, specialty, department or hospital name.
    pub q: Option<String>,
    /// Department name or id.
    pub department: Option<String>,
    /// Hospital id.
    pub hospital_id: Option<String>,
    /// District code.
    pub district: Option<String>,
    /// Title code.
    pub title: Option<String>,
}

/// A department.
#[derive(Debug, Clone)]
pub struct DepartmentRow {
    /// Id.
    pub id: String,
    /// Hospital.
    pub hospital_id: String,
    /// 中文名.
    pub name_zh: String,
    /// English.
    pub name_en: String,
}

/// A session (half-day) of a doctor.
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// Id.
    pub id: String,
    /// Doctor.
    pub doctor_id: String,
    /// Hospital.
    pub hospital_id: String,
    /// Department.
    pub department_id: String,
    /// `YYYY-MM-DD`, Beijing.
    pub visit_date: String,
    /// morning | afternoon.
    pub period: String,
    /// UTC ms.
    pub starts_at: i64,
    /// UTC ms.
    pub ends_at: i64,
    /// Numbers.
    pub capacity: i64,
    /// Window length.
    pub slot_minutes: i64,
    /// Fee in fen.
    pub fee_fen: Fen,
    /// open | stopped.
    pub status: String,
    /// Free numbers now.
    pub n_free: i64,
}

/// One slot as the free-slot list shows it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SlotRow {
    /// Id.
    pub id: String,
    /// Session.
    pub session_id: String,
    /// morning | afternoon.
    pub period: String,
    /// 号序.
    pub number: i64,
    /// UTC ms.
    pub starts_at: i64,
    /// UTC ms.
    pub ends_at: i64,
    /// Whether it can be booked.
    pub free: bool,
}

/// An appointment.
#[derive(Debug, Clone)]
pub struct AppointmentRow {
    /// Id.
    pub id: String,
    /// Slot.
    pub slot_id: String,
    /// Session.
    pub session_id: String,
    /// Doctor.
    pub doctor_id: String,
    /// Hospital.
    pub hospital_id: String,
    /// Department.
    pub department_id: String,
    /// Beijing date.
    pub visit_date: String,
    /// 号序.
    pub number: i64,
    /// Window start, UTC ms.
    pub starts_at: i64,
    /// Window end.
    pub ends_at: i64,
    /// Owner.
    pub citizen_id: String,
    /// Patient in identity.
    pub person_id: String,
    /// Keyed hash of the patient's ID number.
    pub id_number_hash: String,
    /// Masked name.
    pub patient_name_masked: String,
    /// Fee.
    pub fee_fen: Fen,
    /// Whether the fee was paid.
    pub paid: bool,
    /// None | requested | refunded.
    pub refund_state: Option<String>,
    /// Status.
    pub status: String,
    /// When a hold or offer lapses.
    pub hold_expires_at: Option<i64>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// Created.
    pub created_at: i64,
}

pub(super) const APPT_COLS: &str = "id, slot_id, session_id, doctor_id, hospital_id, department_id, visit_date, number,
    starts_at, ends_at, citizen_id, person_id, id_number_hash, patient_name_masked, fee_fen,
    CAST(CASE WHEN paid THEN 1 ELSE 0 END AS BIGINT) AS paid, refund_state,
    status, hold_expires_at, cancel_reason, created_at";

pub(super) fn appointment_from(row: &AnyRow) -> Result<AppointmentRow, sqlx::Error> {
    Ok(AppointmentRow {
        id: row.try_get("id")?,
        slot_id: row.try_get("slot_id")?,
        session_id: row.try_get("session_id")?,
        doctor_id: row.try_get("doctor_id")?,
        hospital_id: row.try_get("hospital_id")?,
        department_id: row.try_get("department_id")?,
        visit_date: row.try_get("visit_date")?,
        number: row.try_get("number")?,
        starts_at: row.try_get("starts_at")?,
        ends_at: row.try_get("ends_at")?,
        citizen_id: row.try_get("citizen_id")?,
        person_id: row.try_get("person_id")?,
        id_number_hash: row.try_get("id_number_hash")?,
        patient_name_masked: row.try_get("patient_name_masked")?,
        fee_fen: Fen(row.try_get("fee_fen")?),
        paid: row.try_get::<i64, _>("paid")? != 0,
        refund_state: row.try_get("refund_state")?,
        status: row.try_get("status")?,
        hold_expires_at: row.try_get("hold_expires_at")?,
        cancel_reason: row.try_get("cancel_reason")?,
        created_at: row.try_get("created_at")?,
    })
}

impl AppointmentRow {
    /// What a notice says about it.
    pub fn about(&self) -> About<'_> {
        About {
            appointment_id: &self.id,
            citizen_id: &self.citizen_id,
            visit_date: &self.visit_date,
            number: self.number,
            patient: &self.patient_name_masked,
            paid: self.paid,
        }
    }

    /// What audit entries and events show of it (no personal data beyond the masked name).
    pub fn summary(&self) -> Value {
        json!({
            "appointment_id": self.id, "status": self.status, "slot_id": self.slot_id,
            "session_id": self.session_id, "visit_date": self.visit_date, "number": self.number,
            "patient": self.patient_name_masked, "paid": self.paid,
        })
    }
}

/// What a booking needs to know about a slot before it tries to take it.
#[derive(Debug, Clone)]
pub struct SlotContext {
    /// The slot.
    pub slot_id: String,
    /// 号序.
    pub number: i64,
    /// Window.
    pub starts_at: i64,
    /// Window.
    pub ends_at: i64,
    /// free | held | booked | stopped.
    pub status: String,
    /// The session.
    pub session: SessionRow,
    /// Release rules in force (department over hospital).
    pub rules: ReleaseRules,
    /// Whether the fee is paid online.
    pub charges_online: bool,
    /// Hold length.
    pub hold_minutes: i64,
    /// Offer length.
    pub waitlist_accept_minutes: i64,
    /// For messages.
    pub doctor_name: String,
    /// For messages.
    pub hospital_name_zh: String,
    /// For the view.
    pub department_name_zh: String,
}

pub(super) fn session_from(r: &AnyRow) -> Result<SessionRow, sqlx::Error> {
    Ok(SessionRow {
        id: r.try_get("id")?,
        doctor_id: r.try_get("doctor_id")?,
        hospital_id: r.try_get("hospital_id")?,
        department_id: r.try_get("department_id")?,
        visit_date: r.try_get("visit_date")?,
        period: r.try_get("period")?,
        starts_at: r.try_get("starts_at")?,
        ends_at: r.try_get("ends_at")?,
        capacity: r.try_get("capacity")?,
        slot_minutes: r.try_get("slot_minutes")?,
        fee_fen: Fen(r.try_get("fee_fen")?),
        status: r.try_get("status")?,
        n_free: r.try_get("n_free")?,
    })
}
