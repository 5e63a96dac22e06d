//! What reconciliation reads of our side of a day.

use city_platform::money::Fen;

use super::{Store, StoreError};

/// (out_trade_no, amount) of orders paid between two instants.
pub type Payment = (String, Fen);

/// (out_refund_no, out_trade_no, amount) of refunds made between two instants.
pub type RefundLine = (String, String, Fen);

impl Store {
    /// Orders paid in `[from_ms, to_ms)`.
    pub async fn paid_between(&self, from_ms: i64, to_ms: i64) -> Result<Vec<Payment>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT out_trade_no, amount_fen FROM orders WHERE transaction_id IS NOT NULL AND paid_at_ms >= $1 AND paid_at_ms < $2",
        )
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.into_iter().map(|(no, fen)| (no, Fen(fen))).collect())
    }

    /// Orders posted to their billers in `[from_ms, to_ms)`.
    pub async fn posted_between(&self, from_ms: i64, to_ms: i64) -> Result<Vec<Payment>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT out_trade_no, amount_fen FROM orders WHERE posting_state = 'posted' AND posted_at_ms >= $1 AND posted_at_ms < $2",
        )
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.into_iter().map(|(no, fen)| (no, Fen(fen))).collect())
    }

    /// Refunds requested in `[from_ms, to_ms)`.
    pub async fn refunds_between(&self, from_ms: i64, to_ms: i64) -> Result<Vec<RefundLine>, StoreError> {
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT r.out_refund_no, o.out_trade_no, r.amount_fen FROM refunds r JOIN orders o ON o.id = r.order_id
             WHERE r.created_at_ms >= $1 AND r.created_at_ms < $2",
        )
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.into_iter().map(|(r, o, fen)| (r, o, Fen(fen))).collect())
    }
}
