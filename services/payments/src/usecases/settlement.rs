//! Settlement: applying a paid transaction exactly once, whether it comes from WeChat Pay's
//! notification, from a query after a lost one, or from closing an order that was paid after all.

use chrono::DateTime;
use city_wechat::crypto::pay::WechatpayHeaders;
use city_wechat::pay_client::{fen_to_yuan, Refund, Transaction};
use serde_json::json;

use super::applying::citizen_notice;
pub use super::applying::ApplyError;
use super::refunds;
use crate::store::settlement::PaidEvents;
use crate::store::OrderRow;
use crate::wechat::{self, NotificationRefused};
use crate::PaymentsState;

/// Applies a paid transaction (from a notification or a query) exactly once. Returns whether
/// this call applied it (false: it was applied before, or the transaction is not SUCCESS).
#[tracing::instrument(skip_all, fields(out_trade_no = %tx_info.out_trade_no, order_id = tracing::field::Empty))]
pub async fn apply_transaction(state: &PaymentsState, tx_info: &Transaction) -> Result<bool, ApplyError> {
    let settings = &state.platform.settings;
    if tx_info.mchid != settings.payments.mchid || tx_info.appid != settings.wechat.mp_appid {
        return Err(ApplyError::WrongMerchant);
    }
    // A read first: repeats (the usual case for WeChat's retries) and bad notifications are
    // answered without the writer. The conditional update in the store stays the guard.
    let order = state.store.order_by_no(&tx_info.out_trade_no).await?.ok_or(ApplyError::UnknownOrder)?;
    tracing::Span::current().record("order_id", tracing::field::display(&order.id));
    if tx_info.amount.total != order.amount.0 {
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
    let applied = state.applier.apply(order, tx_info.clone()).await?;
    if applied {
        tracing::info!(out_trade_no = %tx_info.out_trade_no, "payment applied");
    }
    Ok(applied)
}

/// When WeChat says the order was paid (else `at_ms`).
pub fn paid_at_ms(tx_info: &Transaction, at_ms: i64) -> i64 {
    tx_info
        .success_time
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map_or(at_ms, |t| t.timestamp_millis())
}

/// What a payment writes to the outbox: `payments.paid` and the citizen's notice when it
/// settles its item, or the notice of the refund to come when the item was settled already.
/// Built from the order's fields that never change after creation, so a pre-read copy serves.
pub fn paid_events(order: &OrderRow, transaction_id: &str) -> PaidEvents {
    let yuan = fen_to_yuan(order.amount.0);
    PaidEvents {
        settled: [
            (
                "payments.paid",
                json!({ "order_id": order.id.as_str(), "citizen_id": order.citizen_id, "item_kind": order.item_kind, "item_id": order.item_id,
                         "out_trade_no": order.out_trade_no.as_str(), "amount_fen": order.amount.0, "transaction_id": transaction_id }),
            ),
            citizen_notice(
                order,
                "payments.paid",
                format!("payments:{}:paid", order.id),
                ["缴费成功", "Payment received"],
                [format!("{} 已支付 {yuan} 元", order.description), format!("{}: {yuan} yuan paid", order.description)],
                json!({ "order_id": order.id.as_str() }),
            ),
        ],
        duplicate: citizen_notice(
            order,
            "payments.duplicate",
            format!("payments:{}:duplicate", order.id),
            ["重复缴费，将原路退回", "Paid already: refunding"],
            [
                format!("{} 已由先到的付款缴清，您支付的 {yuan} 元将原路退回", order.description),
                format!("{} was settled by an earlier payment; your {yuan} yuan will be refunded", order.description),
            ],
            json!({ "order_id": order.id.as_str() }),
        ),
    }
}

/// Which notification WeChat Pay sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationKind {
    /// `TRANSACTION.*` at the notify URL.
    Payment,
    /// `REFUND.*` at the refund notify URL.
    Refund,
}

/// Receives one WeChat Pay notification: verifies and decrypts it, then applies a payment's or
/// a refund's success exactly once. `Ok` is accepted (repeats included).
pub async fn receive_notification(
    state: &PaymentsState,
    kind: NotificationKind,
    headers: Option<WechatpayHeaders>,
    body: &[u8],
) -> Result<(), NotificationRefused> {
    let (expected, success) = match kind {
        NotificationKind::Payment => ("transaction", "TRANSACTION.SUCCESS"),
        NotificationKind::Refund => ("refund", "REFUND.SUCCESS"),
    };
    let (notification, plaintext) = wechat::open_notification(state, headers, body, expected, state.clock.now())?;
    if notification.event_type != success {
        if kind == NotificationKind::Refund {
            tracing::warn!(event = %notification.event_type, "refund did not succeed; finance must follow up");
        }
        return Ok(());
    }
    let applied = match kind {
        NotificationKind::Payment => {
            let transaction = serde_json::from_str::<Transaction>(&plaintext)
                .map_err(|_| NotificationRefused::Rejected("transaction does not parse"))?;
            apply_transaction(state, &transaction).await.map_err(|err| {
                if matches!(err, ApplyError::AmountMismatch) {
                    tracing::error!(out_trade_no = %transaction.out_trade_no, "notified amount differs from the order");
                }
                err
            })
        }
        NotificationKind::Refund => {
            let refund = serde_json::from_str::<Refund>(&plaintext)
                .map_err(|_| NotificationRefused::Rejected("refund does not parse"))?;
            if refund.mchid.as_deref().is_some_and(|m| m != state.platform.settings.payments.mchid) {
                return Err(NotificationRefused::Rejected("mchid does not match"));
            }
            refunds::apply_refund_success(state, &refund).await
        }
    };
    match (applied, kind) {
        (Ok(_), _) => Ok(()),
        (Err(ApplyError::Store(err)), _) => {
            tracing::error!(error = %err, "notification not stored");
            Err(NotificationRefused::Failed("temporarily unable to record"))
        }
        (Err(ApplyError::UnknownOrder), NotificationKind::Payment) => {
            Err(NotificationRefused::Rejected("unknown order"))
        }
        (Err(ApplyError::WrongMerchant), NotificationKind::Payment) => {
            Err(NotificationRefused::Rejected("mchid or appid do not match"))
        }
        (Err(ApplyError::AmountMismatch), NotificationKind::Payment) => {
            Err(NotificationRefused::Rejected("amount does not match the order"))
        }
        (Err(_), NotificationKind::Refund) => Err(NotificationRefused::Rejected("unknown refund or wrong amount")),
    }
}
