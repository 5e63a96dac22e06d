//! Sessions (a doctor's half-day) and their numbered slots: publishing, listing, what a booking
//! reads about a slot, and stopping a session (停诊).

use chrono::NaiveDate;
use city_platform::audit::{self, AuditEntry};
use city_platform::auth::Staff;
use city_platform::ids::new_id;
use city_platform::{outbox, Db};
use serde_json::{json, Value};
use sqlx::{AnyConnection, Row};

use super::returns::{end_appointment, Ending};
use super::rows::session_from;
use super::{begin_write, notify, AppointmentRow, DoctorRow, SessionRow, SlotContext, SlotRow, SERVICE};
use crate::domain::messages;
use crate::domain::{slot_windows, BookingLimits, Period, ReleaseRules};

const SESSION_SELECT: &str = "SELECT s.id, s.doctor_id, s.hospital_id, s.department_id, s.visit_date, s.period,
    s.starts_at, s.ends_at, s.capacity, s.slot_minutes, s.fee_fen, s.status,
    CAST((SELECT COUNT(*) FROM slots x WHERE x.session_id = s.id AND x.status = 'free') AS BIGINT) AS n_free
    FROM sessions s";

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
    .bind(new.doctor.fee_fen.0)
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
pub async fn stop_session(
    db: &Db,
    staff: &Staff,
    session: &SessionRow,
    reason: &str,
    alternatives: &[Value],
    limits: &BookingLimits,
    now: i64,
) -> Result<Option<Vec<AppointmentRow>>, sqlx::Error> {
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
        let ending = Ending::cancelled("stop_diagnosis");
        let Some(appt) = end_appointment(&mut tx, &appt_id, &ending, limits, now, false).await? else {
            continue;
        };
        sqlx::query("INSERT INTO rebooking_offers (appointment_id, citizen_id, alternatives, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (appointment_id) DO NOTHING")
            .bind(&appt.id)
            .bind(&appt.citizen_id)
            .bind(Value::Array(alternatives.to_vec()).to_string())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        notify(&mut tx, &messages::stop_diagnosis(appt.about(), reason, alternatives)).await?;
        cancelled.push(appt);
    }
    let cleared: Vec<String> = sqlx::query_scalar(
        "UPDATE waitlist SET status = 'cleared' WHERE session_id = $1 AND status = 'waiting' RETURNING citizen_id",
    )
    .bind(&session.id)
    .fetch_all(&mut *tx)
    .await?;
    for (i, citizen) in cleared.iter().enumerate() {
        notify(&mut tx, &messages::waitlist_cleared_by_stop(&session.id, i, citizen, alternatives)).await?;
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
