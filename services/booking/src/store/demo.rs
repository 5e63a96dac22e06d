//! The SQL of the demo's busy days (issue #25, `crate::demo`): booking most places of a chosen
//! session for demo patients, so the coming week has some nearly full days.

use city_platform::ids::new_id;
use city_platform::Db;
use sqlx::Row;

/// A session the demo may fill: id, doctor, date and period, and how many places are taken.
#[derive(Debug, Clone)]
pub struct DemoSession {
    /// Session id.
    pub id: String,
    /// Doctor id.
    pub doctor_id: String,
    /// `YYYY-MM-DD`.
    pub visit_date: String,
    /// `morning` or `afternoon`.
    pub period: String,
    /// Places not free.
    pub taken: i64,
}

/// The open sessions from `from` to `to` (Beijing dates, inclusive).
pub async fn open_sessions(db: &Db, from: &str, to: &str) -> Result<Vec<DemoSession>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT s.id, s.doctor_id, s.visit_date, s.period,
                CAST((SELECT COUNT(*) FROM slots x WHERE x.session_id = s.id AND x.status <> 'free') AS BIGINT) AS taken
         FROM sessions s WHERE s.visit_date >= $1 AND s.visit_date <= $2 AND s.status = 'open'
         ORDER BY s.visit_date, s.doctor_id, s.period",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(DemoSession {
                id: r.try_get("id")?,
                doctor_id: r.try_get("doctor_id")?,
                visit_date: r.try_get("visit_date")?,
                period: r.try_get("period")?,
                taken: r.try_get("taken")?,
            })
        })
        .collect()
}

/// Books every free place of each `(session, leave_free)` but the last `leave_free` for made-up
/// demo patients (fee-free, already reminded, so nobody is messaged), all in one transaction.
/// Fee-free because no payment exists for them: a paid one would ask payments for a refund when
/// a scheduler stops its session, and payments would rightly log that no such fee was paid. Only a
/// session with no place taken yet is filled, so running it again changes nothing. Returns the
/// places booked.
pub async fn fill_sessions(
    db: &Db,
    sessions: &[(String, usize)],
    patients: &[&str],
    now: i64,
) -> Result<u64, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let mut booked = 0;
    for (session_id, leave_free) in sessions {
        booked += fill_session(&mut tx, session_id, *leave_free, patients, now).await?;
    }
    tx.commit().await?;
    Ok(booked)
}

async fn fill_session(
    tx: &mut sqlx::AnyConnection,
    session_id: &str,
    leave_free: usize,
    patients: &[&str],
    now: i64,
) -> Result<u64, sqlx::Error> {
    let taken: i64 =
        sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM slots WHERE session_id = $1 AND status <> 'free'")
            .bind(session_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
    if taken > 0 {
        return Ok(0);
    }
    let slots = sqlx::query(
        "SELECT x.id, x.number, x.starts_at, x.ends_at, s.doctor_id, s.hospital_id, s.department_id, s.visit_date
         FROM slots x JOIN sessions s ON s.id = x.session_id
         WHERE x.session_id = $1 AND x.status = 'free' ORDER BY x.number",
    )
    .bind(session_id)
    .fetch_all(&mut *tx)
    .await?;
    let take = slots.len().saturating_sub(leave_free);
    for (i, chunk) in slots[..take].chunks(40).enumerate() {
        let mut sql = String::from(
            "INSERT INTO appointments (id, slot_id, session_id, doctor_id, hospital_id, department_id, visit_date,
                number, starts_at, ends_at, citizen_id, person_id, id_number_hash, patient_name_masked, fee_fen, paid,
                status, reminded, created_at, updated_at) VALUES ",
        );
        for k in 0..chunk.len() {
            let b = k * 16;
            if k > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, 'demo-patient', ${}, ${}, ${}, ${}, FALSE, 'booked', TRUE, ${}, ${})",
                b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8, b + 9, b + 10, b + 11, b + 12, b + 13, b + 14,
                b + 15, b + 16
            ));
        }
        let mut q = sqlx::query(&sql);
        for (k, r) in chunk.iter().enumerate() {
            let n = i * 40 + k;
            let person = format!("demo-person-{session_id}-{n}");
            q = q
                .bind(new_id())
                .bind(r.try_get::<String, _>("id")?)
                .bind(session_id)
                .bind(r.try_get::<String, _>("doctor_id")?)
                .bind(r.try_get::<String, _>("hospital_id")?)
                .bind(r.try_get::<String, _>("department_id")?)
                .bind(r.try_get::<String, _>("visit_date")?)
                .bind(r.try_get::<i64, _>("number")?)
                .bind(r.try_get::<i64, _>("starts_at")?)
                .bind(r.try_get::<i64, _>("ends_at")?)
                // A made-up patient per place: no real person's limits are counted against it.
                .bind(person.clone())
                .bind(format!("demo:{person}"))
                .bind(patients[n % patients.len().max(1)].to_owned())
                .bind(0_i64)
                .bind(now)
                .bind(now);
        }
        q.execute(&mut *tx).await?;
    }
    let booked = sqlx::query(
        "UPDATE slots SET status = 'booked',
             appointment_id = (SELECT a.id FROM appointments a WHERE a.slot_id = slots.id AND a.status = 'booked')
         WHERE session_id = $1 AND status = 'free'
           AND id IN (SELECT a.slot_id FROM appointments a WHERE a.session_id = $1 AND a.status = 'booked')",
    )
    .bind(session_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(booked)
}
