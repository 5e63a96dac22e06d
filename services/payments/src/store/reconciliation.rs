//! What reconciliation reads of our side of a day.

use city_platform::money::Fen;

use super::{Store, StoreError};

/// (out_trade_no, amount) of orders paid between two instants.
pub type Payment = (String, Fen);

/// (out_refund_no, out_trade_no, amount) of refunds made between two instants.
pub type RefundLine = (String, String, Fen);

/// A duplicate payment (an item paid after another payment had settled it) and its refund.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DuplicateLine {
    /// The duplicate's order number.
    pub out_trade_no: String,
    /// `bill`, `fine` or `booking`.
    pub item_kind: String,
    /// The item paid twice.
    pub item_id: String,
    /// What the duplicate paid, fen.
    pub amount_fen: i64,
    /// The state of its refund (`processing`, `success`, ...), `None` before it is requested.
    pub refund_state: Option<String>,
}

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

    /// Duplicate payments made in `[from_ms, to_ms)`, with the state of the refund each gets
    /// under its one refund number (`refund_no` of the order id).
    pub async fn duplicates_between(
        &self,
        from_ms: i64,
        to_ms: i64,
        refund_no: impl Fn(&str) -> String,
    ) -> Result<Vec<DuplicateLine>, StoreError> {
        let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT id, out_trade_no, item_kind, item_id, amount_fen FROM orders
             WHERE posting_state = 'duplicate' AND paid_at_ms >= $1 AND paid_at_ms < $2 ORDER BY paid_at_ms",
        )
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.db.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, out_trade_no, item_kind, item_id, amount) in rows {
            let refund: Option<(String,)> = sqlx::query_as("SELECT state FROM refunds WHERE out_refund_no = $1")
                .bind(refund_no(&id))
                .fetch_optional(&self.db.pool)
                .await?;
            out.push(DuplicateLine {
                out_trade_no,
                item_kind,
                item_id,
                amount_fen: amount,
                refund_state: refund.map(|r| r.0),
            });
        }
        Ok(out)
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
