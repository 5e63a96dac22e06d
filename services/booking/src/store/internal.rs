//! SQL of the service-to-service questions (`crate::internal`) that no use case of booking's own
//! asks.

use city_platform::Db;
use sqlx::Row;

use crate::domain::limits::LIVE_STATUSES;

/// The citizens with an appointment not cancelled (nor expired, nor missed: a live status) on a
/// Beijing date in `from..=to` (`YYYY-MM-DD`) at a hospital in `district`, each once.
pub async fn district_citizens(db: &Db, district: &str, from: &str, to: &str) -> Result<Vec<String>, sqlx::Error> {
    // The statuses are this crate's constants, never input.
    let live = LIVE_STATUSES.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT DISTINCT a.citizen_id FROM appointments a JOIN hospitals h ON h.id = a.hospital_id
         WHERE h.district_code = $1 AND a.visit_date >= $2 AND a.visit_date <= $3 AND a.status IN ({live})
         ORDER BY a.citizen_id"
    );
    let rows = sqlx::query(&sql).bind(district).bind(from).bind(to).fetch_all(&db.pool).await?;
    rows.iter().map(|r| r.try_get::<String, _>("citizen_id")).collect()
}
