//! Time-driven work: lapsed holds and offers, unattended bookings, tomorrow's reminders, queues
//! that closed. `BookingState::run_due_work` drives these.

use city_platform::{outbox, Db};
use serde_json::json;

use super::returns::{end_appointment, Ending};
use super::rows::{appointment_from, APPT_COLS};
use super::{begin_write, notify, AppointmentRow};
use crate::domain::messages;
use crate::domain::BookingLimits;

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
    let ended = end_appointment(&mut tx, id, &Ending::HOLD_LAPSED, limits, now, true).await?;
    if let Some(appt) = &ended {
        notify(&mut tx, &messages::hold_lapsed(appt.about())).await?;
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
            notify(&mut tx, &messages::reminder(appt.about(), appt.starts_at)).await?;
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
