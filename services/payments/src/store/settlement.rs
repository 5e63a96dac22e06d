//! Applying a paid transaction: the order moves `pending|closed → paid` by a conditional update
//! and only then are the item, the ledger pair and the events written. Both forms run inside the
//! caller's write transaction (one of a batch, see `usecases::settlement::applier`).
//!
//! Whoever pays first settles the item: the item moves to `paid` by a conditional update too,
//! and a payment that finds it paid already (another citizen's order, or an order closed while
//! its payment was on the way) is a duplicate: kept (the money arrived), marked
//! `posting_state = 'duplicate'`, never posted to the biller, and refunded by the job
//! (`usecases::jobs`) through the one refund path.

use city_platform::ids::new_id;
use city_platform::money::Fen;
use city_platform::outbox;
use sqlx::{AnyConnection, Row};

use super::orders::{order_from, ORDER_COLUMNS};
use crate::domain::{self, OutTradeNo};

/// A payment WeChat Pay reports as made.
#[derive(Debug, Clone)]
pub struct Paid<'a> {
    /// Our number.
    pub out_trade_no: &'a OutTradeNo,
    /// WeChat's transaction id.
    pub transaction_id: &'a str,
    /// The amount paid; the order must be for exactly this.
    pub amount: Fen,
    /// When WeChat says it was paid, UTC ms.
    pub paid_at_ms: i64,
    /// Now, UTC ms.
    pub at_ms: i64,
}

/// The events a payment raises, written with it.
pub type Events = [(&'static str, serde_json::Value); 2];

/// One event: topic and payload.
pub type Event = (&'static str, serde_json::Value);

/// What a payment writes to the outbox: `settled` when it settled its item, `duplicate` (the
/// citizen's notice of the refund to come) when the item was settled already.
#[derive(Debug, Clone)]
pub struct PaidEvents {
    /// `payments.paid` and the citizen's notice.
    pub settled: Events,
    /// The citizen's notice that the payment will be refunded.
    pub duplicate: Event,
}

/// Marks a paid order as a duplicate payment of its item and tells the citizen, inside the
/// payment's transaction.
async fn mark_duplicate(conn: &mut AnyConnection, out_trade_no: &str, notice: &Event) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE orders SET posting_state = 'duplicate' WHERE out_trade_no = $1 AND state = 'paid'")
        .bind(out_trade_no)
        .execute(&mut *conn)
        .await?;
    outbox::enqueue(conn, notice.0, &notice.1).await?;
    Ok(())
}

/// Applies a payment statement by statement (SQLite, where statements are cheap). False when the
/// order was paid already (or does not match), in which case nothing was written.
pub async fn apply_paid_on(
    conn: &mut AnyConnection,
    paid: &Paid<'_>,
    events: &PaidEvents,
) -> Result<bool, sqlx::Error> {
    // Booking fees are not posted anywhere: booking learns of the payment from payments.paid.
    let row = sqlx::query(&format!(
        "UPDATE orders SET state = 'paid', transaction_id = $1, paid_at_ms = $2,
            posting_state = CASE WHEN item_kind = 'booking' THEN 'none' ELSE 'pending' END,
            next_posting_at_ms = $3, updated_at_ms = $3
         WHERE out_trade_no = $4 AND state IN ('pending', 'closed') AND amount_fen = $5
         RETURNING {ORDER_COLUMNS}"
    ))
    .bind(paid.transaction_id)
    .bind(paid.paid_at_ms)
    .bind(paid.at_ms)
    .bind(paid.out_trade_no.as_str())
    .bind(paid.amount.0)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(false) };
    let order = order_from(&row)?;
    // Only the first payment settles the item (a booking fee voided meanwhile is still
    // settled: booking refunds a payment that came too late itself).
    let item_update = match order.item_kind.as_str() {
        "bill" => Some("UPDATE bills SET status = 'paid' WHERE id = $1 AND status <> 'paid'"),
        "fine" => Some("UPDATE fines SET status = 'paid' WHERE id = $1 AND status <> 'paid'"),
        "booking" => Some("UPDATE booking_fees SET status = 'paid' WHERE booking_id = $1 AND status <> 'paid'"),
        _ => None,
    };
    let settled = match item_update {
        Some(sql) => sqlx::query(sql).bind(&order.item_id).execute(&mut *conn).await?.rows_affected() == 1,
        None => true,
    };
    let payable = domain::payable_account(&order.item_kind, &order.biller_id);
    ledger(
        conn,
        order.id.as_str(),
        "payment",
        &[("wechat_clearing", order.amount.0), (&payable, -order.amount.0)],
        paid.at_ms,
    )
    .await?;
    if settled {
        outbox::enqueue_many(conn, &events.settled).await?;
    } else {
        mark_duplicate(conn, paid.out_trade_no.as_str(), &events.duplicate).await?;
    }
    Ok(true)
}

/// PostgreSQL's form of [`apply_paid_on`]: the same writes as one statement (data-modifying
/// CTEs all hang off the conditional update, so nothing is written unless it changed the
/// order), because there each statement is a round trip and a payment would otherwise cost
/// five. `payable` is the ledger account of the pre-read order. The outbox rows are written as
/// `outbox::enqueue` writes them.
pub async fn apply_paid_pg(
    conn: &mut AnyConnection,
    paid: &Paid<'_>,
    payable: &str,
    events: &PaidEvents,
) -> Result<bool, sqlx::Error> {
    let [(paid_topic, paid_payload), (notify_topic, notify_payload)] = &events.settled;
    let row = sqlx::query(
        "WITH paid AS (
            UPDATE orders SET state = 'paid', transaction_id = $1, paid_at_ms = $2,
                posting_state = CASE WHEN item_kind = 'booking' THEN 'none' ELSE 'pending' END,
                next_posting_at_ms = $3, updated_at_ms = $3
            WHERE out_trade_no = $4 AND state IN ('pending', 'closed') AND amount_fen = $5
            RETURNING id, item_kind, item_id, amount_fen
         ), bill AS (
            UPDATE bills SET status = 'paid'
            WHERE id IN (SELECT item_id FROM paid WHERE item_kind = 'bill') AND status <> 'paid' RETURNING id
         ), fine AS (
            UPDATE fines SET status = 'paid'
            WHERE id IN (SELECT item_id FROM paid WHERE item_kind = 'fine') AND status <> 'paid' RETURNING id
         ), fee AS (
            UPDATE booking_fees SET status = 'paid'
            WHERE booking_id IN (SELECT item_id FROM paid WHERE item_kind = 'booking') AND status <> 'paid'
            RETURNING booking_id
         ), settled AS (
            SELECT id FROM paid
            WHERE item_kind NOT IN ('bill', 'fine', 'booking')
               OR EXISTS (SELECT 1 FROM bill) OR EXISTS (SELECT 1 FROM fine) OR EXISTS (SELECT 1 FROM fee)
         ), legs AS (
            INSERT INTO ledger (id, order_id, entry_key, account, amount_fen, at_ms)
            SELECT $6, id, 'payment', 'wechat_clearing', amount_fen, $3 FROM paid
            UNION ALL SELECT $7, id, 'payment', $8, -amount_fen, $3 FROM paid
            ON CONFLICT (order_id, entry_key, account) DO NOTHING
            RETURNING id
         ), events AS (
            INSERT INTO platform_outbox (id, topic, payload, created_at)
            SELECT $9, $10, $11, $3 FROM settled UNION ALL SELECT $12, $13, $14, $3 FROM settled
            RETURNING id
         )
         SELECT id, CAST((SELECT COUNT(*) FROM settled) AS BIGINT) FROM paid",
    )
    .bind(paid.transaction_id)
    .bind(paid.paid_at_ms)
    .bind(paid.at_ms)
    .bind(paid.out_trade_no.as_str())
    .bind(paid.amount.0)
    .bind(new_id())
    .bind(new_id())
    .bind(payable)
    .bind(new_id())
    .bind(*paid_topic)
    .bind(paid_payload.to_string())
    .bind(new_id())
    .bind(*notify_topic)
    .bind(notify_payload.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(false) };
    // The rare second payment of an item costs a second statement; the usual payment does not.
    if row.try_get::<i64, _>(1)? == 0 {
        mark_duplicate(conn, paid.out_trade_no.as_str(), &events.duplicate).await?;
    }
    Ok(true)
}

/// Writes one balanced ledger movement in one statement; a repeat of the same (order, entry)
/// is ignored.
pub(super) async fn ledger(
    tx: &mut AnyConnection,
    order_id: &str,
    entry_key: &str,
    legs: &[(&str, i64)],
    at_ms: i64,
) -> Result<(), sqlx::Error> {
    debug_assert_eq!(legs.iter().map(|l| l.1).sum::<i64>(), 0, "a ledger movement sums to zero");
    let values: Vec<String> = (0..legs.len())
        .map(|i| {
            let b = i * 4;
            format!("(${}, $1, $2, ${}, ${}, ${})", b + 3, b + 4, b + 5, b + 6)
        })
        .collect();
    let sql = format!(
        "INSERT INTO ledger (id, order_id, entry_key, account, amount_fen, at_ms) VALUES {}
         ON CONFLICT (order_id, entry_key, account) DO NOTHING",
        values.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(order_id).bind(entry_key);
    for (account, amount) in legs {
        query = query.bind(new_id()).bind(*account).bind(*amount).bind(at_ms);
    }
    query.execute(&mut *tx).await?;
    Ok(())
}
