//! Booking fees: made payable by booking's `booking.fee_due`, voided by its cancellation.

use city_platform::money::Fen;

use super::{Store, StoreError};

/// A booking fee as this service keeps it.
#[derive(Debug, Clone)]
pub struct BookingFee {
    /// The booking (appointment) id.
    pub booking_id: String,
    /// Who owes it.
    pub citizen_id: String,
    /// Whom the ledger owes it to.
    pub hospital_id: String,
    /// The fee.
    pub amount: Fen,
    /// What the payer sees.
    pub description: String,
    /// The hold's end, UTC ms.
    pub pay_before_ms: i64,
    /// `due`, `paid` or `void`.
    pub status: String,
}

impl Store {
    /// A booking fee of this citizen (another's is `None`, like a missing one).
    pub async fn booking_fee_of(&self, citizen_id: &str, booking_id: &str) -> Result<Option<BookingFee>, StoreError> {
        let row: Option<(String, String, String, i64, String, i64, String)> = sqlx::query_as(
            "SELECT booking_id, citizen_id, hospital_id, amount_fen, description, pay_before_ms, status
             FROM booking_fees WHERE booking_id = $1 AND citizen_id = $2",
        )
        .bind(booking_id)
        .bind(citizen_id)
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(row.map(|(booking_id, citizen_id, hospital_id, amount_fen, description, pay_before_ms, status)| {
            BookingFee {
                booking_id,
                citizen_id,
                hospital_id,
                amount: Fen(amount_fen),
                description,
                pay_before_ms,
                status,
            }
        }))
    }

    /// Records a due fee; a second record of the same booking (or one after its void
    /// tombstone) changes nothing.
    pub async fn record_fee_due(&self, fee: &BookingFee, at_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO booking_fees (booking_id, citizen_id, hospital_id, amount_fen, description, pay_before_ms, status, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, 'due', $7) ON CONFLICT (booking_id) DO NOTHING",
        )
        .bind(&fee.booking_id)
        .bind(&fee.citizen_id)
        .bind(&fee.hospital_id)
        .bind(fee.amount.0)
        .bind(&fee.description)
        .bind(fee.pay_before_ms)
        .bind(at_ms)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// Voids a due fee, or leaves a void tombstone when the fee is not known yet.
    pub async fn void_fee(&self, booking_id: &str, citizen_id: &str, at_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO booking_fees (booking_id, citizen_id, hospital_id, amount_fen, description, pay_before_ms, status, created_at_ms)
             VALUES ($1, $2, 'hospitals', 0, '', 0, 'void', $3)
             ON CONFLICT (booking_id) DO UPDATE SET status = 'void' WHERE booking_fees.status = 'due'",
        )
        .bind(booking_id)
        .bind(citizen_id)
        .bind(at_ms)
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// A citizen's fees still payable at `now_ms`: (booking id, description, amount, pay before).
    pub async fn due_fees_of(&self, citizen_id: &str, now_ms: i64) -> Result<Vec<BookingFee>, StoreError> {
        let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT booking_id, description, amount_fen, pay_before_ms FROM booking_fees
             WHERE citizen_id = $1 AND status = 'due' AND pay_before_ms > $2",
        )
        .bind(citizen_id)
        .bind(now_ms)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(booking_id, description, amount_fen, pay_before_ms)| BookingFee {
                booking_id,
                citizen_id: citizen_id.to_owned(),
                hospital_id: String::new(),
                amount: Fen(amount_fen),
                description,
                pay_before_ms,
                status: "due".into(),
            })
            .collect())
    }
}
