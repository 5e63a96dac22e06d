//! A citizen's e-mail address and notice preferences (issue #23).

use city_platform::Db;
use sqlx::Row;

use crate::domain::citizen_id::CitizenId;

/// A confirmed address as stored.
pub struct EmailRow {
    /// Sealed with the data key.
    pub sealed: String,
    /// `c***@example.cn`.
    pub masked: String,
}

/// Stores (or replaces) the citizen's confirmed address.
pub async fn set_email(db: &Db, id: &CitizenId, sealed: &str, masked: &str, now_ms: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO citizen_emails (citizen_id, email_sealed, email_masked, confirmed_at_ms) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (citizen_id) DO UPDATE SET email_sealed = $2, email_masked = $3, confirmed_at_ms = $4",
    )
    .bind(id.as_str())
    .bind(sealed)
    .bind(masked)
    .bind(now_ms)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The citizen's confirmed address, if any.
pub async fn email_of(db: &Db, id: &CitizenId) -> Result<Option<EmailRow>, sqlx::Error> {
    let row = sqlx::query("SELECT email_sealed, email_masked FROM citizen_emails WHERE citizen_id = $1")
        .bind(id.as_str())
        .fetch_optional(&db.pool)
        .await?;
    row.map(|r| Ok(EmailRow { sealed: r.try_get("email_sealed")?, masked: r.try_get("email_masked")? })).transpose()
}

/// Every (kind, channels as stored) of the citizen, by kind.
pub async fn preferences_of(db: &Db, id: &CitizenId) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::query("SELECT kind, channels FROM citizen_preferences WHERE citizen_id = $1 ORDER BY kind")
        .bind(id.as_str())
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(|r| Ok((r.try_get("kind")?, r.try_get("channels")?))).collect()
}

/// Sets the channels for one kind of notice (a comma-separated list, possibly empty).
pub async fn set_preference(
    db: &Db,
    id: &CitizenId,
    kind: &str,
    channels: &str,
    now_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO citizen_preferences (citizen_id, kind, channels, updated_at_ms) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (citizen_id, kind) DO UPDATE SET channels = $3, updated_at_ms = $4",
    )
    .bind(id.as_str())
    .bind(kind)
    .bind(channels)
    .bind(now_ms)
    .execute(&db.pool)
    .await?;
    Ok(())
}
