//! The use cases' door to WeChat Pay: building the v3 requests from our rows, and opening the
//! notifications it sends. The HTTP client and the cryptography are `city_wechat`'s.

use chrono::{DateTime, Utc};
use city_platform::config::Settings;
use city_wechat::crypto::pay::{
    ApiV3Key, JsapiPayParams, MerchantSigner, Notification, PayPrivateKey, PayPublicKey, PayVerifier, WechatpayHeaders,
};
use city_wechat::pay_client::{
    JsapiOrder, OrderAmount, PayClient, PayClientError, Payer, Refund, RefundAmount, RefundRequest, TradeBill,
    Transaction,
};

use crate::store::{OrderRow, RefundRow};
use crate::PaymentsState;

/// Builds the WeChat Pay client from the (prepared) settings: the keys are configured, or a
/// demo's generated set; never built in. A missing or bad key is a start-up error naming it.
pub fn pay_client(settings: &Settings) -> Result<(PayClient, ApiV3Key), String> {
    let p = &settings.payments;
    let pem = p
        .merchant_private_key_pem
        .as_ref()
        .map(|k| k.expose().to_owned())
        .ok_or("payments.merchant_private_key_pem (CITY_PAYMENTS__MERCHANT_PRIVATE_KEY_PEM[_FILE]): missing")?;
    let key = PayPrivateKey::from_pem(&pem).map_err(|e| format!("payments merchant key: {e}"))?;
    let platform_pem = p
        .platform_public_key_pem
        .clone()
        .ok_or("payments.platform_public_key_pem (CITY_PAYMENTS__PLATFORM_PUBLIC_KEY_PEM[_FILE]): missing")?;
    let platform =
        PayPublicKey::from_pem(&platform_pem).map_err(|e| format!("payments.platform_public_key_pem: {e}"))?;
    let mut verifier = PayVerifier::new();
    verifier.add_key(&p.platform_public_key_id, platform);
    let api_v3_key =
        ApiV3Key::parse(p.api_v3_key.expose()).map_err(|_| "payments.api_v3_key: must be 32 characters".to_owned())?;
    let signer = MerchantSigner::new(p.mchid.clone(), p.merchant_serial_no.clone(), key);
    Ok((PayClient::new(settings.wechat_pay_base(), signer, verifier), api_v3_key))
}

/// Places an order (identical parameters resume it at WeChat Pay); returns the prepay id.
pub async fn prepay(state: &PaymentsState, order: &OrderRow) -> Result<String, PayClientError> {
    let settings = &state.platform.settings;
    let request = JsapiOrder {
        appid: settings.wechat.mp_appid.clone(),
        mchid: settings.payments.mchid.clone(),
        description: order.description.chars().take(127).collect(),
        out_trade_no: order.out_trade_no.to_string(),
        time_expire: order.time_expire.clone(),
        attach: Some(format!("{}:{}", order.item_kind, order.item_id).chars().take(128).collect()),
        notify_url: settings.payments_notify_url(),
        amount: OrderAmount { total: order.amount.0, currency: "CNY".into() },
        payer: Payer { openid: order.payer_openid.clone() },
    };
    state.pay.jsapi_prepay(&request).await
}

/// What `wx.requestPayment` needs for a placed order, signed now.
pub fn pay_params(state: &PaymentsState, prepay_id: &str, now: DateTime<Utc>) -> Option<JsapiPayParams> {
    state
        .pay
        .signer()
        .jsapi_params(
            &state.platform.settings.wechat.mp_appid,
            prepay_id,
            now.timestamp(),
            &city_wechat::crypto::pay::new_nonce(),
        )
        .map_err(|err| tracing::error!(error = %err, "payment parameters not signed"))
        .ok()
}

/// Asks WeChat Pay to close an order, then what it says of it: only a query is trusted.
pub async fn close_and_query(state: &PaymentsState, order: &OrderRow) -> Result<Option<Transaction>, PayClientError> {
    if let Err(err) = state.pay.close_order(&order.out_trade_no).await {
        tracing::warn!(error = %err, out_trade_no = %order.out_trade_no, "close failed");
    }
    state.pay.query_order(&order.out_trade_no).await
}

/// Sends (or re-sends, with the same out_refund_no) a refund.
pub async fn refund(state: &PaymentsState, order: &OrderRow, refund: &RefundRow) -> Result<Refund, PayClientError> {
    let request = RefundRequest {
        out_trade_no: order.out_trade_no.to_string(),
        out_refund_no: refund.out_refund_no.clone(),
        reason: Some(refund.reason.clone()),
        notify_url: Some(state.platform.settings.payments_refund_notify_url()),
        amount: RefundAmount { refund: refund.amount.0, total: order.amount.0, currency: "CNY".into() },
    };
    state.pay.refund(&request).await
}

/// WeChat Pay's trade bill of a Beijing day (empty when it has none).
pub async fn trade_bill(state: &PaymentsState, date: &str) -> Result<TradeBill, String> {
    let text = state.pay.trade_bill(date).await.map_err(|err| {
        tracing::warn!(error = %err, "trade bill download failed");
        "WeChat Pay's trade bill could not be fetched".to_owned()
    })?;
    match text {
        Some(text) => city_wechat::pay_client::parse_trade_bill(&text).map_err(|err| {
            tracing::error!(error = %err, "trade bill does not parse");
            "WeChat Pay's trade bill is malformed".to_owned()
        }),
        None => Ok(TradeBill { rows: Vec::new(), total_count: 0, total_settlement_fen: 0, total_refund_fen: 0 }),
    }
}

/// Why a notification was not accepted; nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationRefused {
    /// Headers missing, or the signature or timestamp does not verify (401).
    Unverified(&'static str),
    /// Not ours or inconsistent (400).
    Rejected(&'static str),
    /// Our fault; WeChat Pay retries (500).
    Failed(&'static str),
}

/// Verifies and decrypts a notification of `expected_type` (`transaction` or `refund`).
pub fn open_notification(
    state: &PaymentsState,
    headers: Option<WechatpayHeaders>,
    body: &[u8],
    expected_type: &str,
    now: DateTime<Utc>,
) -> Result<(Notification, String), NotificationRefused> {
    let headers = headers.ok_or(NotificationRefused::Unverified("Wechatpay-* headers missing"))?;
    if let Err(err) = state.pay.verifier().verify(&headers, body, now) {
        tracing::warn!(error = %err, "notification did not verify");
        return Err(NotificationRefused::Unverified("signature or timestamp does not verify"));
    }
    let notification =
        Notification::parse(body).map_err(|_| NotificationRefused::Rejected("malformed notification"))?;
    if notification.resource.original_type.as_deref().is_some_and(|t| t != expected_type) {
        return Err(NotificationRefused::Rejected("unexpected resource type"));
    }
    let plaintext = state
        .api_v3_key
        .decrypt_resource(&notification.resource)
        .map_err(|_| NotificationRefused::Rejected("resource does not decrypt"))?;
    Ok((notification, plaintext))
}
