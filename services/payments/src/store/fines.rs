//! Traffic fines as the traffic police recorded them (the amount due is priced in `domain::fines`).

use chrono::NaiveDate;
use city_platform::money::Fen;

use super::{Store, StoreError};

/// A fine.
#[derive(Debug, Clone)]
pub struct FineRow {
    /// Id.
    pub id: String,
    /// Decision number (决定书编号).
    pub decision_no: String,
    /// Plate, normal form.
    pub plate: String,
    /// Plate type code.
    pub plate_type: String,
    /// The fine itself.
    pub fine: Fen,
    /// Beijing date the decision was served.
    pub decided_on: NaiveDate,
    /// What happened.
    pub violation: String,
    /// Where.
    pub location: String,
    /// `unpaid` or `paid`.
    pub status: String,
}

type FineTuple = (String, String, String, String, i64, String, String, String, String);

const FINE_COLUMNS: &str = "id, decision_no, plate, plate_type, fine_fen, decided_on, violation, location, status";

fn fine_from(
    (id, decision_no, plate, plate_type, fine_fen, decided_on, violation, location, status): FineTuple,
) -> Result<FineRow, StoreError> {
    let decided_on = NaiveDate::parse_from_str(&decided_on, "%Y-%m-%d")
        .map_err(|_| StoreError::Corrupt(format!("fine {id}: decided_on {decided_on:?}")))?;
    Ok(FineRow { id, decision_no, plate, plate_type, fine: Fen(fine_fen), decided_on, violation, location, status })
}

/// The rows that read; a corrupt one is logged and left out of a list, as it always was.
fn readable(rows: Vec<FineTuple>) -> Vec<FineRow> {
    rows.into_iter()
        .filter_map(|r| fine_from(r).map_err(|err| tracing::error!(error = %err, "fine left out")).ok())
        .collect()
}

impl Store {
    /// Fines by decision number.
    pub async fn fines_by_decision(&self, decision_no: &str) -> Result<Vec<FineRow>, StoreError> {
        let rows: Vec<FineTuple> = sqlx::query_as(&format!("SELECT {FINE_COLUMNS} FROM fines WHERE decision_no = $1"))
            .bind(decision_no)
            .fetch_all(&self.db.pool)
            .await?;
        Ok(readable(rows))
    }

    /// Fines decided against a registered vehicle, oldest decision first (a plate's fines from
    /// before it went to this car are another vehicle's).
    pub async fn fines_of_vehicle(&self, vehicle_id: &str) -> Result<Vec<FineRow>, StoreError> {
        let rows: Vec<FineTuple> =
            sqlx::query_as(&format!("SELECT {FINE_COLUMNS} FROM fines WHERE vehicle_id = $1 ORDER BY decided_on"))
                .bind(vehicle_id)
                .fetch_all(&self.db.pool)
                .await?;
        Ok(readable(rows))
    }

    /// One fine.
    pub async fn fine(&self, id: &str) -> Result<Option<FineRow>, StoreError> {
        let row: Option<FineTuple> = sqlx::query_as(&format!("SELECT {FINE_COLUMNS} FROM fines WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?;
        row.map(fine_from).transpose()
    }
}
