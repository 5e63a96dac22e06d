//! Attendance: check-in, no-shows and the suspensions the no-show rule imposes.

use city_platform::audit::{self, AuditEntry};
use city_platform::auth::Staff;
use city_platform::ids::new_id;
use city_platform::{outbox, Db};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::rows::{appointment_from, APPT_COLS};
use super::{begin_write, notify, AppointmentRow, StoreError, SERVICE};
use crate::domain::messages;
use crate::domain::NoShowRule;

/// Checks a patient in (staff).
pub async fn check_in(db: &Db, staff: &Staff, appt: &AppointmentRow, now: i64) -> Result<AppointmentRow, StoreError> {
    let mut tx = begin_write(db).await?;
    let sql = format!("UPDATE appointments SET status = 'checked_in', updated_at = $2 WHERE id = $1 AND status = 'booked' RETURNING {APPT_COLS}");
    let Some(row) = sqlx::query(&sql).bind(&appt.id).bind(now).fetch_optional(&mut *tx).await? else {
        return Err(StoreError::NotCheckable { status: appt.status.clone() });
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
) -> Result<AppointmentRow, StoreError> {
    let mut tx = begin_write(db).await?;
    let sql = format!("UPDATE appointments SET status = 'no_show', updated_at = $2 WHERE id = $1 AND status = 'booked' RETURNING {APPT_COLS}");
    let Some(row) = sqlx::query(&sql).bind(&appt.id).bind(now).fetch_optional(&mut *tx).await? else {
        return Err(StoreError::NotMarkable { status: appt.status.clone() });
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
            "INSERT INTO suspensions (id, id_number_hash, patient_name_masked, starts_at, ends_at, n_no_shows, created_at, hospital_id)
             VALUES ($1, $2, $3, $4, $5, $6, $4, $7)",
        )
        .bind(&id)
        .bind(&after.id_number_hash)
        .bind(&after.patient_name_masked)
        .bind(now)
        .bind(ends)
        .bind(n)
        .bind(&after.hospital_id)
        .execute(&mut *tx)
        .await?;
        outbox::enqueue(
            &mut tx,
            "booking.patient_suspended",
            &json!({"suspension_id": id, "citizen_id": after.citizen_id, "days": days, "n_no_shows": n}),
        )
        .await?;
        let notice = messages::suspended(&after.citizen_id, &after.patient_name_masked, &id, n, days, ends);
        notify(&mut tx, &notice).await?;
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
    /// The hospital whose no-show imposed it (`None` for suspensions older than that rule).
    pub hospital_id: Option<String>,
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
        hospital_id: r.try_get("hospital_id")?,
    })
}

const SUSP_COLS: &str =
    "id, patient_name_masked, starts_at, ends_at, n_no_shows, lifted_at, lifted_by, lift_reason, hospital_id";

/// Which hospitals' suspensions a caller handles: all of them (admins), or those listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HospitalScope {
    /// Every hospital, and suspensions recorded before they carried one.
    All,
    /// Only these hospitals.
    Only(Vec<String>),
}

impl HospitalScope {
    /// ` AND hospital_id IN (...)` with placeholders from `$first` on, and the values to bind.
    fn clause(&self, first: usize) -> (String, Vec<String>) {
        match self {
            Self::All => (String::new(), Vec::new()),
            // An empty list matches nothing (`IN ()` is not SQL).
            Self::Only(ids) if ids.is_empty() => (" AND 1 = 0".into(), Vec::new()),
            Self::Only(ids) => {
                let marks: Vec<String> = (0..ids.len()).map(|i| format!("${}", first + i)).collect();
                (format!(" AND hospital_id IN ({})", marks.join(", ")), ids.clone())
            }
        }
    }
}

/// Suspensions in force at `now` at the hospitals of `scope`.
pub async fn list_suspensions(db: &Db, now: i64, scope: &HospitalScope) -> Result<Vec<SuspensionRow>, sqlx::Error> {
    let (clause, ids) = scope.clause(2);
    let sql = format!(
        "SELECT {SUSP_COLS} FROM suspensions WHERE lifted_at IS NULL AND ends_at > $1{clause} ORDER BY starts_at DESC"
    );
    let mut query = sqlx::query(&sql).bind(now);
    for id in &ids {
        query = query.bind(id);
    }
    let rows = query.fetch_all(&db.pool).await?;
    rows.iter().map(suspension_from).collect()
}

/// Lifts a suspension of a hospital in `scope` (an appeal upheld), audited. Another hospital's
/// suspension is [`StoreError::NoActiveSuspension`], as if there were none.
pub async fn lift_suspension(
    db: &Db,
    staff: &Staff,
    id: &str,
    reason: &str,
    scope: &HospitalScope,
    now: i64,
) -> Result<SuspensionRow, StoreError> {
    let mut tx = begin_write(db).await?;
    let (clause, ids) = scope.clause(5);
    let sql = format!(
        "UPDATE suspensions SET lifted_at = $2, lifted_by = $3, lift_reason = $4 WHERE id = $1 AND lifted_at IS NULL{clause} RETURNING {SUSP_COLS}"
    );
    let mut query = sqlx::query(&sql).bind(id).bind(now).bind(&staff.username).bind(reason);
    for hospital in &ids {
        query = query.bind(hospital);
    }
    let row = query.fetch_optional(&mut *tx).await?;
    let Some(row) = row else {
        return Err(StoreError::NoActiveSuspension);
    };
    let s = suspension_from(&row)?;
    let entry = AuditEntry::by_staff(staff, SERVICE, "lift_suspension", format!("suspension:{id}"))
        .with_change(Some(json!({"lifted": false})), Some(json!({"lifted": true, "reason": reason})));
    audit::record(&mut tx, &entry).await?;
    outbox::enqueue(&mut tx, "booking.suspension_lifted", &json!({"suspension_id": id})).await?;
    tx.commit().await?;
    Ok(s)
}
