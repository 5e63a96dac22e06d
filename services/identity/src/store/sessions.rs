//! Sessions: opaque tokens stored only as SHA-256, revoked one by one or all of a subject's.

use city_platform::ids::new_id;
use city_platform::time::now_ms;
use city_platform::Db;
use sqlx::Row;

/// Session kinds.
pub const CITIZEN: &str = "citizen";
/// Session kinds.
pub const STAFF: &str = "staff";

/// A live session found by its token hash.
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// The session id.
    pub id: String,
    /// `citizen` or `staff`.
    pub kind: String,
    /// The citizen or staff id.
    pub subject_id: String,
    /// When it stops working.
    pub expires_at_ms: i64,
}

/// Stores a new session; returns its id.
pub async fn create_session(
    db: &Db,
    kind: &str,
    subject_id: &str,
    token_hash: &str,
    expires_at_ms: i64,
) -> Result<String, sqlx::Error> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO sessions (id, token_hash, kind, subject_id, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(token_hash)
    .bind(kind)
    .bind(subject_id)
    .bind(now_ms())
    .bind(expires_at_ms)
    .execute(&db.pool)
    .await?;
    Ok(id)
}

/// The live (unexpired, unrevoked) session with this token hash.
pub async fn live_session(db: &Db, token_hash: &str) -> Result<Option<SessionRow>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, kind, subject_id, expires_at_ms FROM sessions
         WHERE token_hash = $1 AND revoked_at_ms IS NULL AND expires_at_ms > $2",
    )
    .bind(token_hash)
    .bind(now_ms())
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|r| SessionRow {
        id: r.get("id"),
        kind: r.get("kind"),
        subject_id: r.get("subject_id"),
        expires_at_ms: r.get("expires_at_ms"),
    }))
}

/// Revokes one session; its token hash when it was live.
pub async fn revoke_session(db: &Db, session_id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE sessions SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL RETURNING token_hash",
    )
    .bind(now_ms())
    .bind(session_id)
    .fetch_optional(&db.pool)
    .await
}

/// Revokes every live session of a subject inside `tx`; their token hashes.
pub async fn revoke_sessions_of(tx: &mut sqlx::AnyConnection, subject_id: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE sessions SET revoked_at_ms = $1 WHERE subject_id = $2 AND revoked_at_ms IS NULL RETURNING token_hash",
    )
    .bind(now_ms())
    .bind(subject_id)
    .fetch_all(&mut *tx)
    .await
}
