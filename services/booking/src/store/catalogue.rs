//! The catalogue: hospitals, departments, doctors, and the release rules each hospital (and
//! department, by override) sets.

use city_platform::audit::{self, AuditEntry};
use city_platform::auth::Staff;
use city_platform::money::Fen;
use city_platform::{outbox, Db};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::rows::{hospital_from, HOSPITAL_COLS};
use super::{begin_write, DepartmentRow, DoctorFilter, DoctorRow, HospitalRow, SERVICE};
use crate::domain::ReleaseRules;

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

pub(super) fn doctor_from(r: &AnyRow) -> Result<DoctorRow, sqlx::Error> {
    Ok(DoctorRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        title: r.try_get("title")?,
        specialty: r.try_get("specialty")?,
        fee_fen: Fen(r.try_get("fee_fen")?),
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
