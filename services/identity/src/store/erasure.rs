//! Closing an account (issue #23): the citizen's own rows go; the session rows stay, revoked,
//! so a token presented later is refused like any revoked one; the audit log, kept, stops naming
//! them.

use sqlx::AnyConnection;

use super::revoke_sessions_of;
use crate::domain::citizen_id::CitizenId;

/// What a closed account's id becomes where a kept record named it (as payments and booking do).
pub const ERASED: &str = "erased";

/// Erases the citizen inside `tx`: family members (and their share of the ID-number holders'
/// counts), e-mail, preferences, WeChat identities and the citizen row; every session revoked;
/// the audit entries they acted in (`actor_id`) or on (`target` `citizen:<id>`) kept under
/// [`ERASED`] (the law keeps the audit, not whose it was). Only the entries already in the log:
/// one still on its way through the outbox keeps the id (see `erasure::erase`).
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
    // Entries are written by citizen id only when the citizen acted: a staff member's id that
    // happened to match (they are different id spaces) is left alone by the `actor_name` test.
    sqlx::query("UPDATE audit_log SET actor_id = $2 WHERE actor_id = $1 AND actor_name = 'citizen'")
        .bind(id)
        .bind(ERASED)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE audit_log SET target = $2 WHERE target = $1")
        .bind(format!("citizen:{id}"))
        .bind(format!("citizen:{ERASED}"))
        .execute(&mut *tx)
        .await?;
    revoke_sessions_of(tx, id).await
}
