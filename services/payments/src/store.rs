//! The payments service's SQL and the money operations built on it: orders, applying a paid
//! transaction exactly once, postings, refunds, the ledger, bill imports and reconciliation.
//!
//! Exactly-once rests on conditional updates inside one write transaction: an order moves
//! `pending|closed → paid` only once (and `transaction_id` is unique), a refund reserves its
//! amount with `refunded_fen + x <= amount_fen`, a refund moves `processing → success` only once.
//! Ledger rows are unique per (order, entry, account), so a replayed effect cannot double-book.

use chrono::{DateTime, NaiveDate, Utc};
use city_platform::audit::{self, AuditEntry};
use city_platform::auth::Staff;
use city_platform::ids::new_id;
use city_platform::outbox;
use city_platform::time::{city_date, next_city_midnight, now_ms, CITY_TZ};
use city_platform::Problem;
use city_wechat::pay_client::{JsapiOrder, OrderAmount, Payer, RefundAmount, RefundRequest, Transaction};
use poem::http::StatusCode;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::biller::{PostingOutcome, PostingRequest};
use crate::domain::{self, ItemKind};
use crate::PaymentsState;

/// One order row.
#[derive(Debug, Clone)]
pub struct OrderRow {
    /// Order id.
    pub id: String,
    /// Our number at WeChat Pay.
    pub out_trade_no: String,
    /// Owner.
    pub citizen_id: String,
    /// `bill` | `fine` | `topup`.
    pub item_kind: String,
    /// The bill, fine or top-up id.
    pub item_id: String,
    /// Biller.
    pub biller_id: String,
    /// Account number at the biller (plate for fines).
    pub account_no: String,
    /// What the payer sees.
    pub description: String,
    /// Fen.
    pub amount_fen: i64,
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
    /// `none` | `pending` | `posted` | `rejected`.
    pub posting_state: String,
    /// When posted.
    pub posted_at_ms: Option<i64>,
    /// Refunds reserved or made, fen.
    pub refunded_fen: i64,
    /// Created.
    pub created_at_ms: i64,
}

const ORDER_COLUMNS: &str =
    "id, out_trade_no, citizen_id, item_kind, item_id, biller_id, account_no, description, amount_fen, \
    breakdown, payer_openid, state, prepay_id, time_expire, expires_at_ms, transaction_id, paid_at_ms, posting_state, \
    posted_at_ms, refunded_fen, created_at_ms";

fn order_from(row: &AnyRow) -> Result<OrderRow, sqlx::Error> {
    Ok(OrderRow {
        id: row.try_get(0)?,
        out_trade_no: row.try_get(1)?,
        citizen_id: row.try_get(2)?,
        item_kind: row.try_get(3)?,
        item_id: row.try_get(4)?,
        biller_id: row.try_get(5)?,
        account_no: row.try_get(6)?,
        description: row.try_get(7)?,
        amount_fen: row.try_get(8)?,
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
        refunded_fen: row.try_get(19)?,
        created_at_ms: row.try_get(20)?,
    })
}

/// An order by id.
pub async fn order_by_id(state: &PaymentsState, id: &str) -> Result<Option<OrderRow>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
        .bind(id)
        .fetch_optional(&state.db.pool)
        .await?;
    row.as_ref().map(order_from).transpose()
}

/// An order by out_trade_no.
pub async fn order_by_no(conn: &mut AnyConnection, no: &str) -> Result<Option<OrderRow>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE out_trade_no = $1"))
        .bind(no)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(order_from).transpose()
}

/// A citizen's orders, newest first.
pub async fn orders_of(state: &PaymentsState, citizen_id: &str, limit: i64) -> Result<Vec<OrderRow>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE citizen_id = $1 ORDER BY created_at_ms DESC LIMIT $2"
    ))
    .bind(citizen_id)
    .bind(limit)
    .fetch_all(&state.db.pool)
    .await?;
    rows.iter().map(order_from).collect()
}

/// What an order is being created for, resolved and priced by the server.
pub struct Payable {
    /// Kind.
    pub kind: ItemKind,
    /// Item id.
    pub item_id: String,
    /// Biller.
    pub biller_id: String,
    /// Account (plate for fines).
    pub account_no: String,
    /// What the payer sees.
    pub description: String,
    /// Fen, computed here.
    pub amount_fen: i64,
    /// JSON breakdown.
    pub breakdown: serde_json::Value,
    /// The latest moment the amount holds (fines: the next Beijing midnight).
    pub valid_until: Option<DateTime<Utc>>,
}

/// Creates the order for a payable item or resumes the one in progress, then places it at
/// WeChat Pay. Paying a paid item is a 409.
pub async fn create_or_resume_order(
    state: &PaymentsState,
    citizen_id: &str,
    payer_openid: &str,
    payable: Payable,
) -> Result<OrderRow, Problem> {
    let active_key = format!("{}:{}", payable.kind.as_str(), payable.item_id);
    for _ in 0..3 {
        let existing = sqlx::query(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE active_key = $1"))
            .bind(&active_key)
            .fetch_optional(&state.db.pool)
            .await?;
        if let Some(row) = existing {
            let order = order_from(&row)?;
            if order.state == "paid" {
                return Err(Problem::conflict("already-paid", "this item is paid already")
                    .with_detail(format!("order {} paid it", order.id)));
            }
            if order.citizen_id != citizen_id {
                return Err(Problem::conflict("payment-in-progress", "someone else is paying this item right now"));
            }
            // Resume while there is still time to pay; otherwise retire it and start afresh.
            if order.expires_at_ms > now_ms() + 60_000
                && order.payer_openid == payer_openid
                && order.amount_fen == payable.amount_fen
            {
                return place_at_wechat(state, order).await;
            }
            retire_order(state, &order).await?;
            continue;
        }
        let now = Utc::now();
        let mut expires = now
            + chrono::Duration::seconds(
                i64::try_from(state.platform.settings.payments.order_expiry_secs).unwrap_or(1800),
            );
        if let Some(until) = payable.valid_until {
            expires = expires.min(until);
        }
        if expires <= now + chrono::Duration::seconds(60) {
            return Err(Problem::conflict("quote-expired", "the amount changes at midnight; look the fine up again"));
        }
        let id = new_id();
        let out_trade_no = domain::out_trade_no(payable.kind, &id);
        let time_expire = expires.with_timezone(&CITY_TZ).to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
        let at = now.timestamp_millis();
        let mut tx = state.db.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO orders (id, out_trade_no, active_key, citizen_id, item_kind, item_id, biller_id, account_no, description,
                amount_fen, breakdown, payer_openid, state, time_expire, expires_at_ms, created_at_ms, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'pending', $13, $14, $15, $15)",
        )
        .bind(&id)
        .bind(&out_trade_no)
        .bind(&active_key)
        .bind(citizen_id)
        .bind(payable.kind.as_str())
        .bind(&payable.item_id)
        .bind(&payable.biller_id)
        .bind(&payable.account_no)
        .bind(&payable.description)
        .bind(payable.amount_fen)
        .bind(payable.breakdown.to_string())
        .bind(payer_openid)
        .bind(&time_expire)
        .bind(expires.timestamp_millis())
        .bind(at)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {
                tx.commit().await?;
                let order = order_by_id(state, &id).await?.ok_or_else(Problem::internal)?;
                return place_at_wechat(state, order).await;
            }
            // A concurrent request created it first: resume that one.
            Err(err) if city_platform::db::is_unique_violation(&err) => continue,
            Err(err) => return Err(err.into()),
        }
    }
    Err(Problem::conflict("payment-in-progress", "the item's order is changing; try again"))
}

/// Places the order at WeChat Pay (identical parameters resume it) and stores the prepay id.
async fn place_at_wechat(state: &PaymentsState, order: OrderRow) -> Result<OrderRow, Problem> {
    if order.prepay_id.is_some() {
        return Ok(order);
    }
    let request = JsapiOrder {
        appid: state.platform.settings.wechat.mp_appid.clone(),
        mchid: state.platform.settings.payments.mchid.clone(),
        description: order.description.chars().take(127).collect(),
        out_trade_no: order.out_trade_no.clone(),
        time_expire: order.time_expire.clone(),
        attach: Some(format!("{}:{}", order.item_kind, order.item_id).chars().take(128).collect()),
        notify_url: state.platform.settings.payments_notify_url(),
        amount: OrderAmount { total: order.amount_fen, currency: "CNY".into() },
        payer: Payer { openid: order.payer_openid.clone() },
    };
    let prepay_id = state.pay.jsapi_prepay(&request).await.map_err(|err| {
        tracing::warn!(error = %err, out_trade_no = %order.out_trade_no, "prepay failed");
        Problem::unavailable("WeChat Pay did not accept the order; try again shortly")
    })?;
    sqlx::query("UPDATE orders SET prepay_id = $1, updated_at_ms = $2 WHERE id = $3 AND prepay_id IS NULL")
        .bind(&prepay_id)
        .bind(now_ms())
        .bind(&order.id)
        .execute(&state.db.pool)
        .await?;
    Ok(OrderRow { prepay_id: Some(prepay_id), ..order })
}

/// Closes an expired (or superseded) pending order: close at WeChat Pay, then trust only a query.
pub async fn retire_order(state: &PaymentsState, order: &OrderRow) -> Result<(), Problem> {
    if order.prepay_id.is_some() {
        if let Err(err) = state.pay.close_order(&order.out_trade_no).await {
            tracing::warn!(error = %err, out_trade_no = %order.out_trade_no, "close failed");
        }
        match state.pay.query_order(&order.out_trade_no).await {
            Ok(Some(tx)) if tx.trade_state == "SUCCESS" => {
                apply_transaction(state, &tx).await.map_err(|e| Problem::from(e.into_sqlx()))?;
                return Ok(());
            }
            Ok(Some(tx)) if tx.trade_state == "NOTPAY" || tx.trade_state == "USERPAYING" => {
                // Still payable (the close did not take); leave it for the next round.
                return Err(Problem::unavailable("the previous order is still open at WeChat Pay; try again shortly"));
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %err, "query after close failed");
                return Err(Problem::unavailable("WeChat Pay is not answering"));
            }
        }
    }
    sqlx::query(
        "UPDATE orders SET state = 'closed', active_key = NULL, updated_at_ms = $1 WHERE id = $2 AND state = 'pending'",
    )
    .bind(now_ms())
    .bind(&order.id)
    .execute(&state.db.pool)
    .await?;
    Ok(())
}

/// Why a paid transaction was not applied.
#[derive(Debug)]
pub enum ApplyError {
    /// No order with that number.
    UnknownOrder,
    /// mchid or appid are not ours.
    WrongMerchant,
    /// The amount differs from the order's.
    AmountMismatch,
    /// The store failed; WeChat Pay should retry.
    Store(sqlx::Error),
}

impl ApplyError {
    fn into_sqlx(self) -> sqlx::Error {
        match self {
            Self::Store(e) => e,
            other => sqlx::Error::Protocol(format!("{other:?}")),
        }
    }
}

impl From<sqlx::Error> for ApplyError {
    fn from(err: sqlx::Error) -> Self {
        Self::Store(err)
    }
}

/// Applies a paid transaction (from a notification or a query) exactly once. Returns whether
/// this call applied it (false: it was applied before, or the transaction is not SUCCESS).
pub async fn apply_transaction(state: &PaymentsState, tx_info: &Transaction) -> Result<bool, ApplyError> {
    let settings = &state.platform.settings;
    if tx_info.mchid != settings.payments.mchid || tx_info.appid != settings.wechat.mp_appid {
        return Err(ApplyError::WrongMerchant);
    }
    // A read first: repeats (the usual case for WeChat's retries) and bad notifications are
    // answered without the writer. The conditional update in `apply_paid_on` stays the guard.
    let mut conn = state.db.pool.acquire().await?;
    let order = order_by_no(&mut conn, &tx_info.out_trade_no).await?.ok_or(ApplyError::UnknownOrder)?;
    drop(conn);
    if tx_info.amount.total != order.amount_fen {
        return Err(ApplyError::AmountMismatch);
    }
    if tx_info.trade_state != "SUCCESS" || tx_info.transaction_id.is_none() {
        return Ok(false);
    }
    if order.state == "paid" {
        if order.transaction_id != tx_info.transaction_id {
            tracing::error!(out_trade_no = %tx_info.out_trade_no, "a second transaction paid the same order; refund it by hand");
        }
        return Ok(false);
    }
    Ok(state.applier.apply(order, tx_info.clone()).await?)
}

/// When WeChat says the order was paid (else now).
fn paid_at(tx_info: &Transaction, at: i64) -> i64 {
    tx_info
        .success_time
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or(at, |t| t.timestamp_millis())
}

/// The two events a payment raises: `payments.paid` and the citizen's notification. Built from
/// the order's fields that never change after creation, so the pre-read copy serves.
fn paid_events(order: &OrderRow, transaction_id: &str) -> [(&'static str, serde_json::Value); 2] {
    let yuan = city_wechat::pay_client::fen_to_yuan(order.amount_fen);
    [
        (
            "payments.paid",
            json!({ "order_id": order.id, "citizen_id": order.citizen_id, "item_kind": order.item_kind, "item_id": order.item_id,
                     "out_trade_no": order.out_trade_no, "amount_fen": order.amount_fen, "transaction_id": transaction_id }),
        ),
        (
            "notify.requested",
            json!({
                "notification_id": format!("payments:{}:paid", order.id), "citizen_id": order.citizen_id, "kind": "payments.paid",
                "title_zh": "缴费成功", "title_en": "Payment received",
                "body_zh": format!("{} 已支付 {yuan} 元", order.description),
                "body_en": format!("{}: {yuan} yuan paid", order.description),
                "data": { "order_id": order.id }, "channels": ["miniprogram", "oa_template"],
            }),
        ),
    ]
}

/// The write half of applying a paid transaction, inside the caller's transaction (one of a
/// batch, see `applier`): the order moves `pending|closed → paid` by a conditional update, and
/// only then are the item, the ledger pair and the events written. False when the order was
/// paid already (or does not match), in which case nothing was written.
pub(crate) async fn apply_paid_on(
    conn: &mut AnyConnection,
    tx_info: &Transaction,
    at: i64,
) -> Result<bool, sqlx::Error> {
    let Some(transaction_id) = tx_info.transaction_id.as_deref() else { return Ok(false) };
    if tx_info.trade_state != "SUCCESS" {
        return Ok(false);
    }
    // Booking fees are not posted anywhere: booking learns of the payment from payments.paid.
    let row = sqlx::query(&format!(
        "UPDATE orders SET state = 'paid', transaction_id = $1, paid_at_ms = $2,
            posting_state = CASE WHEN item_kind = 'booking' THEN 'none' ELSE 'pending' END,
            next_posting_at_ms = $3, updated_at_ms = $3
         WHERE out_trade_no = $4 AND state IN ('pending', 'closed') AND amount_fen = $5
         RETURNING {ORDER_COLUMNS}"
    ))
    .bind(transaction_id)
    .bind(paid_at(tx_info, at))
    .bind(at)
    .bind(&tx_info.out_trade_no)
    .bind(tx_info.amount.total)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(false) };
    let order = order_from(&row)?;
    let item_update = match order.item_kind.as_str() {
        "bill" => Some("UPDATE bills SET status = 'paid' WHERE id = $1"),
        "fine" => Some("UPDATE fines SET status = 'paid' WHERE id = $1"),
        "booking" => Some("UPDATE booking_fees SET status = 'paid' WHERE booking_id = $1"),
        _ => None,
    };
    if let Some(sql) = item_update {
        sqlx::query(sql).bind(&order.item_id).execute(&mut *conn).await?;
    }
    let payable = domain::payable_account(&order.item_kind, &order.biller_id);
    ledger(conn, &order.id, "payment", &[("wechat_clearing", order.amount_fen), (&payable, -order.amount_fen)]).await?;
    outbox::enqueue_many(conn, &paid_events(&order, transaction_id)).await?;
    Ok(true)
}

/// PostgreSQL's form of [`apply_paid_on`]: the same writes as one statement (data-modifying
/// CTEs all hang off the conditional update, so nothing is written unless it changed the
/// order), because there each statement is a round trip and a payment would otherwise cost
/// five. `order` is the pre-read copy; only its unchanging fields are used. The outbox rows
/// are written as `outbox::enqueue` writes them.
pub(crate) async fn apply_paid_pg(
    conn: &mut AnyConnection,
    order: &OrderRow,
    tx_info: &Transaction,
    at: i64,
) -> Result<bool, sqlx::Error> {
    let Some(transaction_id) = tx_info.transaction_id.as_deref() else { return Ok(false) };
    if tx_info.trade_state != "SUCCESS" {
        return Ok(false);
    }
    let [(paid_topic, paid_payload), (notify_topic, notify_payload)] = paid_events(order, transaction_id);
    let row = sqlx::query(
        "WITH paid AS (
            UPDATE orders SET state = 'paid', transaction_id = $1, paid_at_ms = $2,
                posting_state = CASE WHEN item_kind = 'booking' THEN 'none' ELSE 'pending' END,
                next_posting_at_ms = $3, updated_at_ms = $3
            WHERE out_trade_no = $4 AND state IN ('pending', 'closed') AND amount_fen = $5
            RETURNING id, item_kind, item_id, amount_fen
         ), bill AS (
            UPDATE bills SET status = 'paid' WHERE id IN (SELECT item_id FROM paid WHERE item_kind = 'bill') RETURNING id
         ), fine AS (
            UPDATE fines SET status = 'paid' WHERE id IN (SELECT item_id FROM paid WHERE item_kind = 'fine') RETURNING id
         ), fee AS (
            UPDATE booking_fees SET status = 'paid' WHERE booking_id IN (SELECT item_id FROM paid WHERE item_kind = 'booking')
            RETURNING booking_id
         ), legs AS (
            INSERT INTO ledger (id, order_id, entry_key, account, amount_fen, at_ms)
            SELECT $6, id, 'payment', 'wechat_clearing', amount_fen, $3 FROM paid
            UNION ALL SELECT $7, id, 'payment', $8, -amount_fen, $3 FROM paid
            ON CONFLICT (order_id, entry_key, account) DO NOTHING
            RETURNING id
         ), events AS (
            INSERT INTO platform_outbox (id, topic, payload, created_at)
            SELECT $9, $10, $11, $3 FROM paid UNION ALL SELECT $12, $13, $14, $3 FROM paid
            RETURNING id
         )
         SELECT id FROM paid",
    )
    .bind(transaction_id)
    .bind(paid_at(tx_info, at))
    .bind(at)
    .bind(&tx_info.out_trade_no)
    .bind(tx_info.amount.total)
    .bind(new_id())
    .bind(new_id())
    .bind(domain::payable_account(&order.item_kind, &order.biller_id))
    .bind(new_id())
    .bind(paid_topic)
    .bind(paid_payload.to_string())
    .bind(new_id())
    .bind(notify_topic)
    .bind(notify_payload.to_string())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.is_some())
}

/// Writes one balanced ledger movement in one statement; a repeat of the same (order, entry)
/// is ignored.
async fn ledger(
    tx: &mut AnyConnection,
    order_id: &str,
    entry_key: &str,
    legs: &[(&str, i64)],
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
    let at = now_ms();
    let mut query = sqlx::query(&sql).bind(order_id).bind(entry_key);
    for (account, amount) in legs {
        query = query.bind(new_id()).bind(*account).bind(*amount).bind(at);
    }
    query.execute(&mut *tx).await?;
    Ok(())
}

/// Most postings one round sends to the billers (and records in one transaction).
const POSTING_BATCH: i64 = 100;

/// Posts due payments to their billers, a batch at a time, recording the outcomes of a batch
/// in one transaction; a final rejection refunds the order in full.
pub async fn run_postings(state: &PaymentsState) -> Result<usize, sqlx::Error> {
    let mut done = 0;
    // Bounded, so postings that keep coming due cannot keep one round going for ever.
    for _ in 0..20 {
        let rows = sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE posting_state = 'pending' AND next_posting_at_ms <= $1
             ORDER BY next_posting_at_ms LIMIT $2"
        ))
        .bind(now_ms())
        .bind(POSTING_BATCH)
        .fetch_all(&state.db.pool)
        .await?;
        let orders = rows.iter().map(order_from).collect::<Result<Vec<_>, _>>()?;
        if orders.is_empty() {
            break;
        }
        let requests: Vec<PostingRequest> = orders
            .iter()
            .map(|o| PostingRequest {
                biller_id: o.biller_id.clone(),
                account_no: o.account_no.clone(),
                out_trade_no: o.out_trade_no.clone(),
                amount_fen: o.amount_fen,
                topup: o.item_kind == "topup",
            })
            .collect();
        let outcomes = state.biller.post_payments(&requests).await;
        let at = now_ms();
        let wait = i64::try_from(state.platform.settings.payments.posting_retry_secs).unwrap_or(30) * 1000;
        let mut rejected = Vec::new();
        let posted: Vec<&str> = orders
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| **o == PostingOutcome::Posted)
            .map(|(order, _)| order.id.as_str())
            .collect();
        let mut tx = state.db.begin_write().await?;
        if !posted.is_empty() {
            // One statement for every posted order of the batch.
            let list: Vec<String> = (0..posted.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "UPDATE orders SET posting_state = 'posted', posted_at_ms = $1, updated_at_ms = $1
                 WHERE posting_state = 'pending' AND id IN ({})",
                list.join(", ")
            );
            let mut update = sqlx::query(&sql).bind(at);
            for id in &posted {
                update = update.bind(*id);
            }
            update.execute(&mut *tx).await?;
            done += posted.len();
        }
        for (order, outcome) in orders.iter().zip(&outcomes) {
            match outcome {
                PostingOutcome::Posted => {}
                PostingOutcome::Retry(reason) => {
                    tracing::warn!(out_trade_no = %order.out_trade_no, %reason, "posting will be retried");
                    sqlx::query("UPDATE orders SET posting_attempts = posting_attempts + 1, next_posting_at_ms = $1 WHERE id = $2 AND posting_state = 'pending'")
                        .bind(at + wait)
                        .bind(&order.id)
                        .execute(&mut *tx)
                        .await?;
                }
                PostingOutcome::Rejected(reason) => {
                    tracing::warn!(out_trade_no = %order.out_trade_no, %reason, "biller rejected the payment; refunding");
                    let changed = sqlx::query("UPDATE orders SET posting_state = 'rejected', updated_at_ms = $1 WHERE id = $2 AND posting_state = 'pending'")
                        .bind(at)
                        .bind(&order.id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if changed == 1 {
                        rejected.push(order);
                    }
                }
            }
        }
        tx.commit().await?;
        // The refunds go to WeChat Pay; never while holding the writer.
        for order in rejected {
            let remaining = order.amount_fen - order.refunded_fen;
            if remaining > 0 {
                if let Err(problem) =
                    create_refund(state, &order.id, remaining, "biller rejected the payment", None, None).await
                {
                    tracing::error!(%problem, "automatic refund failed");
                }
            }
        }
        if (orders.len() as i64) < POSTING_BATCH {
            break;
        }
    }
    Ok(done)
}

/// One refund row.
#[derive(Debug, Clone)]
pub struct RefundRow {
    /// Id.
    pub id: String,
    /// Our refund number.
    pub out_refund_no: String,
    /// Order.
    pub order_id: String,
    /// Fen.
    pub amount_fen: i64,
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
        order_id: row.try_get(2)?,
        amount_fen: row.try_get(3)?,
        reason: row.try_get(4)?,
        state: row.try_get(5)?,
        created_at_ms: row.try_get(6)?,
    })
}

const REFUND_COLUMNS: &str = "id, out_refund_no, order_id, amount_fen, reason, state, created_at_ms";

/// Refunds of an order.
pub async fn refunds_of(state: &PaymentsState, order_id: &str) -> Result<Vec<RefundRow>, sqlx::Error> {
    let rows = sqlx::query(&format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE order_id = $1 ORDER BY created_at_ms"))
        .bind(order_id)
        .fetch_all(&state.db.pool)
        .await?;
    rows.iter().map(refund_from).collect()
}

/// Reserves and requests a refund. `expected_available_fen` (what the caller believes is still
/// refundable) turns a duplicated or racing request into a 409 instead of a second refund.
pub async fn create_refund(
    state: &PaymentsState,
    order_id: &str,
    amount_fen: i64,
    reason: &str,
    expected_available_fen: Option<i64>,
    staff: Option<&Staff>,
) -> Result<RefundRow, Problem> {
    create_refund_numbered(state, order_id, amount_fen, reason, expected_available_fen, staff, None).await
}

/// [`create_refund`] under a refund number the caller derived (one per booking), so that a
/// second request for the same refund fails on the number's unique key and changes nothing.
async fn create_refund_numbered(
    state: &PaymentsState,
    order_id: &str,
    amount_fen: i64,
    reason: &str,
    expected_available_fen: Option<i64>,
    staff: Option<&Staff>,
    out_refund_no: Option<String>,
) -> Result<RefundRow, Problem> {
    if amount_fen <= 0 {
        return Err(Problem::invalid("amount_fen", "must be positive"));
    }
    let mut tx = state.db.begin_write().await?;
    let order = sqlx::query(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
        .bind(order_id)
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(order_from)
        .transpose()?
        .ok_or_else(|| Problem::not_found("order"))?;
    if order.state != "paid" {
        return Err(Problem::conflict("not-refundable", "only a paid order can be refunded"));
    }
    let available = order.amount_fen - order.refunded_fen;
    if expected_available_fen.is_some_and(|e| e != available) {
        return Err(Problem::conflict("refund-amount-changed", "the refundable amount changed; reload and try again")
            .with_detail(format!("{available} fen are refundable now")));
    }
    if amount_fen > available {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "refund-exceeds-remaining",
            "more than what remains refundable",
        )
        .with_field("amount_fen", format!("at most {available} fen")));
    }
    let reserved = sqlx::query(
        "UPDATE orders SET refunded_fen = refunded_fen + $1, updated_at_ms = $2
         WHERE id = $3 AND state = 'paid' AND refunded_fen = $4 AND refunded_fen + $1 <= amount_fen",
    )
    .bind(amount_fen)
    .bind(now_ms())
    .bind(&order.id)
    .bind(order.refunded_fen)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if reserved != 1 {
        return Err(Problem::conflict(
            "refund-amount-changed",
            "another refund of this order happened at the same time",
        ));
    }
    let id = new_id();
    let out_refund_no = out_refund_no
        .unwrap_or_else(|| format!("R{}", id.chars().filter(char::is_ascii_alphanumeric).take(31).collect::<String>()));
    let requested_by = staff.map_or_else(|| "system".to_owned(), |s| s.staff_id.clone());
    let reason: String = reason.chars().take(80).collect();
    let inserted = sqlx::query(
        "INSERT INTO refunds (id, out_refund_no, order_id, amount_fen, reason, state, requested_by, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, 'processing', $6, $7)",
    )
    .bind(&id)
    .bind(&out_refund_no)
    .bind(&order.id)
    .bind(amount_fen)
    .bind(&reason)
    .bind(&requested_by)
    .bind(now_ms())
    .execute(&mut *tx)
    .await;
    match inserted {
        Ok(_) => {}
        // Dropping the transaction undoes the reservation too.
        Err(err) if city_platform::db::is_unique_violation(&err) => {
            return Err(Problem::conflict("refund-exists", "this refund was requested already"));
        }
        Err(err) => return Err(err.into()),
    }
    if let Some(staff) = staff {
        let entry = AuditEntry::by_staff(staff, crate::NAME, "refund.create", format!("order:{}", order.id)).with_change(
            Some(json!({ "refunded_fen": order.refunded_fen })),
            Some(json!({ "refunded_fen": order.refunded_fen + amount_fen, "refund_id": id, "amount_fen": amount_fen, "reason": reason })),
        );
        audit::record(&mut tx, &entry).await?;
    }
    tx.commit().await?;
    let row = RefundRow {
        id,
        out_refund_no,
        order_id: order.id.clone(),
        amount_fen,
        reason,
        state: "processing".into(),
        created_at_ms: now_ms(),
    };
    submit_refund(state, &order, &row).await;
    Ok(row)
}

/// Sends (or re-sends, with the same out_refund_no) a refund to WeChat Pay.
async fn submit_refund(state: &PaymentsState, order: &OrderRow, refund: &RefundRow) {
    let request = RefundRequest {
        out_trade_no: order.out_trade_no.clone(),
        out_refund_no: refund.out_refund_no.clone(),
        reason: Some(refund.reason.clone()),
        notify_url: Some(state.platform.settings.payments_refund_notify_url()),
        amount: RefundAmount { refund: refund.amount_fen, total: order.amount_fen, currency: "CNY".into() },
    };
    match state.pay.refund(&request).await {
        Ok(answer) if answer.status == "SUCCESS" => {
            if let Err(err) =
                apply_refund_success(state, &answer.out_refund_no, &answer.refund_id, answer.amount.refund).await
            {
                tracing::warn!(error = ?err, "refund success not applied yet");
            }
        }
        Ok(_) => {}
        Err(err) => {
            tracing::warn!(error = %err, out_refund_no = %refund.out_refund_no, "refund request will be retried")
        }
    }
}

/// Marks a refund succeeded exactly once, with its ledger movement and events.
pub async fn apply_refund_success(
    state: &PaymentsState,
    out_refund_no: &str,
    refund_id: &str,
    amount_fen: i64,
) -> Result<bool, ApplyError> {
    let mut tx = state.db.begin_write().await?;
    let row = sqlx::query(&format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE out_refund_no = $1"))
        .bind(out_refund_no)
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(refund_from)
        .transpose()?
        .ok_or(ApplyError::UnknownOrder)?;
    if row.amount_fen != amount_fen {
        return Err(ApplyError::AmountMismatch);
    }
    let updated = sqlx::query("UPDATE refunds SET state = 'success', refund_id = $1, succeeded_at_ms = $2 WHERE id = $3 AND state = 'processing'")
        .bind(refund_id)
        .bind(now_ms())
        .bind(&row.id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if updated == 0 {
        return Ok(false);
    }
    let order = sqlx::query(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = $1"))
        .bind(&row.order_id)
        .fetch_one(&mut *tx)
        .await
        .and_then(|r| order_from(&r))?;
    ledger(
        &mut tx,
        &order.id,
        &format!("refund:{out_refund_no}"),
        &[
            (&domain::payable_account(&order.item_kind, &order.biller_id), row.amount_fen),
            ("wechat_clearing", -row.amount_fen),
        ],
    )
    .await?;
    outbox::enqueue(
        &mut tx,
        "payments.refunded",
        &json!({ "order_id": order.id, "citizen_id": order.citizen_id, "item_kind": order.item_kind, "item_id": order.item_id,
                 "out_trade_no": order.out_trade_no, "out_refund_no": out_refund_no, "amount_fen": row.amount_fen }),
    )
    .await?;
    outbox::enqueue(
        &mut tx,
        "notify.requested",
        &json!({
            "notification_id": format!("payments:{}:refunded", row.id), "citizen_id": order.citizen_id, "kind": "payments.refunded",
            "title_zh": "退款成功", "title_en": "Refund made",
            "body_zh": format!("{} 退款 {} 元", order.description, city_wechat::pay_client::fen_to_yuan(row.amount_fen)),
            "body_en": format!("{}: {} yuan refunded", order.description, city_wechat::pay_client::fen_to_yuan(row.amount_fen)),
            "data": { "order_id": order.id, "refund_id": row.id }, "channels": ["miniprogram", "oa_template"],
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Background round: lost notifications (query), expired orders (close), due postings, stuck refunds.
pub async fn run_jobs(state: &PaymentsState) -> Result<(), sqlx::Error> {
    let settings = &state.platform.settings.payments;
    let now = now_ms();
    let stale = now - i64::try_from(settings.query_after_secs).unwrap_or(60) * 1000;
    let rows = sqlx::query(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE state = 'pending' AND updated_at_ms <= $1 ORDER BY updated_at_ms LIMIT 20"
    ))
    .bind(stale)
    .fetch_all(&state.db.pool)
    .await?;
    for row in &rows {
        let order = order_from(row)?;
        if order.expires_at_ms <= now {
            if let Err(problem) = retire_order(state, &order).await {
                tracing::warn!(%problem, "expired order not closed yet");
            }
            continue;
        }
        if order.prepay_id.is_some() {
            match state.pay.query_order(&order.out_trade_no).await {
                Ok(Some(tx)) if tx.trade_state == "SUCCESS" => {
                    if let Err(err) = apply_transaction(state, &tx).await {
                        tracing::error!(error = ?err, out_trade_no = %order.out_trade_no, "queried payment not applied");
                    }
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "order query failed"),
            }
        }
        sqlx::query("UPDATE orders SET updated_at_ms = $1 WHERE id = $2 AND state = 'pending'")
            .bind(now)
            .bind(&order.id)
            .execute(&state.db.pool)
            .await?;
    }
    run_postings(state).await?;
    let stuck = sqlx::query(&format!(
        "SELECT {REFUND_COLUMNS} FROM refunds WHERE state = 'processing' AND created_at_ms <= $1 LIMIT 20"
    ))
    .bind(stale)
    .fetch_all(&state.db.pool)
    .await?;
    for row in &stuck {
        let refund = refund_from(row)?;
        if let Some(order) = order_by_id(state, &refund.order_id).await? {
            match state.pay.query_refund(&refund.out_refund_no).await {
                Ok(Some(answer)) if answer.status == "SUCCESS" => {
                    let _ = apply_refund_success(state, &answer.out_refund_no, &answer.refund_id, answer.amount.refund)
                        .await;
                }
                Ok(None) => submit_refund(state, &order, &refund).await,
                _ => {}
            }
        }
    }
    Ok(())
}

/// Bills of an account, newest period first: (id, period, amount_fen, due_date, status).
pub async fn bills_of(
    state: &PaymentsState,
    biller_id: &str,
    account_no: &str,
) -> Result<Vec<(String, String, i64, String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, period, amount_fen, due_date, status FROM bills WHERE biller_id = $1 AND account_no = $2 ORDER BY period DESC")
        .bind(biller_id)
        .bind(account_no)
        .fetch_all(&state.db.pool)
        .await
}

/// The outcome of a bill import.
#[derive(Debug, Clone)]
pub enum ImportOutcome {
    /// Every row went in.
    Imported {
        /// Import id.
        import_id: String,
        /// Rows.
        rows: usize,
    },
    /// The same file (by SHA-256) was imported before; nothing changed.
    AlreadyImported {
        /// The earlier import.
        import_id: String,
    },
    /// Bad rows; nothing went in.
    Rejected(Vec<domain::import::RowError>),
}

/// Imports a bill file all-or-nothing; `progress` is called every 500 rows.
pub async fn import_bills(
    state: &PaymentsState,
    data: &[u8],
    file_name: &str,
    staff: Option<&Staff>,
    progress: &(dyn Fn(usize, usize) + Send + Sync),
) -> Result<ImportOutcome, sqlx::Error> {
    // From the API a finance officer imports (and is audited); from the command line, `cli`.
    let imported_by = staff.map_or("cli", |s| s.staff_id.as_str());
    use sha2::Digest as _;
    let hash = hex::encode(sha2::Sha256::digest(data));
    if let Some((import_id,)) = sqlx::query_as::<_, (String,)>("SELECT id FROM bill_imports WHERE file_sha256 = $1")
        .bind(&hash)
        .fetch_optional(&state.db.pool)
        .await?
    {
        return Ok(ImportOutcome::AlreadyImported { import_id });
    }
    let billers: Vec<(String,)> = sqlx::query_as("SELECT id FROM billers").fetch_all(&state.db.pool).await?;
    let rows = match domain::import::parse_bills(data, |b| billers.iter().any(|(id,)| id == b)) {
        Ok(rows) => rows,
        Err(errors) => return Ok(ImportOutcome::Rejected(errors)),
    };
    let import_id = new_id();
    let mut tx = state.db.begin_write().await?;
    let claimed = sqlx::query(
        "INSERT INTO bill_imports (id, file_sha256, file_name, rows_imported, imported_by, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (file_sha256) DO NOTHING",
    )
    .bind(&import_id)
    .bind(&hash)
    .bind(file_name)
    .bind(i64::try_from(rows.len()).unwrap_or(i64::MAX))
    .bind(imported_by)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if claimed == 0 {
        // A concurrent import of the same file won.
        return Ok(ImportOutcome::AlreadyImported { import_id: String::new() });
    }
    let mut errors = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let inserted = sqlx::query(
            "INSERT INTO bills (id, biller_id, account_no, period, amount_fen, due_date, status, import_id, created_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, 'unpaid', $7, $8) ON CONFLICT (biller_id, account_no, period) DO NOTHING",
        )
        .bind(new_id())
        .bind(&row.biller_id)
        .bind(&row.account_no)
        .bind(&row.period)
        .bind(row.amount_fen)
        .bind(row.due_date.to_string())
        .bind(&import_id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            errors.push(domain::import::RowError {
                line: row.line,
                column: Some("period"),
                message: "a bill for this account and period exists already".into(),
            });
        }
        if (i + 1) % 500 == 0 {
            progress(i + 1, rows.len());
        }
    }
    if !errors.is_empty() {
        tx.rollback().await?;
        return Ok(ImportOutcome::Rejected(errors));
    }
    if let Some(staff) = staff {
        let entry = AuditEntry::by_staff(staff, crate::NAME, "bills.import", format!("import:{import_id}"))
            .with_change(None, Some(json!({ "file_name": file_name, "file_sha256": hash, "rows": rows.len() })));
        audit::record(&mut tx, &entry).await?;
    }
    tx.commit().await?;
    progress(rows.len(), rows.len());
    Ok(ImportOutcome::Imported { import_id, rows: rows.len() })
}

/// One difference the three-way reconciliation found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Mismatch {
    /// `lost_notification`, `unknown_at_us`, `missing_at_wechat`, `amount_mismatch`,
    /// `missing_at_biller`, `unknown_at_biller`, `biller_amount_mismatch`, `refund_unknown_at_us`,
    /// `refund_missing_at_wechat`.
    pub kind: String,
    /// The order number concerned.
    pub out_trade_no: String,
    /// What differs.
    pub detail: String,
}

/// The three-way report for a Beijing day.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReconReport {
    /// The day.
    pub date: String,
    /// Our paid orders that day and their sum.
    pub ours: (i64, i64),
    /// WeChat's SUCCESS rows and their sum.
    pub wechat: (i64, i64),
    /// The biller's postings and their sum.
    pub biller: (i64, i64),
    /// Every difference.
    pub mismatches: Vec<Mismatch>,
}

/// Reconciles one Beijing day: us, WeChat's trade bill, the billers' statements.
pub async fn reconcile(state: &PaymentsState, date: NaiveDate) -> Result<ReconReport, Problem> {
    let start = CITY_TZ
        .from_local_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(Problem::internal)?;
    let (from_ms, to_ms) = (start.timestamp_millis(), next_city_midnight(start).timestamp_millis());
    let bill_text = state.pay.trade_bill(&date.to_string()).await.map_err(|err| {
        tracing::warn!(error = %err, "trade bill download failed");
        Problem::unavailable("WeChat Pay's trade bill could not be fetched")
    })?;
    let bill = match bill_text {
        Some(text) => city_wechat::pay_client::parse_trade_bill(&text).map_err(|err| {
            tracing::error!(error = %err, "trade bill does not parse");
            Problem::unavailable("WeChat Pay's trade bill is malformed")
        })?,
        None => city_wechat::pay_client::TradeBill {
            rows: Vec::new(),
            total_count: 0,
            total_settlement_fen: 0,
            total_refund_fen: 0,
        },
    };
    let ours: Vec<(String, i64)> = sqlx::query_as(
        "SELECT out_trade_no, amount_fen FROM orders WHERE transaction_id IS NOT NULL AND paid_at_ms >= $1 AND paid_at_ms < $2",
    )
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(&state.db.pool)
    .await?;
    let posted: Vec<(String, i64)> = sqlx::query_as(
        "SELECT out_trade_no, amount_fen FROM orders WHERE posting_state = 'posted' AND posted_at_ms >= $1 AND posted_at_ms < $2",
    )
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(&state.db.pool)
    .await?;
    let our_refunds: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT r.out_refund_no, o.out_trade_no, r.amount_fen FROM refunds r JOIN orders o ON o.id = r.order_id
         WHERE r.created_at_ms >= $1 AND r.created_at_ms < $2",
    )
    .bind(from_ms)
    .bind(to_ms)
    .fetch_all(&state.db.pool)
    .await?;
    let statement = state.biller.statement(from_ms, to_ms).await?;
    let mut mismatches = Vec::new();
    let mut push = |kind: &str, no: &str, detail: String| {
        mismatches.push(Mismatch { kind: kind.into(), out_trade_no: no.into(), detail })
    };
    let paid_rows: Vec<_> = bill.rows.iter().filter(|r| r.trade_state == "SUCCESS").collect();
    for row in &paid_rows {
        let mut conn = state.db.pool.acquire().await?;
        match order_by_no(&mut conn, &row.out_trade_no).await? {
            None => push("unknown_at_us", &row.out_trade_no, "WeChat has a payment we have no order for".into()),
            Some(order) => {
                if order.transaction_id.is_none() {
                    push("lost_notification", &row.out_trade_no, format!("WeChat: paid; us: {}", order.state));
                }
                if order.amount_fen != row.order_fen {
                    push(
                        "amount_mismatch",
                        &row.out_trade_no,
                        format!("us {} fen, WeChat {} fen", order.amount_fen, row.order_fen),
                    );
                }
            }
        }
    }
    for (no, _) in &ours {
        if !paid_rows.iter().any(|r| &r.out_trade_no == no) {
            push("missing_at_wechat", no, "we recorded a payment WeChat's bill does not have".into());
        }
    }
    for (no, amount) in &posted {
        match statement.iter().find(|l| &l.out_trade_no == no) {
            None => push("missing_at_biller", no, "posted by us, absent from the biller's statement".into()),
            Some(line) if line.amount_fen != *amount => {
                push("biller_amount_mismatch", no, format!("us {amount} fen, biller {} fen", line.amount_fen));
            }
            Some(_) => {}
        }
    }
    for line in &statement {
        if !posted.iter().any(|(no, _)| no == &line.out_trade_no) {
            push(
                "unknown_at_biller",
                &line.out_trade_no,
                "the biller posted a payment we did not record as posted that day".into(),
            );
        }
    }
    for row in bill.rows.iter().filter(|r| !r.out_refund_no.is_empty()) {
        if !our_refunds.iter().any(|(no, _, _)| no == &row.out_refund_no) {
            push(
                "refund_unknown_at_us",
                &row.out_trade_no,
                format!("WeChat refund {} unknown here", row.out_refund_no),
            );
        }
    }
    for (no, trade_no, _) in &our_refunds {
        if !bill.rows.iter().any(|r| &r.out_refund_no == no) {
            push("refund_missing_at_wechat", trade_no, format!("refund {no} absent from WeChat's bill"));
        }
    }
    let sum = |v: &[(String, i64)]| (i64::try_from(v.len()).unwrap_or(0), v.iter().map(|x| x.1).sum());
    Ok(ReconReport {
        date: date.to_string(),
        ours: sum(&ours),
        wechat: (i64::try_from(paid_rows.len()).unwrap_or(0), paid_rows.iter().map(|r| r.order_fen).sum()),
        biller: (i64::try_from(statement.len()).unwrap_or(0), statement.iter().map(|l| l.amount_fen).sum()),
        mismatches,
    })
}

// ---------------------------------------------------------------------------------------------
// Booking fees: booking's events make them payable and ask for their refunds.

/// A booking fee as this service keeps it.
#[derive(Debug, Clone)]
pub struct BookingFee {
    /// The booking (appointment) id.
    pub booking_id: String,
    /// Who owes it.
    pub citizen_id: String,
    /// Whom the ledger owes it to.
    pub hospital_id: String,
    /// Fen.
    pub amount_fen: i64,
    /// What the payer sees.
    pub description: String,
    /// The hold's end, UTC ms.
    pub pay_before_ms: i64,
    /// `due`, `paid` or `void`.
    pub status: String,
}

/// A booking fee of this citizen (another's is `None`, like a missing one).
pub async fn booking_fee_of(
    state: &PaymentsState,
    citizen_id: &str,
    booking_id: &str,
) -> Result<Option<BookingFee>, sqlx::Error> {
    let row: Option<(String, String, String, i64, String, i64, String)> = sqlx::query_as(
        "SELECT booking_id, citizen_id, hospital_id, amount_fen, description, pay_before_ms, status
         FROM booking_fees WHERE booking_id = $1 AND citizen_id = $2",
    )
    .bind(booking_id)
    .bind(citizen_id)
    .fetch_optional(&state.db.pool)
    .await?;
    Ok(row.map(|(booking_id, citizen_id, hospital_id, amount_fen, description, pay_before_ms, status)| BookingFee {
        booking_id,
        citizen_id,
        hospital_id,
        amount_fen,
        description,
        pay_before_ms,
        status,
    }))
}

/// `booking.fee_due`: the fee becomes payable. A redelivery (or a fee_due overtaken by the
/// booking's cancellation, which left a void tombstone) changes nothing.
pub async fn record_fee_due(state: &PaymentsState, p: &serde_json::Value) -> Result<(), sqlx::Error> {
    let (Some(booking_id), Some(citizen_id), Some(amount_fen), Some(pay_before_ms)) =
        (p["booking_id"].as_str(), p["citizen_id"].as_str(), p["amount_fen"].as_i64(), p["pay_before_ms"].as_i64())
    else {
        tracing::error!("booking.fee_due without booking_id, citizen_id, amount_fen or pay_before_ms; ignored");
        return Ok(());
    };
    if amount_fen <= 0 {
        tracing::error!(%booking_id, amount_fen, "booking.fee_due with no amount; ignored");
        return Ok(());
    }
    let description: String = p["description"].as_str().unwrap_or("挂号费 Booking fee").chars().take(127).collect();
    sqlx::query(
        "INSERT INTO booking_fees (booking_id, citizen_id, hospital_id, amount_fen, description, pay_before_ms, status, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, 'due', $7) ON CONFLICT (booking_id) DO NOTHING",
    )
    .bind(booking_id)
    .bind(citizen_id)
    .bind(p["hospital_id"].as_str().unwrap_or("hospitals"))
    .bind(amount_fen)
    .bind(description)
    .bind(pay_before_ms)
    .bind(now_ms())
    .execute(&state.db.pool)
    .await?;
    Ok(())
}

/// `booking.expired` / `booking.cancelled` of an unpaid booking: its fee is no longer due.
/// When this overtakes the fee_due event, the void row it leaves keeps the fee from appearing.
pub async fn void_fee(state: &PaymentsState, p: &serde_json::Value) -> Result<(), sqlx::Error> {
    let (Some(booking_id), Some(citizen_id)) = (p["appointment_id"].as_str(), p["citizen_id"].as_str()) else {
        return Ok(());
    };
    if p["paid"].as_bool() == Some(true) {
        // Paid: the money goes back through booking.refund_requested instead.
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO booking_fees (booking_id, citizen_id, hospital_id, amount_fen, description, pay_before_ms, status, created_at_ms)
         VALUES ($1, $2, 'hospitals', 0, '', 0, 'void', $3)
         ON CONFLICT (booking_id) DO UPDATE SET status = 'void' WHERE booking_fees.status = 'due'",
    )
    .bind(booking_id)
    .bind(citizen_id)
    .bind(now_ms())
    .execute(&state.db.pool)
    .await?;
    Ok(())
}

/// `booking.refund_requested`: refunds the booking's paid order, exactly once however often
/// (or however concurrently) the request arrives: the refund number is derived from the
/// booking, and a second reservation under it fails on its unique key.
pub async fn refund_booking(state: &PaymentsState, p: &serde_json::Value) -> Result<(), Problem> {
    let Some(booking_id) = p["booking_id"].as_str() else {
        tracing::error!("booking.refund_requested without booking_id; ignored");
        return Ok(());
    };
    let out_refund_no = domain::booking_refund_no(booking_id);
    let exists = |no: String| async move {
        sqlx::query_as::<_, (String,)>("SELECT id FROM refunds WHERE out_refund_no = $1")
            .bind(no)
            .fetch_optional(&state.db.pool)
            .await
            .map(|r| r.is_some())
    };
    if exists(out_refund_no.clone()).await? {
        return Ok(());
    }
    let order: Option<(String, i64, i64)> = sqlx::query_as(
        "SELECT id, amount_fen, refunded_fen FROM orders WHERE item_kind = 'booking' AND item_id = $1 AND state = 'paid'
         ORDER BY paid_at_ms LIMIT 1",
    )
    .bind(booking_id)
    .fetch_optional(&state.db.pool)
    .await?;
    let Some((order_id, paid_fen, refunded_fen)) = order else {
        tracing::error!(%booking_id, "booking asked for a refund of a fee paid nowhere here; finance must look");
        return Ok(());
    };
    let remaining = paid_fen - refunded_fen;
    let asked = p["amount_fen"].as_i64().filter(|a| *a > 0).unwrap_or(remaining);
    let amount = asked.min(remaining);
    if amount <= 0 {
        return Ok(());
    }
    let reason = format!("挂号费退款 booking refund: {}", p["reason"].as_str().unwrap_or("cancelled"));
    match create_refund_numbered(state, &order_id, amount, &reason, None, None, Some(out_refund_no.clone())).await {
        Ok(_) => Ok(()),
        // A concurrent delivery made it first.
        Err(_) if exists(out_refund_no).await? => Ok(()),
        Err(problem) => Err(problem),
    }
}

/// One thing a citizen has to pay, for the Service Account's "my bills".
#[derive(Debug, Clone)]
pub struct UnpaidItem {
    /// `bill` or `booking`.
    pub kind: &'static str,
    /// Bill id or booking id (what `POST /v1/payments/orders` takes).
    pub id: String,
    /// What it is.
    pub description: String,
    /// Fen.
    pub amount_fen: i64,
    /// Beijing date it is due by.
    pub due_date: Option<String>,
}

/// The unpaid bills of a citizen's bound accounts and their booking fees still payable, by due date.
pub async fn unpaid_of(state: &PaymentsState, citizen_id: &str) -> Result<Vec<UnpaidItem>, sqlx::Error> {
    let bills: Vec<(String, String, String, String, i64, String)> = sqlx::query_as(
        "SELECT b.id, l.name_zh, b.account_no, b.period, b.amount_fen, b.due_date
         FROM bindings g JOIN bills b ON b.biller_id = g.biller_id AND b.account_no = g.account_no
         JOIN billers l ON l.id = b.biller_id
         WHERE g.citizen_id = $1 AND b.status = 'unpaid'",
    )
    .bind(citizen_id)
    .fetch_all(&state.db.pool)
    .await?;
    let fees: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT booking_id, description, amount_fen, pay_before_ms FROM booking_fees
         WHERE citizen_id = $1 AND status = 'due' AND pay_before_ms > $2",
    )
    .bind(citizen_id)
    .bind(now_ms())
    .fetch_all(&state.db.pool)
    .await?;
    let mut items: Vec<UnpaidItem> = bills
        .into_iter()
        .map(|(id, biller, account_no, period, amount_fen, due_date)| UnpaidItem {
            kind: "bill",
            id,
            description: format!("{biller} {period} {}", domain::mask_account(&account_no)),
            amount_fen,
            due_date: Some(due_date),
        })
        .chain(fees.into_iter().map(|(id, description, amount_fen, pay_before_ms)| UnpaidItem {
            kind: "booking",
            id,
            description,
            amount_fen,
            due_date: Some(city_date(city_platform::time::from_ms(pay_before_ms)).to_string()),
        }))
        .collect();
    items.sort_by(|a, b| a.due_date.cmp(&b.due_date).then_with(|| a.id.cmp(&b.id)));
    Ok(items)
}

/// Today's Beijing date.
pub fn today() -> NaiveDate {
    city_date(Utc::now())
}

use chrono::TimeZone as _;
