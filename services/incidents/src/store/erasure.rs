//! A closed account (issue #23, `identity.citizen_erased`): the public report text stays (the
//! pothole is still there), without the reporter, their name or contact; "me too" marks and
//! the repeat guard go. Running it again changes nothing.

use city_platform::Db;

/// Drops the reporter from the citizen's reports and their follows and repeat guard.
pub async fn erase_citizen(db: &Db, citizen_id: &str) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE incident_reports SET n_followers = n_followers - 1
         WHERE n_followers > 0 AND id IN (SELECT report_id FROM incident_followers WHERE citizen_id = $1)",
    )
    .bind(citizen_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM incident_followers WHERE citizen_id = $1").bind(citizen_id).execute(&mut *tx).await?;
    sqlx::query("DELETE FROM incident_reporters WHERE reporter_key = $1")
        .bind(format!("citizen:{citizen_id}"))
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE incident_reports SET citizen_id = NULL, reporter_name = NULL, contact = NULL WHERE citizen_id = $1",
    )
    .bind(citizen_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}
