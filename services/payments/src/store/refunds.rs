//! Refunds: reserving an amount on a paid order together with the refund row (and its audit
//! entry), and marking a refund succeeded once with its ledger movement and events.

use city_platform::audit::{self, AuditEntry};
use city_platform::money::Fen;
use city_platform::outbox;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::orders::{order_by_id_on, OrderRow};
use super::settlement::{ledger, Events};
use super::{Store, StoreError};
use crate::domain::{self, OrderId};

/// One refund row.
#[derive(Debug, Clone)]
pub struct RefundRow {
    /// Id.
    pub id: String,
    /// Our refund number.
    pub out_refund_no: String,
    /// Order.
    pub order_id: OrderId,
    /// The amount.
    pub amount: Fen,
    /// Why.
    pub reason: String,
    /// `processing` | `success` | ...
    pub state: String,
    /// Created.
    pub created_at_ms: i64,
}

fn refund_from(row: &AnyRow) -> Result<RefundRow, sqlx::Error> {
    Ok(RefundRow {
        id: row.try_get(0)?,
        out_refund_no: row.try_get(1)?,
        order_id: OrderId::from(row.try_get::<String, _>(2)?),
        amount: Fen(row.try_get(3)?),
        reason: row.try_get(4)?,
        state: row.try_get(5)?,
        created_at_ms: row.try_get(6)?,
    })
}

const REFUND_COLUMNS: &str = "id, out_refund_no, order_id, amount_fen, reason, state, created_at_ms";

/// A refund to reserve: the order's `refunded_fen` must still be `refunded_before`.
pub struct NewRefund<'a> {
    /// The refund row, state `processing`.
    pub refund: &'a RefundRow,
    /// What the order had refunded when the caller read it.
    pub refunded_before: Fen,
    /// `system` or the staff id.
    pub requested_by: &'a str,
    /// The audit entry, for a refund a person asked for.
    pub audit: Option<AuditEntry>,
}

/// How a reservation went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Reserved and recorded.
    Reserved,
    /// The order is no longer paid or its refunds changed since it was read: nothing changed.
    Raced,
    /// The refund number exists already: nothing changed.
    NumberTaken,
}

/// How marking a refund succeeded went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// Marked now, with its ledger movement and events.
    Done,
    /// It had succeeded before; nothing changed.
    AlreadyDone,
    /// No refund with that number.
    Unknown,
    /// The amount differs from the refund's.
    AmountDiffers,
}

impl Store {
    /// Whether a refund with this number exists.
    pub async fn refund_exists(&self, out_refund_no: &str) -> Result<bool, StoreError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT id FROM refunds WHERE out_refund_no = $1")
            .bind(out_refund_no)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.is_some())
    }

    /// A refund's current state.
    pub async fn refund_state(&self, id: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT state FROM refunds WHERE id = $1").bind(id).fetch_optional(&self.db.pool).await?;
        Ok(row.map(|r| r.0))
    }

    /// Reserves the refund's amount on its order and records the refund (and the audit entry)
    /// in one transaction; the conditional update is the guard against a racing refund.
    pub async fn reserve_refund(&self, r: &NewRefund<'_>) -> Result<Reservation, StoreError> {
        let refund = r.refund;
        let mut tx = self.db.begin_write().await?;
        let reserved = sqlx::query(
            "UPDATE orders SET refunded_fen = refunded_fen + $1, updated_at_ms = $2
             WHERE id = $3 AND state = 'paid' AND refunded_fen = $4 AND refunded_fen + $1 <= amount_fen",
        )
        .bind(refund.amount.0)
        .bind(refund.created_at_ms)
        .bind(refund.order_id.as_str())
        .bind(r.refunded_before.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if reserved != 1 {
            return Ok(Reservation::Raced);
        }
        let inserted = sqlx::query(
            "INSERT INTO refunds (id, out_refund_no, order_id, amount_fen, reason, state, requested_by, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, 'processing', $6, $7)",
        )
        .bind(&refund.id)
        .bind(&refund.out_refund_no)
        .bind(refund.order_id.as_str())
        .bind(refund.amount.0)
        .bind(&refund.reason)
        .bind(r.requested_by)
        .bind(refund.created_at_ms)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            // Dropping the transaction undoes the reservation too.
            Err(err) if city_platform::db::is_unique_violation(&err) => return Ok(Reservation::NumberTaken),
            Err(err) => return Err(err.into()),
        }
        if let Some(entry) = &r.audit {
            audit::record(&mut tx, entry).await?;
        }
        tx.commit().await?;
        Ok(Reservation::Reserved)
    }

    /// Marks a refund succeeded exactly once, with its ledger movement and the events
    /// `events_of` builds from its order and itself.
    pub async fn complete_refund(
        &self,
        out_refund_no: &str,
        refund_id: &str,
        amount: Fen,
        at_ms: i64,
        events_of: impl FnOnce(&OrderRow, &RefundRow) -> Events + Send,
    ) -> Result<Completion, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let row = sqlx::query(&format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE out_refund_no = $1"))
            .bind(out_refund_no)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(refund) = row.as_ref().map(refund_from).transpose()? else {
            return Ok(Completion::Unknown);
        };
        if refund.amount != amount {
            return Ok(Completion::AmountDiffers);
        }
        let updated = sqlx::query(
            "UPDATE refunds SET state = 'success', refund_id = $1, succeeded_at_ms = $2 WHERE id = $3 AND state = 'processing'",
        )
        .bind(refund_id)
        .bind(at_ms)
        .bind(&refund.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            return Ok(Completion::AlreadyDone);
        }
        let order = order_by_id_on(&mut tx, refund.order_id.as_str()).await?.ok_or(sqlx::Error::RowNotFound)?;
        ledger(
            &mut tx,
            order.id.as_str(),
            &format!("refund:{out_refund_no}"),
            &[
                (&domain::payable_account(&order.item_kind, &order.biller_id), refund.amount.0),
                ("wechat_clearing", -refund.amount.0),
            ],
            at_ms,
        )
        .await?;
        outbox::enqueue_many(&mut tx, &events_of(&order, &refund)).await?;
        tx.commit().await?;
        Ok(Completion::Done)
    }

    /// Refunds still `processing` since before `before_ms`.
    pub async fn stuck_refunds(&self, before_ms: i64, limit: i64) -> Result<Vec<RefundRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {REFUND_COLUMNS} FROM refunds WHERE state = 'processing' AND created_at_ms <= $1 LIMIT $2"
        ))
        .bind(before_ms)
        .bind(limit)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.iter().map(refund_from).collect::<Result<_, _>>()?)
    }
}
