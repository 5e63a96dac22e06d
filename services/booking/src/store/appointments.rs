//! Appointments: the booking statement (the one place a citizen takes a slot), reading
//! appointments, a citizen's cancellation, and what payments' events change.

use city_platform::db::{is_unique_violation, Backend};
use city_platform::ids::new_id;
use city_platform::money::Fen;
use city_platform::{outbox, Db};
use serde_json::{json, Value};
use sqlx::{AnyConnection, Row};

use super::catalogue::get_doctor;
use super::patients::{lock_patient, patient_state, state_from, PATIENT_STATE};
use super::returns::{end_appointment, insert_appointment, request_refund, Ending};
use super::rows::{appointment_from, APPT_COLS};
use super::{begin_write, notify, AppointmentRow, DoctorRow, SlotContext, StoreError, SERVICE};
use crate::domain::messages;
use crate::domain::{AppointmentId, BookingLimits, LimitScope, PatientCounts};
use crate::people::Person;

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
) -> Result<AppointmentRow, StoreError> {
    let pending = ctx.charges_online && ctx.session.fee_fen > Fen(0);
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
    let scope = limits.scope(
        ctx.session.visit_date.parse().unwrap_or_default(),
        &ctx.session.hospital_id,
        &ctx.session.department_id,
    );
    let mut tx = begin_write(db).await?;
    let outcome = match db.backend {
        Backend::Postgres => {
            lock_patient(&mut tx, &person.id_number_hash).await?;
            book_in_one_statement(&mut tx, &appt, pending, &scope, limits, &events).await?
        }
        Backend::Sqlite => {
            // The writer's turn and BEGIN IMMEDIATE already exclude every other writer, so the
            // patient's lock row adds nothing here.
            let (until, counts) = patient_state(&mut tx, &appt.id_number_hash, &scope, now).await?;
            let mut outcome = BookOutcome { until, counts, taken: false, slot_status: None };
            if until.is_none() && limits.check(counts).is_ok() {
                outcome.taken = take_slot(&mut tx, &appt, pending).await?;
                if outcome.taken {
                    insert_appointment(&mut tx, &appt).await.map_err(live_slot_conflict)?;
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
        return Err(StoreError::Suspended { until });
    }
    limits.check(outcome.counts).map_err(StoreError::Limit)?;
    if !outcome.taken {
        return Err(if outcome.slot_status.as_deref() == Some("stopped") {
            StoreError::SessionStopped { waitlist: false }
        } else {
            StoreError::SlotTaken { first: true }
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

/// The events a booking writes: booked (or held, with the fee due) and the patient's notice.
fn booking_events(appt: &AppointmentRow, ctx: &SlotContext, pending: bool) -> Vec<(&'static str, Value)> {
    let mut event = appt.summary();
    event["citizen_id"] = json!(appt.citizen_id);
    let mut events = vec![(if pending { "booking.held" } else { "booking.booked" }, event)];
    if pending {
        events.push(("booking.fee_due", fee_due_payload(appt, ctx)));
    }
    let notice = messages::booked(appt.about(), &ctx.hospital_name_zh, &ctx.doctor_name, pending);
    events.push(("notify.requested", notice.payload()));
    events
}

/// PostgreSQL: checks, take, appointment and events in one statement. Data-modifying CTEs see
/// the snapshot taken when the statement starts, so the patient's lock must already be held
/// (a separate statement) for the counts to include every committed booking of theirs.
async fn book_in_one_statement(
    tx: &mut AnyConnection,
    appt: &AppointmentRow,
    pending: bool,
    scope: &LimitScope,
    limits: &BookingLimits,
    events: &[(&'static str, Value)],
) -> Result<BookOutcome, StoreError> {
    const FIRST_EVENT_PARAM: usize = 29;
    let values: Vec<String> = (0..events.len())
        .map(|i| {
            let b = FIRST_EVENT_PARAM + i * 4;
            format!("(${}, ${}, ${}, ${})", b, b + 1, b + 2, b + 3)
        })
        .collect();
    let sql = format!(
        "WITH state AS (
            {}
         ), allowed AS (
            SELECT 1 FROM state WHERE state.until IS NULL AND state.a < $8 AND state.b < $9 AND state.c < $10
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
         SELECT state.until, state.a, state.b, state.c,
            CAST((SELECT COUNT(*) FROM appt) AS BIGINT) AS n_taken,
            (SELECT status FROM slots WHERE id = $13) AS slot_status
         FROM state",
        PATIENT_STATE.as_str(),
        values.join(", ")
    );
    let mut q = sqlx::query(&sql)
        .bind(&appt.id_number_hash)
        .bind(appt.created_at)
        .bind(&scope.visit_date)
        .bind(&scope.hospital_id)
        .bind(&scope.department_id)
        .bind(&scope.from)
        .bind(&scope.to)
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
        .bind(appt.fee_fen.0)
        .bind(&appt.status)
        .bind(appt.hold_expires_at)
        .bind(appt.created_at);
    let created_at = city_platform::time::now_ms();
    for (topic, payload) in events {
        q = q.bind(new_id()).bind(*topic).bind(payload.to_string()).bind(created_at);
    }
    let row = q.fetch_one(&mut *tx).await.map_err(live_slot_conflict)?;
    let (until, counts) = state_from(&row)?;
    Ok(BookOutcome {
        until,
        counts,
        taken: row.try_get::<i64, _>("n_taken")? == 1,
        slot_status: row.try_get("slot_status")?,
    })
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
fn live_slot_conflict(err: sqlx::Error) -> StoreError {
    if is_unique_violation(&err) {
        StoreError::SlotTaken { first: false }
    } else {
        StoreError::Db(err)
    }
}

/// `booking.fee_due`, the shape payments consumes.
pub(super) fn fee_due_payload(appt: &AppointmentRow, ctx: &SlotContext) -> Value {
    json!({
        "booking_id": appt.id, "citizen_id": appt.citizen_id, "amount_fen": appt.fee_fen.0,
        "hospital_id": ctx.session.hospital_id,
        "description": messages::fee_description(&ctx.hospital_name_zh, &ctx.doctor_name, &appt.visit_date, appt.number),
        "pay_before_ms": appt.hold_expires_at,
    })
}

/// One appointment.
pub async fn get_appointment(db: &Db, id: &AppointmentId) -> Result<Option<AppointmentRow>, sqlx::Error> {
    let sql = format!("SELECT {APPT_COLS} FROM appointments WHERE id = $1");
    let row = sqlx::query(&sql).bind(id.as_str()).fetch_optional(&db.pool).await?;
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

/// Cancels `appt` for its citizen (the use case checked ownership and the deadline): the number
/// returns (to the waitlist first) and a paid fee is refunded. Refused when someone else changed
/// it first.
pub async fn cancel(
    db: &Db,
    appt: &AppointmentRow,
    limits: &BookingLimits,
    now: i64,
) -> Result<AppointmentRow, StoreError> {
    let mut tx = begin_write(db).await?;
    let Some(ended) = end_appointment(&mut tx, &appt.id, &Ending::cancelled("patient"), limits, now, true).await?
    else {
        return Err(StoreError::NotCancellable { status: appt.status.clone() });
    };
    notify(&mut tx, &messages::cancelled(ended.about())).await?;
    tx.commit().await?;
    Ok(ended)
}

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
            appt.fee_fen = Fen(amount_fen);
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
