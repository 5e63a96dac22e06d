//! A patient's lock row and the one query that counts what the limits count.
//!
//! Limits are counted per keyed ID-number hash while the patient's lock row is held, so two
//! bookings of one patient cannot both pass a count that each alone would pass. The window and
//! which statuses count are `crate::domain::limits`; [`PATIENT_STATE`] is the only SQL that counts.

use std::sync::LazyLock;

use city_platform::Db;
use sqlx::{AnyConnection, Row};

use super::status_list;
use crate::domain::{LimitScope, PatientCounts, LIVE_STATUSES};

/// The patient's suspension in force at `$2` and live appointments around the day, in one
/// statement. Parameters: `$1` the ID-number hash, `$2` now (UTC ms), `$3` the visit day, `$4`
/// the hospital, `$5` the department, `$6`..`$7` the window's first and last day. The booking
/// statement on PostgreSQL embeds it as is (see `appointments::book`).
pub(super) static PATIENT_STATE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT
            (SELECT MAX(ends_at) FROM suspensions
             WHERE id_number_hash = $1 AND lifted_at IS NULL AND starts_at <= $2 AND ends_at > $2) AS until,
            CAST(COALESCE(SUM(CASE WHEN visit_date = $3 AND hospital_id = $4 AND department_id = $5 THEN 1 ELSE 0 END), 0) AS BIGINT) AS a,
            CAST(COALESCE(SUM(CASE WHEN visit_date = $3 THEN 1 ELSE 0 END), 0) AS BIGINT) AS b,
            CAST(COUNT(*) AS BIGINT) AS c
         FROM appointments
         WHERE id_number_hash = $1 AND status IN {} AND visit_date >= $6 AND visit_date <= $7",
        status_list(LIVE_STATUSES)
    )
});

/// Reads the `until`, `a`, `b`, `c` columns [`PATIENT_STATE`] answers.
pub(super) fn state_from(row: &sqlx::any::AnyRow) -> Result<(Option<i64>, PatientCounts), sqlx::Error> {
    let counts = PatientCounts {
        same_day_department: row.try_get("a")?,
        same_day: row.try_get("b")?,
        in_window: row.try_get("c")?,
    };
    Ok((row.try_get("until")?, counts))
}

/// The patient's suspension in force at `now` (its end) and live appointments in `scope`.
pub(super) async fn patient_state(
    tx: &mut AnyConnection,
    id_number_hash: &str,
    scope: &LimitScope,
    now: i64,
) -> Result<(Option<i64>, PatientCounts), sqlx::Error> {
    let row = sqlx::query(PATIENT_STATE.as_str())
        .bind(id_number_hash)
        .bind(now)
        .bind(&scope.visit_date)
        .bind(&scope.hospital_id)
        .bind(&scope.department_id)
        .bind(&scope.from)
        .bind(&scope.to)
        .fetch_one(&mut *tx)
        .await?;
    state_from(&row)
}

/// Takes the patient's lock row: on PostgreSQL the row lock serialises this patient's
/// transactions until commit; on SQLite `BEGIN IMMEDIATE` already has.
pub(super) async fn lock_patient(tx: &mut AnyConnection, id_number_hash: &str) -> Result<(), sqlx::Error> {
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
pub(super) async fn try_lock_patient(tx: &mut AnyConnection, id_number_hash: &str) -> Result<bool, sqlx::Error> {
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

/// The suspension or limit that refuses one more live appointment in `scope` at `now`.
pub(super) async fn check_patient(
    tx: &mut AnyConnection,
    id_number_hash: &str,
    scope: &LimitScope,
    limits: &crate::domain::BookingLimits,
    now: i64,
) -> Result<(), super::StoreError> {
    let (until, counts) = patient_state(tx, id_number_hash, scope, now).await?;
    if let Some(until) = until {
        return Err(super::StoreError::Suspended { until });
    }
    limits.check(counts).map_err(super::StoreError::Limit)
}

/// A live appointment counted against a patient, and the account that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedVisit {
    /// The visit day, `YYYY-MM-DD`.
    pub visit_date: String,
    /// The hospital's name.
    pub hospital_name_zh: String,
    /// The department's name.
    pub department_name_zh: String,
    /// The citizen who booked it.
    pub citizen_id: String,
}

/// The patient's live appointments in `scope` (what the limits counted), oldest day first.
pub async fn counted_visits(
    db: &Db,
    id_number_hash: &str,
    scope: &LimitScope,
) -> Result<Vec<CountedVisit>, sqlx::Error> {
    let sql = format!(
        "SELECT a.visit_date, h.name_zh AS hospital, d.name_zh AS department, a.citizen_id
         FROM appointments a JOIN hospitals h ON h.id = a.hospital_id JOIN departments d ON d.id = a.department_id
         WHERE a.id_number_hash = $1 AND a.status IN {} AND a.visit_date >= $2 AND a.visit_date <= $3
         ORDER BY a.visit_date, a.id",
        status_list(LIVE_STATUSES)
    );
    let rows = sqlx::query(&sql).bind(id_number_hash).bind(&scope.from).bind(&scope.to).fetch_all(&db.pool).await?;
    rows.iter()
        .map(|r| {
            Ok(CountedVisit {
                visit_date: r.try_get("visit_date")?,
                hospital_name_zh: r.try_get("hospital")?,
                department_name_zh: r.try_get("department")?,
                citizen_id: r.try_get("citizen_id")?,
            })
        })
        .collect()
}

/// Whether any of the patient's recorded no-shows was of an appointment another account made.
pub async fn no_shows_by_others(db: &Db, id_number_hash: &str, citizen_id: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM no_shows n JOIN appointments a ON a.id = n.appointment_id
         WHERE n.id_number_hash = $1 AND a.citizen_id <> $2",
    )
    .bind(id_number_hash)
    .bind(citizen_id)
    .fetch_one(&db.pool)
    .await?;
    Ok(n > 0)
}
