//! A live appointment ending, and its number returning: to the first patient waiting on the
//! session who may take it, else to the free list. Shared by cancellation, offers declined,
//! lapsed holds and stopped sessions.

use city_platform::ids::new_id;
use city_platform::outbox;
use serde_json::json;
use sqlx::{AnyConnection, Row};

use super::patients::{check_patient, try_lock_patient};
use super::rows::{appointment_from, session_from, APPT_COLS};
use super::{notify, status_list, AppointmentRow};
use crate::domain::messages;
use crate::domain::BookingLimits;

/// How an appointment ends: from which statuses, to which, and why.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ending {
    /// The statuses it may end from.
    pub from: &'static [&'static str],
    /// `cancelled` or `expired`.
    pub to: &'static str,
    /// The `cancel_reason`.
    pub reason: &'static str,
}

impl Ending {
    /// Cancelled while live (by the patient, or by a stop).
    pub fn cancelled(reason: &'static str) -> Self {
        Self { from: &["pending_payment", "offered", "booked"], to: "cancelled", reason }
    }

    /// An offer the patient declined.
    pub const OFFER_DECLINED: Ending = Ending { from: &["offered"], to: "cancelled", reason: "offer_declined" };

    /// A hold or offer that lapsed.
    pub const HOLD_LAPSED: Ending =
        Ending { from: &["pending_payment", "offered"], to: "expired", reason: "hold_lapsed" };
}

pub(super) async fn insert_appointment(tx: &mut AnyConnection, a: &AppointmentRow) -> Result<(), sqlx::Error> {
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
    .bind(a.fee_fen.0)
    .bind(&a.status)
    .bind(a.hold_expires_at)
    .bind(a.created_at)
    .execute(&mut *tx)
    .await
    .map(|_| ())
}

/// Ends a live appointment (`cancelled` / `expired`) exactly once, returns its slot and offers
/// it to the waitlist, asks for a refund when it was paid. None when it was no longer live in
/// `from` (someone else changed it first).
pub(super) async fn end_appointment(
    tx: &mut AnyConnection,
    id: &str,
    ending: &Ending,
    limits: &BookingLimits,
    now: i64,
    reopen_slot: bool,
) -> Result<Option<AppointmentRow>, sqlx::Error> {
    let (to, reason) = (ending.to, ending.reason);
    let sql = format!(
        "UPDATE appointments SET status = $2, cancel_reason = $3, updated_at = $4,
            refund_state = CASE WHEN paid THEN 'requested' ELSE refund_state END
         WHERE id = $1 AND status IN {} RETURNING {APPT_COLS}",
        status_list(ending.from)
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

pub(super) async fn request_refund(
    tx: &mut AnyConnection,
    appt: &AppointmentRow,
    reason: &str,
) -> Result<(), sqlx::Error> {
    outbox::enqueue(
        tx,
        "booking.refund_requested",
        &json!({
            "booking_id": appt.id, "citizen_id": appt.citizen_id, "amount_fen": appt.fee_fen.0,
            "description": messages::refund_description(&appt.visit_date, appt.number, reason),
            "reason": reason,
        }),
    )
    .await
    .map(|_| ())
}

/// Offers a returned slot to the first patient waiting on the session, skipping patients who
/// are suspended or would break a limit. Runs inside the transaction that returned the slot.
pub(super) async fn offer_to_waitlist(
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
    let scope =
        limits.scope(session.visit_date.parse().unwrap_or_default(), &session.hospital_id, &session.department_id);
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
        if check_patient(tx, &hash, &scope, limits, now).await.is_err() {
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
        notify(tx, &messages::waitlist_offered(appt.about(), &entry_id, expires)).await?;
        return Ok(());
    }
    Ok(())
}
