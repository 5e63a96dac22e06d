//! Booking's events: a fee to make payable, a booking that no longer needs paying, a refund to
//! make. Each is idempotent on its own, so a redelivery changes nothing.

use city_platform::money::Fen;

use super::refunds::{self, RefundAsk, RefundError};
use crate::domain;
use crate::store::booking_fees::BookingFee;
use crate::store::StoreError;
use crate::PaymentsState;

/// `booking.fee_due`: the fee becomes payable. A redelivery (or a fee_due overtaken by the
/// booking's cancellation, which left a void tombstone) changes nothing.
pub async fn record_fee_due(state: &PaymentsState, p: &serde_json::Value) -> Result<(), StoreError> {
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
    let fee = BookingFee {
        booking_id: booking_id.to_owned(),
        citizen_id: citizen_id.to_owned(),
        hospital_id: p["hospital_id"].as_str().unwrap_or("hospitals").to_owned(),
        amount: Fen(amount_fen),
        description: p["description"].as_str().unwrap_or("挂号费 Booking fee").chars().take(127).collect(),
        pay_before_ms,
        status: "due".into(),
    };
    state.store.record_fee_due(&fee, state.clock.now_ms()).await
}

/// `booking.expired` / `booking.cancelled` of an unpaid booking: its fee is no longer due.
/// When this overtakes the fee_due event, the void row it leaves keeps the fee from appearing.
pub async fn void_fee(state: &PaymentsState, p: &serde_json::Value) -> Result<(), StoreError> {
    let (Some(booking_id), Some(citizen_id)) = (p["appointment_id"].as_str(), p["citizen_id"].as_str()) else {
        return Ok(());
    };
    if p["paid"].as_bool() == Some(true) {
        // Paid: the money goes back through booking.refund_requested instead.
        return Ok(());
    }
    state.store.void_fee(booking_id, citizen_id, state.clock.now_ms()).await
}

/// `booking.refund_requested`: refunds the booking's paid order, exactly once however often
/// (or however concurrently) the request arrives: the refund number is derived from the
/// booking, and a second reservation under it fails on its unique key.
pub async fn refund_booking(state: &PaymentsState, p: &serde_json::Value) -> Result<(), RefundError> {
    let Some(booking_id) = p["booking_id"].as_str() else {
        tracing::error!("booking.refund_requested without booking_id; ignored");
        return Ok(());
    };
    let out_refund_no = domain::booking_refund_no(booking_id);
    if state.store.refund_exists(&out_refund_no).await? {
        return Ok(());
    }
    let Some(order) = state.store.paid_booking_order(booking_id).await? else {
        tracing::error!(%booking_id, "booking asked for a refund of a fee paid nowhere here; finance must look");
        return Ok(());
    };
    let remaining = order.refundable();
    let asked = p["amount_fen"].as_i64().filter(|a| *a > 0).map_or(remaining, Fen);
    let amount = asked.min(remaining);
    if amount.0 <= 0 {
        return Ok(());
    }
    let reason = format!("挂号费退款 booking refund: {}", p["reason"].as_str().unwrap_or("cancelled"));
    let ask = RefundAsk {
        order_id: order.id.as_str(),
        amount,
        reason: &reason,
        expected_available: None,
        staff: None,
        out_refund_no: Some(out_refund_no.clone()),
    };
    match refunds::create_refund(state, ask).await {
        Ok(_) => Ok(()),
        // A concurrent delivery made it first.
        Err(_) if state.store.refund_exists(&out_refund_no).await? => Ok(()),
        Err(err) => Err(err),
    }
}
