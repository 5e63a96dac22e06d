//! Orders: reading them, creating one per item at a time (`active_key`), the prepay id, closing,
//! and the posting states the background job moves them through.

use city_platform::money::Fen;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Store, StoreError};
use crate::domain::{OrderId, OutTradeNo};

/// One order row.
#[derive(Debug, Clone)]
pub struct OrderRow {
    /// Order id.
    pub id: OrderId,
    /// Our number at WeChat Pay.
    pub out_trade_no: OutTradeNo,
    /// Owner.
    pub citizen_id: String,
    /// `bill` | `fine` | `topup` | `booking`.
    pub item_kind: String,
    /// The bill, fine, top-up or booking id.
    pub item_id: String,
    /// Biller (the hospital for a booking fee).
    pub biller_id: String,
    /// Account number at the biller (plate for fines).
    pub account_no: String,
    /// What the payer sees.
    pub description: String,
    /// The amount.
    pub amount: Fen,
    /// JSON breakdown.
    pub breakdown: String,
    /// Payer openid.
    pub payer_openid: String,
    /// `pending` | `paid` | `closed`.
    pub state: String,
    /// WeChat prepay id once placed.
    pub prepay_id: Option<String>,
    /// RFC 3339 (+08:00) as sent to WeChat Pay.
    pub time_expire: String,
    /// Expiry, UTC ms.
    pub expires_at_ms: i64,
    /// WeChat's transaction id once paid.
    pub transaction_id: Option<String>,
    /// When paid.
    pub paid_at_ms: Option<i64>,
    /// `none` | `pending` | `posted` | `rejected` | `duplicate` (paid an item another payment
    /// had settled: never posted, refunded).
    pub posting_state: String,
    /// When posted.
    pub posted_at_ms: Option<i64>,
    /// Refunds reserved or made.
    pub refunded: Fen,
    /// Created.
    pub created_at_ms: i64,
}

impl OrderRow {
    /// What may still be refunded.
    pub fn refundable(&self) -> Fen {
        Fen(self.amount.0 - self.refunded.0)
    }
}

pub(super) const ORDER_COLUMNS: &str =
    "id, out_trade_no, citizen_id, item_kind, item_id, biller_id, account_no, description, amount_fen, \
    breakdown, payer_openid, state, prepay_id, time_expire, expires_at_ms, transaction_id, paid_at_ms, posting_state, \
    posted_at_ms, refunded_fen, created_at_ms";

pub(super) fn order_from(row: &AnyRow) -> Result<OrderRow, sqlx::Error> {
    Ok(OrderRow {
        id: OrderId::from(row.try_get::<String, _>(0)?),
        out_trade_no: OutTradeNo::from(row.try_get::<String, _>(1)?),
        citizen_id: row.try_get(2)?,
        item_kind: row.try_get(3)?,
        item_id: row.try_get(4)?,
        biller_id: row.try_get(5)?,
        account_no: row.try_get(6)?,
        description: row.try_get(7)?,
        amount: Fen(row.try_get(8)?),
        breakdown: row.try_get(9)?,
        payer_openid: row.try_get(10)?,
        state: row.try_get(11)?,
        prepay_id: row.try_get(12)?,
        time_expire: row.try_get(13)?,
        expires_at_ms: row.try_get(14)?,
        transaction_id: row.try_get(15)?,
        paid_at_ms: row.try_get(16)?,
        posting_state: row.try_get(17)?,
        posted_at_ms: row.try_get(18)?,
        refunded: Fen(row.try_get(19)?),
        created_at_ms: row.try_get(20)?,
    })
}

/// An order by id, inside a transaction.
pub(super) async fn order_by_id_on(conn: &mut AnyConnection, id: &str) -> Result<Option<OrderRow>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(order_from).transpose()
}

/// A new order, priced and numbered by the use case.
pub struct NewOrder<'a> {
    /// Id.
    pub id: &'a OrderId,
    /// Our number at WeChat Pay.
    pub out_trade_no: &'a OutTradeNo,
    /// One order per item and citizen at a time: `<kind>:<item id>:<citizen id>`.
    pub active_key: &'a str,
    /// Owner.
    pub citizen_id: &'a str,
    /// Item kind.
    pub item_kind: &'a str,
    /// Item id.
    pub item_id: &'a str,
    /// Biller (hospital for a booking fee).
    pub biller_id: &'a str,
    /// Account (plate for fines).
    pub account_no: &'a str,
    /// What the payer sees.
    pub description: &'a str,
    /// The amount.
    pub amount: Fen,
    /// JSON breakdown.
    pub breakdown: String,
    /// Payer openid.
    pub payer_openid: &'a str,
    /// RFC 3339 (+08:00) as sent to WeChat Pay.
    pub time_expire: &'a str,
    /// Expiry, UTC ms.
    pub expires_at_ms: i64,
    /// Now, UTC ms.
    pub at_ms: i64,
}

/// The (order, postings) a posting round decided, recorded in one transaction.
pub struct PostingResults<'a> {
    /// Orders the billers have now.
    pub posted: Vec<&'a OrderId>,
    /// Orders to try again at `retry_at_ms`.
    pub retry: Vec<&'a OrderId>,
    /// Orders the billers refused for good.
    pub rejected: Vec<&'a OrderId>,
    /// Now, UTC ms.
    pub at_ms: i64,
    /// When to retry, UTC ms.
    pub retry_at_ms: i64,
}

impl Store {
    /// An order by id.
    pub async fn order_by_id(&self, id: &str) -> Result<Option<OrderRow>, StoreError> {
        let mut conn = self.db.pool.acquire().await?;
        Ok(order_by_id_on(&mut conn, id).await?)
    }

    /// An order by out_trade_no.
    pub async fn order_by_no(&self, no: &str) -> Result<Option<OrderRow>, StoreError> {
        let row = sqlx::query(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE out_trade_no = $1"))
            .bind(no)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.as_ref().map(order_from).transpose()?)
    }

    /// The citizen's order in progress for an item (`<kind>:<item id>:<citizen id>`), if any.
    pub async fn active_order(&self, active_key: &str) -> Result<Option<OrderRow>, StoreError> {
        let row = sqlx::query(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE active_key = $1"))
            .bind(active_key)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.as_ref().map(order_from).transpose()?)
    }

    /// A citizen's orders, newest first.
    pub async fn orders_of(&self, citizen_id: &str, limit: i64) -> Result<Vec<OrderRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE citizen_id = $1 ORDER BY created_at_ms DESC LIMIT $2"
        ))
        .bind(citizen_id)
        .bind(limit)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.iter().map(order_from).collect::<Result<_, _>>()?)
    }

    /// Inserts a pending order; false when another order holds the item's `active_key` (a
    /// concurrent request created it first).
    pub async fn insert_order(&self, o: &NewOrder<'_>) -> Result<bool, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO orders (id, out_trade_no, active_key, citizen_id, item_kind, item_id, biller_id, account_no, description,
                amount_fen, breakdown, payer_openid, state, time_expire, expires_at_ms, created_at_ms, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'pending', $13, $14, $15, $15)",
        )
        .bind(o.id.as_str())
        .bind(o.out_trade_no.as_str())
        .bind(o.active_key)
        .bind(o.citizen_id)
        .bind(o.item_kind)
        .bind(o.item_id)
        .bind(o.biller_id)
        .bind(o.account_no)
        .bind(o.description)
        .bind(o.amount.0)
        .bind(&o.breakdown)
        .bind(o.payer_openid)
        .bind(o.time_expire)
        .bind(o.expires_at_ms)
        .bind(o.at_ms)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {
                tx.commit().await?;
                Ok(true)
            }
            Err(err) if city_platform::db::is_unique_violation(&err) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }

    /// Stores the prepay id of an order placed at WeChat Pay (the first one stays).
    pub async fn set_prepay_id(&self, id: &OrderId, prepay_id: &str, at_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE orders SET prepay_id = $1, updated_at_ms = $2 WHERE id = $3 AND prepay_id IS NULL")
            .bind(prepay_id)
            .bind(at_ms)
            .bind(id.as_str())
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// Closes a pending order and frees its item for a new one.
    pub async fn close_pending(&self, id: &OrderId, at_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE orders SET state = 'closed', active_key = NULL, updated_at_ms = $1 WHERE id = $2 AND state = 'pending'",
        )
        .bind(at_ms)
        .bind(id.as_str())
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    /// Pending orders not looked at since `before_ms`, oldest first.
    pub async fn stale_pending(&self, before_ms: i64, limit: i64) -> Result<Vec<OrderRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE state = 'pending' AND updated_at_ms <= $1 ORDER BY updated_at_ms LIMIT $2"
        ))
        .bind(before_ms)
        .bind(limit)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.iter().map(order_from).collect::<Result<_, _>>()?)
    }

    /// Notes that a pending order was looked at.
    pub async fn touch_pending(&self, id: &OrderId, at_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE orders SET updated_at_ms = $1 WHERE id = $2 AND state = 'pending'")
            .bind(at_ms)
            .bind(id.as_str())
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }

    /// Paid orders whose posting is due, soonest first.
    pub async fn due_postings(&self, now_ms: i64, limit: i64) -> Result<Vec<OrderRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE posting_state = 'pending' AND next_posting_at_ms <= $1
             ORDER BY next_posting_at_ms LIMIT $2"
        ))
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.iter().map(order_from).collect::<Result<_, _>>()?)
    }

    /// Records a posting round in one transaction; returns the rejected orders this call moved
    /// to `rejected` (a concurrent round may have moved the others).
    pub async fn record_postings<'a>(&self, r: &PostingResults<'a>) -> Result<Vec<&'a OrderId>, StoreError> {
        let mut tx = self.db.begin_write().await?;
        if !r.posted.is_empty() {
            // One statement for every posted order of the batch.
            let list: Vec<String> = (0..r.posted.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "UPDATE orders SET posting_state = 'posted', posted_at_ms = $1, updated_at_ms = $1
                 WHERE posting_state = 'pending' AND id IN ({})",
                list.join(", ")
            );
            let mut update = sqlx::query(&sql).bind(r.at_ms);
            for id in &r.posted {
                update = update.bind(id.as_str());
            }
            update.execute(&mut *tx).await?;
        }
        for id in &r.retry {
            sqlx::query("UPDATE orders SET posting_attempts = posting_attempts + 1, next_posting_at_ms = $1 WHERE id = $2 AND posting_state = 'pending'")
                .bind(r.retry_at_ms)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let mut rejected = Vec::new();
        for id in &r.rejected {
            let changed = sqlx::query("UPDATE orders SET posting_state = 'rejected', updated_at_ms = $1 WHERE id = $2 AND posting_state = 'pending'")
                .bind(r.at_ms)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed == 1 {
                rejected.push(*id);
            }
        }
        tx.commit().await?;
        Ok(rejected)
    }

    /// Duplicate payments not refunded in full yet, oldest first.
    pub async fn duplicates_to_refund(&self, limit: i64) -> Result<Vec<OrderRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders
             WHERE posting_state = 'duplicate' AND state = 'paid' AND refunded_fen < amount_fen
             ORDER BY paid_at_ms LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.iter().map(order_from).collect::<Result<_, _>>()?)
    }

    /// Pending orders whose item another order has settled: nothing is left for them to pay.
    pub async fn superseded_pending(&self, limit: i64) -> Result<Vec<OrderRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders o
             WHERE o.state = 'pending' AND EXISTS (
                SELECT 1 FROM orders p WHERE p.item_kind = o.item_kind AND p.item_id = o.item_id
                AND p.state = 'paid' AND p.posting_state <> 'duplicate')
             ORDER BY o.created_at_ms LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.iter().map(order_from).collect::<Result<_, _>>()?)
    }

    /// The paid order of a booking fee (the first, should there be two).
    pub async fn paid_booking_order(&self, booking_id: &str) -> Result<Option<OrderRow>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE item_kind = 'booking' AND item_id = $1 AND state = 'paid'
             AND posting_state <> 'duplicate' ORDER BY paid_at_ms LIMIT 1"
        ))
        .bind(booking_id)
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(row.as_ref().map(order_from).transpose()?)
    }
}
