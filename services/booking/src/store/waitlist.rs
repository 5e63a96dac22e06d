//! The waitlist of a full session: joining, leaving (or declining an offer), accepting an offer.
//! Offering a returned number is `returns::offer_to_waitlist`.

use city_platform::db::is_unique_violation;
use city_platform::ids::new_id;
use city_platform::{outbox, Db};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::appointments::fee_due_payload;
use super::patients::{check_patient, lock_patient};
use super::returns::{end_appointment, Ending};
use super::rows::{appointment_from, APPT_COLS};
use super::{begin_write, AppointmentRow, SessionRow, SlotContext, StoreError};
use crate::domain::BookingLimits;
use crate::people::Person;

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
) -> Result<String, StoreError> {
    let scope =
        limits.scope(session.visit_date.parse().unwrap_or_default(), &session.hospital_id, &session.department_id);
    let mut tx = begin_write(db).await?;
    lock_patient(&mut tx, &person.id_number_hash).await?;
    check_patient(&mut tx, &person.id_number_hash, &scope, limits, now).await?;
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM sessions WHERE id = $1")
        .bind(&session.id)
        .fetch_optional(&mut *tx)
        .await?;
    if status.as_deref() != Some("open") {
        return Err(StoreError::SessionStopped { waitlist: true });
    }
    let n_free: i64 =
        sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM slots WHERE session_id = $1 AND status = 'free'")
            .bind(&session.id)
            .fetch_one(&mut *tx)
            .await?;
    if n_free > 0 {
        return Err(StoreError::SessionNotFull);
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
        Err(err) if is_unique_violation(&err) => return Err(StoreError::AlreadyWaitlisted),
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

/// Leaves the queue, or declines the open offer on `entry` (its number passes on).
pub async fn leave_waitlist(db: &Db, entry: &WaitlistRow, limits: &BookingLimits, now: i64) -> Result<(), StoreError> {
    let mut tx = begin_write(db).await?;
    if let Some(appt) = entry.appointment_id.as_deref().filter(|_| entry.status == "offered") {
        end_appointment(&mut tx, appt, &Ending::OFFER_DECLINED, limits, now, true).await?;
    }
    let res =
        sqlx::query("UPDATE waitlist SET status = 'cancelled' WHERE id = $1 AND status IN ('waiting', 'offered')")
            .bind(&entry.id)
            .execute(&mut *tx)
            .await?;
    if res.rows_affected() == 0 && entry.status != "offered" {
        return Err(StoreError::NotWaiting { status: entry.status.clone() });
    }
    outbox::enqueue(
        &mut tx,
        "booking.waitlist_left",
        &json!({"waitlist_id": entry.id, "session_id": entry.session_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Accepts the offer of `appt_id` on `entry`: the held number becomes the patient's booking, or
/// a pending payment when `pending` (the fee is then due).
pub async fn accept_offer(
    db: &Db,
    entry: &WaitlistRow,
    appt_id: &str,
    ctx: &SlotContext,
    pending: bool,
    now: i64,
) -> Result<AppointmentRow, StoreError> {
    let mut tx = begin_write(db).await?;
    let to = if pending { "pending_payment" } else { "booked" };
    let sql = format!(
        "UPDATE appointments SET status = $2, hold_expires_at = CASE WHEN $3 THEN hold_expires_at ELSE NULL END, updated_at = $4
         WHERE id = $1 AND status = 'offered' AND hold_expires_at > $4 RETURNING {APPT_COLS}"
    );
    let row = sqlx::query(&sql).bind(appt_id).bind(to).bind(pending).bind(now).fetch_optional(&mut *tx).await?;
    let Some(row) = row else {
        return Err(StoreError::OfferLapsed);
    };
    let appt = appointment_from(&row)?;
    sqlx::query("UPDATE waitlist SET status = 'accepted' WHERE id = $1").bind(&entry.id).execute(&mut *tx).await?;
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
        outbox::enqueue(&mut tx, "booking.fee_due", &fee_due_payload(&appt, ctx)).await?;
    }
    tx.commit().await?;
    Ok(appt)
}
