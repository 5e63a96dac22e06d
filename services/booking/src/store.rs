//! Every SQL statement of the booking service, and the transactions that keep its invariants:
//! a slot is taken only by a conditional update, a patient's limits are counted while that
//! patient's lock row is held, and each state change writes its events in the same transaction.

use chrono::NaiveDate;
use city_platform::audit::{self, AuditEntry};
use city_platform::auth::Staff;
use city_platform::db::{is_unique_violation, Backend};
use city_platform::ids::new_id;
use city_platform::outbox;
use city_platform::{Db, Problem};
use poem::http::StatusCode;
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::domain::{mask_name, slot_windows, BookingLimits, NoShowRule, PatientCounts, Period, ReleaseRules};
use crate::people::Person;

/// Appointment statuses that hold a slot and count toward a patient's limits.
const LIVE: &str = "('pending_payment', 'offered', 'booked', 'checked_in')";

/// The service name in audit entries and inbox records.
pub const SERVICE: &str = "booking";

/// A write transaction of this service's store. On SQLite the service's own writers first
/// queue for their turn in this process, in arrival order, and only then ask for the
/// database's single write lock: writers that wait inside SQLite's busy handler instead sleep
/// in growing steps (up to 100 ms each), which is what made the tail latency under load.
pub struct WriteTx {
    // Field order is drop order: the transaction rolls back before the turn passes on.
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

impl WriteTx {
    /// Commits, then lets the next writer in.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

/// Begins a write transaction (see [`WriteTx`]).
pub async fn begin_write(db: &Db) -> Result<WriteTx, sqlx::Error> {
    let turn = match db.backend {
        Backend::Sqlite => Some(sqlite_writers(db).lock_owned().await),
        // PostgreSQL writers run side by side; rows they share are locked row by row.
        Backend::Postgres => None,
    };
    Ok(WriteTx { tx: db.begin_write().await?, _turn: turn })
}

/// The queue of writers of one SQLite file in this process.
fn sqlite_writers(db: &Db) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    type Queues = parking_lot::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>;
    static QUEUES: std::sync::LazyLock<Queues> = std::sync::LazyLock::new(Default::default);
    let file = db.pool.connect_options().database_url.to_string();
    QUEUES.lock().entry(file).or_default().clone()
}

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
const HOSPITAL_COLS: &str = "id, name_zh, name_en, district_code, level, address, lat, lon, phone,
    CAST(CASE WHEN charges_online THEN 1 ELSE 0 END AS BIGINT) AS charges_online,
    release_days_ahead, release_minute_of_day, cutoff_minutes_before, cancel_days_before, cancel_minute_of_day,
    hold_minutes, waitlist_accept_minutes";

fn hospital_from(row: &AnyRow) -> Result<HospitalRow, sqlx::Error> {
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
    pub fee_fen: i64,
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
    pub fee_fen: i64,
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
    pub fee_fen: i64,
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

const APPT_COLS: &str = "id, slot_id, session_id, doctor_id, hospital_id, department_id, visit_date, number,
    starts_at, ends_at, citizen_id, person_id, id_number_hash, patient_name_masked, fee_fen,
    CAST(CASE WHEN paid THEN 1 ELSE 0 END AS BIGINT) AS paid, refund_state,
    status, hold_expires_at, cancel_reason, created_at";

fn appointment_from(row: &AnyRow) -> Result<AppointmentRow, sqlx::Error> {
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
        fee_fen: row.try_get("fee_fen")?,
        paid: row.try_get::<i64, _>("paid")? != 0,
        refund_state: row.try_get("refund_state")?,
        status: row.try_get("status")?,
        hold_expires_at: row.try_get("hold_expires_at")?,
        cancel_reason: row.try_get("cancel_reason")?,
        created_at: row.try_get("created_at")?,
    })
}

impl AppointmentRow {
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

/// Why a booking was refused.
pub fn rule_problem(status: StatusCode, kind: &str, title: &str, field: &str, detail: impl Into<String>) -> Problem {
    let detail = detail.into();
    Problem::new(status, kind, title).with_detail(detail.clone()).with_field(field, detail)
}

// ---------------------------------------------------------------------------------------------
// Catalogue.

/// Every hospital, optionally in one district or matching a name.
pub async fn list_hospitals(db: &Db, q: Option<&str>, district: Option<&str>) -> Result<Vec<HospitalRow>, sqlx::Error> {
    let like = q.map(|q| format!("%{}%", q.to_lowercase()));
    let sql = format!(
        "SELECT {HOSPITAL_COLS} FROM hospitals
         WHERE ($1 IS NULL OR LOWER(name_zh) LIKE $1 OR LOWER(name_en) LIKE $1 OR LOWER(address) LIKE $1)
           AND ($2 IS NULL OR district_code = $2)
         ORDER BY name_en"
    );
    let rows = sqlx::query(&sql).bind(like).bind(district).fetch_all(&db.pool).await?;
    rows.iter().map(hospital_from).collect()
}

/// One hospital.
pub async fn get_hospital(db: &Db, id: &str) -> Result<Option<HospitalRow>, sqlx::Error> {
    let sql = format!("SELECT {HOSPITAL_COLS} FROM hospitals WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&db.pool).await?;
    row.as_ref().map(hospital_from).transpose()
}

/// A hospital's departments.
pub async fn list_departments(db: &Db, hospital_id: &str) -> Result<Vec<DepartmentRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, hospital_id, name_zh, name_en FROM departments WHERE hospital_id = $1 ORDER BY name_en",
    )
    .bind(hospital_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DepartmentRow {
                id: r.try_get("id")?,
                hospital_id: r.try_get("hospital_id")?,
                name_zh: r.try_get("name_zh")?,
                name_en: r.try_get("name_en")?,
            })
        })
        .collect()
}

const DOCTOR_SELECT: &str = "SELECT d.id, d.name, d.title, d.specialty, d.fee_fen, d.photo_url, d.hospital_id,
    h.name_zh AS hospital_name_zh, h.district_code, d.department_id, p.name_zh AS department_name_zh,
    p.name_en AS department_name_en, h.lat, h.lon
    FROM doctors d JOIN hospitals h ON h.id = d.hospital_id JOIN departments p ON p.id = d.department_id";

fn doctor_from(r: &AnyRow) -> Result<DoctorRow, sqlx::Error> {
    Ok(DoctorRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        title: r.try_get("title")?,
        specialty: r.try_get("specialty")?,
        fee_fen: r.try_get("fee_fen")?,
        photo_url: r.try_get("photo_url")?,
        hospital_id: r.try_get("hospital_id")?,
        hospital_name_zh: r.try_get("hospital_name_zh")?,
        district_code: r.try_get("district_code")?,
        department_id: r.try_get("department_id")?,
        department_name_zh: r.try_get("department_name_zh")?,
        department_name_en: r.try_get("department_name_en")?,
        lat: r.try_get("lat")?,
        lon: r.try_get("lon")?,
    })
}

/// Doctors matching `filter`.
pub async fn list_doctors(db: &Db, filter: &DoctorFilter) -> Result<Vec<DoctorRow>, sqlx::Error> {
    let like = |s: &Option<String>| s.as_ref().map(|q| format!("%{}%", q.to_lowercase()));
    let sql = format!(
        "{DOCTOR_SELECT}
         WHERE ($1 IS NULL OR LOWER(d.name) LIKE $1 OR LOWER(d.specialty) LIKE $1 OR LOWER(p.name_zh) LIKE $1
                OR LOWER(p.name_en) LIKE $1 OR LOWER(h.name_zh) LIKE $1 OR LOWER(h.name_en) LIKE $1)
           AND ($2 IS NULL OR p.id = $3 OR LOWER(p.name_zh) LIKE $2 OR LOWER(p.name_en) LIKE $2)
           AND ($4 IS NULL OR d.hospital_id = $4)
           AND ($5 IS NULL OR h.district_code = $5)
           AND ($6 IS NULL OR d.title = $6)
         ORDER BY h.name_en, p.name_en, d.name"
    );
    let rows = sqlx::query(&sql)
        .bind(like(&filter.q))
        .bind(like(&filter.department))
        .bind(filter.department.clone())
        .bind(filter.hospital_id.clone())
        .bind(filter.district.clone())
        .bind(filter.title.clone())
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(doctor_from).collect()
}

/// One doctor.
pub async fn get_doctor(db: &Db, id: &str) -> Result<Option<DoctorRow>, sqlx::Error> {
    let sql = format!("{DOCTOR_SELECT} WHERE d.id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&db.pool).await?;
    row.as_ref().map(doctor_from).transpose()
}

/// Effective release rules for a department (its overrides over the hospital's).
pub async fn department_rules(
    db: &Db,
    department_id: &str,
) -> Result<Option<(HospitalRow, ReleaseRules)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT hospital_id,
            COALESCE(p.release_days_ahead, h.release_days_ahead) AS a,
            COALESCE(p.release_minute_of_day, h.release_minute_of_day) AS b,
            COALESCE(p.cutoff_minutes_before, h.cutoff_minutes_before) AS c,
            COALESCE(p.cancel_days_before, h.cancel_days_before) AS d,
            COALESCE(p.cancel_minute_of_day, h.cancel_minute_of_day) AS e
         FROM departments p JOIN hospitals h ON h.id = p.hospital_id WHERE p.id = $1",
    )
    .bind(department_id)
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let hospital_id: String = row.try_get("hospital_id")?;
    let rules = ReleaseRules {
        release_days_ahead: row.try_get("a")?,
        release_minute_of_day: row.try_get("b")?,
        cutoff_minutes_before: row.try_get("c")?,
        cancel_days_before: row.try_get("d")?,
        cancel_minute_of_day: row.try_get("e")?,
    };
    Ok(get_hospital(db, &hospital_id).await?.map(|h| (h, rules)))
}

/// Replaces a hospital's rules, audited.
pub async fn set_hospital_rules(
    db: &Db,
    staff: &Staff,
    hospital: &HospitalRow,
    rules: ReleaseRules,
    charges_online: bool,
    hold_minutes: i64,
    waitlist_accept_minutes: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = begin_write(db).await?;
    sqlx::query(
        "UPDATE hospitals SET release_days_ahead = $2, release_minute_of_day = $3, cutoff_minutes_before = $4,
            cancel_days_before = $5, cancel_minute_of_day = $6, charges_online = $7, hold_minutes = $8,
            waitlist_accept_minutes = $9 WHERE id = $1",
    )
    .bind(&hospital.id)
    .bind(rules.release_days_ahead)
    .bind(rules.release_minute_of_day)
    .bind(rules.cutoff_minutes_before)
    .bind(rules.cancel_days_before)
    .bind(rules.cancel_minute_of_day)
    .bind(charges_online)
    .bind(hold_minutes)
    .bind(waitlist_accept_minutes)
    .execute(&mut *tx)
    .await?;
    let before =
        rules_json(&hospital.rules, hospital.charges_online, hospital.hold_minutes, hospital.waitlist_accept_minutes);
    let after = rules_json(&rules, charges_online, hold_minutes, waitlist_accept_minutes);
    let entry = AuditEntry::by_staff(staff, SERVICE, "update_hospital_rules", format!("hospital:{}", hospital.id))
        .with_change(Some(before), Some(after.clone()));
    audit::record(&mut tx, &entry).await?;
    outbox::enqueue(&mut tx, "booking.rules_changed", &json!({"hospital_id": hospital.id, "rules": after})).await?;
    tx.commit().await
}

/// A department's overrides; None inherits the hospital's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleOverrides {
    /// See [`ReleaseRules`].
    pub release_days_ahead: Option<i64>,
    /// See [`ReleaseRules`].
    pub release_minute_of_day: Option<i64>,
    /// See [`ReleaseRules`].
    pub cutoff_minutes_before: Option<i64>,
    /// See [`ReleaseRules`].
    pub cancel_days_before: Option<i64>,
    /// See [`ReleaseRules`].
    pub cancel_minute_of_day: Option<i64>,
}

impl RuleOverrides {
    /// The rules in force: these over `base`.
    pub fn over(&self, base: ReleaseRules) -> ReleaseRules {
        ReleaseRules {
            release_days_ahead: self.release_days_ahead.unwrap_or(base.release_days_ahead),
            release_minute_of_day: self.release_minute_of_day.unwrap_or(base.release_minute_of_day),
            cutoff_minutes_before: self.cutoff_minutes_before.unwrap_or(base.cutoff_minutes_before),
            cancel_days_before: self.cancel_days_before.unwrap_or(base.cancel_days_before),
            cancel_minute_of_day: self.cancel_minute_of_day.unwrap_or(base.cancel_minute_of_day),
        }
    }
}

/// Replaces a department's overrides, audited.
pub async fn set_department_rules(
    db: &Db,
    staff: &Staff,
    department_id: &str,
    o: &RuleOverrides,
) -> Result<(), sqlx::Error> {
    let mut tx = begin_write(db).await?;
    sqlx::query(
        "UPDATE departments SET release_days_ahead = $2, release_minute_of_day = $3, cutoff_minutes_before = $4,
            cancel_days_before = $5, cancel_minute_of_day = $6 WHERE id = $1",
    )
    .bind(department_id)
    .bind(o.release_days_ahead)
    .bind(o.release_minute_of_day)
    .bind(o.cutoff_minutes_before)
    .bind(o.cancel_days_before)
    .bind(o.cancel_minute_of_day)
    .execute(&mut *tx)
    .await?;
    let after = json!({
        "release_days_ahead": o.release_days_ahead, "release_minute_of_day": o.release_minute_of_day,
        "cutoff_minutes_before": o.cutoff_minutes_before, "cancel_days_before": o.cancel_days_before,
        "cancel_minute_of_day": o.cancel_minute_of_day,
    });
    let entry = AuditEntry::by_staff(staff, SERVICE, "update_department_rules", format!("department:{department_id}"))
        .with_change(None, Some(after.clone()));
    audit::record(&mut tx, &entry).await?;
    outbox::enqueue(&mut tx, "booking.rules_changed", &json!({"department_id": department_id, "overrides": after}))
        .await?;
    tx.commit().await
}

fn rules_json(r: &ReleaseRules, charges_online: bool, hold: i64, accept: i64) -> Value {
    json!({
        "release_days_ahead": r.release_days_ahead, "release_minute_of_day": r.release_minute_of_day,
        "cutoff_minutes_before": r.cutoff_minutes_before, "cancel_days_before": r.cancel_days_before,
        "cancel_minute_of_day": r.cancel_minute_of_day, "charges_online": charges_online,
        "hold_minutes": hold, "waitlist_accept_minutes": accept,
    })
}

// ---------------------------------------------------------------------------------------------
// Sessions and slots.

const SESSION_SELECT: &str = "SELECT s.id, s.doctor_id, s.hospital_id, s.department_id, s.visit_date, s.period,
    s.starts_at, s.ends_at, s.capacity, s.slot_minutes, s.fee_fen, s.status,
    CAST((SELECT COUNT(*) FROM slots x WHERE x.session_id = s.id AND x.status = 'free') AS BIGINT) AS n_free
    FROM sessions s";

fn session_from(r: &AnyRow) -> Result<SessionRow, sqlx::Error> {
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
        fee_fen: r.try_get("fee_fen")?,
        status: r.try_get("status")?,
        n_free: r.try_get("n_free")?,
    })
}

/// One session.
pub async fn get_session(db: &Db, id: &str) -> Result<Option<SessionRow>, sqlx::Error> {
    let sql = format!("{SESSION_SELECT} WHERE s.id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&db.pool).await?;
    row.as_ref().map(session_from).transpose()
}

/// A doctor's sessions from `from` to `to` (inclusive dates).
pub async fn list_sessions(db: &Db, doctor_id: &str, from: &str, to: &str) -> Result<Vec<SessionRow>, sqlx::Error> {
    let sql = format!(
        "{SESSION_SELECT} WHERE s.doctor_id = $1 AND s.visit_date >= $2 AND s.visit_date <= $3
         ORDER BY s.visit_date, s.starts_at"
    );
    let rows = sqlx::query(&sql).bind(doctor_id).bind(from).bind(to).fetch_all(&db.pool).await?;
    rows.iter().map(session_from).collect()
}

/// What a scheduler asks for.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Doctor.
    pub doctor: DoctorRow,
    /// Beijing day.
    pub visit_date: NaiveDate,
    /// Half-day.
    pub period: Period,
    /// Numbers.
    pub capacity: i64,
    /// Window length.
    pub slot_minutes: i64,
}

/// Publishes a session and its numbered slots; None when that doctor already has that half-day.
/// `staff` is None for the demo seeder.
pub async fn publish_session(
    db: &Db,
    staff: Option<&Staff>,
    new: &NewSession,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    let mut tx = begin_write(db).await?;
    let id = insert_session(&mut tx, new, now).await?;
    if let Some(id) = &id {
        let after = json!({
            "session_id": id, "doctor_id": new.doctor.id, "visit_date": new.visit_date.to_string(),
            "period": new.period.code(), "capacity": new.capacity, "slot_minutes": new.slot_minutes,
        });
        if let Some(staff) = staff {
            let entry = AuditEntry::by_staff(staff, SERVICE, "publish_session", format!("session:{id}"))
                .with_change(None, Some(after.clone()));
            audit::record(&mut tx, &entry).await?;
        }
        outbox::enqueue(&mut tx, "booking.session_published", &after).await?;
    }
    tx.commit().await?;
    Ok(id)
}

/// Inserts the session and its slots inside `tx`; None when the half-day exists.
pub async fn insert_session(tx: &mut AnyConnection, new: &NewSession, now: i64) -> Result<Option<String>, sqlx::Error> {
    let (starts_at, ends_at) = new.period.bounds(new.visit_date);
    let Some(windows) = slot_windows(starts_at, ends_at, new.capacity, new.slot_minutes) else {
        return Ok(None);
    };
    let id = new_id();
    let res = sqlx::query(
        "INSERT INTO sessions (id, doctor_id, hospital_id, department_id, visit_date, period, starts_at, ends_at,
            capacity, slot_minutes, fee_fen, status, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'open', $12)
         ON CONFLICT (doctor_id, visit_date, period) DO NOTHING",
    )
    .bind(&id)
    .bind(&new.doctor.id)
    .bind(&new.doctor.hospital_id)
    .bind(&new.doctor.department_id)
    .bind(new.visit_date.to_string())
    .bind(new.period.code())
    .bind(starts_at)
    .bind(ends_at)
    .bind(new.capacity)
    .bind(new.slot_minutes)
    .bind(new.doctor.fee_fen)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if res.rows_affected() == 0 {
        return Ok(None);
    }
    // Multi-row inserts: a 40-number session is one statement, not forty round trips.
    for chunk in windows.chunks(50) {
        let mut sql = String::from("INSERT INTO slots (id, session_id, number, starts_at, ends_at, status) VALUES ");
        for (i, _) in chunk.iter().enumerate() {
            let b = i * 5;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("(${}, ${}, ${}, ${}, ${}, 'free')", b + 1, b + 2, b + 3, b + 4, b + 5));
        }
        let mut q = sqlx::query(&sql);
        for w in chunk {
            q = q.bind(new_id()).bind(id.clone()).bind(w.number).bind(w.starts_at).bind(w.ends_at);
        }
        q.execute(&mut *tx).await?;
    }
    Ok(Some(id))
}

/// The slots of a doctor's sessions on a day, in order.
pub async fn list_slots(db: &Db, doctor_id: &str, date: &str) -> Result<Vec<SlotRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT x.id, x.session_id, s.period, x.number, x.starts_at, x.ends_at, x.status
         FROM slots x JOIN sessions s ON s.id = x.session_id
         WHERE s.doctor_id = $1 AND s.visit_date = $2
         ORDER BY s.starts_at, x.number",
    )
    .bind(doctor_id)
    .bind(date)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            let status: String = r.try_get("status")?;
            Ok(SlotRow {
                id: r.try_get("id")?,
                session_id: r.try_get("session_id")?,
                period: r.try_get("period")?,
                number: r.try_get("number")?,
                starts_at: r.try_get("starts_at")?,
                ends_at: r.try_get("ends_at")?,
                free: status == "free",
            })
        })
        .collect()
}

/// Everything a booking checks about a slot, read before the write transaction.
pub async fn slot_context(db: &Db, slot_id: &str) -> Result<Option<SlotContext>, sqlx::Error> {
    // One round trip: this runs before every booking.
    let row = sqlx::query(
        "SELECT x.id AS slot_id, x.number, x.starts_at AS slot_starts_at, x.ends_at AS slot_ends_at,
            x.status AS slot_status, s.id, s.doctor_id, s.hospital_id, s.department_id, s.visit_date, s.period,
            s.starts_at, s.ends_at, s.capacity, s.slot_minutes, s.fee_fen, s.status, CAST(0 AS BIGINT) AS n_free,
            d.name AS doctor_name, h.name_zh AS hospital_name_zh, p.name_zh AS department_name_zh,
            CAST(CASE WHEN h.charges_online THEN 1 ELSE 0 END AS BIGINT) AS charges_online,
            h.hold_minutes, h.waitlist_accept_minutes,
            COALESCE(p.release_days_ahead, h.release_days_ahead) AS r_a,
            COALESCE(p.release_minute_of_day, h.release_minute_of_day) AS r_b,
            COALESCE(p.cutoff_minutes_before, h.cutoff_minutes_before) AS r_c,
            COALESCE(p.cancel_days_before, h.cancel_days_before) AS r_d,
            COALESCE(p.cancel_minute_of_day, h.cancel_minute_of_day) AS r_e
         FROM slots x JOIN sessions s ON s.id = x.session_id JOIN doctors d ON d.id = s.doctor_id
            JOIN departments p ON p.id = s.department_id JOIN hospitals h ON h.id = s.hospital_id
         WHERE x.id = $1",
    )
    .bind(slot_id)
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(SlotContext {
        slot_id: row.try_get("slot_id")?,
        number: row.try_get("number")?,
        starts_at: row.try_get("slot_starts_at")?,
        ends_at: row.try_get("slot_ends_at")?,
        status: row.try_get("slot_status")?,
        session: session_from(&row)?,
        rules: ReleaseRules {
            release_days_ahead: row.try_get("r_a")?,
            release_minute_of_day: row.try_get("r_b")?,
            cutoff_minutes_before: row.try_get("r_c")?,
            cancel_days_before: row.try_get("r_d")?,
            cancel_minute_of_day: row.try_get("r_e")?,
        },
        charges_online: row.try_get::<i64, _>("charges_online")? != 0,
        hold_minutes: row.try_get("hold_minutes")?,
        waitlist_accept_minutes: row.try_get("waitlist_accept_minutes")?,
        doctor_name: row.try_get("doctor_name")?,
        hospital_name_zh: row.try_get("hospital_name_zh")?,
        department_name_zh: row.try_get("department_name_zh")?,
    }))
}

// ---------------------------------------------------------------------------------------------
// Booking.

/// Takes the patient's lock row: on PostgreSQL the row lock serialises this patient's
/// transactions until commit; on SQLite `BEGIN IMMEDIATE` already has.
async fn lock_patient(tx: &mut AnyConnection, id_number_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO patient_locks (id_number_hash, n_bookings) VALUES ($1, 1)
         ON CONFLICT (id_number_hash) DO UPDATE SET n_bookings = patient_locks.n_bookings + 1",
    )
    .bind(id_number_hash)
    .execute(&mut *tx)
    .await
    .map(|_| ())
}

/// Takes the patient's lock row without waiting; false when another transaction holds it (or
/// the patient has none yet). On SQLite `BEGIN IMMEDIATE` already excludes every other writer.
async fn try_lock_patient(tx: &mut AnyConnection, id_number_hash: &str) -> Result<bool, sqlx::Error> {
    if tx.backend_name() != "PostgreSQL" {
        return Ok(true);
    }
    let row: Option<String> =
        sqlx::query_scalar("SELECT id_number_hash FROM patient_locks WHERE id_number_hash = $1 FOR UPDATE SKIP LOCKED")
            .bind(id_number_hash)
            .fetch_optional(&mut *tx)
            .await?;
    Ok(row.is_some())
}

/// The end of the patient's current suspension, if one is in force at `now`.
pub async fn suspended_until(
    tx: &mut AnyConnection,
    id_number_hash: &str,
    now: i64,
) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT MAX(ends_at) AS until FROM suspensions
         WHERE id_number_hash = $1 AND lifted_at IS NULL AND starts_at <= $2 AND ends_at > $2",
    )
    .bind(id_number_hash)
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    row.try_get::<Option<i64>, _>("until")
}

async fn patient_counts(
    tx: &mut AnyConnection,
    id_number_hash: &str,
    ctx: &SessionRow,
    limits: &BookingLimits,
) -> Result<PatientCounts, sqlx::Error> {
    let day: NaiveDate = ctx.visit_date.parse().unwrap_or_default();
    let span = chrono::Duration::days((limits.window_days - 1).max(0));
    let sql = format!(
        "SELECT
            CAST(COALESCE(SUM(CASE WHEN visit_date = $2 AND hospital_id = $3 AND department_id = $4 THEN 1 ELSE 0 END), 0) AS BIGINT) AS a,
            CAST(COALESCE(SUM(CASE WHEN visit_date = $2 THEN 1 ELSE 0 END), 0) AS BIGINT) AS b,
            CAST(COUNT(*) AS BIGINT) AS c
         FROM appointments
         WHERE id_number_hash = $1 AND status IN {LIVE} AND visit_date >= $5 AND visit_date <= $6"
    );
    let row = sqlx::query(&sql)
        .bind(id_number_hash)
        .bind(&ctx.visit_date)
        .bind(&ctx.hospital_id)
        .bind(&ctx.department_id)
        .bind((day - span).to_string())
        .bind((day + span).to_string())
        .fetch_one(&mut *tx)
        .await?;
    Ok(PatientCounts {
        same_day_department: row.try_get("a")?,
        same_day: row.try_get("b")?,
        in_window: row.try_get("c")?,
    })
}

/// Checks a patient's suspension and limits inside the write transaction.
async fn check_patient(
    tx: &mut AnyConnection,
    id_number_hash: &str,
    session: &SessionRow,
    limits: &BookingLimits,
    now: i64,
) -> Result<(), Problem> {
    if let Some(until) = suspended_until(tx, id_number_hash, now).await? {
        return Err(suspended(until));
    }
    let counts = patient_counts(tx, id_number_hash, session, limits).await?;
    limits.check(counts).map_err(limit_problem)
}

/// Books `ctx`'s slot for `person`: the one place a slot is taken by a citizen.
///
/// Under the patient's lock, the suspension and limit checks, the conditional take of the slot,
/// the appointment and its events are one statement on PostgreSQL (a data-modifying CTE: four
/// round trips per booking with BEGIN, the lock and COMMIT) and a short sequence inside the
/// single writer's turn on SQLite, which has no DML in CTEs.
pub async fn book(
    db: &Db,
    ctx: &SlotContext,
    citizen_id: &str,
    person: &Person,
    limits: &BookingLimits,
    now: i64,
) -> Result<AppointmentRow, Problem> {
    let pending = ctx.charges_online && ctx.session.fee_fen > 0;
    let appt = AppointmentRow {
        id: new_id(),
        slot_id: ctx.slot_id.clone(),
        session_id: ctx.session.id.clone(),
        doctor_id: ctx.session.doctor_id.clone(),
        hospital_id: ctx.session.hospital_id.clone(),
        department_id: ctx.session.department_id.clone(),
        visit_date: ctx.session.visit_date.clone(),
        number: ctx.number,
        starts_at: ctx.starts_at,
        ends_at: ctx.ends_at,
        citizen_id: citizen_id.to_owned(),
        person_id: person.id.clone(),
        id_number_hash: person.id_number_hash.clone(),
        patient_name_masked: person.name_masked.clone(),
        fee_fen: ctx.session.fee_fen,
        paid: false,
        refund_state: None,
        status: if pending { "pending_payment" } else { "booked" }.into(),
        hold_expires_at: pending.then_some(now + ctx.hold_minutes * 60_000),
        cancel_reason: None,
        created_at: now,
    };
    let events = booking_events(&appt, ctx, pending);
    let window = limit_window(&ctx.session, limits);
    let mut tx = begin_write(db).await?;
    let outcome = match db.backend {
        Backend::Postgres => {
            lock_patient(&mut tx, &person.id_number_hash).await?;
            book_in_one_statement(&mut tx, &appt, pending, &window, limits, &events).await?
        }
        Backend::Sqlite => {
            // The writer's turn and BEGIN IMMEDIATE already exclude every other writer, so the
            // patient's lock row adds nothing here.
            let (until, counts) = patient_state(&mut tx, &appt.id_number_hash, &window, now).await?;
            let mut outcome = BookOutcome { until, counts, taken: false, slot_status: None };
            if until.is_none() && limits.check(counts).is_ok() {
                outcome.taken = take_slot(&mut tx, &appt, pending).await?;
                if outcome.taken {
                    if let Err(err) = insert_appointment(&mut tx, &appt).await {
                        return Err(live_slot_conflict(err));
                    }
                    outbox::enqueue_many(&mut tx, &events).await?;
                } else {
                    outcome.slot_status = sqlx::query_scalar("SELECT status FROM slots WHERE id = $1")
                        .bind(&appt.slot_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                }
            }
            outcome
        }
    };
    if let Some(until) = outcome.until {
        return Err(suspended(until));
    }
    limits.check(outcome.counts).map_err(limit_problem)?;
    if !outcome.taken {
        return Err(if outcome.slot_status.as_deref() == Some("stopped") {
            session_stopped()
        } else {
            rule_problem(
                StatusCode::CONFLICT,
                "slot-taken",
                "The slot is already taken",
                "slot_id",
                "someone booked this number first; choose another",
            )
        });
    }
    tx.commit().await?;
    Ok(appt)
}

/// What the booking statement found and did.
struct BookOutcome {
    /// The end of a suspension in force.
    until: Option<i64>,
    /// The patient's live bookings around the day.
    counts: PatientCounts,
    /// Whether the slot was taken (and the appointment and events written).
    taken: bool,
    /// The slot's status when it was not taken.
    slot_status: Option<String>,
}

/// The visit days a patient's limits look at for a session.
struct LimitWindow {
    visit_date: String,
    hospital_id: String,
    department_id: String,
    from: String,
    to: String,
}

fn limit_window(session: &SessionRow, limits: &BookingLimits) -> LimitWindow {
    let day: NaiveDate = session.visit_date.parse().unwrap_or_default();
    let span = chrono::Duration::days((limits.window_days - 1).max(0));
    LimitWindow {
        visit_date: session.visit_date.clone(),
        hospital_id: session.hospital_id.clone(),
        department_id: session.department_id.clone(),
        from: (day - span).to_string(),
        to: (day + span).to_string(),
    }
}

/// The events a booking writes: booked (or held, with the fee due) and the patient's notice.
fn booking_events(appt: &AppointmentRow, ctx: &SlotContext, pending: bool) -> Vec<(&'static str, Value)> {
    let mut event = appt.summary();
    event["citizen_id"] = json!(appt.citizen_id);
    let mut events = vec![(if pending { "booking.held" } else { "booking.booked" }, event)];
    if pending {
        events.push(("booking.fee_due", fee_due_payload(appt, ctx)));
    }
    events.push((
        "notify.requested",
        notify_payload(
            &format!("booking:{}:booked", appt.id),
            &appt.citizen_id,
            "booking.booked",
            ("预约成功", "Appointment booked"),
            (
                format!(
                    "{} {} 第{}号，就诊人 {}",
                    ctx.hospital_name_zh, ctx.doctor_name, appt.number, appt.patient_name_masked
                ),
                format!(
                    "{} {}, number {}, for {}",
                    appt.visit_date, ctx.doctor_name, appt.number, appt.patient_name_masked
                ),
            ),
            json!({"appointment_id": appt.id, "pending_payment": pending}),
        ),
    ));
    events
}

/// PostgreSQL: checks, take, appointment and events in one statement. Data-modifying CTEs see
/// the snapshot taken when the statement starts, so the patient's lock must already be held
/// (a separate statement) for the counts to include every committed booking of theirs.
async fn book_in_one_statement(
    tx: &mut AnyConnection,
    appt: &AppointmentRow,
    pending: bool,
    window: &LimitWindow,
    limits: &BookingLimits,
    events: &[(&'static str, Value)],
) -> Result<BookOutcome, Problem> {
    const FIRST_EVENT_PARAM: usize = 29;
    let values: Vec<String> = (0..events.len())
        .map(|i| {
            let b = FIRST_EVENT_PARAM + i * 4;
            format!("(${}, ${}, ${}, ${})", b, b + 1, b + 2, b + 3)
        })
        .collect();
    let sql = format!(
        "WITH susp AS (
            SELECT MAX(ends_at) AS until FROM suspensions
            WHERE id_number_hash = $1 AND lifted_at IS NULL AND starts_at <= $2 AND ends_at > $2
         ), counts AS (
            SELECT
              CAST(COALESCE(SUM(CASE WHEN visit_date = $3 AND hospital_id = $4 AND department_id = $5 THEN 1 ELSE 0 END), 0) AS BIGINT) AS a,
              CAST(COALESCE(SUM(CASE WHEN visit_date = $3 THEN 1 ELSE 0 END), 0) AS BIGINT) AS b,
              CAST(COUNT(*) AS BIGINT) AS c
            FROM appointments
            WHERE id_number_hash = $1 AND status IN {LIVE} AND visit_date >= $6 AND visit_date <= $7
         ), allowed AS (
            SELECT 1 FROM susp, counts WHERE susp.until IS NULL AND counts.a < $8 AND counts.b < $9 AND counts.c < $10
         ), taken AS (
            UPDATE slots SET status = $11, appointment_id = $12
            WHERE id = $13 AND status = 'free' AND EXISTS (SELECT 1 FROM allowed) RETURNING id
         ), appt AS (
            INSERT INTO appointments (id, slot_id, session_id, doctor_id, hospital_id, department_id, visit_date,
                number, starts_at, ends_at, citizen_id, person_id, id_number_hash, patient_name_masked, fee_fen, paid,
                status, hold_expires_at, reminded, created_at, updated_at)
            SELECT $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $1, $24, $25, FALSE, $26, $27, FALSE,
                $28, $28
            FROM taken RETURNING id
         ), events AS (
            INSERT INTO platform_outbox (id, topic, payload, created_at)
            SELECT v.id, v.topic, v.payload, v.created_at FROM (VALUES {}) AS v (id, topic, payload, created_at)
            WHERE EXISTS (SELECT 1 FROM appt) RETURNING id
         )
         SELECT susp.until, counts.a, counts.b, counts.c,
            CAST((SELECT COUNT(*) FROM appt) AS BIGINT) AS n_taken,
            (SELECT status FROM slots WHERE id = $13) AS slot_status
         FROM susp, counts",
        values.join(", ")
    );
    let mut q = sqlx::query(&sql)
        .bind(&appt.id_number_hash)
        .bind(appt.created_at)
        .bind(&window.visit_date)
        .bind(&window.hospital_id)
        .bind(&window.department_id)
        .bind(&window.from)
        .bind(&window.to)
        .bind(limits.same_day_department)
        .bind(limits.same_day)
        .bind(limits.window_max)
        .bind(if pending { "held" } else { "booked" })
        .bind(&appt.id)
        .bind(&appt.slot_id)
        .bind(&appt.session_id)
        .bind(&appt.doctor_id)
        .bind(&appt.hospital_id)
        .bind(&appt.department_id)
        .bind(&appt.visit_date)
        .bind(appt.number)
        .bind(appt.starts_at)
        .bind(appt.ends_at)
        .bind(&appt.citizen_id)
        .bind(&appt.person_id)
        .bind(&appt.patient_name_masked)
        .bind(appt.fee_fen)
        .bind(&appt.status)
        .bind(appt.hold_expires_at)
        .bind(appt.created_at);
    let created_at = city_platform::time::now_ms();
    for (topic, payload) in events {
        q = q.bind(new_id()).bind(*topic).bind(payload.to_string()).bind(created_at);
    }
    let row = q.fetch_one(&mut *tx).await.map_err(live_slot_conflict)?;
    Ok(BookOutcome {
        until: row.try_get("until")?,
        counts: PatientCounts {
            same_day_department: row.try_get("a")?,
            same_day: row.try_get("b")?,
            in_window: row.try_get("c")?,
        },
        taken: row.try_get::<i64, _>("n_taken")? == 1,
        slot_status: row.try_get("slot_status")?,
    })
}

/// The patient's suspension in force and live bookings around the day, in one query.
async fn patient_state(
    tx: &mut AnyConnection,
    id_number_hash: &str,
    window: &LimitWindow,
    now: i64,
) -> Result<(Option<i64>, PatientCounts), sqlx::Error> {
    let sql = format!(
        "SELECT
            (SELECT MAX(ends_at) FROM suspensions
             WHERE id_number_hash = $1 AND lifted_at IS NULL AND starts_at <= $2 AND ends_at > $2) AS until,
            CAST(COALESCE(SUM(CASE WHEN visit_date = $3 AND hospital_id = $4 AND department_id = $5 THEN 1 ELSE 0 END), 0) AS BIGINT) AS a,
            CAST(COALESCE(SUM(CASE WHEN visit_date = $3 THEN 1 ELSE 0 END), 0) AS BIGINT) AS b,
            CAST(COUNT(*) AS BIGINT) AS c
         FROM appointments
         WHERE id_number_hash = $1 AND status IN {LIVE} AND visit_date >= $6 AND visit_date <= $7"
    );
    let row = sqlx::query(&sql)
        .bind(id_number_hash)
        .bind(now)
        .bind(&window.visit_date)
        .bind(&window.hospital_id)
        .bind(&window.department_id)
        .bind(&window.from)
        .bind(&window.to)
        .fetch_one(&mut *tx)
        .await?;
    let counts = PatientCounts {
        same_day_department: row.try_get("a")?,
        same_day: row.try_get("b")?,
        in_window: row.try_get("c")?,
    };
    Ok((row.try_get("until")?, counts))
}

/// Takes a free slot for `appt`; false when it is not free.
async fn take_slot(tx: &mut AnyConnection, appt: &AppointmentRow, pending: bool) -> Result<bool, sqlx::Error> {
    let taken =
        sqlx::query("UPDATE slots SET status = $2, appointment_id = $3 WHERE id = $1 AND status = 'free' RETURNING id")
            .bind(&appt.slot_id)
            .bind(if pending { "held" } else { "booked" })
            .bind(&appt.id)
            .fetch_optional(&mut *tx)
            .await?;
    Ok(taken.is_some())
}

/// A second live appointment on one slot is refused by the database's unique index.
fn live_slot_conflict(err: sqlx::Error) -> Problem {
    if is_unique_violation(&err) {
        rule_problem(
            StatusCode::CONFLICT,
            "slot-taken",
            "The slot is already taken",
            "slot_id",
            "this number is already booked",
        )
    } else {
        err.into()
    }
}

fn suspended(until: i64) -> Problem {
    rule_problem(
        StatusCode::CONFLICT,
        "patient-suspended",
        "Online booking is suspended for this patient",
        "person_id",
        format!(
            "after missed appointments, online booking is suspended until {}; emergency care is not affected",
            city_platform::time::rfc3339(city_platform::time::from_ms(until))
        ),
    )
}

fn limit_problem(e: crate::domain::LimitExceeded) -> Problem {
    rule_problem(
        StatusCode::CONFLICT,
        "booking-limit-exceeded",
        "The patient has reached a booking limit",
        "person_id",
        e.to_string(),
    )
}

async fn fee_due(tx: &mut AnyConnection, appt: &AppointmentRow, ctx: &SlotContext) -> Result<(), sqlx::Error> {
    outbox::enqueue(tx, "booking.fee_due", &fee_due_payload(appt, ctx)).await.map(|_| ())
}

/// `booking.fee_due`, the shape payments consumes.
fn fee_due_payload(appt: &AppointmentRow, ctx: &SlotContext) -> Value {
    json!({
        "booking_id": appt.id, "citizen_id": appt.citizen_id, "amount_fen": appt.fee_fen,
        "hospital_id": ctx.session.hospital_id,
        "description": format!("挂号费 {} {} {} 第{}号", ctx.hospital_name_zh, ctx.doctor_name, appt.visit_date, appt.number),
        "pay_before_ms": appt.hold_expires_at,
    })
}

fn session_stopped() -> Problem {
    rule_problem(
        StatusCode::CONFLICT,
        "session-stopped",
        "The doctor has stopped this session",
        "slot_id",
        "this session was stopped (停诊); choose another doctor or day",
    )
}

async fn insert_appointment(tx: &mut AnyConnection, a: &AppointmentRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO appointments (id, slot_id, session_id, doctor_id, hospital_id, department_id, visit_date, number,
            starts_at, ends_at, citizen_id, person_id, id_number_hash, patient_name_masked, fee_fen, paid, status,
            hold_expires_at, reminded, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, FALSE, $16, $17, FALSE, $18, $18)",
    )
    .bind(&a.id)
    .bind(&a.slot_id)
    .bind(&a.session_id)
    .bind(&a.doctor_id)
    .bind(&a.hospital_id)
    .bind(&a.department_id)
    .bind(&a.visit_date)
    .bind(a.number)
    .bind(a.starts_at)
    .bind(a.ends_at)
    .bind(&a.citizen_id)
    .bind(&a.person_id)
    .bind(&a.id_number_hash)
    .bind(&a.patient_name_masked)
    .bind(a.fee_fen)
    .bind(&a.status)
    .bind(a.hold_expires_at)
    .bind(a.created_at)
    .execute(&mut *tx)
    .await
    .map(|_| ())
}

/// One appointment.
pub async fn get_appointment(db: &Db, id: &str) -> Result<Option<AppointmentRow>, sqlx::Error> {
    let sql = format!("SELECT {APPT_COLS} FROM appointments WHERE id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&db.pool).await?;
    row.as_ref().map(appointment_from).transpose()
}

/// A citizen's appointments, newest visit first.
pub async fn list_appointments(db: &Db, citizen_id: &str) -> Result<Vec<AppointmentRow>, sqlx::Error> {
    let sql = format!("SELECT {APPT_COLS} FROM appointments WHERE citizen_id = $1 ORDER BY starts_at DESC, id");
    let rows = sqlx::query(&sql).bind(citizen_id).fetch_all(&db.pool).await?;
    rows.iter().map(appointment_from).collect()
}

/// The citizen's earliest appointment, for any of their patients, that is booked or awaiting
/// payment and whose window has not ended by `now`; with the doctor's, hospital's and
/// department's names.
pub async fn next_appointment(
    db: &Db,
    citizen_id: &str,
    now: i64,
) -> Result<Option<(AppointmentRow, Option<DoctorRow>)>, sqlx::Error> {
    let sql = format!(
        "SELECT {APPT_COLS} FROM appointments
         WHERE citizen_id = $1 AND status IN ('booked', 'pending_payment') AND ends_at > $2
         ORDER BY starts_at, id LIMIT 1"
    );
    let row = sqlx::query(&sql).bind(citizen_id).bind(now).fetch_optional(&db.pool).await?;
    let Some(appt) = row.as_ref().map(appointment_from).transpose()? else { return Ok(None) };
    let doctor = get_doctor(db, &appt.doctor_id).await?;
    Ok(Some((appt, doctor)))
}

/// Appointments on a session, for staff.
pub async fn list_session_appointments(db: &Db, session_id: &str) -> Result<Vec<AppointmentRow>, sqlx::Error> {
    let sql = format!("SELECT {APPT_COLS} FROM appointments WHERE session_id = $1 ORDER BY number, created_at");
    let rows = sqlx::query(&sql).bind(session_id).fetch_all(&db.pool).await?;
    rows.iter().map(appointment_from).collect()
}

/// Ends a live appointment (`cancelled` / `expired`) exactly once, returns its slot and offers
/// it to the waitlist, asks for a refund when it was paid. None when it was no longer live in
/// `from` (someone else changed it first).
#[allow(clippy::too_many_arguments)]
async fn end_appointment(
    tx: &mut AnyConnection,
    id: &str,
    from: &[&str],
    to: &str,
    reason: &str,
    limits: &BookingLimits,
    now: i64,
    reopen_slot: bool,
) -> Result<Option<AppointmentRow>, sqlx::Error> {
    let states = from.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "UPDATE appointments SET status = $2, cancel_reason = $3, updated_at = $4,
            refund_state = CASE WHEN paid THEN 'requested' ELSE refund_state END
         WHERE id = $1 AND status IN ({states}) RETURNING {APPT_COLS}"
    );
    let row = sqlx::query(&sql).bind(id).bind(to).bind(reason).bind(now).fetch_optional(&mut *tx).await?;
    let Some(row) = row else { return Ok(None) };
    let appt = appointment_from(&row)?;
    let topic = if to == "expired" { "booking.expired" } else { "booking.cancelled" };
    let mut event = appt.summary();
    event["reason"] = json!(reason);
    event["citizen_id"] = json!(appt.citizen_id);
    outbox::enqueue(tx, topic, &event).await?;
    if appt.paid {
        request_refund(tx, &appt, reason).await?;
    }
    sqlx::query("UPDATE waitlist SET status = $2 WHERE appointment_id = $1 AND status = 'offered'")
        .bind(&appt.id)
        .bind(if to == "expired" { "expired" } else { "cancelled" })
        .execute(&mut *tx)
        .await?;
    if reopen_slot {
        let freed = sqlx::query(
            "UPDATE slots SET status = 'free', appointment_id = NULL WHERE id = $1 AND appointment_id = $2",
        )
        .bind(&appt.slot_id)
        .bind(&appt.id)
        .execute(&mut *tx)
        .await?;
        if freed.rows_affected() == 1 {
            offer_to_waitlist(tx, &appt.session_id, &appt.slot_id, limits, now).await?;
        }
    }
    Ok(Some(appt))
}

async fn request_refund(tx: &mut AnyConnection, appt: &AppointmentRow, reason: &str) -> Result<(), sqlx::Error> {
    outbox::enqueue(
        tx,
        "booking.refund_requested",
        &json!({
            "booking_id": appt.id, "citizen_id": appt.citizen_id, "amount_fen": appt.fee_fen,
            "description": format!("挂号费退款 {} 第{}号 ({reason})", appt.visit_date, appt.number),
            "reason": reason,
        }),
    )
    .await
    .map(|_| ())
}

/// A citizen cancels their own appointment.
pub async fn cancel(
    db: &Db,
    citizen_id: &str,
    id: &str,
    limits: &BookingLimits,
    now: i64,
) -> Result<AppointmentRow, Problem> {
    let Some(appt) = get_appointment(db, id).await?.filter(|a| a.citizen_id == citizen_id) else {
        return Err(Problem::not_found("appointment"));
    };
    if appt.status == "booked" {
        let rules = department_rules(db, &appt.department_id).await?.map(|(_, r)| r).unwrap_or_default();
        let deadline = rules.cancel_deadline(appt.visit_date.parse().unwrap_or_default());
        if now > deadline {
            return Err(Problem::conflict("cancel-deadline-passed", "The cancellation deadline has passed")
                .with_detail(format!(
                    "cancelling closed at {}; a booking not attended is a no-show",
                    city_platform::time::rfc3339(city_platform::time::from_ms(deadline))
                )));
        }
    }
    let mut tx = begin_write(db).await?;
    let ended = end_appointment(
        &mut tx,
        id,
        &["pending_payment", "offered", "booked"],
        "cancelled",
        "patient",
        limits,
        now,
        true,
    )
    .await?;
    let Some(appt) = ended else {
        return Err(Problem::conflict("not-cancellable", "The appointment cannot be cancelled")
            .with_detail(format!("it is {}", appt.status)));
    };
    notify(
        &mut tx,
        &format!("booking:{}:cancelled", appt.id),
        &appt.citizen_id,
        "booking.cancelled",
        ("预约已取消", "Appointment cancelled"),
        (
            format!(
                "{} 第{}号已取消{}",
                appt.visit_date,
                appt.number,
                if appt.paid { "，挂号费将原路退回" } else { "" }
            ),
            format!(
                "{} number {} is cancelled{}",
                appt.visit_date,
                appt.number,
                if appt.paid { "; the fee will be refunded" } else { "" }
            ),
        ),
        json!({"appointment_id": appt.id}),
    )
    .await?;
    tx.commit().await?;
    Ok(appt)
}

// ---------------------------------------------------------------------------------------------
// Waitlist.

/// A waitlist entry.
#[derive(Debug, Clone)]
pub struct WaitlistRow {
    /// Id.
    pub id: String,
    /// Session.
    pub session_id: String,
    /// Owner.
    pub citizen_id: String,
    /// Patient.
    pub person_id: String,
    /// Masked name.
    pub patient_name_masked: String,
    /// Status.
    pub status: String,
    /// The offered appointment.
    pub appointment_id: Option<String>,
    /// When the offer lapses.
    pub offer_expires_at: Option<i64>,
    /// Place in the queue among those still waiting (1 = next), when waiting.
    pub position: Option<i64>,
    /// Created.
    pub created_at: i64,
}

const WAIT_COLS: &str =
    "w.id, w.session_id, w.citizen_id, w.person_id, w.patient_name_masked, w.status, w.appointment_id,
    w.offer_expires_at, w.created_at,
    CASE WHEN w.status = 'waiting' THEN CAST((SELECT COUNT(*) FROM waitlist v WHERE v.session_id = w.session_id
        AND v.status = 'waiting' AND v.seq <= w.seq) AS BIGINT) ELSE NULL END AS position";

fn waitlist_from(r: &AnyRow) -> Result<WaitlistRow, sqlx::Error> {
    Ok(WaitlistRow {
        id: r.try_get("id")?,
        session_id: r.try_get("session_id")?,
        citizen_id: r.try_get("citizen_id")?,
        person_id: r.try_get("person_id")?,
        patient_name_masked: r.try_get("patient_name_masked")?,
        status: r.try_get("status")?,
        appointment_id: r.try_get("appointment_id")?,
        offer_expires_at: r.try_get("offer_expires_at")?,
        position: r.try_get("position")?,
        created_at: r.try_get("created_at")?,
    })
}

/// One entry.
pub async fn get_waitlist_entry(db: &Db, id: &str) -> Result<Option<WaitlistRow>, sqlx::Error> {
    let sql = format!("SELECT {WAIT_COLS} FROM waitlist w WHERE w.id = $1");
    let row = sqlx::query(&sql).bind(id).fetch_optional(&db.pool).await?;
    row.as_ref().map(waitlist_from).transpose()
}

/// A citizen's entries.
pub async fn list_waitlist(db: &Db, citizen_id: &str) -> Result<Vec<WaitlistRow>, sqlx::Error> {
    let sql = format!("SELECT {WAIT_COLS} FROM waitlist w WHERE w.citizen_id = $1 ORDER BY w.created_at DESC");
    let rows = sqlx::query(&sql).bind(citizen_id).fetch_all(&db.pool).await?;
    rows.iter().map(waitlist_from).collect()
}

/// Joins the queue of a full session.
pub async fn join_waitlist(
    db: &Db,
    session: &SessionRow,
    citizen_id: &str,
    person: &Person,
    limits: &BookingLimits,
    now: i64,
) -> Result<String, Problem> {
    let mut tx = begin_write(db).await?;
    lock_patient(&mut tx, &person.id_number_hash).await?;
    check_patient(&mut tx, &person.id_number_hash, session, limits, now).await?;
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM sessions WHERE id = $1")
        .bind(&session.id)
        .fetch_optional(&mut *tx)
        .await?;
    if status.as_deref() != Some("open") {
        return Err(session_stopped().with_field("session_id", "stopped"));
    }
    let n_free: i64 =
        sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM slots WHERE session_id = $1 AND status = 'free'")
            .bind(&session.id)
            .fetch_one(&mut *tx)
            .await?;
    if n_free > 0 {
        return Err(rule_problem(
            StatusCode::CONFLICT,
            "session-not-full",
            "The session still has free numbers",
            "session_id",
            "book one of the free numbers instead",
        ));
    }
    let seq: i64 =
        sqlx::query_scalar("SELECT CAST(COALESCE(MAX(seq), 0) + 1 AS BIGINT) FROM waitlist WHERE session_id = $1")
            .bind(&session.id)
            .fetch_one(&mut *tx)
            .await?;
    let id = new_id();
    let res = sqlx::query(
        "INSERT INTO waitlist (id, session_id, citizen_id, person_id, id_number_hash, patient_name_masked, status, created_at, seq)
         VALUES ($1, $2, $3, $4, $5, $6, 'waiting', $7, $8)",
    )
    .bind(&id)
    .bind(&session.id)
    .bind(citizen_id)
    .bind(&person.id)
    .bind(&person.id_number_hash)
    .bind(&person.name_masked)
    .bind(now)
    .bind(seq)
    .execute(&mut *tx)
    .await;
    match res {
        Err(err) if is_unique_violation(&err) => {
            return Err(rule_problem(
                StatusCode::CONFLICT,
                "already-waitlisted",
                "The patient is already in this queue",
                "person_id",
                "one place per patient and session",
            ));
        }
        Err(err) => return Err(err.into()),
        Ok(_) => {}
    }
    outbox::enqueue(
        &mut tx,
        "booking.waitlist_joined",
        &json!({"waitlist_id": id, "session_id": session.id, "citizen_id": citizen_id, "seq": seq}),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Leaves the queue (or declines an offer).
pub async fn leave_waitlist(
    db: &Db,
    citizen_id: &str,
    id: &str,
    limits: &BookingLimits,
    now: i64,
) -> Result<(), Problem> {
    let Some(entry) = get_waitlist_entry(db, id).await?.filter(|e| e.citizen_id == citizen_id) else {
        return Err(Problem::not_found("waitlist entry"));
    };
    let mut tx = begin_write(db).await?;
    if let Some(appt) = entry.appointment_id.as_deref().filter(|_| entry.status == "offered") {
        end_appointment(&mut tx, appt, &["offered"], "cancelled", "offer_declined", limits, now, true).await?;
    }
    let res =
        sqlx::query("UPDATE waitlist SET status = 'cancelled' WHERE id = $1 AND status IN ('waiting', 'offered')")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    if res.rows_affected() == 0 && entry.status != "offered" {
        return Err(Problem::conflict("not-waiting", "This entry is no longer waiting")
            .with_detail(format!("it is {}", entry.status)));
    }
    outbox::enqueue(&mut tx, "booking.waitlist_left", &json!({"waitlist_id": id, "session_id": entry.session_id}))
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Accepts an offer: the held number becomes the patient's booking (or a pending payment).
pub async fn accept_offer(db: &Db, citizen_id: &str, id: &str, now: i64) -> Result<AppointmentRow, Problem> {
    let Some(entry) = get_waitlist_entry(db, id).await?.filter(|e| e.citizen_id == citizen_id) else {
        return Err(Problem::not_found("waitlist entry"));
    };
    let Some(appt_id) = entry.appointment_id.clone().filter(|_| entry.status == "offered") else {
        return Err(Problem::conflict("no-offer", "There is no open offer on this entry")
            .with_detail(format!("it is {}", entry.status)));
    };
    let Some(appt) = get_appointment(db, &appt_id).await? else { return Err(Problem::not_found("appointment")) };
    let Some(ctx) = slot_context(db, &appt.slot_id).await? else { return Err(Problem::not_found("slot")) };
    let pending = ctx.charges_online && appt.fee_fen > 0;
    let mut tx = begin_write(db).await?;
    let to = if pending { "pending_payment" } else { "booked" };
    let sql = format!(
        "UPDATE appointments SET status = $2, hold_expires_at = CASE WHEN $3 THEN hold_expires_at ELSE NULL END, updated_at = $4
         WHERE id = $1 AND status = 'offered' AND hold_expires_at > $4 RETURNING {APPT_COLS}"
    );
    let row = sqlx::query(&sql).bind(&appt_id).bind(to).bind(pending).bind(now).fetch_optional(&mut *tx).await?;
    let Some(row) = row else {
        return Err(Problem::conflict("offer-lapsed", "The offer has lapsed")
            .with_detail("the number passed to the next in line"));
    };
    let appt = appointment_from(&row)?;
    sqlx::query("UPDATE waitlist SET status = 'accepted' WHERE id = $1").bind(id).execute(&mut *tx).await?;
    if !pending {
        sqlx::query("UPDATE slots SET status = 'booked' WHERE id = $1 AND appointment_id = $2")
            .bind(&appt.slot_id)
            .bind(&appt.id)
            .execute(&mut *tx)
            .await?;
    }
    let mut event = appt.summary();
    event["citizen_id"] = json!(appt.citizen_id);
    outbox::enqueue(&mut tx, if pending { "booking.held" } else { "booking.booked" }, &event).await?;
    if pending {
        fee_due(&mut tx, &appt, &ctx).await?;
    }
    tx.commit().await?;
    Ok(appt)
}

/// Offers a returned slot to the first patient waiting on the session, skipping patients who
/// are suspended or would break a limit. Runs inside the transaction that returned the slot.
async fn offer_to_waitlist(
    tx: &mut AnyConnection,
    session_id: &str,
    slot_id: &str,
    limits: &BookingLimits,
    now: i64,
) -> Result<(), sqlx::Error> {
    let ctx_row = sqlx::query(
        "SELECT s.id, s.doctor_id, s.hospital_id, s.department_id, s.visit_date, s.period, s.starts_at, s.ends_at,
            s.capacity, s.slot_minutes, s.fee_fen, s.status, CAST(0 AS BIGINT) AS n_free,
            h.waitlist_accept_minutes, x.number, x.starts_at AS slot_starts_at, x.ends_at AS slot_ends_at
         FROM sessions s JOIN hospitals h ON h.id = s.hospital_id JOIN slots x ON x.id = $2
         WHERE s.id = $1",
    )
    .bind(session_id)
    .bind(slot_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(ctx_row) = ctx_row else { return Ok(()) };
    let session = session_from(&ctx_row)?;
    if session.status != "open" || session.starts_at <= now {
        return Ok(());
    }
    let accept_minutes: i64 = ctx_row.try_get("waitlist_accept_minutes")?;
    let queue = sqlx::query(
        "SELECT id, citizen_id, person_id, id_number_hash, patient_name_masked FROM waitlist
         WHERE session_id = $1 AND status = 'waiting' ORDER BY seq",
    )
    .bind(session_id)
    .fetch_all(&mut *tx)
    .await?;
    for next in queue {
        let entry_id: String = next.try_get("id")?;
        let hash: String = next.try_get("id_number_hash")?;
        // Limits are counted under the patient's lock, as in `book`. A patient whose lock is
        // held right now (they are booking elsewhere) is passed over for this number and keeps
        // their place: waiting could deadlock with that booking, which may want this very slot.
        if !try_lock_patient(tx, &hash).await? {
            continue;
        }
        let blocked = suspended_until(tx, &hash, now).await?.is_some()
            || limits.check(patient_counts(tx, &hash, &session, limits).await?).is_err();
        if blocked {
            sqlx::query("UPDATE waitlist SET status = 'skipped' WHERE id = $1")
                .bind(&entry_id)
                .execute(&mut *tx)
                .await?;
            continue;
        }
        let appt_id = new_id();
        let taken =
            sqlx::query("UPDATE slots SET status = 'held', appointment_id = $2 WHERE id = $1 AND status = 'free'")
                .bind(slot_id)
                .bind(&appt_id)
                .execute(&mut *tx)
                .await?;
        if taken.rows_affected() == 0 {
            return Ok(());
        }
        // The offer must be answered before the session's cut-off at the latest.
        let expires = (now + accept_minutes * 60_000).min(session.starts_at);
        let appt = AppointmentRow {
            id: appt_id,
            slot_id: slot_id.to_owned(),
            session_id: session.id.clone(),
            doctor_id: session.doctor_id.clone(),
            hospital_id: session.hospital_id.clone(),
            department_id: session.department_id.clone(),
            visit_date: session.visit_date.clone(),
            number: ctx_row.try_get("number")?,
            starts_at: ctx_row.try_get("slot_starts_at")?,
            ends_at: ctx_row.try_get("slot_ends_at")?,
            citizen_id: next.try_get("citizen_id")?,
            person_id: next.try_get("person_id")?,
            id_number_hash: hash,
            patient_name_masked: next.try_get("patient_name_masked")?,
            fee_fen: session.fee_fen,
            paid: false,
            refund_state: None,
            status: "offered".into(),
            hold_expires_at: Some(expires),
            cancel_reason: None,
            created_at: now,
        };
        insert_appointment(tx, &appt).await?;
        sqlx::query("UPDATE waitlist SET status = 'offered', appointment_id = $2, offer_expires_at = $3 WHERE id = $1")
            .bind(&entry_id)
            .bind(&appt.id)
            .bind(expires)
            .execute(&mut *tx)
            .await?;
        let mut event = appt.summary();
        event["waitlist_id"] = json!(entry_id);
        event["citizen_id"] = json!(appt.citizen_id);
        event["offer_expires_at_ms"] = json!(expires);
        outbox::enqueue(tx, "booking.waitlist_offered", &event).await?;
        notify(
            tx,
            &format!("booking:waitlist:{entry_id}:offered"),
            &appt.citizen_id,
            "booking.waitlist_offered",
            ("候补成功，请及时确认", "A number is free for you"),
            (
                format!(
                    "{} 第{}号已为 {} 保留，请在 {} 前确认",
                    appt.visit_date,
                    appt.number,
                    appt.patient_name_masked,
                    city_platform::time::rfc3339(city_platform::time::from_ms(expires))
                ),
                format!(
                    "{} number {} is held for {}; accept before {}",
                    appt.visit_date,
                    appt.number,
                    appt.patient_name_masked,
                    city_platform::time::rfc3339(city_platform::time::from_ms(expires))
                ),
            ),
            json!({"waitlist_id": entry_id, "appointment_id": appt.id, "offer_expires_at_ms": expires}),
        )
        .await?;
        return Ok(());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Staff actions.

/// Checks a patient in (staff).
pub async fn check_in(db: &Db, staff: &Staff, appt: &AppointmentRow, now: i64) -> Result<AppointmentRow, Problem> {
    let mut tx = begin_write(db).await?;
    let sql = format!("UPDATE appointments SET status = 'checked_in', updated_at = $2 WHERE id = $1 AND status = 'booked' RETURNING {APPT_COLS}");
    let Some(row) = sqlx::query(&sql).bind(&appt.id).bind(now).fetch_optional(&mut *tx).await? else {
        return Err(Problem::conflict("not-checkable", "Only a booked appointment can be checked in")
            .with_detail(format!("it is {}", appt.status)));
    };
    let after = appointment_from(&row)?;
    let entry = AuditEntry::by_staff(staff, SERVICE, "check_in_appointment", format!("appointment:{}", appt.id))
        .with_change(Some(appt.summary()), Some(after.summary()));
    audit::record(&mut tx, &entry).await?;
    outbox::enqueue(&mut tx, "booking.checked_in", &after.summary()).await?;
    tx.commit().await?;
    Ok(after)
}

/// Marks a no-show (staff, or the sweeper when `staff` is None) and applies the rule engine.
pub async fn mark_no_show(
    db: &Db,
    staff: Option<&Staff>,
    appt: &AppointmentRow,
    rule: &NoShowRule,
    now: i64,
) -> Result<AppointmentRow, Problem> {
    let mut tx = begin_write(db).await?;
    let sql = format!("UPDATE appointments SET status = 'no_show', updated_at = $2 WHERE id = $1 AND status = 'booked' RETURNING {APPT_COLS}");
    let Some(row) = sqlx::query(&sql).bind(&appt.id).bind(now).fetch_optional(&mut *tx).await? else {
        return Err(Problem::conflict("not-markable", "Only a booked appointment can become a no-show")
            .with_detail(format!("it is {}", appt.status)));
    };
    let after = appointment_from(&row)?;
    sqlx::query("INSERT INTO no_shows (appointment_id, id_number_hash, visit_date, recorded_at) VALUES ($1, $2, $3, $4) ON CONFLICT (appointment_id) DO NOTHING")
        .bind(&after.id)
        .bind(&after.id_number_hash)
        .bind(&after.visit_date)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    if let Some(staff) = staff {
        let entry = AuditEntry::by_staff(staff, SERVICE, "mark_no_show", format!("appointment:{}", appt.id))
            .with_change(Some(appt.summary()), Some(after.summary()));
        audit::record(&mut tx, &entry).await?;
    }
    outbox::enqueue(&mut tx, "booking.no_show", &after.summary()).await?;
    let today = city_platform::time::city_date(city_platform::time::from_ms(now));
    let from = rule.window_start(today).to_string();
    let n: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM no_shows WHERE id_number_hash = $1 AND visit_date >= $2",
    )
    .bind(&after.id_number_hash)
    .bind(&from)
    .fetch_one(&mut *tx)
    .await?;
    if let Some(days) = rule.suspension_for(n) {
        let id = new_id();
        let ends = now + days * 86_400_000;
        sqlx::query(
            "INSERT INTO suspensions (id, id_number_hash, patient_name_masked, starts_at, ends_at, n_no_shows, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $4)",
        )
        .bind(&id)
        .bind(&after.id_number_hash)
        .bind(&after.patient_name_masked)
        .bind(now)
        .bind(ends)
        .bind(n)
        .execute(&mut *tx)
        .await?;
        outbox::enqueue(
            &mut tx,
            "booking.patient_suspended",
            &json!({"suspension_id": id, "citizen_id": after.citizen_id, "days": days, "n_no_shows": n}),
        )
        .await?;
        notify(
            &mut tx,
            &format!("booking:suspension:{id}"),
            &after.citizen_id,
            "booking.patient_suspended",
            ("预约权限暂停", "Online booking suspended"),
            (
                format!("就诊人 {} 本周期内爽约 {} 次，网上预约暂停 {} 天；急诊不受影响", after.patient_name_masked, n, days),
                format!("{} missed {} appointment(s) this period; online booking is suspended for {} days; emergency care is not affected", after.patient_name_masked, n, days),
            ),
            json!({"suspension_id": id, "ends_at_ms": ends}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(after)
}

/// A suspension.
#[derive(Debug, Clone)]
pub struct SuspensionRow {
    /// Id.
    pub id: String,
    /// Masked name.
    pub patient_name_masked: String,
    /// From.
    pub starts_at: i64,
    /// Until.
    pub ends_at: i64,
    /// The no-show count that caused it.
    pub n_no_shows: i64,
    /// When lifted.
    pub lifted_at: Option<i64>,
    /// Who lifted it.
    pub lifted_by: Option<String>,
    /// Why.
    pub lift_reason: Option<String>,
}

fn suspension_from(r: &AnyRow) -> Result<SuspensionRow, sqlx::Error> {
    Ok(SuspensionRow {
        id: r.try_get("id")?,
        patient_name_masked: r.try_get("patient_name_masked")?,
        starts_at: r.try_get("starts_at")?,
        ends_at: r.try_get("ends_at")?,
        n_no_shows: r.try_get("n_no_shows")?,
        lifted_at: r.try_get("lifted_at")?,
        lifted_by: r.try_get("lifted_by")?,
        lift_reason: r.try_get("lift_reason")?,
    })
}

const SUSP_COLS: &str = "id, patient_name_masked, starts_at, ends_at, n_no_shows, lifted_at, lifted_by, lift_reason";

/// Suspensions in force at `now`.
pub async fn list_suspensions(db: &Db, now: i64) -> Result<Vec<SuspensionRow>, sqlx::Error> {
    let sql =
        format!("SELECT {SUSP_COLS} FROM suspensions WHERE lifted_at IS NULL AND ends_at > $1 ORDER BY starts_at DESC");
    let rows = sqlx::query(&sql).bind(now).fetch_all(&db.pool).await?;
    rows.iter().map(suspension_from).collect()
}

/// Lifts a suspension (an appeal upheld), audited.
pub async fn lift_suspension(
    db: &Db,
    staff: &Staff,
    id: &str,
    reason: &str,
    now: i64,
) -> Result<SuspensionRow, Problem> {
    let mut tx = begin_write(db).await?;
    let sql = format!(
        "UPDATE suspensions SET lifted_at = $2, lifted_by = $3, lift_reason = $4 WHERE id = $1 AND lifted_at IS NULL RETURNING {SUSP_COLS}"
    );
    let row = sqlx::query(&sql).bind(id).bind(now).bind(&staff.username).bind(reason).fetch_optional(&mut *tx).await?;
    let Some(row) = row else {
        return Err(Problem::not_found("active suspension"));
    };
    let s = suspension_from(&row)?;
    let entry = AuditEntry::by_staff(staff, SERVICE, "lift_suspension", format!("suspension:{id}"))
        .with_change(Some(json!({"lifted": false})), Some(json!({"lifted": true, "reason": reason})));
    audit::record(&mut tx, &entry).await?;
    outbox::enqueue(&mut tx, "booking.suspension_lifted", &json!({"suspension_id": id})).await?;
    tx.commit().await?;
    Ok(s)
}

/// Stops a session (停诊): every live booking on it is cancelled exactly once, refunds are
/// requested for paid ones, patients are told and offered same-grade alternatives, and the
/// waitlist is cleared. Returns the cancelled appointments; None when it was already stopped.
pub async fn stop_session(
    db: &Db,
    staff: &Staff,
    session: &SessionRow,
    reason: &str,
    alternatives: &[Value],
    limits: &BookingLimits,
    now: i64,
) -> Result<Option<Vec<AppointmentRow>>, Problem> {
    let mut tx = begin_write(db).await?;
    let res = sqlx::query("UPDATE sessions SET status = 'stopped', stop_reason = $2 WHERE id = $1 AND status = 'open'")
        .bind(&session.id)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
    if res.rows_affected() == 0 {
        return Ok(None);
    }
    // Taking every slot's row lock first: a booking racing this either committed (and its
    // appointment is cancelled below) or finds the slot stopped.
    let taken: Vec<Option<String>> =
        sqlx::query_scalar("UPDATE slots SET status = 'stopped' WHERE session_id = $1 RETURNING appointment_id")
            .bind(&session.id)
            .fetch_all(&mut *tx)
            .await?;
    let mut cancelled = Vec::new();
    for appt_id in taken.into_iter().flatten() {
        let Some(appt) = end_appointment(
            &mut tx,
            &appt_id,
            &["pending_payment", "offered", "booked"],
            "cancelled",
            "stop_diagnosis",
            limits,
            now,
            false,
        )
        .await?
        else {
            continue;
        };
        sqlx::query("INSERT INTO rebooking_offers (appointment_id, citizen_id, alternatives, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (appointment_id) DO NOTHING")
            .bind(&appt.id)
            .bind(&appt.citizen_id)
            .bind(Value::Array(alternatives.to_vec()).to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        notify(
            &mut tx,
            &format!("booking:{}:stop_diagnosis", appt.id),
            &appt.citizen_id,
            "booking.stop_diagnosis",
            ("医生停诊通知", "Doctor's session cancelled"),
            (
                format!("{} 第{}号因医生停诊已取消{}；可选择同级别医生改约", appt.visit_date, appt.number, if appt.paid { "，挂号费将原路退回" } else { "" }),
                format!("{} number {} is cancelled because the doctor stopped the session{}; you may rebook with a doctor of the same grade", appt.visit_date, appt.number, if appt.paid { "; the fee will be refunded" } else { "" }),
            ),
            json!({"appointment_id": appt.id, "reason": reason, "alternatives": alternatives}),
        )
        .await?;
        cancelled.push(appt);
    }
    let cleared: Vec<String> = sqlx::query_scalar(
        "UPDATE waitlist SET status = 'cleared' WHERE session_id = $1 AND status = 'waiting' RETURNING citizen_id",
    )
    .bind(&session.id)
    .fetch_all(&mut *tx)
    .await?;
    for (i, citizen) in cleared.iter().enumerate() {
        notify(
            &mut tx,
            &format!("booking:session:{}:waitlist_cleared:{i}:{citizen}", session.id),
            citizen,
            "booking.waitlist_cleared",
            ("候补已取消", "Waitlist closed"),
            ("医生停诊，候补已取消".into(), "The doctor stopped the session; your waitlist place is closed".into()),
            json!({"session_id": session.id, "alternatives": alternatives}),
        )
        .await?;
    }
    let after = json!({"status": "stopped", "reason": reason, "n_cancelled": cancelled.len()});
    let entry = AuditEntry::by_staff(staff, SERVICE, "stop_session", format!("session:{}", session.id))
        .with_change(Some(json!({"status": session.status})), Some(after.clone()));
    audit::record(&mut tx, &entry).await?;
    outbox::enqueue(&mut tx, "booking.session_stopped", &json!({"session_id": session.id, "doctor_id": session.doctor_id, "visit_date": session.visit_date, "reason": reason, "n_cancelled": cancelled.len()})).await?;
    tx.commit().await?;
    Ok(Some(cancelled))
}

/// Open sessions of same-title doctors in the same department of the same hospital, with free
/// numbers, from `from` on (up to 7 days): what a stopped session's patients are offered.
pub async fn same_grade_alternatives(
    db: &Db,
    session: &SessionRow,
    from_date: &str,
    now: i64,
) -> Result<Vec<Value>, sqlx::Error> {
    let day: NaiveDate = from_date.parse().unwrap_or_default();
    let to = (day + chrono::Duration::days(7)).to_string();
    let rows = sqlx::query(
        "SELECT s.id, s.doctor_id, d.name, d.title, s.visit_date, s.period,
            CAST((SELECT COUNT(*) FROM slots x WHERE x.session_id = s.id AND x.status = 'free') AS BIGINT) AS n_free
         FROM sessions s JOIN doctors d ON d.id = s.doctor_id
         WHERE s.department_id = $1 AND s.id <> $2 AND s.status = 'open' AND s.starts_at > $3
           AND s.visit_date >= $4 AND s.visit_date <= $5
           AND d.title = (SELECT title FROM doctors WHERE id = $6)
         ORDER BY s.starts_at LIMIT 20",
    )
    .bind(&session.department_id)
    .bind(&session.id)
    .bind(now)
    .bind(from_date)
    .bind(&to)
    .bind(&session.doctor_id)
    .fetch_all(&db.pool)
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let n_free: i64 = r.try_get("n_free")?;
        if n_free == 0 {
            continue;
        }
        out.push(json!({
            "session_id": r.try_get::<String, _>("id")?, "doctor_id": r.try_get::<String, _>("doctor_id")?,
            "doctor_name": r.try_get::<String, _>("name")?, "title": r.try_get::<String, _>("title")?,
            "visit_date": r.try_get::<String, _>("visit_date")?, "period": r.try_get::<String, _>("period")?,
            "n_free": n_free,
        }));
        if out.len() >= 5 {
            break;
        }
    }
    Ok(out)
}

/// A citizen's rebooking offer after a stop.
pub async fn rebooking_offer(db: &Db, appointment_id: &str) -> Result<Option<Value>, sqlx::Error> {
    let text: Option<String> =
        sqlx::query_scalar("SELECT alternatives FROM rebooking_offers WHERE appointment_id = $1")
            .bind(appointment_id)
            .fetch_optional(&db.pool)
            .await?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

// ---------------------------------------------------------------------------------------------
// Payments.

/// `payments.paid` for a booking: the hold becomes a booking; a payment that arrives after the
/// hold lapsed (or the booking was cancelled) is accepted and refunded, never booked twice.
/// Returns the (doctor, date) whose slots changed.
pub async fn apply_paid(
    db: &Db,
    event_id: &str,
    appointment_id: &str,
    out_trade_no: &str,
    amount_fen: i64,
    now: i64,
) -> Result<Option<(String, String)>, sqlx::Error> {
    let mut tx = begin_write(db).await?;
    if !outbox::Inbox::first_time(&mut tx, SERVICE, event_id).await? {
        tx.commit().await?;
        return Ok(None);
    }
    let sql = format!(
        "UPDATE appointments SET status = 'booked', paid = TRUE, out_trade_no = $2, hold_expires_at = NULL, updated_at = $3
         WHERE id = $1 AND status = 'pending_payment' RETURNING {APPT_COLS}"
    );
    let row = sqlx::query(&sql).bind(appointment_id).bind(out_trade_no).bind(now).fetch_optional(&mut *tx).await?;
    let changed = if let Some(row) = row {
        let appt = appointment_from(&row)?;
        sqlx::query("UPDATE slots SET status = 'booked' WHERE id = $1 AND appointment_id = $2")
            .bind(&appt.slot_id)
            .bind(&appt.id)
            .execute(&mut *tx)
            .await?;
        let mut event = appt.summary();
        event["citizen_id"] = json!(appt.citizen_id);
        outbox::enqueue(&mut tx, "booking.booked", &event).await?;
        Some((appt.doctor_id, appt.visit_date))
    } else {
        // Too late (expired or cancelled) or not ours: keep the money only if it is ours and live.
        let sql = format!(
            "UPDATE appointments SET paid = TRUE, out_trade_no = $2, refund_state = 'requested', updated_at = $3
             WHERE id = $1 AND paid = FALSE AND status IN ('expired', 'cancelled') RETURNING {APPT_COLS}"
        );
        if let Some(row) =
            sqlx::query(&sql).bind(appointment_id).bind(out_trade_no).bind(now).fetch_optional(&mut *tx).await?
        {
            let mut appt = appointment_from(&row)?;
            appt.fee_fen = amount_fen;
            request_refund(&mut tx, &appt, "paid_after_hold_lapsed").await?;
        }
        None
    };
    tx.commit().await?;
    Ok(changed)
}

/// `payments.refunded`: records that the refund arrived.
pub async fn apply_refunded(db: &Db, event_id: &str, appointment_id: &str) -> Result<(), sqlx::Error> {
    let mut tx = begin_write(db).await?;
    if outbox::Inbox::first_time(&mut tx, SERVICE, event_id).await? {
        sqlx::query("UPDATE appointments SET refund_state = 'refunded' WHERE id = $1 AND paid = TRUE")
            .bind(appointment_id)
            .execute(&mut *tx)
            .await?;
        outbox::enqueue(&mut tx, "booking.refunded", &json!({"booking_id": appointment_id})).await?;
    }
    tx.commit().await
}

// ---------------------------------------------------------------------------------------------
// Time-driven work.

/// Ids of holds and offers that lapsed by `now`.
pub async fn lapsed_holds(db: &Db, now: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM appointments WHERE status IN ('pending_payment', 'offered') AND hold_expires_at <= $1 LIMIT 500")
        .bind(now)
        .fetch_all(&db.pool)
        .await
}

/// Expires one hold or offer if it is still lapsed; the slot returns (to the waitlist first).
pub async fn expire_hold(
    db: &Db,
    id: &str,
    limits: &BookingLimits,
    now: i64,
) -> Result<Option<AppointmentRow>, sqlx::Error> {
    let mut tx = begin_write(db).await?;
    // Re-checked under the write: a payment that landed first wins.
    let still: Option<String> = sqlx::query_scalar("SELECT id FROM appointments WHERE id = $1 AND status IN ('pending_payment', 'offered') AND hold_expires_at <= $2")
        .bind(id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
    if still.is_none() {
        tx.commit().await?;
        return Ok(None);
    }
    let ended =
        end_appointment(&mut tx, id, &["pending_payment", "offered"], "expired", "hold_lapsed", limits, now, true)
            .await?;
    if let Some(appt) = &ended {
        notify(
            &mut tx,
            &format!("booking:{}:expired", appt.id),
            &appt.citizen_id,
            "booking.hold_lapsed",
            ("预约已失效", "Hold lapsed"),
            (
                format!("{} 第{}号未在规定时间内确认/支付，已释放", appt.visit_date, appt.number),
                format!(
                    "{} number {} was not confirmed or paid in time and has been released",
                    appt.visit_date, appt.number
                ),
            ),
            json!({"appointment_id": appt.id}),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(ended)
}

/// Booked appointments whose visit window ended more than `grace_ms` ago.
pub async fn overdue_unattended(db: &Db, now: i64, grace_ms: i64) -> Result<Vec<AppointmentRow>, sqlx::Error> {
    let sql = format!("SELECT {APPT_COLS} FROM appointments WHERE status = 'booked' AND ends_at + $2 <= $1 LIMIT 500");
    let rows = sqlx::query(&sql).bind(now).bind(grace_ms).fetch_all(&db.pool).await?;
    rows.iter().map(appointment_from).collect()
}

/// Sends tomorrow's reminders once each.
pub async fn send_reminders(db: &Db, tomorrow: &str, now: i64) -> Result<usize, sqlx::Error> {
    let sql = format!("SELECT {APPT_COLS} FROM appointments WHERE status = 'booked' AND visit_date = $1 AND reminded = FALSE LIMIT 500");
    let rows = sqlx::query(&sql).bind(tomorrow).fetch_all(&db.pool).await?;
    let mut n = 0;
    for row in rows {
        let appt = appointment_from(&row)?;
        let mut tx = begin_write(db).await?;
        let res =
            sqlx::query("UPDATE appointments SET reminded = TRUE, updated_at = $2 WHERE id = $1 AND reminded = FALSE")
                .bind(&appt.id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        if res.rows_affected() == 1 {
            notify(
                &mut tx,
                &format!("booking:{}:reminder", appt.id),
                &appt.citizen_id,
                "booking.reminder",
                ("就诊提醒", "Appointment tomorrow"),
                (
                    format!("就诊人 {} 明天 第{}号就诊，请提前到院签到", appt.patient_name_masked, appt.number),
                    format!("{} has number {} tomorrow; please check in early", appt.patient_name_masked, appt.number),
                ),
                json!({"appointment_id": appt.id, "starts_at_ms": appt.starts_at}),
            )
            .await?;
            n += 1;
        }
        tx.commit().await?;
    }
    Ok(n)
}

/// Clears waiting entries of sessions on or before `last_cleared_date` (the queue closes at 23:00
/// the day before the visit). Returns how many.
pub async fn clear_waitlists(db: &Db, last_cleared_date: &str) -> Result<u64, sqlx::Error> {
    let mut tx = begin_write(db).await?;
    let ids: Vec<String> = sqlx::query_scalar(
        "UPDATE waitlist SET status = 'cleared' WHERE status = 'waiting'
           AND session_id IN (SELECT id FROM sessions WHERE visit_date <= $1) RETURNING id",
    )
    .bind(last_cleared_date)
    .fetch_all(&mut *tx)
    .await?;
    for id in &ids {
        outbox::enqueue(&mut tx, "booking.waitlist_cleared", &json!({"waitlist_id": id})).await?;
    }
    tx.commit().await?;
    Ok(ids.len() as u64)
}

// ---------------------------------------------------------------------------------------------
// Notifications.

/// Writes a `notify.requested` event (the notify service delivers it).
pub async fn notify(
    tx: &mut AnyConnection,
    notification_id: &str,
    citizen_id: &str,
    kind: &str,
    title: (&str, &str),
    body: (String, String),
    data: Value,
) -> Result<(), sqlx::Error> {
    let payload = notify_payload(notification_id, citizen_id, kind, title, body, data);
    outbox::enqueue(tx, "notify.requested", &payload).await.map(|_| ())
}

/// A `notify.requested` payload.
fn notify_payload(
    notification_id: &str,
    citizen_id: &str,
    kind: &str,
    title: (&str, &str),
    body: (String, String),
    data: Value,
) -> Value {
    json!({
        "notification_id": notification_id, "citizen_id": citizen_id, "kind": kind,
        "title_zh": title.0, "title_en": title.1, "body_zh": body.0, "body_en": body.1,
        "data": data, "channels": ["miniprogram", "oa_template"],
    })
}

/// The masked name of a raw name, for seeds and tests.
pub fn masked(name: &str) -> String {
    mask_name(name)
}
