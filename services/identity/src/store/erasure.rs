//! Closing an account (issue #23): the citizen's own rows go; the session rows stay, revoked,
//! so a token presented later is refused like any revoked one.

use sqlx::AnyConnection;

use super::revoke_sessions_of;
use crate::domain::citizen_id::CitizenId;

/// Erases the citizen inside `tx`: family members (and their share of the ID-number holders'
/// counts), e-mail, preferences, WeChat identities and the citizen row; every session revoked.
/// The revoked sessions' token hashes, for the principal cache. A citizen already gone erases
/// nothing.
pub async fn erase_citizen(tx: &mut AnyConnection, citizen_id: &CitizenId) -> Result<Vec<String>, sqlx::Error> {
    let id = citizen_id.as_str();
    let hashes: Vec<String> = sqlx::query_scalar("DELETE FROM people WHERE citizen_id = $1 RETURNING id_number_hash")
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
    for hash in &hashes {
        sqlx::query(
            "UPDATE id_number_holders SET n_accounts = n_accounts - 1 WHERE id_number_hash = $1 AND n_accounts > 0",
        )
        .bind(hash)
        .execute(&mut *tx)
        .await?;
    }
    for statement in [
        "DELETE FROM citizen_emails WHERE citizen_id = $1",
        "DELETE FROM citizen_preferences WHERE citizen_id = $1",
        "DELETE FROM wechat_identities WHERE citizen_id = $1",
        "DELETE FROM citizens WHERE id = $1",
    ] {
        sqlx::query(statement).bind(id).execute(&mut *tx).await?;
    }
    revoke_sessions_of(tx, id).await
}
