//! The background work: a round every `job_interval_secs` (lost notifications found by query,
//! expired orders closed, due postings, stuck refunds), a posting round as soon as payments
//! come in (with the refunds of duplicate payments and the closing of other citizens' orders
//! for an item just settled), and booking's events.

use std::sync::Arc;
use std::time::Duration;

use super::{booking_fees, orders, refunds, settlement};
use crate::biller::{PostingOutcome, PostingRequest};
use crate::store::orders::PostingResults;
use crate::store::{OrderRow, StoreError};
use crate::PaymentsState;

/// How long the posting job waits after a payment for others to join its batch.
const POSTING_GATHER: Duration = Duration::from_millis(20);

/// Most postings one round sends to the billers (and records in one transaction).
const POSTING_BATCH: i64 = 100;

/// Most orders (and refunds) one round looks at.
const ROUND_LIMIT: i64 = 20;

/// Booking's events this service acts on: a fee to make payable, a booking that no longer
/// needs paying, a refund to make.
const BOOKING_TOPICS: &[&str] =
    &["booking.fee_due", "booking.expired", "booking.cancelled", "booking.refund_requested"];

/// Starts the rounds and subscribes to booking's events.
pub fn start(state: &Arc<PaymentsState>) {
    spawn_rounds(state.clone());
    for topic in BOOKING_TOPICS {
        let s = state.clone();
        let handler: city_platform::bus::Handler = Arc::new(move |event: city_platform::bus::Event| {
            let s = s.clone();
            Box::pin(async move { on_booking_event(&s, event).await })
        });
        state.platform.bus.clone().subscribe(topic, crate::NAME, handler, state.platform.shutdown.clone());
    }
}

/// Applies one of booking's events; each handler is idempotent on its own, so a redelivery
/// changes nothing. `Err` has the bus deliver it again.
async fn on_booking_event(
    state: &PaymentsState,
    event: city_platform::bus::Event,
) -> city_platform::bus::HandlerResult {
    let p = &event.payload;
    match event.topic.as_str() {
        "booking.fee_due" => booking_fees::record_fee_due(state, p).await?,
        "booking.expired" | "booking.cancelled" => booking_fees::void_fee(state, p).await?,
        "booking.refund_requested" => {
            booking_fees::refund_booking(state, p).await.map_err(|err| format!("booking refund not made yet: {err}"))?
        }
        _ => {}
    }
    Ok(())
}

fn spawn_rounds(state: Arc<PaymentsState>) {
    let mut shutdown = state.platform.shutdown.clone();
    let interval = Duration::from_secs(state.platform.settings.payments.job_interval_secs.max(1));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {
                    if let Err(err) = run_jobs(&state).await {
                        tracing::warn!(error = %err, "payments job round failed");
                    }
                }
                () = state.kick.notified() => {
                    // Payments come in bursts: a moment's wait lets one round post the burst
                    // in one batch instead of taking the writer once per payment.
                    tokio::time::sleep(POSTING_GATHER).await;
                    if let Err(err) = run_postings(&state).await {
                        tracing::warn!(error = %err, "posting round failed");
                    }
                }
                () = shutdown.wait() => return,
            }
        }
    });
}

/// One round: lost notifications (query), expired orders (close), due postings, stuck refunds.
pub async fn run_jobs(state: &PaymentsState) -> Result<(), StoreError> {
    let settings = &state.platform.settings.payments;
    let now = state.clock.now_ms();
    let stale = now - i64::try_from(settings.query_after_secs).unwrap_or(60) * 1000;
    for order in state.store.stale_pending(stale, ROUND_LIMIT).await? {
        check_pending(state, &order, now).await?;
    }
    run_postings(state).await?;
    for refund in state.store.stuck_refunds(stale, ROUND_LIMIT).await? {
        refunds::follow_up_refund(state, &refund).await?;
    }
    super::reminders::run_reminders(state).await?;
    Ok(())
}

/// A pending order nobody heard of for a while: close it once expired, else ask WeChat Pay
/// whether it was paid (a lost notification).
#[tracing::instrument(skip_all, fields(order_id = %order.id, out_trade_no = %order.out_trade_no))]
async fn check_pending(state: &PaymentsState, order: &OrderRow, now: i64) -> Result<(), StoreError> {
    if order.expires_at_ms <= now {
        if let Err(err) = orders::retire_order(state, order).await {
            tracing::warn!(error = %err, "expired order not closed yet");
        }
        return Ok(());
    }
    if order.prepay_id.is_some() {
        match state.pay.query_order(&order.out_trade_no).await {
            Ok(Some(tx)) if tx.trade_state == "SUCCESS" => {
                if let Err(err) = settlement::apply_transaction(state, &tx).await {
                    tracing::error!(error = %err, "queried payment not applied");
                }
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "order query failed"),
        }
    }
    state.store.touch_pending(&order.id, now).await
}

/// Posts due payments to their billers, a batch at a time, recording the outcomes of a batch
/// in one transaction; a final rejection refunds the order in full. Returns how many were posted.
pub async fn run_postings(state: &PaymentsState) -> Result<usize, StoreError> {
    let mut done = 0;
    // Bounded, so postings that keep coming due cannot keep one round going for ever.
    for _ in 0..20 {
        let orders = state.store.due_postings(state.clock.now_ms(), POSTING_BATCH).await?;
        if orders.is_empty() {
            break;
        }
        let requests: Vec<PostingRequest> = orders
            .iter()
            .map(|o| PostingRequest {
                biller_id: o.biller_id.clone(),
                account_no: o.account_no.clone(),
                out_trade_no: o.out_trade_no.to_string(),
                amount_fen: o.amount.0,
                topup: o.item_kind == "topup",
            })
            .collect();
        let outcomes = state.biller.post_payments(&requests).await;
        let at_ms = state.clock.now_ms();
        let wait = i64::try_from(state.platform.settings.payments.posting_retry_secs).unwrap_or(30) * 1000;
        let mut results = PostingResults {
            posted: Vec::new(),
            retry: Vec::new(),
            rejected: Vec::new(),
            at_ms,
            retry_at_ms: at_ms + wait,
        };
        for (order, outcome) in orders.iter().zip(&outcomes) {
            match outcome {
                PostingOutcome::Posted => results.posted.push(&order.id),
                PostingOutcome::Retry(reason) => {
                    tracing::warn!(order_id = %order.id, out_trade_no = %order.out_trade_no, %reason, "posting will be retried");
                    results.retry.push(&order.id);
                }
                PostingOutcome::Rejected(reason) => {
                    tracing::warn!(order_id = %order.id, out_trade_no = %order.out_trade_no, %reason, "biller rejected the payment; refunding");
                    results.rejected.push(&order.id);
                }
            }
        }
        let rejected = state.store.record_postings(&results).await?;
        done += results.posted.len();
        // The refunds go to WeChat Pay; never while holding the writer.
        for order in orders.iter().filter(|o| rejected.contains(&&o.id)) {
            refunds::refund_rejected_posting(state, order).await;
        }
        if (orders.len() as i64) < POSTING_BATCH {
            break;
        }
    }
    settle_aftermath(state).await?;
    Ok(done)
}

/// After payments came in: refunds each duplicate payment (an item paid twice keeps the first),
/// and closes the open orders of items another order has settled, so nobody pays them again.
async fn settle_aftermath(state: &PaymentsState) -> Result<(), StoreError> {
    for order in state.store.duplicates_to_refund(ROUND_LIMIT).await? {
        refunds::refund_duplicate(state, &order).await;
    }
    for order in state.store.superseded_pending(ROUND_LIMIT).await? {
        if let Err(err) = orders::retire_order(state, &order).await {
            tracing::warn!(order_id = %order.id, error = %err, "superseded order not closed yet");
        }
    }
    Ok(())
}
