//! A closed account (issue #23, `identity.citizen_erased`): waitlist entries and rebooking
//! offers go; past appointments stay for the hospitals' statistics without the citizen, the
//! patient or the patient's name. Running it again changes nothing.

use city_platform::Db;

/// What the kept appointments name instead of the citizen and the patient.
const ERASED: &str = "erased";

/// Erases the citizen's waitlist entries and offers and anonymises their appointments.
pub async fn erase_citizen(db: &Db, citizen_id: &str) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    for statement in
        ["DELETE FROM waitlist WHERE citizen_id = $1", "DELETE FROM rebooking_offers WHERE citizen_id = $1"]
    {
        sqlx::query(statement).bind(citizen_id).execute(&mut *tx).await?;
    }
    sqlx::query(
        "UPDATE appointments SET citizen_id = $2, person_id = $2, id_number_hash = $2, patient_name_masked = '*'
         WHERE citizen_id = $1",
    )
    .bind(citizen_id)
    .bind(ERASED)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}
