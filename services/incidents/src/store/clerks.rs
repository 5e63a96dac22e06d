//! The clerks as they last acted on the queue: who an assignment may name (issue #15).

use city_platform::auth::Staff;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use super::Result;

/// Records `staff` (their roles and scopes as their sign-in carries them) as of `now`.
pub async fn remember_clerk(tx: &mut AnyConnection, staff: &Staff, now: i64) -> Result<()> {
    let roles = serde_json::to_string(&staff.roles).unwrap_or_else(|_| "[]".into());
    let scopes = serde_json::to_string(&staff.scopes).unwrap_or_else(|_| "{}".into());
    sqlx::query(
        "INSERT INTO incident_clerks (staff_id, username, roles, scopes, seen_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (staff_id) DO UPDATE SET username = $2, roles = $3, scopes = $4, seen_at = $5",
    )
    .bind(&staff.staff_id)
    .bind(&staff.username)
    .bind(roles)
    .bind(scopes)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The clerk `staff_id` as last seen, with no session; `None` when they never acted here.
pub async fn clerk(tx: &mut AnyConnection, staff_id: &str) -> Result<Option<Staff>> {
    let row = sqlx::query("SELECT staff_id, username, roles, scopes FROM incident_clerks WHERE staff_id = $1")
        .bind(staff_id)
        .fetch_optional(&mut *tx)
        .await?;
    row.as_ref().map(staff).transpose()
}

/// Every clerk as last seen, by username (at most `limit`).
pub async fn clerks(pool: &AnyPool, limit: i64) -> Result<Vec<Staff>> {
    let rows = sqlx::query(
        "SELECT staff_id, username, roles, scopes FROM incident_clerks ORDER BY username, staff_id LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(staff).collect()
}

fn staff(row: &AnyRow) -> Result<Staff> {
    let roles: String = row.try_get("roles")?;
    let scopes: String = row.try_get("scopes")?;
    Ok(Staff {
        staff_id: row.try_get("staff_id")?,
        username: row.try_get("username")?,
        roles: serde_json::from_str(&roles).unwrap_or_default(),
        scopes: serde_json::from_str(&scopes).unwrap_or_default(),
        session_id: String::new(),
    })
}
