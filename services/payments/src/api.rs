//! HTTP surface of the payments service.

use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use city_platform::auth::{CitizenAuth, InternalAuth, Role, StaffAuth};
use city_platform::ids::new_id;
use city_platform::time::{from_ms, next_city_midnight, now_ms, rfc3339};
use city_platform::{JsonBody, Problem, ProblemResponse};
use city_wechat::crypto::pay::{Notification, WechatpayHeaders};
use city_wechat::pay_client::{fen_to_yuan, Refund, Transaction};
use poem::{Request, RequestBody};
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{Html, Json, ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{impl_apirequest_for_payload, ApiResponse, Object, OpenApi, Tags};
use serde::Deserialize;

use crate::domain::{self, ItemKind};
use crate::store::{self, ApplyError, ImportOutcome, OrderRow, Payable};
use crate::PaymentsState;

#[derive(Tags)]
enum PaymentsTags {
    /// Household bills and traffic fines, paid with WeChat Pay.
    Payments,
}

/// The payments service's operations.
pub struct PaymentsApi {
    state: Arc<PaymentsState>,
}

impl PaymentsApi {
    /// The API over shared state.
    pub fn new(state: Arc<PaymentsState>) -> Self {
        Self { state }
    }
}

type ApiResult<T> = Result<Json<T>, ProblemResponse>;

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

/// What to pay. The server computes the amount; only a top-up names one.
#[derive(Debug, Object, Deserialize)]
pub struct CreateOrder {
    /// `bill`, `fine`, `topup` or `booking`.
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
    /// posted to the biller), `posted` or `rejected` (refunded).
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

/// Receipt as JSON or a printable page.
#[derive(ApiResponse)]
enum ReceiptResponse {
    /// The receipt.
    #[oai(status = 200)]
    Json(Json<ReceiptView>),
    /// A printable page.
    #[oai(status = 200)]
    Html(Html<String>),
}

/// WeChat Pay's failure answer.
#[derive(Debug, Object)]
pub struct NotifyFail {
    /// `FAIL`.
    pub code: String,
    /// Why.
    pub message: String,
}

/// What WeChat Pay expects from a notify URL.
#[derive(ApiResponse)]
enum NotifyResponse {
    /// Accepted (applied now or before).
    #[oai(status = 204)]
    Accepted,
    /// Not ours or inconsistent: nothing changed.
    #[oai(status = 400)]
    Rejected(Json<NotifyFail>),
    /// The signature or timestamp did not verify: nothing changed.
    #[oai(status = 401)]
    Unverified(Json<NotifyFail>),
    /// Our fault; WeChat Pay retries.
    #[oai(status = 500)]
    Failed(Json<NotifyFail>),
}

fn fail(message: &str) -> Json<NotifyFail> {
    Json(NotifyFail { code: "FAIL".into(), message: message.into() })
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

fn order_view(state: &PaymentsState, order: &OrderRow) -> Result<OrderView, Problem> {
    let pay_params = match (&order.prepay_id, order.state.as_str()) {
        (Some(prepay_id), "pending") => {
            let params = state
                .pay
                .signer()
                .jsapi_params(
                    &state.platform.settings.wechat.mp_appid,
                    prepay_id,
                    Utc::now().timestamp(),
                    &city_wechat::crypto::pay::new_nonce(),
                )
                .map_err(|_| Problem::internal())?;
            Some(PayParams {
                time_stamp: params.time_stamp,
                nonce_str: params.nonce_str,
                package: params.package,
                sign_type: params.sign_type,
                pay_sign: params.pay_sign,
            })
        }
        _ => None,
    };
    Ok(OrderView {
        id: order.id.clone(),
        out_trade_no: order.out_trade_no.clone(),
        item_kind: order.item_kind.clone(),
        item_id: order.item_id.clone(),
        description: order.description.clone(),
        amount_fen: order.amount_fen,
        breakdown: serde_json::from_str(&order.breakdown).unwrap_or_default(),
        state: order.state.clone(),
        posting_state: order.posting_state.clone(),
        refunded_fen: order.refunded_fen,
        expires_at: rfc3339(from_ms(order.expires_at_ms)),
        paid_at: order.paid_at_ms.map(|ms| rfc3339(from_ms(ms))),
        pay_params,
    })
}

fn headers(
    timestamp: Option<String>,
    nonce: Option<String>,
    signature: Option<String>,
    serial: Option<String>,
    kind: Option<String>,
) -> Option<WechatpayHeaders> {
    Some(WechatpayHeaders {
        timestamp: timestamp?,
        nonce: nonce?,
        signature: signature?,
        serial: serial?,
        signature_type: kind,
    })
}

impl PaymentsApi {
    /// Verifies and decrypts a notification; `Err` is the answer to give.
    fn open_notification(
        &self,
        headers: Option<WechatpayHeaders>,
        body: &[u8],
        expected_type: &str,
    ) -> Result<(Notification, String), NotifyResponse> {
        let headers = headers.ok_or_else(|| NotifyResponse::Unverified(fail("Wechatpay-* headers missing")))?;
        if let Err(err) = self.state.pay.verifier().verify(&headers, body, Utc::now()) {
            tracing::warn!(error = %err, "notification did not verify");
            return Err(NotifyResponse::Unverified(fail("signature or timestamp does not verify")));
        }
        let notification =
            Notification::parse(body).map_err(|_| NotifyResponse::Rejected(fail("malformed notification")))?;
        if notification.resource.original_type.as_deref().is_some_and(|t| t != expected_type) {
            return Err(NotifyResponse::Rejected(fail("unexpected resource type")));
        }
        let plaintext = self
            .state
            .api_v3_key
            .decrypt_resource(&notification.resource)
            .map_err(|_| NotifyResponse::Rejected(fail("resource does not decrypt")))?;
        Ok((notification, plaintext))
    }

    async fn binding(&self, citizen_id: &str, binding_id: &str) -> Result<(String, String, Option<String>), Problem> {
        sqlx::query_as::<_, (String, String, Option<String>)>(
            "SELECT biller_id, account_no, label FROM bindings WHERE id = $1 AND citizen_id = $2",
        )
        .bind(binding_id)
        .bind(citizen_id)
        .fetch_optional(&self.state.db.pool)
        .await?
        .ok_or_else(|| Problem::not_found("account binding"))
    }

    async fn account_view(
        &self,
        id: String,
        biller_id: String,
        account_no: String,
        label: Option<String>,
    ) -> Result<AccountView, Problem> {
        let account = self.state.biller.query_account(&biller_id, &account_no).await?;
        let bills = store::bills_of(&self.state, &biller_id, &account_no).await?;
        let arrears_fen = bills.iter().filter(|b| b.4 == "unpaid").map(|b| b.2).sum();
        Ok(AccountView {
            id,
            holder_name_masked: account.as_ref().map(|a| domain::mask_name(&a.holder_name)).unwrap_or_default(),
            prepaid: account.as_ref().is_some_and(|a| a.prepaid),
            balance_fen: account.as_ref().map_or(0, |a| a.balance_fen),
            biller_id,
            account_no,
            label,
            arrears_fen,
        })
    }

    async fn fine_views(&self, rows: Vec<FineRow>) -> Vec<FineView> {
        let now = Utc::now();
        let today = store::today();
        rows.into_iter()
            .filter_map(|(id, decision_no, plate, plate_type, fine_fen, decided_on, violation, location, status)| {
                let decided = NaiveDate::parse_from_str(&decided_on, "%Y-%m-%d").ok()?;
                let quote = domain::fine_quote(fine_fen, decided, today);
                Some(FineView {
                    quote_id: format!("{id}@{}", today.format("%Y%m%d")),
                    id,
                    decision_no,
                    plate_masked: plate
                        .chars()
                        .enumerate()
                        .map(|(i, c)| if (3..6).contains(&i) { '*' } else { c })
                        .collect(),
                    plate_type,
                    violation,
                    location,
                    decided_on,
                    status,
                    fine_fen,
                    late_days: quote.late_days,
                    surcharge_fen: quote.surcharge_fen,
                    total_fen: quote.total_fen,
                    quote_expires_at: rfc3339(next_city_midnight(now)),
                })
            })
            .collect()
    }
}

/// A fines row in [`FINE_COLUMNS`] order.
type FineRow = (String, String, String, String, i64, String, String, String, String);

const FINE_COLUMNS: &str = "id, decision_no, plate, plate_type, fine_fen, decided_on, violation, location, status";

// No prefix_path: the internal endpoint lives under /v1/internal/payments, so every path is
// written out in full.
#[OpenApi(tag = "PaymentsTags::Payments")]
impl PaymentsApi {
    /// List the billers
    ///
    /// Utilities and the traffic police, with each one's smallest top-up.
    #[oai(path = "/v1/payments/billers", method = "get", operation_id = "list_billers")]
    async fn list_billers(&self) -> ApiResult<Vec<BillerView>> {
        let rows: Vec<(String, String, String, String, i64)> =
            sqlx::query_as("SELECT id, kind, name_zh, name_en, min_topup_fen FROM billers ORDER BY id")
                .fetch_all(&self.state.db.pool)
                .await?;
        Ok(Json(
            rows.into_iter()
                .map(|(id, kind, name_zh, name_en, min_topup_fen)| BillerView {
                    id,
                    kind,
                    name_zh,
                    name_en,
                    min_topup_fen,
                })
                .collect(),
        ))
    }

    /// Bind a utility account
    ///
    /// Checks the account number with the biller and binds it to the signed-in citizen; the
    /// holder's name comes back masked. Binding the same account again returns the binding.
    #[oai(path = "/v1/payments/accounts", method = "post", operation_id = "bind_account")]
    async fn bind_account(&self, auth: CitizenAuth, body: JsonBody<BindAccount>) -> ApiResult<AccountView> {
        let b = body.0;
        let account_no = b.account_no.trim().to_owned();
        let known: Option<(String,)> = sqlx::query_as("SELECT kind FROM billers WHERE id = $1")
            .bind(&b.biller_id)
            .fetch_optional(&self.state.db.pool)
            .await?;
        if known.is_none_or(|(kind,)| kind == "traffic") {
            return Err(Problem::invalid("biller_id", "no utility with this id").into());
        }
        if self.state.biller.query_account(&b.biller_id, &account_no).await?.is_none() {
            return Err(Problem::new(
                poem::http::StatusCode::NOT_FOUND,
                "account-not-found",
                "the biller does not know this account number",
            )
            .with_field("account_no", "unknown at this biller")
            .into());
        }
        let id = new_id();
        sqlx::query(
            "INSERT INTO bindings (id, citizen_id, biller_id, account_no, label, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (citizen_id, biller_id, account_no) DO NOTHING",
        )
        .bind(&id)
        .bind(&auth.0.citizen_id)
        .bind(&b.biller_id)
        .bind(&account_no)
        .bind(&b.label)
        .bind(now_ms())
        .execute(&self.state.db.pool)
        .await?;
        let (id, label): (String, Option<String>) = sqlx::query_as(
            "SELECT id, label FROM bindings WHERE citizen_id = $1 AND biller_id = $2 AND account_no = $3",
        )
        .bind(&auth.0.citizen_id)
        .bind(&b.biller_id)
        .bind(&account_no)
        .fetch_one(&self.state.db.pool)
        .await?;
        Ok(Json(self.account_view(id, b.biller_id, account_no, label).await?))
    }

    /// List my bound accounts
    ///
    /// Each with the masked holder name, prepaid balance and arrears.
    #[oai(path = "/v1/payments/accounts", method = "get", operation_id = "list_accounts")]
    async fn list_accounts(&self, auth: CitizenAuth) -> ApiResult<Vec<AccountView>> {
        let rows: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT id, biller_id, account_no, label FROM bindings WHERE citizen_id = $1 ORDER BY created_at_ms",
        )
        .bind(&auth.0.citizen_id)
        .fetch_all(&self.state.db.pool)
        .await?;
        let mut out = Vec::new();
        for (id, biller, account, label) in rows {
            out.push(self.account_view(id, biller, account, label).await?);
        }
        Ok(Json(out))
    }

    /// Unbind an account
    ///
    /// Orders and receipts stay.
    #[oai(path = "/v1/payments/accounts/:id", method = "delete", operation_id = "unbind_account")]
    async fn unbind_account(
        &self,
        auth: CitizenAuth,
        id: Path<String>,
    ) -> Result<Json<serde_json::Value>, ProblemResponse> {
        let n = sqlx::query("DELETE FROM bindings WHERE id = $1 AND citizen_id = $2")
            .bind(&id.0)
            .bind(&auth.0.citizen_id)
            .execute(&self.state.db.pool)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Problem::not_found("account binding").into());
        }
        Ok(Json(serde_json::json!({ "unbound": id.0 })))
    }

    /// List an account's bills
    ///
    /// Bills per period of one of my bound accounts, newest first.
    #[oai(path = "/v1/payments/accounts/:id/bills", method = "get", operation_id = "list_account_bills")]
    async fn list_bills(&self, auth: CitizenAuth, id: Path<String>) -> ApiResult<Vec<BillView>> {
        let (biller_id, account_no, _) = self.binding(&auth.0.citizen_id, &id.0).await?;
        let today = store::today().to_string();
        let bills = store::bills_of(&self.state, &biller_id, &account_no).await?;
        Ok(Json(
            bills
                .into_iter()
                .map(|(id, period, amount_fen, due_date, status)| BillView {
                    overdue: status == "unpaid" && due_date < today,
                    id,
                    period,
                    amount_fen,
                    due_date,
                    status,
                })
                .collect(),
        ))
    }

    /// Look up traffic fines
    ///
    /// By plate number and plate type (号牌种类, e.g. `02` small car, `52` small new-energy car),
    /// or by decision number. Amounts include today's late surcharge; the quote holds until the
    /// next Beijing midnight.
    #[oai(path = "/v1/payments/fines", method = "get", operation_id = "find_fines")]
    async fn find_fines(
        &self,
        _auth: CitizenAuth,
        plate: Query<Option<String>>,
        plate_type: Query<Option<String>>,
        decision_no: Query<Option<String>>,
    ) -> ApiResult<Vec<FineView>> {
        let rows = if let Some(raw) = decision_no.0 {
            let no = domain::decision_no(&raw).ok_or_else(|| {
                Problem::new(
                    poem::http::StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-decision-number",
                    "not a decision number",
                )
                .with_field("decision_no", "15-20 digits")
            })?;
            sqlx::query_as(&format!("SELECT {FINE_COLUMNS} FROM fines WHERE decision_no = $1"))
                .bind(no)
                .fetch_all(&self.state.db.pool)
                .await?
        } else {
            let plate = plate.0.as_deref().and_then(domain::Plate::parse).ok_or_else(|| {
                Problem::new(poem::http::StatusCode::UNPROCESSABLE_ENTITY, "invalid-plate", "not a plate number")
                    .with_field("plate", "province, issuer letter and 5 (or 6 new-energy) characters, e.g. 川A12345")
            })?;
            let kind = plate_type.0.as_deref().and_then(domain::plate_type).ok_or_else(|| {
                Problem::new(
                    poem::http::StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-plate-type",
                    "not a plate type code",
                )
                .with_field("plate_type", "a 号牌种类 code such as 02 or 52")
            })?;
            sqlx::query_as(&format!(
                "SELECT {FINE_COLUMNS} FROM fines WHERE plate = $1 AND plate_type = $2 ORDER BY decided_on"
            ))
            .bind(plate.as_str())
            .bind(kind)
            .fetch_all(&self.state.db.pool)
            .await?
        };
        Ok(Json(self.fine_views(rows).await))
    }

    /// Create (or resume) an order
    ///
    /// For a bill of a bound account, a fine quote or a prepaid top-up. The server computes the
    /// amount; one order per item at a time (asking again resumes it); a paid item is a 409.
    /// Answers the `wx.requestPayment` parameters.
    #[oai(path = "/v1/payments/orders", method = "post", operation_id = "create_order")]
    async fn create_order(&self, auth: CitizenAuth, body: JsonBody<CreateOrder>) -> ApiResult<OrderView> {
        let b = body.0;
        let citizen = &auth.0.citizen_id;
        let payable = match b.kind.as_str() {
            "bill" => {
                let bill_id = b.bill_id.ok_or_else(|| Problem::invalid("bill_id", "required for a bill"))?;
                let bill: Option<(String, String, String, i64, String)> =
                    sqlx::query_as("SELECT biller_id, account_no, period, amount_fen, status FROM bills WHERE id = $1")
                        .bind(&bill_id)
                        .fetch_optional(&self.state.db.pool)
                        .await?;
                let (biller_id, account_no, period, amount_fen, status) =
                    bill.ok_or_else(|| Problem::not_found("bill"))?;
                let bound: Option<(String,)> = sqlx::query_as(
                    "SELECT id FROM bindings WHERE citizen_id = $1 AND biller_id = $2 AND account_no = $3",
                )
                .bind(citizen)
                .bind(&biller_id)
                .bind(&account_no)
                .fetch_optional(&self.state.db.pool)
                .await?;
                if bound.is_none() {
                    return Err(Problem::new(
                        poem::http::StatusCode::FORBIDDEN,
                        "not-your-account",
                        "bind this account before paying its bills",
                    )
                    .into());
                }
                if status == "paid" {
                    return Err(Problem::conflict("already-paid", "this bill is paid already").into());
                }
                Payable {
                    kind: ItemKind::Bill,
                    item_id: bill_id,
                    description: format!("{biller_id} {period} {}", domain::mask_account(&account_no)),
                    biller_id,
                    account_no,
                    amount_fen,
                    breakdown: serde_json::json!({ "bill_fen": amount_fen, "period": period }),
                    valid_until: None,
                }
            }
            "fine" => {
                let quote = b.quote_id.ok_or_else(|| Problem::invalid("quote_id", "required for a fine"))?;
                let (fine_id, day) =
                    quote.split_once('@').ok_or_else(|| Problem::invalid("quote_id", "not a quote id"))?;
                if day != store::today().format("%Y%m%d").to_string() {
                    return Err(Problem::conflict(
                        "quote-expired",
                        "the quote expired at midnight; look the fine up again",
                    )
                    .into());
                }
                let fine: Option<(String, String, i64, String, String)> =
                    sqlx::query_as("SELECT decision_no, plate, fine_fen, decided_on, status FROM fines WHERE id = $1")
                        .bind(fine_id)
                        .fetch_optional(&self.state.db.pool)
                        .await?;
                let (decision_no, plate, fine_fen, decided_on, status) =
                    fine.ok_or_else(|| Problem::not_found("fine"))?;
                if status == "paid" {
                    return Err(Problem::conflict("already-paid", "this fine is paid already").into());
                }
                let decided = NaiveDate::parse_from_str(&decided_on, "%Y-%m-%d").map_err(|_| Problem::internal())?;
                let q = domain::fine_quote(fine_fen, decided, store::today());
                Payable {
                    kind: ItemKind::Fine,
                    item_id: fine_id.to_owned(),
                    biller_id: "traffic".into(),
                    account_no: plate,
                    description: format!("交通罚款 Traffic fine {decision_no}"),
                    amount_fen: q.total_fen,
                    breakdown: serde_json::json!({ "fine_fen": q.fine_fen, "late_days": q.late_days, "surcharge_fen": q.surcharge_fen }),
                    valid_until: Some(next_city_midnight(Utc::now())),
                }
            }
            "topup" => {
                let binding_id = b.binding_id.ok_or_else(|| Problem::invalid("binding_id", "required for a top-up"))?;
                let (biller_id, account_no, _) = self.binding(citizen, &binding_id).await?;
                let account = self
                    .state
                    .biller
                    .query_account(&biller_id, &account_no)
                    .await?
                    .ok_or_else(|| Problem::not_found("account"))?;
                if !account.prepaid {
                    return Err(Problem::invalid("binding_id", "this account is billed, not prepaid").into());
                }
                let (min,): (i64,) = sqlx::query_as("SELECT min_topup_fen FROM billers WHERE id = $1")
                    .bind(&biller_id)
                    .fetch_one(&self.state.db.pool)
                    .await?;
                let amount = b.topup_fen.ok_or_else(|| Problem::invalid("topup_fen", "required for a top-up"))?;
                if amount < min.max(1) || amount > 1_000_000 {
                    return Err(Problem::new(
                        poem::http::StatusCode::UNPROCESSABLE_ENTITY,
                        "topup-out-of-range",
                        "top-up amount out of range",
                    )
                    .with_field("topup_fen", format!("between {} and 1000000 fen", min.max(1)))
                    .into());
                }
                Payable {
                    kind: ItemKind::Topup,
                    item_id: new_id(),
                    description: format!("{biller_id} top-up {}", domain::mask_account(&account_no)),
                    biller_id,
                    account_no,
                    amount_fen: amount,
                    breakdown: serde_json::json!({ "topup_fen": amount }),
                    valid_until: None,
                }
            }
            "booking" => {
                let booking_id =
                    b.booking_id.ok_or_else(|| Problem::invalid("booking_id", "required for a booking fee"))?;
                // Another citizen's booking is as unknown as a missing one.
                let fee = store::booking_fee_of(&self.state, citizen, &booking_id)
                    .await?
                    .ok_or_else(|| Problem::not_found("booking fee"))?;
                match fee.status.as_str() {
                    "paid" => return Err(Problem::conflict("already-paid", "this booking fee is paid already").into()),
                    "void" => {
                        return Err(Problem::conflict("booking-fee-void", "this booking was cancelled or lapsed").into())
                    }
                    _ => {}
                }
                let pay_before = from_ms(fee.pay_before_ms);
                if pay_before <= Utc::now() {
                    return Err(Problem::conflict("booking-hold-lapsed", "the time to pay this booking has passed")
                        .with_detail("book again; the slot may be free")
                        .into());
                }
                Payable {
                    kind: ItemKind::Booking,
                    item_id: fee.booking_id,
                    // The hospital stands where a biller would: the ledger owes it the fee.
                    biller_id: fee.hospital_id,
                    account_no: booking_id,
                    description: fee.description,
                    amount_fen: fee.amount_fen,
                    breakdown: serde_json::json!({ "booking_fee_fen": fee.amount_fen }),
                    valid_until: Some(pay_before),
                }
            }
            _ => return Err(Problem::invalid("kind", "bill, fine, topup or booking").into()),
        };
        // The payer is whoever identity says signed in through the Mini Program, not whoever
        // the client names.
        let payer = match self.state.payers.mp_openid(citizen).await? {
            Some(openid) => openid,
            None => b.payer_openid.ok_or_else(|| {
                Problem::invalid("payer_openid", "sign in through the Mini Program to pay (no openid is known for you)")
            })?,
        };
        let order = store::create_or_resume_order(&self.state, citizen, &payer, payable).await?;
        Ok(Json(order_view(&self.state, &order)?))
    }

    /// List my orders
    ///
    /// Payment history, newest first.
    #[oai(path = "/v1/payments/orders", method = "get", operation_id = "list_orders")]
    async fn list_orders(&self, auth: CitizenAuth) -> ApiResult<Vec<OrderView>> {
        let orders = store::orders_of(&self.state, &auth.0.citizen_id, 100).await?;
        Ok(Json(orders.iter().map(|o| order_view(&self.state, o)).collect::<Result<_, _>>()?))
    }

    /// Get one of my orders
    ///
    /// Its state, posting state and refunds so far.
    #[oai(path = "/v1/payments/orders/:id", method = "get", operation_id = "get_order")]
    async fn get_order(&self, auth: CitizenAuth, id: Path<String>) -> ApiResult<OrderView> {
        let order = store::order_by_id(&self.state, &id.0)
            .await?
            .filter(|o| o.citizen_id == auth.0.citizen_id)
            .ok_or_else(|| Problem::not_found("order"))?;
        Ok(Json(order_view(&self.state, &order)?))
    }

    /// Get a receipt
    ///
    /// For a paid order: JSON, or a printable page with `?format=html`.
    #[oai(path = "/v1/payments/orders/:id/receipt", method = "get", operation_id = "get_receipt")]
    async fn get_receipt(
        &self,
        auth: CitizenAuth,
        id: Path<String>,
        format: Query<Option<String>>,
    ) -> Result<ReceiptResponse, ProblemResponse> {
        let order = store::order_by_id(&self.state, &id.0)
            .await?
            .filter(|o| o.citizen_id == auth.0.citizen_id)
            .ok_or_else(|| Problem::not_found("order"))?;
        let (Some(transaction_id), Some(paid_at)) = (order.transaction_id.clone(), order.paid_at_ms) else {
            return Err(Problem::conflict("not-paid", "this order is not paid").into());
        };
        let receipt = ReceiptView {
            order_id: order.id.clone(),
            out_trade_no: order.out_trade_no.clone(),
            transaction_id,
            description: order.description.clone(),
            amount_fen: order.amount_fen,
            amount_yuan: fen_to_yuan(order.amount_fen),
            paid_at: rfc3339(from_ms(paid_at)),
            posting_state: order.posting_state.clone(),
            refunded_fen: order.refunded_fen,
        };
        if format.0.as_deref() == Some("html") {
            let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
            return Ok(ReceiptResponse::Html(Html(format!(
                "<!doctype html><html lang=\"zh\"><meta charset=\"utf-8\"><title>电子回单 Receipt</title>\
                 <style>body{{font-family:sans-serif;max-width:36em;margin:2em auto}}td{{padding:.3em 1em}}</style>\
                 <h1>电子回单 Payment receipt</h1><table>\
                 <tr><td>项目 Item</td><td>{}</td></tr><tr><td>金额 Amount</td><td>¥{}</td></tr>\
                 <tr><td>商户订单号 Order no.</td><td>{}</td></tr><tr><td>微信支付单号 WeChat Pay no.</td><td>{}</td></tr>\
                 <tr><td>支付时间 Paid at</td><td>{}</td></tr><tr><td>销账 Posted to biller</td><td>{}</td></tr>\
                 <tr><td>已退款 Refunded</td><td>¥{}</td></tr></table></html>",
                esc(&receipt.description),
                receipt.amount_yuan,
                esc(&receipt.out_trade_no),
                esc(&receipt.transaction_id),
                receipt.paid_at,
                esc(&receipt.posting_state),
                fen_to_yuan(receipt.refunded_fen),
            ))));
        }
        Ok(ReceiptResponse::Json(Json(receipt)))
    }

    /// Receive a WeChat Pay payment notification
    ///
    /// Called by WeChat Pay: verifies the signature and timestamp, decrypts the resource, checks
    /// merchant, appid and amount against the order and applies it exactly once. 204 when
    /// accepted (repeats included), `{"code": "FAIL"}` otherwise.
    #[oai(path = "/v1/payments/wechatpay/notify", method = "post", operation_id = "receive_payment_notification")]
    #[allow(clippy::too_many_arguments)]
    async fn payment_notify(
        &self,
        #[oai(name = "Wechatpay-Timestamp")] timestamp: Header<Option<String>>,
        #[oai(name = "Wechatpay-Nonce")] nonce: Header<Option<String>>,
        #[oai(name = "Wechatpay-Signature")] signature: Header<Option<String>>,
        #[oai(name = "Wechatpay-Serial")] serial: Header<Option<String>>,
        #[oai(name = "Wechatpay-Signature-Type")] signature_type: Header<Option<String>>,
        body: RawJson,
    ) -> NotifyResponse {
        let headers = headers(timestamp.0, nonce.0, signature.0, serial.0, signature_type.0);
        let (notification, plaintext) = match self.open_notification(headers, &body.0, "transaction") {
            Ok(v) => v,
            Err(answer) => return answer,
        };
        if notification.event_type != "TRANSACTION.SUCCESS" {
            return NotifyResponse::Accepted;
        }
        let Ok(transaction) = serde_json::from_str::<Transaction>(&plaintext) else {
            return NotifyResponse::Rejected(fail("transaction does not parse"));
        };
        match store::apply_transaction(&self.state, &transaction).await {
            Ok(_) => NotifyResponse::Accepted,
            Err(ApplyError::UnknownOrder) => NotifyResponse::Rejected(fail("unknown order")),
            Err(ApplyError::WrongMerchant) => NotifyResponse::Rejected(fail("mchid or appid do not match")),
            Err(ApplyError::AmountMismatch) => {
                tracing::error!(out_trade_no = %transaction.out_trade_no, "notified amount differs from the order");
                NotifyResponse::Rejected(fail("amount does not match the order"))
            }
            Err(ApplyError::Store(err)) => {
                tracing::error!(error = %err, "payment notification not stored");
                NotifyResponse::Failed(fail("temporarily unable to record"))
            }
        }
    }

    /// Receive a WeChat Pay refund notification
    ///
    /// Called by WeChat Pay: verified and decrypted like payments; `REFUND.SUCCESS` is applied once.
    #[oai(path = "/v1/payments/wechatpay/refund-notify", method = "post", operation_id = "receive_refund_notification")]
    async fn refund_notify(
        &self,
        #[oai(name = "Wechatpay-Timestamp")] timestamp: Header<Option<String>>,
        #[oai(name = "Wechatpay-Nonce")] nonce: Header<Option<String>>,
        #[oai(name = "Wechatpay-Signature")] signature: Header<Option<String>>,
        #[oai(name = "Wechatpay-Serial")] serial: Header<Option<String>>,
        #[oai(name = "Wechatpay-Signature-Type")] signature_type: Header<Option<String>>,
        body: RawJson,
    ) -> NotifyResponse {
        let headers = headers(timestamp.0, nonce.0, signature.0, serial.0, signature_type.0);
        let (notification, plaintext) = match self.open_notification(headers, &body.0, "refund") {
            Ok(v) => v,
            Err(answer) => return answer,
        };
        if notification.event_type != "REFUND.SUCCESS" {
            tracing::warn!(event = %notification.event_type, "refund did not succeed; finance must follow up");
            return NotifyResponse::Accepted;
        }
        let Ok(refund) = serde_json::from_str::<Refund>(&plaintext) else {
            return NotifyResponse::Rejected(fail("refund does not parse"));
        };
        if refund.mchid.as_deref().is_some_and(|m| m != self.state.platform.settings.payments.mchid) {
            return NotifyResponse::Rejected(fail("mchid does not match"));
        }
        match store::apply_refund_success(&self.state, &refund.out_refund_no, &refund.refund_id, refund.amount.refund)
            .await
        {
            Ok(_) => NotifyResponse::Accepted,
            Err(ApplyError::Store(err)) => {
                tracing::error!(error = %err, "refund notification not stored");
                NotifyResponse::Failed(fail("temporarily unable to record"))
            }
            Err(_) => NotifyResponse::Rejected(fail("unknown refund or wrong amount")),
        }
    }

    /// Refund a paid order (finance)
    ///
    /// Full or partial, never more than what remains. `expected_available_fen` must equal what
    /// is refundable now, so a duplicated or concurrent request is a 409, not a second refund.
    #[oai(path = "/v1/payments/refunds", method = "post", operation_id = "create_refund")]
    async fn create_refund(&self, auth: StaffAuth, body: JsonBody<CreateRefund>) -> ApiResult<RefundView> {
        auth.0.require(&[Role::Finance])?;
        let b = body.0;
        let row = store::create_refund(
            &self.state,
            &b.order_id,
            b.amount_fen,
            &b.reason,
            Some(b.expected_available_fen),
            Some(&auth.0),
        )
        .await?;
        let state = sqlx::query_as::<_, (String,)>("SELECT state FROM refunds WHERE id = $1")
            .bind(&row.id)
            .fetch_one(&self.state.db.pool)
            .await
            .map(|r| r.0)
            .unwrap_or(row.state.clone());
        Ok(Json(RefundView {
            id: row.id,
            out_refund_no: row.out_refund_no,
            order_id: row.order_id,
            amount_fen: row.amount_fen,
            reason: row.reason,
            state,
        }))
    }

    /// Import a bill file (finance)
    ///
    /// CSV `biller_id,account_no,period,amount_yuan,due_date`. All or nothing: any bad row
    /// rejects the file with every bad row named by line. The same file again changes nothing.
    #[oai(path = "/v1/payments/imports/bills", method = "post", operation_id = "import_bills")]
    async fn import_bills(&self, auth: StaffAuth, body: JsonBody<ImportBills>) -> ApiResult<ImportView> {
        auth.0.require(&[Role::Finance])?;
        let b = body.0;
        match store::import_bills(&self.state, b.content.as_bytes(), &b.file_name, Some(&auth.0), &|_, _| {}).await? {
            ImportOutcome::Imported { import_id, rows } => {
                Ok(Json(ImportView { import_id, rows: i64::try_from(rows).unwrap_or(0), already_imported: false }))
            }
            ImportOutcome::AlreadyImported { import_id } => {
                Ok(Json(ImportView { import_id, rows: 0, already_imported: true }))
            }
            ImportOutcome::Rejected(errors) => {
                let mut p = Problem::new(
                    poem::http::StatusCode::UNPROCESSABLE_ENTITY,
                    "bad-bill-rows",
                    "some rows are bad; nothing was imported",
                );
                for e in errors {
                    p = p.with_field(
                        format!("content.line[{}]{}", e.line, e.column.map(|c| format!(".{c}")).unwrap_or_default()),
                        e.message,
                    );
                }
                Err(p.into())
            }
        }
    }

    /// Internal: a citizen's unpaid items
    ///
    /// For the Service Account channel's "my bills": the unpaid bills of the citizen's bound
    /// accounts and the booking fees still payable, by due date; `[]` when nothing is due.
    /// Only for other City Services services (`X-Internal-Token`).
    #[oai(
        path = "/v1/internal/payments/citizens/:citizen_id/unpaid",
        method = "get",
        operation_id = "internal_citizen_unpaid"
    )]
    async fn internal_unpaid(&self, _auth: InternalAuth, citizen_id: Path<String>) -> ApiResult<Vec<UnpaidItemView>> {
        let items = store::unpaid_of(&self.state, &citizen_id.0).await?;
        Ok(Json(
            items
                .into_iter()
                .map(|i| UnpaidItemView {
                    kind: i.kind.to_owned(),
                    id: i.id,
                    description: i.description,
                    amount_fen: i.amount_fen,
                    due_date: i.due_date,
                })
                .collect(),
        ))
    }

    /// Reconcile a day (finance)
    ///
    /// Three-way: our orders, WeChat Pay's trade bill and the billers' statements for a Beijing day.
    #[oai(path = "/v1/payments/reconciliation", method = "get", operation_id = "get_reconciliation")]
    async fn reconciliation(&self, auth: StaffAuth, date: Query<String>) -> ApiResult<ReconView> {
        auth.0.require(&[Role::Finance])?;
        let day = NaiveDate::parse_from_str(&date.0, "%Y-%m-%d").map_err(|_| Problem::invalid("date", "YYYY-MM-DD"))?;
        let r = store::reconcile(&self.state, day).await?;
        Ok(Json(ReconView {
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
        }))
    }
}
