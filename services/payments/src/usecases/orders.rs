//! Orders: pricing what a citizen pays for (a bill, a fine quote, a top-up, a booking fee),
//! creating one order per item at a time or resuming it, placing it at WeChat Pay, retiring
//! an expired one, and reading orders and receipts back.

use std::fmt;

use chrono::{DateTime, Utc};
use city_platform::ids::new_id;
use city_platform::money::Fen;
use city_platform::time::{from_ms, next_city_midnight, CITY_TZ};
use city_wechat::crypto::pay::JsapiPayParams;

use super::settlement::{self, ApplyError};
use crate::biller::BillerError;
use crate::domain::fines::{self, QuoteRefusal};
use crate::domain::{self, ItemKind, OrderId};
use crate::store::{NewOrder, OrderRow, StoreError};
use crate::wechat;
use crate::PaymentsState;

/// The most a top-up may add, fen.
const MAX_TOPUP_FEN: i64 = 1_000_000;

/// Why an order was not created (or shown).
#[derive(Debug)]
pub enum OrderError {
    /// A field breaks a rule.
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// No such bill, fine, account binding, account, booking fee or order (or not the caller's).
    NotFound(&'static str),
    /// The bill's account is not bound by the caller.
    NotYourAccount,
    /// The item was paid already; says which.
    AlreadyPaid(String),
    /// The citizen's own order for the item kept changing (closed and re-created at once).
    PaymentInProgress(&'static str),
    /// The fine's quote is from another day, or too close to midnight to pay.
    QuoteExpired(&'static str),
    /// A top-up out of the biller's range.
    TopupOutOfRange(Fen),
    /// The booking was cancelled or lapsed.
    BookingFeeVoid,
    /// The hold on the booking ended.
    BookingHoldLapsed,
    /// A receipt of an order that is not paid.
    NotPaid,
    /// WeChat Pay or identity is not answering.
    Unavailable(&'static str),
    /// A payment found while retiring an order could not be applied.
    Settlement(ApplyError),
    /// The biller could not be asked.
    Biller(BillerError),
    /// The store failed.
    Store(StoreError),
}

impl fmt::Display for OrderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid { field, message } => write!(f, "{field}: {message}"),
            Self::NotFound(what) => write!(f, "no such {what}"),
            Self::NotYourAccount => f.write_str("the account is not bound"),
            Self::AlreadyPaid(what) => f.write_str(what),
            Self::PaymentInProgress(why) | Self::QuoteExpired(why) | Self::Unavailable(why) => f.write_str(why),
            Self::TopupOutOfRange(min) => write!(f, "a top-up is between {} and {MAX_TOPUP_FEN} fen", min.0),
            Self::BookingFeeVoid => f.write_str("the booking was cancelled or lapsed"),
            Self::BookingHoldLapsed => f.write_str("the time to pay the booking has passed"),
            Self::NotPaid => f.write_str("the order is not paid"),
            Self::Settlement(err) => err.fmt(f),
            Self::Biller(err) => err.fmt(f),
            Self::Store(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for OrderError {}

impl From<StoreError> for OrderError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

impl From<BillerError> for OrderError {
    fn from(err: BillerError) -> Self {
        Self::Biller(err)
    }
}

fn invalid(field: &'static str, message: &str) -> OrderError {
    OrderError::Invalid { field, message: message.to_owned() }
}

/// What a citizen asks to pay.
#[derive(Debug, Clone)]
pub enum OrderRequest {
    /// A bill of one of their bound accounts.
    Bill {
        /// The bill.
        bill_id: String,
    },
    /// A fine, by today's quote.
    Fine {
        /// The quote from the fine lookup.
        quote_id: String,
    },
    /// A top-up of one of their prepaid accounts.
    Topup {
        /// The binding.
        binding_id: String,
        /// How much.
        amount: Fen,
    },
    /// A booking fee booking made payable.
    Booking {
        /// The booking.
        booking_id: String,
    },
}

/// An order with what `wx.requestPayment` needs while it is pending.
#[derive(Debug)]
pub struct PayableOrder {
    /// The order.
    pub order: OrderRow,
    /// For a pending placed order: the signed client parameters.
    pub pay_params: Option<JsapiPayParams>,
}

/// What an order is being created for, resolved and priced by the server.
struct Payable {
    kind: ItemKind,
    item_id: String,
    biller_id: String,
    account_no: String,
    description: String,
    amount: Fen,
    breakdown: serde_json::Value,
    /// The latest moment the amount holds (fines: the next Beijing midnight).
    valid_until: Option<DateTime<Utc>>,
}

/// Creates (or resumes) the order for what the citizen asks to pay and places it at WeChat Pay.
/// The payer is whoever identity says signed in through the Mini Program; `payer_openid` only
/// serves a citizen identity knows no openid of.
#[tracing::instrument(skip_all, fields(citizen = %citizen_id, order_id = tracing::field::Empty, out_trade_no = tracing::field::Empty))]
pub async fn create_order(
    state: &PaymentsState,
    citizen_id: &str,
    request: OrderRequest,
    payer_openid: Option<String>,
) -> Result<PayableOrder, OrderError> {
    let payable = match request {
        OrderRequest::Bill { bill_id } => bill(state, citizen_id, bill_id).await?,
        OrderRequest::Fine { quote_id } => fine(state, &quote_id).await?,
        OrderRequest::Topup { binding_id, amount } => topup(state, citizen_id, &binding_id, amount).await?,
        OrderRequest::Booking { booking_id } => booking_fee(state, citizen_id, booking_id).await?,
    };
    let payer = match state.payers.mp_openid(citizen_id).await.map_err(|e| OrderError::Unavailable(e.0))? {
        Some(openid) => openid,
        None => payer_openid.ok_or_else(|| {
            invalid("payer_openid", "sign in through the Mini Program to pay (no openid is known for you)")
        })?,
    };
    let order = create_or_resume(state, citizen_id, &payer, payable).await?;
    let span = tracing::Span::current();
    span.record("order_id", tracing::field::display(&order.id));
    span.record("out_trade_no", tracing::field::display(&order.out_trade_no));
    Ok(with_pay_params(state, order))
}

async fn bill(state: &PaymentsState, citizen_id: &str, bill_id: String) -> Result<Payable, OrderError> {
    let bill = state.store.bill(&bill_id).await?.ok_or(OrderError::NotFound("bill"))?;
    if !state.store.is_bound(citizen_id, &bill.biller_id, &bill.account_no).await? {
        return Err(OrderError::NotYourAccount);
    }
    if bill.status == "paid" {
        return Err(OrderError::AlreadyPaid("this bill is paid already".into()));
    }
    Ok(Payable {
        kind: ItemKind::Bill,
        item_id: bill_id,
        description: format!("{} {} {}", bill.biller_id, bill.period, domain::mask_account(&bill.account_no)),
        breakdown: serde_json::json!({ "bill_fen": bill.amount.0, "period": bill.period }),
        biller_id: bill.biller_id,
        account_no: bill.account_no,
        amount: bill.amount,
        valid_until: None,
    })
}

async fn fine(state: &PaymentsState, quote_id: &str) -> Result<Payable, OrderError> {
    let today = state.clock.today();
    let fine_id = fines::quoted_fine(quote_id, today).map_err(|refusal| match refusal {
        QuoteRefusal::Malformed => invalid("quote_id", "not a quote id"),
        QuoteRefusal::Expired => OrderError::QuoteExpired("the quote was made on another day"),
    })?;
    let fine = state.store.fine(fine_id).await?.ok_or(OrderError::NotFound("fine"))?;
    if fine.status == "paid" {
        return Err(OrderError::AlreadyPaid("this fine is paid already".into()));
    }
    let q = fines::fine_quote(fine.fine.0, fine.decided_on, today);
    Ok(Payable {
        kind: ItemKind::Fine,
        item_id: fine.id,
        biller_id: "traffic".into(),
        account_no: fine.plate,
        description: format!("交通罚款 Traffic fine {}", fine.decision_no),
        amount: q.total(),
        breakdown: serde_json::json!({ "fine_fen": q.fine_fen, "late_days": q.late_days, "surcharge_fen": q.surcharge_fen }),
        valid_until: Some(next_city_midnight(state.clock.now())),
    })
}

async fn topup(state: &PaymentsState, citizen_id: &str, binding_id: &str, amount: Fen) -> Result<Payable, OrderError> {
    let binding = state.store.binding(citizen_id, binding_id).await?.ok_or(OrderError::NotFound("account binding"))?;
    let account = state
        .biller
        .query_account(&binding.biller_id, &binding.account_no)
        .await?
        .ok_or(OrderError::NotFound("account"))?;
    if !account.prepaid {
        return Err(invalid("binding_id", "this account is billed, not prepaid"));
    }
    let biller = state.store.biller(&binding.biller_id).await?.ok_or(OrderError::NotFound("biller"))?;
    let min = Fen(biller.min_topup.0.max(1));
    if amount < min || amount.0 > MAX_TOPUP_FEN {
        return Err(OrderError::TopupOutOfRange(min));
    }
    Ok(Payable {
        kind: ItemKind::Topup,
        item_id: new_id(),
        description: format!("{} top-up {}", binding.biller_id, domain::mask_account(&binding.account_no)),
        biller_id: binding.biller_id,
        account_no: binding.account_no,
        amount,
        breakdown: serde_json::json!({ "topup_fen": amount.0 }),
        valid_until: None,
    })
}

async fn booking_fee(state: &PaymentsState, citizen_id: &str, booking_id: String) -> Result<Payable, OrderError> {
    // Another citizen's booking is as unknown as a missing one.
    let fee = state.store.booking_fee_of(citizen_id, &booking_id).await?.ok_or(OrderError::NotFound("booking fee"))?;
    match fee.status.as_str() {
        "paid" => return Err(OrderError::AlreadyPaid("this booking fee is paid already".into())),
        "void" => return Err(OrderError::BookingFeeVoid),
        _ => {}
    }
    let pay_before = from_ms(fee.pay_before_ms);
    if pay_before <= state.clock.now() {
        return Err(OrderError::BookingHoldLapsed);
    }
    Ok(Payable {
        kind: ItemKind::Booking,
        item_id: fee.booking_id,
        // The hospital stands where a biller would: the ledger owes it the fee.
        biller_id: fee.hospital_id,
        account_no: booking_id,
        description: fee.description,
        amount: fee.amount,
        breakdown: serde_json::json!({ "booking_fee_fen": fee.amount.0 }),
        valid_until: Some(pay_before),
    })
}

/// Creates the citizen's order for a payable item or resumes their own one in progress, then
/// places it at WeChat Pay. Paying a paid item is [`OrderError::AlreadyPaid`].
///
/// One open order per item *and citizen*: another citizen's open order never blocks this one
/// (it used to, for 30 minutes, renewable: anyone could keep an owner from paying). Whoever
/// pays first settles the item; a later payment is a duplicate, refunded automatically
/// (`store::settlement`, `usecases::jobs`), and the job closes the other open orders.
async fn create_or_resume(
    state: &PaymentsState,
    citizen_id: &str,
    payer_openid: &str,
    payable: Payable,
) -> Result<OrderRow, OrderError> {
    let active_key = format!("{}:{}:{citizen_id}", payable.kind.as_str(), payable.item_id);
    for _ in 0..3 {
        if let Some(order) = state.store.active_order(&active_key).await? {
            if order.state == "paid" {
                return Err(OrderError::AlreadyPaid(format!("order {} paid it", order.id)));
            }
            // Resume while there is still time to pay; otherwise retire it and start afresh.
            if order.expires_at_ms > state.clock.now_ms() + 60_000
                && order.payer_openid == payer_openid
                && order.amount == payable.amount
            {
                return place(state, order).await;
            }
            retire_order(state, &order).await?;
            continue;
        }
        let now = state.clock.now();
        let expiry_secs = i64::try_from(state.platform.settings.payments.order_expiry_secs).unwrap_or(1800);
        let mut expires = now + chrono::Duration::seconds(expiry_secs);
        if let Some(until) = payable.valid_until {
            expires = expires.min(until);
        }
        if expires <= now + chrono::Duration::seconds(60) {
            return Err(OrderError::QuoteExpired("the amount changes at midnight; look the fine up again"));
        }
        let id = OrderId::from(new_id());
        let out_trade_no = domain::out_trade_no(payable.kind, &id);
        let time_expire = expires.with_timezone(&CITY_TZ).to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
        let new = NewOrder {
            id: &id,
            out_trade_no: &out_trade_no,
            active_key: &active_key,
            citizen_id,
            item_kind: payable.kind.as_str(),
            item_id: &payable.item_id,
            biller_id: &payable.biller_id,
            account_no: &payable.account_no,
            description: &payable.description,
            amount: payable.amount,
            breakdown: payable.breakdown.to_string(),
            payer_openid,
            time_expire: &time_expire,
            expires_at_ms: expires.timestamp_millis(),
            at_ms: now.timestamp_millis(),
        };
        // false: a concurrent request created it first; resume that one.
        if state.store.insert_order(&new).await? {
            tracing::info!(order_id = %id, out_trade_no = %out_trade_no, "order created");
            let order = state
                .store
                .order_by_id(id.as_str())
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("order {id} vanished after insert")))?;
            return place(state, order).await;
        }
    }
    Err(OrderError::PaymentInProgress("the item's order is changing; try again"))
}

/// Places the order at WeChat Pay (identical parameters resume it) and stores the prepay id.
async fn place(state: &PaymentsState, order: OrderRow) -> Result<OrderRow, OrderError> {
    if order.prepay_id.is_some() {
        return Ok(order);
    }
    let prepay_id = wechat::prepay(state, &order).await.map_err(|err| {
        tracing::warn!(error = %err, out_trade_no = %order.out_trade_no, "prepay failed");
        OrderError::Unavailable("WeChat Pay did not accept the order; try again shortly")
    })?;
    state.store.set_prepay_id(&order.id, &prepay_id, state.clock.now_ms()).await?;
    Ok(OrderRow { prepay_id: Some(prepay_id), ..order })
}

/// Closes an expired (or superseded) pending order: close at WeChat Pay, then trust only a
/// query; a payment it finds is applied instead.
#[tracing::instrument(skip_all, fields(order_id = %order.id, out_trade_no = %order.out_trade_no))]
pub async fn retire_order(state: &PaymentsState, order: &OrderRow) -> Result<(), OrderError> {
    if order.prepay_id.is_some() {
        match wechat::close_and_query(state, order).await {
            Ok(Some(tx)) if tx.trade_state == "SUCCESS" => {
                settlement::apply_transaction(state, &tx).await.map_err(OrderError::Settlement)?;
                return Ok(());
            }
            Ok(Some(tx)) if tx.trade_state == "NOTPAY" || tx.trade_state == "USERPAYING" => {
                // Still payable (the close did not take); leave it for the next round.
                return Err(OrderError::Unavailable(
                    "the previous order is still open at WeChat Pay; try again shortly",
                ));
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %err, "query after close failed");
                return Err(OrderError::Unavailable("WeChat Pay is not answering"));
            }
        }
    }
    state.store.close_pending(&order.id, state.clock.now_ms()).await?;
    tracing::info!("order closed");
    Ok(())
}

fn with_pay_params(state: &PaymentsState, order: OrderRow) -> PayableOrder {
    let pay_params = match (&order.prepay_id, order.state.as_str()) {
        (Some(prepay_id), "pending") => wechat::pay_params(state, prepay_id, state.clock.now()),
        _ => None,
    };
    PayableOrder { order, pay_params }
}

/// A citizen's orders, newest first (at most 100).
pub async fn orders_of(state: &PaymentsState, citizen_id: &str) -> Result<Vec<PayableOrder>, OrderError> {
    let orders = state.store.orders_of(citizen_id, 100).await?;
    Ok(orders.into_iter().map(|o| with_pay_params(state, o)).collect())
}

/// One of a citizen's orders (another's is not found, like a missing one).
pub async fn order_of(state: &PaymentsState, citizen_id: &str, id: &str) -> Result<PayableOrder, OrderError> {
    Ok(with_pay_params(state, own_order(state, citizen_id, id).await?))
}

async fn own_order(state: &PaymentsState, citizen_id: &str, id: &str) -> Result<OrderRow, OrderError> {
    state.store.order_by_id(id).await?.filter(|o| o.citizen_id == citizen_id).ok_or(OrderError::NotFound("order"))
}

/// A paid order's receipt facts.
#[derive(Debug)]
pub struct Receipt {
    /// The order.
    pub order: OrderRow,
    /// WeChat's transaction id.
    pub transaction_id: String,
    /// When paid, UTC ms.
    pub paid_at_ms: i64,
}

/// The receipt of one of a citizen's paid orders.
pub async fn receipt(state: &PaymentsState, citizen_id: &str, id: &str) -> Result<Receipt, OrderError> {
    let order = own_order(state, citizen_id, id).await?;
    let (Some(transaction_id), Some(paid_at_ms)) = (order.transaction_id.clone(), order.paid_at_ms) else {
        return Err(OrderError::NotPaid);
    };
    Ok(Receipt { order, transaction_id, paid_at_ms })
}
