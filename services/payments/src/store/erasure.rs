//! A closed account (issue #23, `identity.citizen_erased`): payments keeps its orders and fees
//! (the accounting law wants them) but no longer says whose they were; bindings, bound vehicles
//! and reminder marks go. Running it again changes nothing: nothing names the citizen any more.

use city_platform::Db;

/// What the kept rows name instead of the citizen.
pub const ERASED: &str = "erased";

/// Anonymises the citizen's orders and booking fees and drops what only served them, in one
/// transaction.
pub async fn erase_citizen(db: &Db, citizen_id: &str) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    // `active_key` ends in the citizen id; the account's orders are all settled or closed by
    // now (identity refuses to close an account with one in flight).
    sqlx::query("UPDATE orders SET citizen_id = $2, payer_openid = '', active_key = NULL WHERE citizen_id = $1")
        .bind(citizen_id)
        .bind(ERASED)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE booking_fees SET citizen_id = $2 WHERE citizen_id = $1")
        .bind(citizen_id)
        .bind(ERASED)
        .execute(&mut *tx)
        .await?;
    for statement in [
        "DELETE FROM bindings WHERE citizen_id = $1",
        "DELETE FROM vehicle_bindings WHERE citizen_id = $1",
        "DELETE FROM payment_reminders WHERE citizen_id = $1",
    ] {
        sqlx::query(statement).bind(citizen_id).execute(&mut *tx).await?;
    }
    tx.commit().await
}
