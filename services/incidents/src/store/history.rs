//! A report's history (public updates and internal notes) and its followers.

use sqlx::{AnyConnection, AnyPool, Row};

use super::Result;
use crate::domain::{ReportId, Update};

/// Appends to a report's history.
pub async fn insert_update(tx: &mut AnyConnection, report_id: &ReportId, u: &Update) -> Result<()> {
    sqlx::query(
        "INSERT INTO incident_updates (id, report_id, at, kind, state_from, state_to, text_zh, text_en, staff_id, staff_name)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&u.id)
    .bind(report_id.as_str())
    .bind(u.at)
    .bind(&u.kind)
    .bind(&u.state_from)
    .bind(&u.state_to)
    .bind(&u.text_zh)
    .bind(&u.text_en)
    .bind(&u.staff_id)
    .bind(&u.staff_name)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A report's history, oldest first; internal notes only when `internal`.
pub async fn updates(pool: &AnyPool, report_id: &ReportId, internal: bool) -> Result<Vec<Update>> {
    let rows = sqlx::query(
        "SELECT id, at, kind, state_from, state_to, text_zh, text_en, staff_id, staff_name FROM incident_updates
         WHERE report_id = $1 AND (kind <> 'internal' OR $2) ORDER BY at, id",
    )
    .bind(report_id.as_str())
    .bind(internal)
    .fetch_all(pool)
    .await?;
    let updates = rows
        .iter()
        .map(|r| {
            Ok(Update {
                id: r.try_get("id")?,
                at: r.try_get("at")?,
                kind: r.try_get("kind")?,
                state_from: r.try_get("state_from")?,
                state_to: r.try_get("state_to")?,
                text_zh: r.try_get("text_zh")?,
                text_en: r.try_get("text_en")?,
                staff_id: r.try_get("staff_id")?,
                staff_name: r.try_get("staff_name")?,
            })
        })
        .collect::<std::result::Result<_, sqlx::Error>>()?;
    Ok(updates)
}

/// Adds a follower; false when they already follow it.
pub async fn follow(tx: &mut AnyConnection, report_id: &ReportId, citizen_id: &str, now: i64) -> Result<bool> {
    let res = sqlx::query(
        "INSERT INTO incident_followers (report_id, citizen_id, at) VALUES ($1, $2, $3)
         ON CONFLICT (report_id, citizen_id) DO NOTHING",
    )
    .bind(report_id.as_str())
    .bind(citizen_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if res.rows_affected() == 1 {
        sqlx::query("UPDATE incident_reports SET n_followers = n_followers + 1 WHERE id = $1")
            .bind(report_id.as_str())
            .execute(&mut *tx)
            .await?;
        return Ok(true);
    }
    Ok(false)
}

/// Everyone to notify about a report: its reporter and its followers.
pub async fn followers(tx: &mut AnyConnection, report_id: &ReportId) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT citizen_id FROM incident_followers WHERE report_id = $1 ORDER BY at")
        .bind(report_id.as_str())
        .fetch_all(&mut *tx)
        .await?;
    Ok(rows.iter().map(|r| r.try_get("citizen_id")).collect::<std::result::Result<_, _>>()?)
}
