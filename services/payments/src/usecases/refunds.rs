//! Refunds: the one path every refund takes (a finance officer's, a booking's, a biller's
//! rejection, a duplicate payment's): reserve the amount with the refund row, send it to WeChat Pay, and apply its
//! success exactly once (from the answer, a notification or a query).

use std::fmt;

use city_platform::audit::AuditEntry;
use city_platform::auth::Staff;
use city_platform::ids::new_id;
use city_platform::money::Fen;
use city_wechat::pay_client::{fen_to_yuan, Refund};
use serde_json::json;

use super::applying::{citizen_notice, ApplyError};
use crate::store::refunds::{Completion, NewRefund, Reservation};
use crate::store::settlement::Events;
use crate::store::{OrderRow, RefundRow, StoreError};
use crate::PaymentsState;
use crate::{domain, wechat};

/// Why a refund was not made.
#[derive(Debug)]
pub enum RefundError {
    /// The amount is not positive.
    NotPositive,
    /// No such order.
    OrderNotFound,
    /// Only a paid order can be refunded.
    NotRefundable,
    /// The refundable amount is not what the caller expected (`Some`: what it is now), or a
    /// concurrent refund won (`None`).
    AmountChanged(Option<Fen>),
    /// More than what remains refundable.
    ExceedsRemaining(Fen),
    /// A refund under this number exists already.
    Exists,
    /// The store failed.
    Store(StoreError),
}

impl fmt::Display for RefundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotPositive => f.write_str("the refund amount must be positive"),
            Self::OrderNotFound => f.write_str("no such order"),
            Self::NotRefundable => f.write_str("only a paid order can be refunded"),
            Self::AmountChanged(_) => f.write_str("the refundable amount changed"),
            Self::ExceedsRemaining(available) => write!(f, "at most {} fen are refundable", available.0),
            Self::Exists => f.write_str("this refund was requested already"),
            Self::Store(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for RefundError {}

impl From<StoreError> for RefundError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// A refund to make.
pub struct RefundAsk<'a> {
    /// The paid order.
    pub order_id: &'a str,
    /// How much.
    pub amount: Fen,
    /// Why (kept with the refund, 80 characters at most).
    pub reason: &'a str,
    /// What the caller believes is refundable now; a mismatch is [`RefundError::AmountChanged`].
    pub expected_available: Option<Fen>,
    /// The finance officer asking (audited), or `None` for the system.
    pub staff: Option<&'a Staff>,
    /// A refund number the caller derived (one per booking), so a repeated request finds it
    /// taken; `None` makes a fresh one.
    pub out_refund_no: Option<String>,
}

/// Reserves and requests a refund. The reservation is a conditional update on the order, so a
/// duplicated or racing request is refused instead of refunding twice.
#[tracing::instrument(skip_all, fields(order_id = %ask.order_id, out_trade_no = tracing::field::Empty))]
pub async fn create_refund(state: &PaymentsState, ask: RefundAsk<'_>) -> Result<RefundRow, RefundError> {
    if ask.amount.0 <= 0 {
        return Err(RefundError::NotPositive);
    }
    let order = state.store.order_by_id(ask.order_id).await?.ok_or(RefundError::OrderNotFound)?;
    tracing::Span::current().record("out_trade_no", tracing::field::display(&order.out_trade_no));
    if order.state != "paid" {
        return Err(RefundError::NotRefundable);
    }
    let available = order.refundable();
    if ask.expected_available.is_some_and(|e| e != available) {
        return Err(RefundError::AmountChanged(Some(available)));
    }
    if ask.amount > available {
        return Err(RefundError::ExceedsRemaining(available));
    }
    let id = new_id();
    let refund = RefundRow {
        out_refund_no: ask.out_refund_no.unwrap_or_else(|| {
            format!("R{}", id.chars().filter(char::is_ascii_alphanumeric).take(31).collect::<String>())
        }),
        id,
        order_id: order.id.clone(),
        amount: ask.amount,
        reason: ask.reason.chars().take(80).collect(),
        state: "processing".into(),
        created_at_ms: state.clock.now_ms(),
    };
    let audit = ask.staff.map(|staff| {
        AuditEntry::by_staff(staff, crate::NAME, "refund.create", format!("order:{}", order.id)).with_change(
            Some(json!({ "refunded_fen": order.refunded.0 })),
            Some(json!({ "refunded_fen": order.refunded.0 + refund.amount.0, "refund_id": refund.id,
                        "amount_fen": refund.amount.0, "reason": refund.reason })),
        )
    });
    let requested_by = ask.staff.map_or_else(|| "system".to_owned(), |s| s.staff_id.clone());
    let reservation =
        NewRefund { refund: &refund, refunded_before: order.refunded, requested_by: &requested_by, audit };
    match state.store.reserve_refund(&reservation).await? {
        Reservation::Reserved => {}
        Reservation::Raced => return Err(RefundError::AmountChanged(None)),
        Reservation::NumberTaken => return Err(RefundError::Exists),
    }
    tracing::info!(out_refund_no = %refund.out_refund_no, amount_fen = refund.amount.0, "refund reserved");
    submit_refund(state, &order, &refund).await;
    Ok(refund)
}

/// A finance officer's refund; answers the refund with its state after WeChat Pay's answer.
pub async fn refund_by_staff(state: &PaymentsState, ask: RefundAsk<'_>) -> Result<RefundRow, RefundError> {
    let refund = create_refund(state, ask).await?;
    let now = state.store.refund_state(&refund.id).await.ok().flatten();
    Ok(RefundRow { state: now.unwrap_or(refund.state.clone()), ..refund })
}

/// Refunds the rest of an order the biller refused for good.
pub async fn refund_rejected_posting(state: &PaymentsState, order: &OrderRow) {
    let Some(result) = refund_the_rest(state, order, "biller rejected the payment", None).await else { return };
    if let Err(err) = result {
        tracing::error!(order_id = %order.id, error = %err, "automatic refund failed");
    }
}

/// What is left of `order` refunded by the system (no staff member, no expected balance); `None`
/// when nothing is left to refund.
async fn refund_the_rest(
    state: &PaymentsState,
    order: &OrderRow,
    reason: &str,
    out_refund_no: Option<String>,
) -> Option<Result<RefundRow, RefundError>> {
    let remaining = order.refundable();
    if remaining.0 <= 0 {
        return None;
    }
    let ask = RefundAsk {
        order_id: order.id.as_str(),
        amount: remaining,
        reason,
        expected_available: None,
        staff: None,
        out_refund_no,
    };
    Some(create_refund(state, ask).await)
}

/// Refunds a duplicate payment (one that found its item settled by another) in full, under
/// the order's one duplicate refund number: a second call finds it taken and changes nothing.
pub async fn refund_duplicate(state: &PaymentsState, order: &OrderRow) {
    let reason = "paid twice: the item was settled by an earlier payment";
    let number = Some(domain::duplicate_refund_no(order.id.as_str()));
    let Some(result) = refund_the_rest(state, order, reason, number).await else { return };
    match result {
        Ok(refund) => {
            tracing::info!(order_id = %order.id, out_refund_no = %refund.out_refund_no, "duplicate payment refunded")
        }
        // Done before, or a concurrent round is doing it.
        Err(RefundError::Exists | RefundError::AmountChanged(_)) => {}
        Err(err) => tracing::error!(order_id = %order.id, error = %err, "duplicate payment not refunded yet"),
    }
}

/// Sends (or re-sends, with the same out_refund_no) a refund to WeChat Pay, applying an
/// immediate success.
pub async fn submit_refund(state: &PaymentsState, order: &OrderRow, refund: &RefundRow) {
    match wechat::refund(state, order, refund).await {
        Ok(answer) if answer.status == "SUCCESS" => {
            if let Err(err) = apply_refund_success(state, &answer).await {
                tracing::warn!(error = %err, "refund success not applied yet");
            }
        }
        Ok(_) => {}
        Err(err) => {
            tracing::warn!(error = %err, out_refund_no = %refund.out_refund_no, "refund request will be retried")
        }
    }
}

/// Marks a refund succeeded exactly once, with its ledger movement and events.
#[tracing::instrument(skip_all, fields(out_refund_no = %refund.out_refund_no, out_trade_no = %refund.out_trade_no))]
pub async fn apply_refund_success(state: &PaymentsState, refund: &Refund) -> Result<bool, ApplyError> {
    let completion = state
        .store
        .complete_refund(
            &refund.out_refund_no,
            &refund.refund_id,
            Fen(refund.amount.refund),
            state.clock.now_ms(),
            refunded_events,
        )
        .await?;
    match completion {
        Completion::Done => Ok(true),
        Completion::AlreadyDone => Ok(false),
        Completion::Unknown => Err(ApplyError::UnknownOrder),
        Completion::AmountDiffers => Err(ApplyError::AmountMismatch),
    }
}

/// The two events a refund's success raises: `payments.refunded` (`payments.duplicate_refunded`
/// for a duplicate payment's) and the citizen's notification.
fn refunded_events(order: &OrderRow, refund: &RefundRow) -> Events {
    let yuan = fen_to_yuan(refund.amount.0);
    // A duplicate's refund gives back a payment that settled nothing: the item's own payment
    // stands, so the item's owner (booking, for a fee) must not read it as the item's refund.
    let topic = if order.posting_state == "duplicate" { "payments.duplicate_refunded" } else { "payments.refunded" };
    [
        (
            topic,
            json!({ "order_id": order.id.as_str(), "citizen_id": order.citizen_id, "item_kind": order.item_kind,
                     "item_id": order.item_id, "out_trade_no": order.out_trade_no.as_str(),
                     "out_refund_no": refund.out_refund_no, "amount_fen": refund.amount.0 }),
        ),
        citizen_notice(
            order,
            "payments.refunded",
            format!("payments:{}:refunded", refund.id),
            ["退款成功", "Refund made"],
            [format!("{} 退款 {yuan} 元", order.description), format!("{}: {yuan} yuan refunded", order.description)],
            json!({ "order_id": order.id.as_str(), "refund_id": refund.id }),
        ),
    ]
}

/// Looks up a stuck refund at WeChat Pay: applies a success, re-sends one WeChat never got.
pub async fn follow_up_refund(state: &PaymentsState, refund: &RefundRow) -> Result<(), StoreError> {
    let Some(order) = state.store.order_by_id(refund.order_id.as_str()).await? else { return Ok(()) };
    match state.pay.query_refund(&refund.out_refund_no).await {
        Ok(Some(answer)) if answer.status == "SUCCESS" => {
            let _ = apply_refund_success(state, &answer).await;
        }
        Ok(None) => submit_refund(state, &order, refund).await,
        _ => {}
    }
    Ok(())
}
