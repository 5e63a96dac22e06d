//! The audit log: every service's `audit.recorded` events, kept for admins.

use city_platform::audit::AuditEntry;
use city_platform::Db;
use sqlx::Row;

/// Keeps one audit entry (the event id makes redelivery harmless).
pub async fn insert_audit(tx: &mut sqlx::AnyConnection, event_id: &str, e: &AuditEntry) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (id, actor_id, actor_name, service, action, target, before_json, after_json, request_id, at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING",
    )
    .bind(event_id)
    .bind(&e.actor_id)
    .bind(&e.actor_name)
    .bind(&e.service)
    .bind(&e.action)
    .bind(&e.target)
    .bind(e.before.as_ref().map(|v| v.to_string()))
    .bind(e.after.as_ref().map(|v| v.to_string()))
    .bind(&e.request_id)
    .bind(e.at_ms)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A page of the audit log, newest first, optionally only before an instant or of one service.
pub async fn audit_page(
    db: &Db,
    before_ms: Option<i64>,
    service: Option<&str>,
    limit: i64,
) -> Result<Vec<(String, AuditEntry)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, actor_id, actor_name, service, action, target, before_json, after_json, request_id, at_ms
         FROM audit_log WHERE at_ms < $1 AND ($2 = '' OR service = $2) ORDER BY at_ms DESC, id DESC LIMIT $3",
    )
    .bind(before_ms.unwrap_or(i64::MAX))
    .bind(service.unwrap_or(""))
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let before: Option<String> = r.get("before_json");
            let after: Option<String> = r.get("after_json");
            (
                r.get("id"),
                AuditEntry {
                    actor_id: r.get("actor_id"),
                    actor_name: r.get("actor_name"),
                    service: r.get("service"),
                    action: r.get("action"),
                    target: r.get("target"),
                    before: before.and_then(|b| serde_json::from_str(&b).ok()),
                    after: after.and_then(|a| serde_json::from_str(&a).ok()),
                    request_id: r.get("request_id"),
                    at_ms: r.get("at_ms"),
                },
            )
        })
        .collect())
}
