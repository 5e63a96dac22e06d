//! HTTP surface of the payments service: each handler parses its input, calls one use case and
//! shapes the answer. Bodies are in `dto`; how errors become problems is in `problems`.

mod dto;
mod problems;

use std::sync::Arc;

use chrono::NaiveDate;
use city_platform::auth::{CitizenAuth, InternalAuth, Role, StaffAuth};
use city_platform::money::Fen;
use city_platform::problem::kind;
use city_platform::{error_set, Failure, JsonBody, Problem};
use city_wechat::crypto::pay::WechatpayHeaders;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{Html, Json};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

pub use dto::*;

use crate::errors;
use crate::store::StoreError;
use crate::usecases::accounts::{self, FineQuery};
use crate::usecases::imports::{self, FineImportError, FinesImported, ImportError, Imported};
use crate::usecases::orders::{self, OrderError, OrderRequest};
use crate::usecases::reconciliation::{self, ReconError};
use crate::usecases::refunds::{self, RefundAsk, RefundError};
use crate::usecases::settlement::{self, NotificationKind};
use crate::usecases::vehicles::{self, VehicleError, VehicleProof};
use crate::wechat::NotificationRefused;
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

error_set!(
    /// What a citizen's read of their own things can fail with.
    pub CitizenRead = [kind::FORBIDDEN]
);
error_set!(
    /// Reading one of the citizen's things by id.
    pub CitizenReadOne = [kind::FORBIDDEN, kind::NOT_FOUND]
);
error_set!(
    /// A receipt: the order must be the citizen's and paid.
    pub ReceiptErrors = [kind::FORBIDDEN, kind::NOT_FOUND, errors::NOT_PAID]
);
error_set!(
    /// Binding an account.
    pub BindErrors = [
        kind::FORBIDDEN,
        kind::VALIDATION,
        errors::ACCOUNT_NOT_FOUND,
        kind::IDEMPOTENCY_IN_PROGRESS,
        kind::IDEMPOTENCY_KEY_REUSED
    ]
);
error_set!(
    /// Looking fines up (the plate form's own kinds come from `VehicleError`).
    pub FineErrors = [kind::FORBIDDEN, errors::INVALID_DECISION_NUMBER] + VehicleError
);
error_set!(
    /// Binding a vehicle.
    pub VehicleErrors = [kind::FORBIDDEN, kind::IDEMPOTENCY_IN_PROGRESS, kind::IDEMPOTENCY_KEY_REUSED] + VehicleError
);
error_set!(
    /// A bound vehicle's fines: it must be the citizen's, and its plate still that car's.
    pub BoundFineErrors = [kind::FORBIDDEN, kind::NOT_FOUND, errors::VEHICLE_CHANGED]
);
error_set!(
    /// Importing a fines file.
    pub FineImportErrors = [
        kind::FORBIDDEN,
        kind::VALIDATION,
        kind::IDEMPOTENCY_IN_PROGRESS,
        kind::IDEMPOTENCY_KEY_REUSED
    ] + FineImportError
);
error_set!(
    /// Creating an order.
    pub CreateOrderErrors = [kind::FORBIDDEN, kind::IDEMPOTENCY_IN_PROGRESS, kind::IDEMPOTENCY_KEY_REUSED] + OrderError
);
error_set!(
    /// A finance officer's refund.
    pub RefundErrors = [kind::FORBIDDEN, kind::IDEMPOTENCY_IN_PROGRESS, kind::IDEMPOTENCY_KEY_REUSED] + RefundError
);
error_set!(
    /// Importing a bill file.
    pub ImportErrors = [
        kind::FORBIDDEN,
        kind::VALIDATION,
        kind::IDEMPOTENCY_IN_PROGRESS,
        kind::IDEMPOTENCY_KEY_REUSED
    ] + ImportError
);
error_set!(
    /// Reconciling a day.
    pub ReconErrors = [kind::FORBIDDEN, kind::VALIDATION] + ReconError
);

type ApiResult<T, E> = Result<Json<T>, Failure<E>>;

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
    /// The edge's answers before the handler runs (the handler never builds these): a body too
    /// large, not JSON, over the rate limit, or a store not answering.
    #[oai(status = 413, content_type = "application/problem+json")]
    #[allow(dead_code)]
    TooLarge(Json<city_platform::Problem>),
    /// See `TooLarge`.
    #[oai(status = 415, content_type = "application/problem+json")]
    #[allow(dead_code)]
    NotJson(Json<city_platform::Problem>),
    /// See `TooLarge`.
    #[oai(status = 429, content_type = "application/problem+json")]
    #[allow(dead_code)]
    Limited(Json<city_platform::Problem>),
    /// See `TooLarge`.
    #[oai(status = 503, content_type = "application/problem+json")]
    #[allow(dead_code)]
    Unavailable(Json<city_platform::Problem>),
}

impl From<Result<(), NotificationRefused>> for NotifyResponse {
    fn from(outcome: Result<(), NotificationRefused>) -> Self {
        let fail = |message: &str| Json(NotifyFail { code: "FAIL".into(), message: message.into() });
        match outcome {
            Ok(()) => Self::Accepted,
            Err(NotificationRefused::Rejected(why)) => Self::Rejected(fail(why)),
            Err(NotificationRefused::Unverified(why)) => Self::Unverified(fail(why)),
            Err(NotificationRefused::Failed(why)) => Self::Failed(fail(why)),
        }
    }
}

/// The `Wechatpay-*` headers, when all four are there.
fn signed(
    timestamp: Header<Option<String>>,
    nonce: Header<Option<String>>,
    signature: Header<Option<String>>,
    serial: Header<Option<String>>,
    kind: Header<Option<String>>,
) -> Option<WechatpayHeaders> {
    Some(WechatpayHeaders {
        timestamp: timestamp.0?,
        nonce: nonce.0?,
        signature: signature.0?,
        serial: serial.0?,
        signature_type: kind.0,
    })
}

/// The order request a body describes; a missing field for its kind is a 422.
fn order_request(b: &CreateOrder) -> Result<OrderRequest, Problem> {
    let required = |v: &Option<String>, field: &str, what: &str| {
        v.clone().ok_or_else(|| Problem::invalid(field, format!("required for {what}")))
    };
    Ok(match b.kind.as_str() {
        "bill" => OrderRequest::Bill { bill_id: required(&b.bill_id, "bill_id", "a bill")? },
        "fine" => OrderRequest::Fine { quote_id: required(&b.quote_id, "quote_id", "a fine")? },
        "topup" => OrderRequest::Topup {
            binding_id: required(&b.binding_id, "binding_id", "a top-up")?,
            amount: Fen(b.topup_fen.ok_or_else(|| Problem::invalid("topup_fen", "required for a top-up"))?),
        },
        "booking" => OrderRequest::Booking { booking_id: required(&b.booking_id, "booking_id", "a booking fee")? },
        _ => return Err(Problem::invalid("kind", "bill, fine, topup or booking")),
    })
}

// No prefix_path: the internal endpoint lives under /v1/internal/payments, so every path is
// written out in full.
#[OpenApi(tag = "PaymentsTags::Payments")]
impl PaymentsApi {
    /// List the billers
    ///
    /// Utilities and the traffic police, with each one's smallest top-up.
    #[oai(path = "/v1/payments/billers", method = "get", operation_id = "list_billers")]
    async fn list_billers(&self) -> ApiResult<Vec<BillerView>, StoreError> {
        let billers = accounts::billers(&self.state).await?;
        Ok(Json(billers.into_iter().map(Into::into).collect()))
    }

    /// Bind a utility account
    ///
    /// Checks the account number with the biller and binds it to the signed-in citizen; the
    /// holder's name comes back masked. Binding the same account again returns the binding.
    #[oai(path = "/v1/payments/accounts", method = "post", operation_id = "bind_account")]
    async fn bind_account(&self, auth: CitizenAuth, body: JsonBody<BindAccount>) -> ApiResult<AccountView, BindErrors> {
        let b = body.0;
        let account =
            accounts::bind_account(&self.state, &auth.0.citizen_id, &b.biller_id, &b.account_no, b.label.as_deref())
                .await?;
        Ok(Json(account.into()))
    }

    /// List my bound accounts
    ///
    /// Each with the masked holder name, prepaid balance and arrears.
    #[oai(path = "/v1/payments/accounts", method = "get", operation_id = "list_accounts")]
    async fn list_accounts(&self, auth: CitizenAuth) -> ApiResult<Vec<AccountView>, CitizenRead> {
        let list = accounts::accounts_of(&self.state, &auth.0.citizen_id).await?;
        Ok(Json(list.into_iter().map(Into::into).collect()))
    }

    /// Unbind an account
    ///
    /// Orders and receipts stay.
    #[oai(path = "/v1/payments/accounts/:id", method = "delete", operation_id = "unbind_account")]
    async fn unbind_account(
        &self,
        auth: CitizenAuth,
        id: Path<String>,
    ) -> ApiResult<serde_json::Value, CitizenReadOne> {
        accounts::unbind_account(&self.state, &auth.0.citizen_id, &id.0).await?;
        Ok(Json(serde_json::json!({ "unbound": id.0 })))
    }

    /// List an account's bills
    ///
    /// Bills per period of one of my bound accounts, newest first.
    #[oai(path = "/v1/payments/accounts/:id/bills", method = "get", operation_id = "list_account_bills")]
    async fn list_bills(&self, auth: CitizenAuth, id: Path<String>) -> ApiResult<Vec<BillView>, CitizenReadOne> {
        let bills = accounts::bills_of(&self.state, &auth.0.citizen_id, &id.0).await?;
        Ok(Json(bills.into_iter().map(Into::into).collect()))
    }

    /// Look up traffic fines
    ///
    /// By decision number (决定书编号), or by plate, plate type (号牌种类, e.g. `02` small car,
    /// `52` small new-energy car) and the last six characters of the engine number, as the
    /// traffic police's own app asks: a plate alone shows nothing (400 naming the missing field),
    /// and an unknown plate answers exactly like a wrong engine number (404). Lookups are limited
    /// per citizen, and plate-and-engine attempts per plate, each Beijing day (429); a bound
    /// vehicle's fines are not. Amounts include today's late surcharge; the quote holds until
    /// the next Beijing midnight.
    #[oai(path = "/v1/payments/fines", method = "get", operation_id = "find_fines")]
    async fn find_fines(
        &self,
        auth: CitizenAuth,
        #[oai(validator(
            pattern = "^[·. 　-]*[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][·. 　-]*[A-Za-z]([·. 　-]*[0-9A-Za-z]){5,6}[·. 　-]*$"
        ))]
        plate: Query<Option<String>>,
        #[oai(validator(pattern = "^ *[0-9]{2} *$"))] plate_type: Query<Option<String>>,
        #[oai(validator(pattern = "^ *[0-9A-Za-z]{6} *$"))] engine_last6: Query<Option<String>>,
        decision_no: Query<Option<String>>,
    ) -> ApiResult<Vec<FineView>, FineErrors> {
        let query = match decision_no.0 {
            Some(no) => FineQuery::Decision(no),
            None => FineQuery::Plate { plate: plate.0, plate_type: plate_type.0, engine_last6: engine_last6.0 },
        };
        let fines = accounts::find_fines(&self.state, &auth.0.citizen_id, query).await?;
        Ok(Json(fines.into_iter().map(Into::into).collect()))
    }

    /// Bind a vehicle
    ///
    /// Proves the vehicle with its plate, plate type and the last six characters of its engine
    /// number (never stored or shown; limited like the fine lookup), then binds it to the
    /// signed-in citizen, whose bound vehicles' fines need no engine number again. Binding the
    /// same plate again returns the binding.
    #[oai(path = "/v1/payments/vehicles", method = "post", operation_id = "bind_vehicle")]
    async fn bind_vehicle(
        &self,
        auth: CitizenAuth,
        body: JsonBody<BindVehicle>,
    ) -> ApiResult<VehicleView, VehicleErrors> {
        let b = body.0;
        let proof = VehicleProof {
            plate: Some(&b.plate),
            plate_type: Some(&b.plate_type),
            engine_last6: Some(&b.engine_last6),
        };
        let binding = vehicles::bind(&self.state, &auth.0.citizen_id, proof, b.label.as_deref()).await?;
        Ok(Json(binding.into()))
    }

    /// List my bound vehicles
    ///
    /// Oldest binding first; `current` is false for a plate that has since gone to another car.
    #[oai(path = "/v1/payments/vehicles", method = "get", operation_id = "list_vehicles")]
    async fn list_vehicles(&self, auth: CitizenAuth) -> ApiResult<Vec<VehicleView>, CitizenRead> {
        let list = vehicles::bound_of(&self.state, &auth.0.citizen_id).await?;
        Ok(Json(list.into_iter().map(Into::into).collect()))
    }

    /// Unbind a vehicle
    ///
    /// Orders and receipts stay.
    #[oai(path = "/v1/payments/vehicles/:id", method = "delete", operation_id = "unbind_vehicle")]
    async fn unbind_vehicle(
        &self,
        auth: CitizenAuth,
        id: Path<String>,
    ) -> ApiResult<serde_json::Value, CitizenReadOne> {
        vehicles::unbind(&self.state, &auth.0.citizen_id, &id.0).await?;
        Ok(Json(serde_json::json!({ "unbound": id.0 })))
    }

    /// List a bound vehicle's fines
    ///
    /// The fines of one of my bound vehicles, priced for today like the lookup; another
    /// citizen's binding is a 404, a plate gone to another car a 409.
    #[oai(path = "/v1/payments/vehicles/:id/fines", method = "get", operation_id = "list_vehicle_fines")]
    async fn vehicle_fines(&self, auth: CitizenAuth, id: Path<String>) -> ApiResult<Vec<FineView>, BoundFineErrors> {
        let fines = accounts::find_fines(&self.state, &auth.0.citizen_id, FineQuery::Bound(id.0)).await?;
        Ok(Json(fines.into_iter().map(Into::into).collect()))
    }

    /// Create (or resume) an order
    ///
    /// For a bill of a bound account, a fine quote or a prepaid top-up. The server computes the
    /// amount; one order per item at a time (asking again resumes it); a paid item is a 409.
    /// Answers the `wx.requestPayment` parameters.
    #[oai(path = "/v1/payments/orders", method = "post", operation_id = "create_order")]
    async fn create_order(
        &self,
        auth: CitizenAuth,
        body: JsonBody<CreateOrder>,
    ) -> ApiResult<OrderView, CreateOrderErrors> {
        let request = order_request(&body.0)?;
        let order = orders::create_order(&self.state, &auth.0.citizen_id, request, body.0.payer_openid).await?;
        Ok(Json(order.into()))
    }

    /// List my orders
    ///
    /// Payment history, newest first.
    #[oai(path = "/v1/payments/orders", method = "get", operation_id = "list_orders")]
    async fn list_orders(&self, auth: CitizenAuth) -> ApiResult<Vec<OrderView>, CitizenRead> {
        let list = orders::orders_of(&self.state, &auth.0.citizen_id).await?;
        Ok(Json(list.into_iter().map(Into::into).collect()))
    }

    /// Get one of my orders
    ///
    /// Its state, posting state and refunds so far.
    #[oai(path = "/v1/payments/orders/:id", method = "get", operation_id = "get_order")]
    async fn get_order(&self, auth: CitizenAuth, id: Path<String>) -> ApiResult<OrderView, CitizenReadOne> {
        Ok(Json(orders::order_of(&self.state, &auth.0.citizen_id, &id.0).await?.into()))
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
    ) -> Result<ReceiptResponse, Failure<ReceiptErrors>> {
        let receipt = ReceiptView::from(orders::receipt(&self.state, &auth.0.citizen_id, &id.0).await?);
        if format.0.as_deref() == Some("html") {
            return Ok(ReceiptResponse::Html(Html(receipt.html())));
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
        let headers = signed(timestamp, nonce, signature, serial, signature_type);
        settlement::receive_notification(&self.state, NotificationKind::Payment, headers, &body.0).await.into()
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
        let headers = signed(timestamp, nonce, signature, serial, signature_type);
        settlement::receive_notification(&self.state, NotificationKind::Refund, headers, &body.0).await.into()
    }

    /// Refund a paid order (finance)
    ///
    /// Full or partial, never more than what remains. `expected_available_fen` must equal what
    /// is refundable now, so a duplicated or concurrent request is a 409, not a second refund.
    #[oai(path = "/v1/payments/refunds", method = "post", operation_id = "create_refund")]
    async fn create_refund(
        &self,
        auth: StaffAuth,
        body: JsonBody<CreateRefund>,
    ) -> ApiResult<RefundView, RefundErrors> {
        auth.0.require(&[Role::Finance])?;
        let b = body.0;
        let ask = RefundAsk {
            order_id: &b.order_id,
            amount: Fen(b.amount_fen),
            reason: &b.reason,
            expected_available: Some(Fen(b.expected_available_fen)),
            staff: Some(&auth.0),
            out_refund_no: None,
        };
        Ok(Json(refunds::refund_by_staff(&self.state, ask).await?.into()))
    }

    /// Import a bill file (finance)
    ///
    /// CSV `biller_id,account_no,period,amount_yuan,due_date`. All or nothing: any bad row
    /// rejects the file with every bad row named by line. The same file again changes nothing.
    #[oai(path = "/v1/payments/imports/bills", method = "post", operation_id = "import_bills")]
    async fn import_bills(&self, auth: StaffAuth, body: JsonBody<ImportBills>) -> ApiResult<ImportView, ImportErrors> {
        auth.0.require(&[Role::Finance])?;
        let b = body.0;
        let imported =
            imports::import_bills(&self.state, b.content.as_bytes(), &b.file_name, Some(&auth.0), &|_, _| {}).await?;
        Ok(Json(match imported {
            Imported::Now { import_id, rows } => {
                ImportView { import_id, rows: i64::try_from(rows).unwrap_or(0), already_imported: false }
            }
            Imported::Before { import_id } => ImportView { import_id, rows: 0, already_imported: true },
        }))
    }

    /// Import a fines file (finance)
    ///
    /// CSV from the traffic police: `decision_no,plate,plate_type,engine_no,fine_yuan,decided_on,
    /// violation,location`. All or nothing: any bad row rejects the file with every bad row named
    /// by line. Feeds the fines (a known decision number is left as it is) and the vehicle
    /// registry (only a keyed hash of the engine number's last six characters is kept). The same
    /// file again changes nothing.
    #[oai(path = "/v1/payments/imports/fines", method = "post", operation_id = "import_fines")]
    async fn import_fines(
        &self,
        auth: StaffAuth,
        body: JsonBody<ImportFines>,
    ) -> ApiResult<FineImportView, FineImportErrors> {
        auth.0.require(&[Role::Finance])?;
        let b = body.0;
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        Ok(Json(match imports::import_fines(&self.state, b.content.as_bytes(), &b.file_name, Some(&auth.0)).await? {
            FinesImported::Now { import_id, rows, new_fines } => {
                FineImportView { import_id, rows: count(rows), new_fines: count(new_fines), already_imported: false }
            }
            FinesImported::Before { import_id } => {
                FineImportView { import_id, rows: 0, new_fines: 0, already_imported: true }
            }
        }))
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
    async fn internal_unpaid(
        &self,
        _auth: InternalAuth,
        citizen_id: Path<String>,
    ) -> ApiResult<Vec<UnpaidItemView>, StoreError> {
        let items = accounts::unpaid_of(&self.state, &citizen_id.0).await?;
        Ok(Json(items.into_iter().map(Into::into).collect()))
    }

    /// Reconcile a day (finance)
    ///
    /// Three-way: our orders, WeChat Pay's trade bill and the billers' statements for a Beijing day.
    #[oai(path = "/v1/payments/reconciliation", method = "get", operation_id = "get_reconciliation")]
    async fn reconciliation(
        &self,
        auth: StaffAuth,
        #[oai(validator(pattern = r"^\d{4}-\d{2}-\d{2}$"))] date: Query<String>,
    ) -> ApiResult<ReconView, ReconErrors> {
        auth.0.require(&[Role::Finance])?;
        let day = NaiveDate::parse_from_str(&date.0, "%Y-%m-%d").map_err(|_| Problem::invalid("date", "YYYY-MM-DD"))?;
        Ok(Json(reconciliation::reconcile(&self.state, day).await?.into()))
    }
}
