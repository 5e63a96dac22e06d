//! Payments' table of error kinds: one row per kind a client can get from this service besides
//! the platform's common ones (`city_platform::problem::kind`). A use case raises a typed error;
//! `api::problems` picks its kind from here. The `type` of each is `/problems/<code>`.

use city_platform::ErrorKind;

/// The item (bill, fine, booking fee) is paid already.
pub const ALREADY_PAID: ErrorKind = ErrorKind::new(
    409,
    "already-paid",
    "this item is paid already",
    "该项目已支付",
    "The bill, fine or booking fee was paid by an earlier order; `detail` names it.",
);
/// The item's own order kept changing while a new one was being made.
pub const PAYMENT_IN_PROGRESS: ErrorKind = ErrorKind::new(
    409,
    "payment-in-progress",
    "this item's order is changing; try again",
    "订单正在变更，请重试",
    "The citizen's own order for the item kept changing (closed and re-created at once); try again. \
     Another citizen's open order never blocks: whoever pays first settles the item, and a second \
     payment is refunded automatically.",
);
/// A fine's quote is from another Beijing day.
pub const QUOTE_EXPIRED: ErrorKind = ErrorKind::new(
    409,
    "quote-expired",
    "the quote expired at midnight; look the fine up again",
    "报价已过期，请重新查询罚款",
    "A fine's amount holds until the next Beijing midnight; look the fine up again for a new quote.",
);
/// Paying a bill of an account the citizen has not bound.
pub const NOT_YOUR_ACCOUNT: ErrorKind = ErrorKind::new(
    403,
    "not-your-account",
    "bind this account before paying its bills",
    "请先绑定该户号再缴费",
    "The bill belongs to an account the citizen has not bound.",
);
/// A top-up under the biller's minimum or over the ceiling.
pub const TOPUP_OUT_OF_RANGE: ErrorKind = ErrorKind::new(
    422,
    "topup-out-of-range",
    "top-up amount out of range",
    "充值金额超出范围",
    "A prepaid top-up must be at least the biller's minimum and at most 1,000,000 fen.",
);
/// The booking behind a fee was cancelled or lapsed.
pub const BOOKING_FEE_VOID: ErrorKind = ErrorKind::new(
    409,
    "booking-fee-void",
    "this booking was cancelled or lapsed",
    "该预约已取消或失效",
    "The booking fee is no longer due: the appointment was cancelled or its hold lapsed.",
);
/// The hospital's hold on the slot ended before payment.
pub const BOOKING_HOLD_LAPSED: ErrorKind = ErrorKind::new(
    409,
    "booking-hold-lapsed",
    "the time to pay this booking has passed",
    "预约支付时间已过",
    "The time to pay the booking fee has passed; book again (the slot may be free).",
);
/// A receipt for an order that is not paid.
pub const NOT_PAID: ErrorKind =
    ErrorKind::new(409, "not-paid", "this order is not paid", "订单尚未支付", "Receipts exist only for paid orders.");
/// Refunding an order that is not paid.
pub const NOT_REFUNDABLE: ErrorKind = ErrorKind::new(
    409,
    "not-refundable",
    "only a paid order can be refunded",
    "仅已支付订单可退款",
    "The order is pending or closed; only a paid order can be refunded.",
);
/// The refundable amount is not what the request expected.
pub const REFUND_AMOUNT_CHANGED: ErrorKind = ErrorKind::new(
    409,
    "refund-amount-changed",
    "the refundable amount changed; reload and try again",
    "可退金额已变化，请刷新后重试",
    "`expected_available_fen` differs from what is refundable now, or a concurrent refund won.",
);
/// A refund asks for more than remains.
pub const REFUND_EXCEEDS_REMAINING: ErrorKind = ErrorKind::new(
    422,
    "refund-exceeds-remaining",
    "more than what remains refundable",
    "超出剩余可退金额",
    "`amount_fen` is more than the order's paid amount minus its refunds so far.",
);
/// The refund (by its number) was requested already.
pub const REFUND_EXISTS: ErrorKind = ErrorKind::new(
    409,
    "refund-exists",
    "this refund was requested already",
    "该退款已申请",
    "A refund under the same refund number exists already; nothing changed.",
);
/// The biller does not know the account number.
pub const ACCOUNT_NOT_FOUND: ErrorKind = ErrorKind::new(
    404,
    "account-not-found",
    "the biller does not know this account number",
    "缴费单位查无此户号",
    "The biller has no account with this number; check the number printed on a bill.",
);
/// A decision number that is not 15-20 digits.
pub const INVALID_DECISION_NUMBER: ErrorKind = ErrorKind::new(
    422,
    "invalid-decision-number",
    "not a decision number",
    "决定书编号格式不正确",
    "A decision number (决定书编号) is 15 to 20 digits.",
);
/// A plate that is not a Chinese plate number.
pub const INVALID_PLATE: ErrorKind = ErrorKind::new(
    422,
    "invalid-plate",
    "not a plate number",
    "号牌号码格式不正确",
    "A plate is a province, an issuer letter and 5 (or 6 new-energy) characters, e.g. 川A12345.",
);
/// A plate type that is not a 号牌种类 code.
pub const INVALID_PLATE_TYPE: ErrorKind = ErrorKind::new(
    422,
    "invalid-plate-type",
    "not a plate type code",
    "号牌种类代码不正确",
    "The plate type is a 号牌种类 code such as 02 (small car) or 52 (small new-energy car).",
);
/// No registered vehicle has the plate, type and engine code given.
pub const VEHICLE_NOT_FOUND: ErrorKind = ErrorKind::new(
    404,
    "vehicle-not-found",
    "no vehicle matches this plate, plate type and engine number",
    "号牌号码、号牌种类与发动机号后六位不匹配",
    "The plate, plate type and last six characters of the engine number do not match a vehicle the \
     traffic police reported. An unknown plate gets the same answer as a wrong engine number.",
);
/// A bound vehicle's plate was registered to another vehicle since it was bound.
pub const VEHICLE_CHANGED: ErrorKind = ErrorKind::new(
    409,
    "vehicle-changed",
    "this plate now belongs to another vehicle; bind it again",
    "该号牌已登记为其他车辆，请重新绑定",
    "The traffic police reported another engine number for the bound plate (the plate went to another \
     car); bind it again with the new engine number to see its fines.",
);
/// A fines file with bad rows; nothing was imported.
pub const BAD_FINE_ROWS: ErrorKind = ErrorKind::new(
    422,
    "bad-fine-rows",
    "some rows are bad; nothing was imported",
    "部分行有误，未导入任何罚款",
    "The fines file has bad rows, each named in `errors` by line and column; nothing was imported.",
);
/// A bill file with bad rows; nothing was imported.
pub const BAD_BILL_ROWS: ErrorKind = ErrorKind::new(
    422,
    "bad-bill-rows",
    "some rows are bad; nothing was imported",
    "部分行有误，未导入任何账单",
    "The bill file has bad rows, each named in `errors` by line and column; nothing was imported.",
);

/// Every kind of this service, for `docs/errors.md` and the portal's uniqueness test.
pub const KINDS: &[&ErrorKind] = &[
    &ALREADY_PAID,
    &PAYMENT_IN_PROGRESS,
    &QUOTE_EXPIRED,
    &NOT_YOUR_ACCOUNT,
    &TOPUP_OUT_OF_RANGE,
    &BOOKING_FEE_VOID,
    &BOOKING_HOLD_LAPSED,
    &NOT_PAID,
    &NOT_REFUNDABLE,
    &REFUND_AMOUNT_CHANGED,
    &REFUND_EXCEEDS_REMAINING,
    &REFUND_EXISTS,
    &ACCOUNT_NOT_FOUND,
    &INVALID_DECISION_NUMBER,
    &INVALID_PLATE,
    &INVALID_PLATE_TYPE,
    &BAD_BILL_ROWS,
    &VEHICLE_NOT_FOUND,
    &VEHICLE_CHANGED,
    &BAD_FINE_ROWS,
];
