//! API keys of integrators, stored only as SHA-256.

use city_platform::ids::new_id;
use city_platform::time::now_ms;
use city_platform::Db;
use sqlx::any::AnyRow;
use sqlx::Row;

/// An API key as stored.
#[derive(Debug, Clone)]
pub struct ApiKeyRow {
    /// Id.
    pub id: String,
    /// Integrator name.
    pub name: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Created.
    pub created_at_ms: i64,
    /// Revoked when set.
    pub revoked_at_ms: Option<i64>,
}

fn api_key(r: AnyRow) -> ApiKeyRow {
    let scopes: String = r.get("scopes");
    ApiKeyRow {
        id: r.get("id"),
        name: r.get("name"),
        scopes: serde_json::from_str(&scopes).unwrap_or_default(),
        created_at_ms: r.get("created_at_ms"),
        revoked_at_ms: r.get("revoked_at_ms"),
    }
}

/// Stores a new API key's hash inside `tx`.
pub async fn insert_api_key(
    tx: &mut sqlx::AnyConnection,
    name: &str,
    key_hash: &str,
    scopes: &[String],
) -> Result<ApiKeyRow, sqlx::Error> {
    let id = new_id();
    let now = now_ms();
    sqlx::query("INSERT INTO api_keys (id, name, key_hash, scopes, created_at_ms) VALUES ($1, $2, $3, $4, $5)")
        .bind(&id)
        .bind(name)
        .bind(key_hash)
        .bind(serde_json::to_string(scopes).unwrap_or_else(|_| "[]".into()))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    Ok(ApiKeyRow { id, name: name.into(), scopes: scopes.to_vec(), created_at_ms: now, revoked_at_ms: None })
}

/// The live key with this hash.
pub async fn live_api_key(db: &Db, key_hash: &str) -> Result<Option<ApiKeyRow>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, name, scopes, created_at_ms, revoked_at_ms FROM api_keys WHERE key_hash = $1 AND revoked_at_ms IS NULL",
    )
    .bind(key_hash)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(api_key))
}

/// Every key, newest first.
pub async fn api_keys(db: &Db) -> Result<Vec<ApiKeyRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, name, scopes, created_at_ms, revoked_at_ms FROM api_keys ORDER BY created_at_ms DESC, id",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(api_key).collect())
}

/// Revokes a key inside `tx`; its hash when it was live.
pub async fn revoke_api_key(tx: &mut sqlx::AnyConnection, id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE api_keys SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL RETURNING key_hash",
    )
    .bind(now_ms())
    .bind(id)
    .fetch_optional(&mut *tx)
    .await
}
