//! Simulated WeChat Pay API v3 merchant account, mounted at `/sandbox/wechat/pay`.
//!
//! WeChat's paths and shapes: `POST /v3/pay/transactions/jsapi`, `GET
//! /v3/pay/transactions/out-trade-no/{no}`, `POST .../{no}/close`, `POST
//! /v3/refund/domestic/refunds`, `GET /v3/refund/domestic/refunds/{no}`, `GET /v3/bill/tradebill`
//! and the bill download. Every request's `Authorization` is verified with the merchant's public
//! key (signature, mchid, serial, 5-minute window); every JSON answer is signed with the
//! sandbox's platform key (`payments.sandbox_platform_private_key_pem`, generated with the demo
//! set at first start; the merchant verifies with its public half).
//!
//! Helpers WeChat does not have live under `/sandbox/wechat/pay/_test/`: `POST
//! _test/transactions/{no}/pay` ("the user pays": SUCCESS, then a signed, AEAD-encrypted
//! `TRANSACTION.SUCCESS` notification to the order's `notify_url`, redelivered on the configured
//! retry schedule until answered with 2xx; `{"notify": false}` pays silently, a lost
//! notification), `POST _test/transactions/{no}/renotify` (the same notification again) and
//! `GET _test/deliveries` (every delivery attempt and the status we answered).
//!
//! Refunds succeed at once and send `REFUND.SUCCESS` to the refund's `notify_url`.
//! State is in memory: one simulated merchant per process.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use city_platform::config::Settings;
use city_wechat::crypto::pay::{
    new_nonce, new_resource_nonce, ApiV3Key, AuthorizationHeader, EncryptedResource, Notification, PayPrivateKey,
    PayPublicKey, WechatpayHeaders,
};
use city_wechat::pay_client::{fen_to_yuan, JsapiOrder, RefundRequest, TRADE_BILL_COLUMNS, TRADE_BILL_SUMMARY_COLUMNS};
use parking_lot::Mutex;
use poem::http::StatusCode;
use poem::web::{Data, Path, Query};
use poem::{get, handler, post, Body, EndpointExt, IntoResponse, Request, Response, Route};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha1::{Digest as _, Sha1};

/// A notification's headers and body, ready to send.
type SignedNotification = (Vec<(&'static str, String)>, Vec<u8>);

/// One simulated order.
#[derive(Clone)]
struct SimOrder {
    request: JsapiOrder,
    prepay_id: String,
    expires: DateTime<FixedOffset>,
    state: &'static str,
    transaction_id: Option<String>,
    success_time: Option<DateTime<Utc>>,
}

/// One simulated refund.
#[derive(Clone)]
struct SimRefund {
    refund_id: String,
    out_refund_no: String,
    out_trade_no: String,
    transaction_id: String,
    refund: i64,
    total: i64,
    created: DateTime<Utc>,
}

/// One notification delivery attempt, for `GET _test/deliveries`.
#[derive(Clone, Serialize)]
struct Delivery {
    event_type: String,
    out_trade_no: String,
    attempt: usize,
    status: Option<u16>,
}

struct State {
    merchant_key: Option<PayPublicKey>,
    mchid: String,
    serial: String,
    platform_key: PayPrivateKey,
    platform_key_id: String,
    api_v3_key: Option<ApiV3Key>,
    retry: Vec<u64>,
    base: String,
    http: reqwest::Client,
    orders: Mutex<HashMap<String, SimOrder>>,
    refunds: Mutex<HashMap<String, SimRefund>>,
    deliveries: Mutex<Vec<Delivery>>,
}

/// The simulated WeChat Pay endpoints, with the merchant and platform keys of the (prepared)
/// settings. Without a platform key the sandbox cannot sign: that is a start-up error.
pub fn routes(settings: &Settings) -> Result<Route, String> {
    let merchant_key = settings
        .payments
        .merchant_private_key_pem
        .as_ref()
        .and_then(|pem| PayPrivateKey::from_pem(pem.expose()).ok())
        .map(|k| k.public_key());
    let platform_key = settings
        .payments
        .sandbox_platform_private_key_pem
        .as_ref()
        .ok_or("payments.sandbox_platform_private_key_pem: the sandbox has no platform key")
        .and_then(|pem| {
            PayPrivateKey::from_pem(pem.expose())
                .map_err(|_| "payments.sandbox_platform_private_key_pem: not a private key PEM")
        })?;
    let state = Arc::new(State {
        merchant_key,
        mchid: settings.payments.mchid.clone(),
        serial: settings.payments.merchant_serial_no.clone(),
        platform_key,
        platform_key_id: settings.payments.platform_public_key_id.clone(),
        api_v3_key: ApiV3Key::parse(settings.payments.api_v3_key.expose()).ok(),
        retry: settings.payments.sandbox_notify_retry_secs.clone(),
        base: settings.wechat_pay_base(),
        http: reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default(),
        orders: Mutex::new(HashMap::new()),
        refunds: Mutex::new(HashMap::new()),
        deliveries: Mutex::new(Vec::new()),
    });
    let inner = Route::new()
        .at("/v3/pay/transactions/jsapi", post(jsapi))
        .at("/v3/pay/transactions/out-trade-no/:no", get(query_order))
        .at("/v3/pay/transactions/out-trade-no/:no/close", post(close_order))
        .at("/v3/refund/domestic/refunds", post(create_refund))
        .at("/v3/refund/domestic/refunds/:no", get(query_refund))
        .at("/v3/bill/tradebill", get(trade_bill))
        .at("/v3/billdownload/file", get(download_bill))
        .at("/_test/transactions/:no/pay", post(test_pay))
        .at("/_test/transactions/:no/renotify", post(test_renotify))
        .at("/_test/deliveries", get(test_deliveries))
        .data(state);
    Ok(Route::new().nest("/", inner))
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(json!({ "code": code, "message": message }).to_string())
}

impl State {
    /// A JSON answer signed with the platform key.
    fn signed(&self, status: StatusCode, body: &Value) -> Response {
        let bytes = body.to_string().into_bytes();
        let mut builder = Response::builder().status(status).content_type("application/json");
        if let Ok(headers) = WechatpayHeaders::sign(
            &self.platform_key,
            &self.platform_key_id,
            Utc::now().timestamp(),
            &new_nonce(),
            &bytes,
        ) {
            for (name, value) in headers.to_pairs() {
                builder = builder.header(name, value);
            }
        }
        builder.body(bytes)
    }

    /// Checks the merchant's `Authorization` over the request as received.
    fn authorize(&self, req: &Request, body: &[u8]) -> Result<(), Response> {
        let unauthorized = |message: &str| error(StatusCode::UNAUTHORIZED, "SIGN_ERROR", message);
        let value = req.header("Authorization").ok_or_else(|| unauthorized("Authorization missing"))?;
        let header = AuthorizationHeader::parse(value).map_err(|_| unauthorized("Authorization malformed"))?;
        if header.mchid != self.mchid {
            return Err(error(StatusCode::BAD_REQUEST, "MCH_NOT_EXISTS", "unknown mchid"));
        }
        if !header.serial_no.eq_ignore_ascii_case(&self.serial) {
            return Err(unauthorized("unknown serial_no"));
        }
        let key = self.merchant_key.as_ref().ok_or_else(|| unauthorized("no merchant key configured"))?;
        let uri = req.original_uri();
        let canonical = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
        header
            .verify(key, req.method().as_str(), canonical, body, Utc::now())
            .map_err(|_| unauthorized("signature does not verify"))
    }

    fn transaction_json(&self, order: &SimOrder) -> Value {
        let beijing = FixedOffset::east_opt(8 * 3600).expect("+08:00");
        let mut value = json!({
            "appid": order.request.appid, "mchid": order.request.mchid, "out_trade_no": order.request.out_trade_no,
            "trade_type": "JSAPI", "trade_state": order.state,
            "trade_state_desc": match order.state { "SUCCESS" => "支付成功", "CLOSED" => "已关闭", "REFUND" => "转入退款", _ => "未支付" },
            "attach": order.request.attach.clone().unwrap_or_default(),
            "amount": { "total": order.request.amount.total, "currency": "CNY" },
        });
        if let (Some(id), Some(at)) = (&order.transaction_id, order.success_time) {
            value["transaction_id"] = json!(id);
            value["bank_type"] = json!("OTHERS");
            value["success_time"] =
                json!(at.with_timezone(&beijing).to_rfc3339_opts(chrono::SecondsFormat::Secs, false));
            value["payer"] = json!({ "openid": order.request.payer.openid });
            value["amount"] = json!({ "total": order.request.amount.total, "payer_total": order.request.amount.total,
                "currency": "CNY", "payer_currency": "CNY" });
        }
        value
    }

    /// A signed, encrypted notification body and its headers.
    fn notification(&self, event_type: &str, original_type: &str, plaintext: &str) -> Option<SignedNotification> {
        let key = self.api_v3_key.as_ref()?;
        let resource: EncryptedResource =
            key.encrypt_resource(Some(original_type), original_type, &new_resource_nonce(), plaintext).ok()?;
        let envelope = Notification {
            id: format!("EV-{}", new_nonce()),
            create_time: Utc::now()
                .with_timezone(&FixedOffset::east_opt(8 * 3600)?)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
            resource_type: "encrypt-resource".into(),
            event_type: event_type.into(),
            summary: if event_type.starts_with("REFUND") { "退款成功".into() } else { "支付成功".into() },
            resource,
        };
        let body = serde_json::to_vec(&envelope).ok()?;
        let headers = WechatpayHeaders::sign(
            &self.platform_key,
            &self.platform_key_id,
            Utc::now().timestamp(),
            &new_nonce(),
            &body,
        )
        .ok()?;
        Some((headers.to_pairs(), body))
    }
}

/// Delivers a notification, then redelivers on the retry schedule until one gets a 2xx. Each
/// delivery is signed afresh (new timestamp and nonce), as WeChat Pay does.
fn deliver(
    state: Arc<State>,
    url: String,
    event_type: &'static str,
    original_type: &'static str,
    out_trade_no: String,
    plaintext: String,
) {
    tokio::spawn(async move {
        let mut attempt = 0;
        loop {
            let Some((headers, body)) = state.notification(event_type, original_type, &plaintext) else { return };
            let mut request = state.http.post(&url).header("Content-Type", "application/json").body(body);
            for (name, value) in headers {
                request = request.header(name, value);
            }
            let status = request.send().await.ok().map(|r| r.status().as_u16());
            state.deliveries.lock().push(Delivery {
                event_type: event_type.into(),
                out_trade_no: out_trade_no.clone(),
                attempt,
                status,
            });
            if status.is_some_and(|s| (200..300).contains(&s)) {
                return;
            }
            let Some(wait) = state.retry.get(attempt) else { return };
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(wait.saturating_mul(1000).clamp(1, u64::MAX / 2))).await;
            if *wait == 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
}

#[handler]
async fn jsapi(req: &Request, body: Body, state: Data<&Arc<State>>) -> Response {
    let Ok(bytes) = body.into_vec().await else { return error(StatusCode::BAD_REQUEST, "PARAM_ERROR", "no body") };
    if let Err(resp) = state.authorize(req, &bytes) {
        return resp;
    }
    let order: JsapiOrder = match serde_json::from_slice(&bytes) {
        Ok(o) => o,
        Err(err) => return error(StatusCode::BAD_REQUEST, "PARAM_ERROR", &err.to_string()),
    };
    if order.mchid != state.mchid {
        return error(StatusCode::BAD_REQUEST, "APPID_MCHID_NOT_MATCH", "mchid does not match the signer");
    }
    let valid_no = (6..=32).contains(&order.out_trade_no.len())
        && order.out_trade_no.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-|*".contains(&b));
    if !valid_no {
        return error(StatusCode::BAD_REQUEST, "PARAM_ERROR", "out_trade_no must be 6-32 of [0-9A-Za-z_-|*]");
    }
    if order.amount.total <= 0 {
        return error(StatusCode::BAD_REQUEST, "PARAM_ERROR", "amount.total must be positive");
    }
    let Ok(expires) = DateTime::parse_from_rfc3339(&order.time_expire) else {
        return error(StatusCode::BAD_REQUEST, "PARAM_ERROR", "time_expire is not RFC 3339");
    };
    let mut orders = state.orders.lock();
    if let Some(existing) = orders.get(&order.out_trade_no) {
        if existing.request != order {
            return error(StatusCode::FORBIDDEN, "OUT_TRADE_NO_USED", "out_trade_no used with other parameters");
        }
        if existing.state == "CLOSED" {
            return error(StatusCode::BAD_REQUEST, "ORDER_CLOSED", "order closed");
        }
        let prepay_id = existing.prepay_id.clone();
        drop(orders);
        return state.signed(StatusCode::OK, &json!({ "prepay_id": prepay_id }));
    }
    let prepay_id = format!("wx{}", new_nonce().to_ascii_lowercase());
    orders.insert(
        order.out_trade_no.clone(),
        SimOrder {
            request: order,
            prepay_id: prepay_id.clone(),
            expires,
            state: "NOTPAY",
            transaction_id: None,
            success_time: None,
        },
    );
    drop(orders);
    state.signed(StatusCode::OK, &json!({ "prepay_id": prepay_id }))
}

#[handler]
async fn query_order(req: &Request, Path(no): Path<String>, state: Data<&Arc<State>>) -> Response {
    if let Err(resp) = state.authorize(req, b"") {
        return resp;
    }
    let order = state.orders.lock().get(&no).cloned();
    match order {
        Some(order) => state.signed(StatusCode::OK, &state.transaction_json(&order)),
        None => error(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "order does not exist"),
    }
}

#[handler]
async fn close_order(req: &Request, Path(no): Path<String>, body: Body, state: Data<&Arc<State>>) -> Response {
    let bytes = body.into_vec().await.unwrap_or_default();
    if let Err(resp) = state.authorize(req, &bytes) {
        return resp;
    }
    if let Some(order) = state.orders.lock().get_mut(&no) {
        if order.state == "NOTPAY" {
            order.state = "CLOSED";
        }
    }
    // Like WeChat Pay: 204 whatever the order was; callers query to learn the truth.
    StatusCode::NO_CONTENT.into_response()
}

#[handler]
async fn create_refund(req: &Request, body: Body, state: Data<&Arc<State>>) -> Response {
    let Ok(bytes) = body.into_vec().await else { return error(StatusCode::BAD_REQUEST, "PARAM_ERROR", "no body") };
    if let Err(resp) = state.authorize(req, &bytes) {
        return resp;
    }
    let request: RefundRequest = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(err) => return error(StatusCode::BAD_REQUEST, "PARAM_ERROR", &err.to_string()),
    };
    let refund = {
        let orders = state.orders.lock();
        let Some(order) = orders.get(&request.out_trade_no) else {
            return error(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "order does not exist");
        };
        let Some(transaction_id) = order.transaction_id.clone() else {
            return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "order is not paid");
        };
        let mut refunds = state.refunds.lock();
        if let Some(existing) = refunds.get(&request.out_refund_no) {
            // Same out_refund_no: the same refund, not a second one.
            existing.clone()
        } else {
            let already: i64 =
                refunds.values().filter(|r| r.out_trade_no == request.out_trade_no).map(|r| r.refund).sum();
            if request.amount.refund <= 0 || request.amount.total != order.request.amount.total {
                return error(StatusCode::BAD_REQUEST, "PARAM_ERROR", "bad amount");
            }
            if already + request.amount.refund > order.request.amount.total {
                return error(StatusCode::FORBIDDEN, "NOT_ENOUGH", "refund exceeds what remains");
            }
            let refund = SimRefund {
                refund_id: format!("50{}", &new_nonce()[..26]),
                out_refund_no: request.out_refund_no.clone(),
                out_trade_no: request.out_trade_no.clone(),
                transaction_id,
                refund: request.amount.refund,
                total: request.amount.total,
                created: Utc::now(),
            };
            refunds.insert(refund.out_refund_no.clone(), refund.clone());
            if let Some(url) = request.notify_url.clone() {
                // Notifications name the state `refund_status`; API answers name it `status`.
                let mut notified = refund_json(&state.mchid, &refund);
                if let Some(map) = notified.as_object_mut() {
                    let status = map.remove("status").unwrap_or_default();
                    map.insert("refund_status".into(), status);
                }
                let plaintext = notified.to_string();
                deliver(state.0.clone(), url, "REFUND.SUCCESS", "refund", refund.out_trade_no.clone(), plaintext);
            }
            refund
        }
    };
    state.signed(StatusCode::OK, &refund_json(&state.mchid, &refund))
}

fn refund_json(mchid: &str, refund: &SimRefund) -> Value {
    let beijing = FixedOffset::east_opt(8 * 3600).expect("+08:00");
    json!({
        "mchid": mchid, "refund_id": refund.refund_id, "out_refund_no": refund.out_refund_no,
        "transaction_id": refund.transaction_id, "out_trade_no": refund.out_trade_no,
        "status": "SUCCESS", "channel": "ORIGINAL",
        "success_time": refund.created.with_timezone(&beijing).to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        "create_time": refund.created.with_timezone(&beijing).to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        "amount": { "total": refund.total, "refund": refund.refund, "payer_total": refund.total, "payer_refund": refund.refund, "currency": "CNY" },
    })
}

#[handler]
async fn query_refund(req: &Request, Path(no): Path<String>, state: Data<&Arc<State>>) -> Response {
    if let Err(resp) = state.authorize(req, b"") {
        return resp;
    }
    let refund = state.refunds.lock().get(&no).cloned();
    match refund {
        Some(refund) => state.signed(StatusCode::OK, &refund_json(&state.mchid, &refund)),
        None => error(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "refund does not exist"),
    }
}

#[derive(Deserialize)]
struct BillQuery {
    bill_date: String,
    #[serde(default)]
    bill_type: Option<String>,
}

/// The `ALL` bill of a Beijing day: payments that succeeded that day, refunds accepted that day.
fn bill_csv(state: &State, date: &str) -> Option<String> {
    let beijing = FixedOffset::east_opt(8 * 3600)?;
    let on_day = |at: DateTime<Utc>| at.with_timezone(&beijing).format("%Y-%m-%d").to_string() == date;
    let mut lines = vec![TRADE_BILL_COLUMNS.join(",")];
    let (mut count, mut settled, mut refunded, mut ordered) = (0_i64, 0_i64, 0_i64, 0_i64);
    let orders = state.orders.lock();
    let mut paid: Vec<&SimOrder> = orders.values().filter(|o| o.success_time.is_some_and(on_day)).collect();
    paid.sort_by_key(|o| o.success_time);
    for order in paid {
        let total = order.request.amount.total;
        let row = bill_row(order, order.success_time?, "SUCCESS", total, "", "", 0);
        lines.push(row);
        count += 1;
        settled += total;
        ordered += total;
    }
    let refunds = state.refunds.lock();
    let mut day_refunds: Vec<&SimRefund> = refunds.values().filter(|r| on_day(r.created)).collect();
    day_refunds.sort_by_key(|r| r.created);
    for refund in day_refunds {
        if let Some(order) = orders.get(&refund.out_trade_no) {
            lines.push(bill_row(
                order,
                refund.created,
                "REFUND",
                0,
                &refund.refund_id,
                &refund.out_refund_no,
                refund.refund,
            ));
            count += 1;
            refunded += refund.refund;
        }
    }
    if count == 0 {
        return None;
    }
    lines.push(TRADE_BILL_SUMMARY_COLUMNS.join(","));
    lines.push(format!(
        "`{count},`{},`{},`0.00,`0.00,`{},`{}",
        fen_to_yuan(settled),
        fen_to_yuan(refunded),
        fen_to_yuan(ordered),
        fen_to_yuan(refunded)
    ));
    Some(lines.join("\r\n") + "\r\n")
}

fn bill_row(
    order: &SimOrder,
    at: DateTime<Utc>,
    state: &str,
    settled: i64,
    refund_id: &str,
    out_refund_no: &str,
    refund: i64,
) -> String {
    let beijing = FixedOffset::east_opt(8 * 3600).expect("+08:00");
    let r = &order.request;
    let cells = [
        at.with_timezone(&beijing).format("%Y-%m-%d %H:%M:%S").to_string(),
        r.appid.clone(),
        r.mchid.clone(),
        "0".into(),
        String::new(),
        order.transaction_id.clone().unwrap_or_default(),
        r.out_trade_no.clone(),
        r.payer.openid.clone(),
        "JSAPI".into(),
        state.into(),
        "OTHERS".into(),
        "CNY".into(),
        fen_to_yuan(settled),
        "0.00".into(),
        refund_id.into(),
        out_refund_no.into(),
        fen_to_yuan(refund),
        "0.00".into(),
        if refund > 0 { "ORIGINAL".into() } else { String::new() },
        if refund > 0 { "SUCCESS".into() } else { String::new() },
        r.description.replace(',', " "),
        r.attach.clone().unwrap_or_default().replace(',', " "),
        "0.00000".into(),
        "0.60%".into(),
        fen_to_yuan(if refund > 0 { 0 } else { r.amount.total }),
        fen_to_yuan(refund),
        String::new(),
    ];
    cells.iter().map(|c| format!("`{c}")).collect::<Vec<_>>().join(",")
}

#[handler]
async fn trade_bill(req: &Request, Query(query): Query<BillQuery>, state: Data<&Arc<State>>) -> Response {
    if let Err(resp) = state.authorize(req, b"") {
        return resp;
    }
    if query.bill_type.as_deref().is_some_and(|t| t != "ALL") {
        return error(StatusCode::BAD_REQUEST, "PARAM_ERROR", "the sandbox serves bill_type=ALL");
    }
    match bill_csv(&state, &query.bill_date) {
        None => error(StatusCode::BAD_REQUEST, "NO_STATEMENT_EXIST", "no statement for that day"),
        Some(csv) => state.signed(
            StatusCode::OK,
            &json!({
                "hash_type": "SHA1",
                "hash_value": hex::encode(Sha1::digest(csv.as_bytes())),
                "download_url": format!("{}/v3/billdownload/file?token={}", state.base, query.bill_date),
            }),
        ),
    }
}

#[derive(Deserialize)]
struct DownloadQuery {
    token: String,
}

#[handler]
async fn download_bill(req: &Request, Query(query): Query<DownloadQuery>, state: Data<&Arc<State>>) -> Response {
    if let Err(resp) = state.authorize(req, b"") {
        return resp;
    }
    match bill_csv(&state, &query.token) {
        // Bill files are not signed; the hash in the tradebill answer covers them.
        Some(csv) => Response::builder().content_type("text/csv; charset=utf-8").body(csv),
        None => error(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "no such bill"),
    }
}

#[derive(Deserialize, Default)]
struct PayOptions {
    #[serde(default)]
    notify: Option<bool>,
}

#[handler]
async fn test_pay(Path(no): Path<String>, body: Body, state: Data<&Arc<State>>) -> Response {
    let options: PayOptions =
        body.into_vec().await.ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    let order = {
        let mut orders = state.orders.lock();
        let Some(order) = orders.get_mut(&no) else {
            return error(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "order does not exist");
        };
        if order.state != "NOTPAY" {
            return error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", &format!("order is {}", order.state));
        }
        if order.expires < Utc::now() {
            return error(StatusCode::BAD_REQUEST, "ORDER_CLOSED", "the order's time_expire has passed");
        }
        order.state = "SUCCESS";
        order.transaction_id = Some(format!("42{}", &new_nonce()[..26]));
        order.success_time = Some(Utc::now());
        order.clone()
    };
    let transaction = state.transaction_json(&order);
    if options.notify.unwrap_or(true) {
        deliver(
            state.0.clone(),
            order.request.notify_url.clone(),
            "TRANSACTION.SUCCESS",
            "transaction",
            no,
            transaction.to_string(),
        );
    }
    Response::builder().content_type("application/json").body(transaction.to_string())
}

#[handler]
async fn test_renotify(Path(no): Path<String>, state: Data<&Arc<State>>) -> Response {
    let order = state.orders.lock().get(&no).cloned();
    match order {
        Some(order) if order.state == "SUCCESS" => {
            let transaction = state.transaction_json(&order);
            deliver(
                state.0.clone(),
                order.request.notify_url.clone(),
                "TRANSACTION.SUCCESS",
                "transaction",
                no,
                transaction.to_string(),
            );
            StatusCode::ACCEPTED.into_response()
        }
        _ => error(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "no paid order with that number"),
    }
}

#[handler]
async fn test_deliveries(state: Data<&Arc<State>>) -> Response {
    let deliveries = state.deliveries.lock().clone();
    Response::builder().content_type("application/json").body(serde_json::to_string(&deliveries).unwrap_or_default())
}
