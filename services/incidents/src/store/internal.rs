//! SQL of the internal questions other services ask (`api/internal.rs`): whose reports are
//! still open, by citizen or by district. "Open" is the stored `is_open` flag, the one the map
//! and the queue read, so a report counts until a clerk fixes, closes or merges it.

use sqlx::{AnyPool, Row};

use super::Result;

/// One open report of a citizen's, as another service shows it.
#[derive(Debug, Clone)]
pub struct OpenTicket {
    /// The report's id.
    pub id: String,
    /// Its category code.
    pub category: String,
    /// Its state (`open`, `confirmed`, ...).
    pub state: String,
    /// When it was filed, UTC ms.
    pub created_at: i64,
}

/// A citizen's own reports that are not closed, newest first (at most `limit`).
pub async fn open_tickets(pool: &AnyPool, citizen_id: &str, limit: i64) -> Result<Vec<OpenTicket>> {
    let rows = sqlx::query(
        "SELECT id, category, state, created_at FROM incident_reports
         WHERE citizen_id = $1 AND is_open = $2 ORDER BY created_at DESC LIMIT $3",
    )
    .bind(citizen_id)
    .bind(true)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(OpenTicket {
            id: r.try_get("id")?,
            category: r.try_get("category")?,
            state: r.try_get("state")?,
            created_at: r.try_get("created_at")?,
        });
    }
    Ok(out)
}

/// The distinct citizens with a report of their own still open in `district` (a district code),
/// anonymous reports included: the citizen is known to the service, only hidden from others.
pub async fn district_citizens(pool: &AnyPool, district: &str) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT DISTINCT citizen_id FROM incident_reports
         WHERE district = $1 AND is_open = $2 AND citizen_id IS NOT NULL ORDER BY citizen_id",
    )
    .bind(district)
    .bind(true)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(|r| r.try_get::<String, _>("citizen_id")).collect::<std::result::Result<_, _>>()?)
}
