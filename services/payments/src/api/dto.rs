//! The payments API's request and response bodies, and how use-case results become them.

use city_platform::time::{from_ms, rfc3339};
use city_wechat::pay_client::fen_to_yuan;
use poem::{Request, RequestBody};
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{impl_apirequest_for_payload, Object};
use serde::Deserialize;

use crate::store::accounts::BillerRow;
use crate::store::vehicles::VehicleBindingRow;
use crate::store::RefundRow;
use crate::usecases::accounts::{Account, Bill, QuotedFine, UnpaidItem};
use crate::usecases::orders::{PayableOrder, Receipt};
use crate::usecases::reconciliation::ReconReport;

/// A biller.
#[derive(Debug, Object)]
pub struct BillerView {
    /// Id used in requests.
    pub id: String,
    /// `electricity`, `water`, `gas` or `traffic`.
    pub kind: String,
    /// Name in Chinese.
    pub name_zh: String,
    /// Name in English.
    pub name_en: String,
    /// Smallest prepaid top-up, fen.
    pub min_topup_fen: i64,
}

/// Binding an account number.
#[derive(Debug, Object, Deserialize)]
#[oai(skip_serializing_if_is_none)]
pub struct BindAccount {
    /// The biller.
    pub biller_id: String,
    /// The account number (户号) as printed on a bill.
    #[oai(validator(min_length = 1, max_length = 32))]
    pub account_no: String,
    /// The citizen's own label ("home", "parents").
    #[oai(validator(max_length = 40))]
    #[serde(default)]
    pub label: Option<String>,
}

/// A bound account with what the biller says about it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AccountView {
    /// Binding id.
    pub id: String,
    /// Biller.
    pub biller_id: String,
    /// Account number.
    pub account_no: String,
    /// The citizen's label.
    pub label: Option<String>,
    /// The holder's name, masked (`**丰`).
    pub holder_name_masked: String,
    /// Prepaid (top-ups) rather than billed.
    pub prepaid: bool,
    /// Prepaid balance, fen.
    pub balance_fen: i64,
    /// Unpaid bills, fen.
    pub arrears_fen: i64,
}

/// A bill for one period.
#[derive(Debug, Object)]
pub struct BillView {
    /// Bill id (pay it with `{"kind": "bill", "bill_id": ...}`).
    pub id: String,
    /// Period.
    pub period: String,
    /// Amount due, fen.
    pub amount_fen: i64,
    /// Due date.
    pub due_date: String,
    /// Whether the due date has passed unpaid.
    pub overdue: bool,
    /// `unpaid` or `paid`.
    pub status: String,
}

/// A fine with today's amount due.
#[derive(Debug, Object)]
pub struct FineView {
    /// Fine id.
    pub id: String,
    /// Decision number (决定书编号).
    pub decision_no: String,
    /// Plate, partly masked.
    pub plate_masked: String,
    /// Plate type code.
    pub plate_type: String,
    /// What happened.
    pub violation: String,
    /// Where.
    pub location: String,
    /// Beijing date the decision was served.
    pub decided_on: String,
    /// `unpaid` or `paid`.
    pub status: String,
    /// The fine, fen.
    pub fine_fen: i64,
    /// Days past the 15-day deadline.
    pub late_days: i64,
    /// 3 % of the fine per late day, at most the fine, fen.
    pub surcharge_fen: i64,
    /// Fine plus surcharge, fen.
    pub total_fen: i64,
    /// Pay with this (`{"kind": "fine", "quote_id": ...}`); valid until `quote_expires_at`.
    pub quote_id: String,
    /// The next Beijing midnight, when the surcharge may change.
    pub quote_expires_at: String,
}

/// Binding a vehicle: its plate and the last six characters of its engine number, as printed on
/// the vehicle licence (行驶证), which the traffic police's own app asks for too.
#[derive(Debug, Object, Deserialize)]
#[oai(skip_serializing_if_is_none)]
pub struct BindVehicle {
    /// Plate number in any printed form (`川A12345`, `川A·12345`, `川ad12345`).
    #[oai(validator(
        pattern = "^[·. 　-]*[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][·. 　-]*[A-Za-z]([·. 　-]*[0-9A-Za-z]){5,6}[·. 　-]*$"
    ))]
    pub plate: String,
    /// Plate type code (号牌种类): `02` small car, `52` small new-energy car, ...
    #[oai(validator(pattern = "^ *[0-9]{2} *$"))]
    pub plate_type: String,
    /// The last six characters of the engine number (发动机号后六位); never stored or shown.
    #[oai(validator(pattern = "^ *[0-9A-Za-z]{6} *$"))]
    pub engine_last6: String,
    /// The citizen's own label ("my car").
    #[oai(validator(max_length = 40))]
    #[serde(default)]
    pub label: Option<String>,
}

/// A bound vehicle.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct VehicleView {
    /// Binding id (its fines: `GET /v1/payments/vehicles/{id}/fines`).
    pub id: String,
    /// Plate number.
    pub plate: String,
    /// Plate type code.
    pub plate_type: String,
    /// The citizen's label.
    pub label: Option<String>,
    /// False once the traffic police report another engine for this plate (it went to another
    /// car): its fines are then not shown until it is bound again.
    pub current: bool,
    /// When bound.
    pub bound_at: String,
}

/// A fines file to import (finance).
#[derive(Debug, Object, Deserialize)]
pub struct ImportFines {
    /// File name, for the record.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub file_name: String,
    /// The CSV text from the traffic police:
    /// `decision_no,plate,plate_type,engine_no,fine_yuan,decided_on,violation,location`.
    pub content: String,
}

/// A fines import's outcome.
#[derive(Debug, Object)]
pub struct FineImportView {
    /// Import id.
    pub import_id: String,
    /// Rows in the file (0 when it was imported before).
    pub rows: i64,
    /// Decisions that were not known before.
    pub new_fines: i64,
    /// Whether the same file had been imported already.
    pub already_imported: bool,
}

/// What to pay. The server computes the amount; only a top-up names one.
#[derive(Debug, Object, Deserialize)]
#[oai(skip_serializing_if_is_none)]
pub struct CreateOrder {
    /// `bill`, `fine`, `topup` or `booking`.
    #[oai(validator(pattern = "^(bill|fine|topup|booking)$"))]
    pub kind: String,
    /// For `booking`: the appointment whose booking fee (挂号费) is due.
    #[serde(default)]
    pub booking_id: Option<String>,
    /// For `bill`: the bill.
    #[serde(default)]
    pub bill_id: Option<String>,
    /// For `fine`: the quote from the fine lookup.
    #[serde(default)]
    pub quote_id: Option<String>,
    /// For `topup`: the bound prepaid account.
    #[serde(default)]
    pub binding_id: Option<String>,
    /// For `topup`: how much to add, fen (at least the biller's minimum).
    #[serde(default)]
    pub topup_fen: Option<i64>,
    /// Only for a citizen identity knows no Mini Program openid of: the payer's openid under the
    /// Mini Program. Otherwise ignored: identity's openid for the signed-in citizen is used.
    #[oai(validator(min_length = 1, max_length = 128))]
    #[serde(default)]
    pub payer_openid: Option<String>,
}

/// Something a citizen has to pay (for the Service Account's "my bills").
#[derive(Debug, Object)]
#[oai(rename = "PaymentsUnpaidItem")]
#[oai(skip_serializing_if_is_none)]
pub struct UnpaidItemView {
    /// `bill` or `booking`.
    pub kind: String,
    /// The bill id or booking id, as `POST /v1/payments/orders` takes it.
    pub id: String,
    /// What it is (account numbers masked).
    pub description: String,
    /// Amount due, fen.
    pub amount_fen: i64,
    /// Beijing date it is due by.
    pub due_date: Option<String>,
}

/// `wx.requestPayment` parameters.
#[derive(Debug, Object)]
pub struct PayParams {
    /// `timeStamp`.
    #[oai(rename = "timeStamp")]
    pub time_stamp: String,
    /// `nonceStr`.
    #[oai(rename = "nonceStr")]
    pub nonce_str: String,
    /// `package` (`prepay_id=...`).
    pub package: String,
    /// `signType` (`RSA`).
    #[oai(rename = "signType")]
    pub sign_type: String,
    /// `paySign`.
    #[oai(rename = "paySign")]
    pub pay_sign: String,
}

/// An order.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct OrderView {
    /// Order id.
    pub id: String,
    /// Our number at WeChat Pay.
    pub out_trade_no: String,
    /// `bill`, `fine`, `topup` or `booking`.
    pub item_kind: String,
    /// The item paid for.
    pub item_id: String,
    /// What the payer sees.
    pub description: String,
    /// Fen.
    pub amount_fen: i64,
    /// How the amount was computed.
    pub breakdown: serde_json::Value,
    /// `pending`, `paid` or `closed`.
    pub state: String,
    /// `none` (unpaid, or a booking fee, which is posted nowhere), `pending` (paid, being
    /// posted to the biller), `posted`, `rejected` (refunded) or `duplicate` (the item had been
    /// paid by an earlier payment: never posted, refunded automatically).
    pub posting_state: String,
    /// Refunded so far, fen.
    pub refunded_fen: i64,
    /// Last moment to pay.
    pub expires_at: String,
    /// When paid.
    pub paid_at: Option<String>,
    /// For a pending order: what `wx.requestPayment` needs.
    pub pay_params: Option<PayParams>,
}

/// A receipt.
#[derive(Debug, Object)]
pub struct ReceiptView {
    /// Order id.
    pub order_id: String,
    /// Our number.
    pub out_trade_no: String,
    /// WeChat's transaction id.
    pub transaction_id: String,
    /// What was paid for.
    pub description: String,
    /// Fen.
    pub amount_fen: i64,
    /// Yuan, as printed.
    pub amount_yuan: String,
    /// When paid.
    pub paid_at: String,
    /// Whether the biller has it.
    pub posting_state: String,
    /// Refunded, fen.
    pub refunded_fen: i64,
}

/// A refund request (finance).
#[derive(Debug, Object, Deserialize)]
pub struct CreateRefund {
    /// The paid order.
    pub order_id: String,
    /// Fen to refund.
    pub amount_fen: i64,
    /// What the refundable amount is believed to be now; a mismatch is a 409, which stops a
    /// duplicated or racing request.
    pub expected_available_fen: i64,
    /// Why (kept with the refund and in the audit log).
    #[oai(validator(min_length = 1, max_length = 80))]
    pub reason: String,
}

/// A refund.
#[derive(Debug, Object)]
pub struct RefundView {
    /// Id.
    pub id: String,
    /// Our refund number at WeChat Pay.
    pub out_refund_no: String,
    /// Order.
    pub order_id: String,
    /// Fen.
    pub amount_fen: i64,
    /// Why.
    pub reason: String,
    /// `processing` or `success`.
    pub state: String,
}

/// A bill file to import.
#[derive(Debug, Object, Deserialize)]
pub struct ImportBills {
    /// File name, for the record.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub file_name: String,
    /// The CSV text: `biller_id,account_no,period,amount_yuan,due_date`.
    pub content: String,
}

/// An import's outcome.
#[derive(Debug, Object)]
pub struct ImportView {
    /// Import id.
    pub import_id: String,
    /// Rows imported now (0 when the file was imported before).
    pub rows: i64,
    /// Whether the same file had been imported already.
    pub already_imported: bool,
}

/// One reconciliation difference.
#[derive(Debug, Object)]
pub struct MismatchView {
    /// What kind.
    pub kind: String,
    /// The order number.
    pub out_trade_no: String,
    /// What differs.
    pub detail: String,
}

/// Three-way reconciliation of a day.
#[derive(Debug, Object)]
pub struct ReconView {
    /// Beijing date.
    pub date: String,
    /// Our paid orders.
    pub ours_count: i64,
    /// Their sum, fen.
    pub ours_fen: i64,
    /// WeChat's paid rows.
    pub wechat_count: i64,
    /// Their sum, fen.
    pub wechat_fen: i64,
    /// The billers' postings.
    pub biller_count: i64,
    /// Their sum, fen.
    pub biller_fen: i64,
    /// Every difference; empty when all three agree.
    pub mismatches: Vec<MismatchView>,
    /// Second payments of items another payment had settled: in WeChat's bill, never posted to
    /// a biller, each refunded automatically.
    pub duplicates: Vec<DuplicateView>,
}

/// A duplicate payment: an item paid again after another payment had settled it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DuplicateView {
    /// The duplicate's order number.
    pub out_trade_no: String,
    /// `bill`, `fine` or `booking`.
    pub item_kind: String,
    /// The item paid twice.
    pub item_id: String,
    /// What the duplicate paid, fen.
    pub amount_fen: i64,
    /// Its automatic refund: `processing`, `success`, ...; absent before it is requested.
    pub refund_state: Option<String>,
}

/// The raw bytes of a JSON body, for signatures over exactly what was sent.
pub struct RawJson(pub Vec<u8>);

impl Payload for RawJson {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        content_type.starts_with("application/json")
    }

    fn schema_ref() -> MetaSchemaRef {
        <serde_json::Value as Type>::schema_ref()
    }

    fn register(registry: &mut Registry) {
        <serde_json::Value as Type>::register(registry);
    }
}

impl ParsePayload for RawJson {
    const IS_REQUIRED: bool = true;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        use poem::FromRequest as _;
        Ok(Self(Vec::<u8>::from_request(request, body).await?))
    }
}

impl_apirequest_for_payload!(RawJson);

impl From<BillerRow> for BillerView {
    fn from(b: BillerRow) -> Self {
        Self { id: b.id, kind: b.kind, name_zh: b.name_zh, name_en: b.name_en, min_topup_fen: b.min_topup.0 }
    }
}

impl From<VehicleBindingRow> for VehicleView {
    fn from(b: VehicleBindingRow) -> Self {
        Self {
            id: b.id,
            plate: b.plate,
            plate_type: b.plate_type,
            label: b.label,
            current: b.current,
            bound_at: rfc3339(from_ms(b.created_at_ms)),
        }
    }
}

impl From<Account> for AccountView {
    fn from(a: Account) -> Self {
        Self {
            id: a.binding.id,
            biller_id: a.binding.biller_id,
            account_no: a.binding.account_no,
            label: a.binding.label,
            holder_name_masked: a.holder_name_masked,
            prepaid: a.prepaid,
            balance_fen: a.balance.0,
            arrears_fen: a.arrears.0,
        }
    }
}

impl From<Bill> for BillView {
    fn from(b: Bill) -> Self {
        Self {
            id: b.bill.id,
            period: b.bill.period,
            amount_fen: b.bill.amount.0,
            due_date: b.bill.due_date,
            overdue: b.overdue,
            status: b.bill.status,
        }
    }
}

impl From<QuotedFine> for FineView {
    fn from(q: QuotedFine) -> Self {
        let f = q.fine;
        Self {
            id: f.id,
            decision_no: f.decision_no,
            plate_masked: q.plate_masked,
            plate_type: f.plate_type,
            violation: f.violation,
            location: f.location,
            decided_on: f.decided_on.format("%Y-%m-%d").to_string(),
            status: f.status,
            fine_fen: q.quote.fine_fen,
            late_days: q.quote.late_days,
            surcharge_fen: q.quote.surcharge_fen,
            total_fen: q.quote.total_fen,
            quote_id: q.quote_id,
            quote_expires_at: rfc3339(q.quote_expires_at),
        }
    }
}

impl From<PayableOrder> for OrderView {
    fn from(p: PayableOrder) -> Self {
        let order = p.order;
        Self {
            id: order.id.into_string(),
            out_trade_no: order.out_trade_no.into_string(),
            item_kind: order.item_kind,
            item_id: order.item_id,
            description: order.description,
            amount_fen: order.amount.0,
            breakdown: serde_json::from_str(&order.breakdown).unwrap_or_default(),
            state: order.state,
            posting_state: order.posting_state,
            refunded_fen: order.refunded.0,
            expires_at: rfc3339(from_ms(order.expires_at_ms)),
            paid_at: order.paid_at_ms.map(|ms| rfc3339(from_ms(ms))),
            pay_params: p.pay_params.map(|params| PayParams {
                time_stamp: params.time_stamp,
                nonce_str: params.nonce_str,
                package: params.package,
                sign_type: params.sign_type,
                pay_sign: params.pay_sign,
            }),
        }
    }
}

impl From<Receipt> for ReceiptView {
    fn from(r: Receipt) -> Self {
        let order = r.order;
        Self {
            order_id: order.id.into_string(),
            out_trade_no: order.out_trade_no.into_string(),
            transaction_id: r.transaction_id,
            description: order.description,
            amount_fen: order.amount.0,
            amount_yuan: fen_to_yuan(order.amount.0),
            paid_at: rfc3339(from_ms(r.paid_at_ms)),
            posting_state: order.posting_state,
            refunded_fen: order.refunded.0,
        }
    }
}

impl ReceiptView {
    /// The printable page.
    pub fn html(&self) -> String {
        let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
        format!(
            "<!doctype html><html lang=\"zh\"><meta charset=\"utf-8\"><title>电子回单 Receipt</title>\
             <style>body{{font-family:sans-serif;max-width:36em;margin:2em auto}}td{{padding:.3em 1em}}</style>\
             <h1>电子回单 Payment receipt</h1><table>\
             <tr><td>项目 Item</td><td>{}</td></tr><tr><td>金额 Amount</td><td>¥{}</td></tr>\
             <tr><td>商户订单号 Order no.</td><td>{}</td></tr><tr><td>微信支付单号 WeChat Pay no.</td><td>{}</td></tr>\
             <tr><td>支付时间 Paid at</td><td>{}</td></tr><tr><td>销账 Posted to biller</td><td>{}</td></tr>\
             <tr><td>已退款 Refunded</td><td>¥{}</td></tr></table></html>",
            esc(&self.description),
            self.amount_yuan,
            esc(&self.out_trade_no),
            esc(&self.transaction_id),
            self.paid_at,
            esc(&self.posting_state),
            fen_to_yuan(self.refunded_fen),
        )
    }
}

impl From<RefundRow> for RefundView {
    fn from(r: RefundRow) -> Self {
        Self {
            id: r.id,
            out_refund_no: r.out_refund_no,
            order_id: r.order_id.into_string(),
            amount_fen: r.amount.0,
            reason: r.reason,
            state: r.state,
        }
    }
}

impl From<UnpaidItem> for UnpaidItemView {
    fn from(i: UnpaidItem) -> Self {
        Self {
            kind: i.kind.to_owned(),
            id: i.id,
            description: i.description,
            amount_fen: i.amount.0,
            due_date: i.due_date,
        }
    }
}

impl From<ReconReport> for ReconView {
    fn from(r: ReconReport) -> Self {
        Self {
            date: r.date,
            ours_count: r.ours.0,
            ours_fen: r.ours.1,
            wechat_count: r.wechat.0,
            wechat_fen: r.wechat.1,
            biller_count: r.biller.0,
            biller_fen: r.biller.1,
            mismatches: r
                .mismatches
                .into_iter()
                .map(|m| MismatchView { kind: m.kind, out_trade_no: m.out_trade_no, detail: m.detail })
                .collect(),
            duplicates: r
                .duplicates
                .into_iter()
                .map(|d| DuplicateView {
                    out_trade_no: d.out_trade_no,
                    item_kind: d.item_kind,
                    item_id: d.item_id,
                    amount_fen: d.amount_fen,
                    refund_state: d.refund_state,
                })
                .collect(),
        }
    }
}
