//! WeChat Pay API v3 over HTTP: the merchant's client (JSAPI prepay, query, close, refunds,
//! trade bill) and the pure pieces around it (transaction and refund objects, the trade-bill
//! CSV with its back-tick prefixes and yuan amounts).
//!
//! Unlike the crypto modules, this one does I/O: it signs every request with
//! [`MerchantSigner`], verifies every signed response with [`PayVerifier`] (bill files are
//! unsigned and checked by their SHA-1 instead), and reads the clock for timestamps.
//!
//! No key lives here: the merchant's and the platform's come from configuration (a demo
//! generates its own at first start).

use chrono::Utc;
use serde::{Deserialize, Serialize};
use sha1::{Digest as _, Sha1};

use crate::crypto::pay::{
    new_nonce, MerchantSigner, PayVerifier, WechatpayHeaders, HEADER_NONCE, HEADER_SERIAL, HEADER_SIGNATURE,
    HEADER_SIGNATURE_TYPE, HEADER_TIMESTAMP,
};
use crate::error::PayErrorCode;
use crate::WechatError;

/// Why a WeChat Pay call failed.
#[derive(Debug, thiserror::Error)]
pub enum PayClientError {
    /// No answer (connection refused, timeout): the outcome is unknown, so query before acting.
    #[error("wechat pay unreachable: {0}")]
    Transport(String),
    /// WeChat Pay answered with an error, or its answer did not verify or parse.
    #[error(transparent)]
    Wechat(#[from] WechatError),
    /// The downloaded bill does not match the announced hash.
    #[error("trade bill hash mismatch")]
    BillHashMismatch,
}

impl PayClientError {
    /// The WeChat Pay error code, when WeChat Pay answered with one.
    pub fn code(&self) -> Option<&PayErrorCode> {
        match self {
            Self::Wechat(WechatError::PayApi { body, .. }) => Some(&body.code),
            _ => None,
        }
    }
}

/// The body of `POST /v3/pay/transactions/jsapi`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsapiOrder {
    /// Mini Program (or Service Account) appid bound to the merchant.
    pub appid: String,
    /// Merchant id.
    pub mchid: String,
    /// What the payer sees, at most 127 characters.
    pub description: String,
    /// Our order number: 6-32 of `[0-9A-Za-z_-|*]`, unique per merchant.
    pub out_trade_no: String,
    /// RFC 3339 with offset: the last moment the payer can pay.
    pub time_expire: String,
    /// Returned verbatim in the notification; never trusted for money.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<String>,
    /// Where the payment notification goes.
    pub notify_url: String,
    /// Amount in fen.
    pub amount: OrderAmount,
    /// The payer.
    pub payer: Payer,
}

/// `amount` of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderAmount {
    /// Fen, > 0.
    pub total: i64,
    /// `CNY`.
    #[serde(default = "cny")]
    pub currency: String,
}

fn cny() -> String {
    "CNY".to_owned()
}

/// `payer` of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payer {
    /// The payer's openid under `appid`.
    pub openid: String,
}

/// A transaction as queried or notified (`resource` of `TRANSACTION.SUCCESS`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// Appid of the order.
    pub appid: String,
    /// Merchant id.
    pub mchid: String,
    /// Our order number.
    pub out_trade_no: String,
    /// WeChat's order number; absent until paid.
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// `JSAPI`, ...
    #[serde(default)]
    pub trade_type: Option<String>,
    /// `SUCCESS`, `NOTPAY`, `CLOSED`, `REFUND`, `PAYERROR`, ...
    pub trade_state: String,
    /// Human text.
    #[serde(default)]
    pub trade_state_desc: String,
    /// Paying bank.
    #[serde(default)]
    pub bank_type: Option<String>,
    /// Echo of the order's `attach`.
    #[serde(default)]
    pub attach: Option<String>,
    /// RFC 3339, when paid.
    #[serde(default)]
    pub success_time: Option<String>,
    /// The payer.
    #[serde(default)]
    pub payer: Option<Payer>,
    /// Amounts in fen.
    pub amount: TransactionAmount,
}

/// `amount` of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionAmount {
    /// Order total in fen.
    pub total: i64,
    /// What the payer paid (total less coupons), fen.
    #[serde(default)]
    pub payer_total: Option<i64>,
    /// `CNY`.
    #[serde(default = "cny")]
    pub currency: String,
    /// Payer currency.
    #[serde(default)]
    pub payer_currency: Option<String>,
}

/// The body of `POST /v3/refund/domestic/refunds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequest {
    /// The order refunded.
    pub out_trade_no: String,
    /// Our refund number; the same one on every retry.
    pub out_refund_no: String,
    /// At most 80 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where the refund notification goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
    /// Amounts in fen.
    pub amount: RefundAmount,
}

/// `amount` of a refund request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundAmount {
    /// Fen refunded by this refund.
    pub refund: i64,
    /// The order's total, fen.
    pub total: i64,
    /// `CNY`.
    #[serde(default = "cny")]
    pub currency: String,
}

/// A refund as created, queried or notified (`resource` of `REFUND.*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// Merchant id (notifications only).
    #[serde(default)]
    pub mchid: Option<String>,
    /// WeChat's refund id.
    pub refund_id: String,
    /// Our refund number.
    pub out_refund_no: String,
    /// WeChat's order number.
    #[serde(default)]
    pub transaction_id: Option<String>,
    /// Our order number.
    pub out_trade_no: String,
    /// `SUCCESS`, `PROCESSING`, `CLOSED`, `ABNORMAL` (`refund_status` in notifications).
    #[serde(alias = "refund_status")]
    pub status: String,
    /// RFC 3339, when it succeeded.
    #[serde(default)]
    pub success_time: Option<String>,
    /// Amounts in fen.
    pub amount: RefundAmountView,
}

/// `amount` of a refund answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundAmountView {
    /// The order's total, fen.
    pub total: i64,
    /// This refund, fen.
    pub refund: i64,
}

/// The `/v3/bill/tradebill` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillLocation {
    /// `SHA1`.
    pub hash_type: String,
    /// Hex SHA-1 of the (uncompressed) CSV.
    pub hash_value: String,
    /// Where to GET the file with a signed request.
    pub download_url: String,
}

/// A WeChat Pay v3 merchant client.
#[derive(Debug, Clone)]
pub struct PayClient {
    http: reqwest::Client,
    base: String,
    signer: MerchantSigner,
    verifier: PayVerifier,
}

impl PayClient {
    /// A client of the API at `base` (e.g. `https://api.mch.weixin.qq.com`, or the sandbox).
    pub fn new(base: impl Into<String>, signer: MerchantSigner, verifier: PayVerifier) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .user_agent("city-services/1 (WeChat Pay v3)")
            .build()
            .unwrap_or_default();
        Self { http, base: base.into().trim_end_matches('/').to_owned(), signer, verifier }
    }

    /// The signer, e.g. for `wx.requestPayment` parameters.
    pub fn signer(&self) -> &MerchantSigner {
        &self.signer
    }

    /// The verifier of WeChat Pay signatures (notifications use it too).
    pub fn verifier(&self) -> &PayVerifier {
        &self.verifier
    }

    /// The path part of the base URL (`/sandbox/wechat/pay`), which the signature covers.
    fn base_path(&self) -> &str {
        let after_scheme = self.base.split_once("://").map_or(self.base.as_str(), |(_, rest)| rest);
        after_scheme.find('/').map_or("", |i| &after_scheme[i..])
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        body: Option<Vec<u8>>,
        verify: bool,
    ) -> Result<(u16, Vec<u8>), PayClientError> {
        let canonical = format!("{}{}", self.base_path(), path_and_query);
        let body_bytes = body.clone().unwrap_or_default();
        let auth =
            self.signer.authorize(method.as_str(), &canonical, &body_bytes, Utc::now().timestamp(), &new_nonce())?;
        let mut request = self
            .http
            .request(method, format!("{}{}", self.base, path_and_query))
            .header("Authorization", auth.to_string())
            .header("Accept", "application/json");
        if let Some(body) = body {
            request = request.header("Content-Type", "application/json").body(body);
        }
        let response = request.send().await.map_err(|err| PayClientError::Transport(err.to_string()))?;
        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let headers = WechatpayHeaders {
            timestamp: header(HEADER_TIMESTAMP).unwrap_or_default(),
            nonce: header(HEADER_NONCE).unwrap_or_default(),
            signature: header(HEADER_SIGNATURE).unwrap_or_default(),
            serial: header(HEADER_SERIAL).unwrap_or_default(),
            signature_type: header(HEADER_SIGNATURE_TYPE),
        };
        let bytes = response.bytes().await.map_err(|err| PayClientError::Transport(err.to_string()))?.to_vec();
        if verify && (200..300).contains(&status) {
            self.verifier.verify(&headers, &bytes, Utc::now())?;
        }
        if !(200..300).contains(&status) {
            return Err(WechatError::from_pay_response(status, &bytes).into());
        }
        Ok((status, bytes))
    }

    fn json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &'static str) -> Result<T, PayClientError> {
        serde_json::from_slice(bytes)
            .map_err(|err| WechatError::InvalidJson { field: what, reason: err.to_string() }.into())
    }

    /// Places (or, with identical parameters, resumes) a JSAPI order; returns the `prepay_id`.
    pub async fn jsapi_prepay(&self, order: &JsapiOrder) -> Result<String, PayClientError> {
        #[derive(Deserialize)]
        struct Prepay {
            prepay_id: String,
        }
        let body = serde_json::to_vec(order)
            .map_err(|err| WechatError::InvalidJson { field: "order", reason: err.to_string() })?;
        let (_, bytes) = self.send(reqwest::Method::POST, "/v3/pay/transactions/jsapi", Some(body), true).await?;
        Ok(Self::json::<Prepay>(&bytes, "prepay answer")?.prepay_id)
    }

    /// Queries an order by our number; `None` when WeChat Pay does not know it.
    pub async fn query_order(&self, out_trade_no: &str) -> Result<Option<Transaction>, PayClientError> {
        let path = format!("/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={}", self.signer.mchid());
        match self.send(reqwest::Method::GET, &path, None, true).await {
            Ok((_, bytes)) => Ok(Some(Self::json(&bytes, "transaction")?)),
            Err(err) if matches!(err.code(), Some(PayErrorCode::OrderNotExist)) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// Closes an unpaid order. A 204 proves nothing: query afterwards.
    pub async fn close_order(&self, out_trade_no: &str) -> Result<(), PayClientError> {
        let path = format!("/v3/pay/transactions/out-trade-no/{out_trade_no}/close");
        let body = serde_json::to_vec(&serde_json::json!({ "mchid": self.signer.mchid() }))
            .map_err(|err| WechatError::InvalidJson { field: "close", reason: err.to_string() })?;
        self.send(reqwest::Method::POST, &path, Some(body), false).await.map(|_| ())
    }

    /// Requests a refund; retrying with the same `out_refund_no` is idempotent.
    pub async fn refund(&self, request: &RefundRequest) -> Result<Refund, PayClientError> {
        let body = serde_json::to_vec(request)
            .map_err(|err| WechatError::InvalidJson { field: "refund", reason: err.to_string() })?;
        let (_, bytes) = self.send(reqwest::Method::POST, "/v3/refund/domestic/refunds", Some(body), true).await?;
        Self::json(&bytes, "refund")
    }

    /// Queries a refund; `None` when unknown.
    pub async fn query_refund(&self, out_refund_no: &str) -> Result<Option<Refund>, PayClientError> {
        let path = format!("/v3/refund/domestic/refunds/{out_refund_no}");
        match self.send(reqwest::Method::GET, &path, None, true).await {
            Ok((_, bytes)) => Ok(Some(Self::json(&bytes, "refund")?)),
            Err(err) if matches!(err.code(), Some(PayErrorCode::ResourceNotExists | PayErrorCode::OrderNotExist)) => {
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    /// Downloads the `ALL` trade bill of a Beijing day (`YYYY-MM-DD`) and checks its SHA-1;
    /// `None` when WeChat Pay has no statement for that day.
    pub async fn trade_bill(&self, bill_date: &str) -> Result<Option<String>, PayClientError> {
        let path = format!("/v3/bill/tradebill?bill_date={bill_date}&bill_type=ALL");
        let location: BillLocation = match self.send(reqwest::Method::GET, &path, None, true).await {
            Ok((_, bytes)) => Self::json(&bytes, "bill location")?,
            Err(err) if matches!(err.code(), Some(PayErrorCode::NoStatementExist)) => return Ok(None),
            Err(err) => return Err(err),
        };
        // The download URL is absolute; the signature covers its path and query.
        let after_scheme = location.download_url.split_once("://").map_or(location.download_url.as_str(), |(_, r)| r);
        let full_path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
        let relative = full_path.strip_prefix(self.base_path()).unwrap_or(full_path);
        let (_, bytes) = self.send(reqwest::Method::GET, relative, None, false).await?;
        let digest = hex::encode(Sha1::digest(&bytes));
        if !digest.eq_ignore_ascii_case(location.hash_value.trim()) {
            return Err(PayClientError::BillHashMismatch);
        }
        let text = String::from_utf8(bytes).map_err(|_| WechatError::InvalidUtf8 { field: "trade bill" })?;
        Ok(Some(text))
    }
}

/// One detail row of a trade bill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeBillRow {
    /// 交易时间 as printed.
    pub trade_time: String,
    /// 微信订单号.
    pub transaction_id: String,
    /// 商户订单号.
    pub out_trade_no: String,
    /// 交易状态: `SUCCESS`, `REFUND`, ...
    pub trade_state: String,
    /// 应结订单金额 in fen.
    pub settlement_fen: i64,
    /// 商户退款单号 (empty for payments).
    pub out_refund_no: String,
    /// 退款金额 in fen.
    pub refund_fen: i64,
    /// 订单金额 in fen.
    pub order_fen: i64,
}

/// A parsed trade bill: the detail rows and the summary row's totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeBill {
    /// Detail rows in file order.
    pub rows: Vec<TradeBillRow>,
    /// 总交易单数.
    pub total_count: i64,
    /// 应结订单总金额 in fen.
    pub total_settlement_fen: i64,
    /// 退款总金额 in fen.
    pub total_refund_fen: i64,
}

/// The header names of the `ALL` trade bill, in WeChat's order.
pub const TRADE_BILL_COLUMNS: [&str; 27] = [
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
];

/// The header names of the summary row.
pub const TRADE_BILL_SUMMARY_COLUMNS: [&str; 7] =
    ["总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额", "订单总金额", "申请退款总金额"];

/// Parses a yuan amount with at most two decimals (`12.30`, `0.5`, `-3`) into fen, exactly.
pub fn yuan_to_fen(text: &str) -> Option<i64> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<2}").parse().ok()? };
    let fen = whole.checked_mul(100)?.checked_add(frac)?;
    Some(if negative { -fen } else { fen })
}

/// Fen as a yuan amount with two decimals, the way bills print it.
pub fn fen_to_yuan(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", fen.unsigned_abs() / 100, fen.unsigned_abs() % 100)
}

/// Parses the `ALL` trade bill CSV: columns found by header name, back-ticks stripped, yuan
/// amounts to fen, and the summary row checked against the sum of the details.
pub fn parse_trade_bill(csv_text: &str) -> Result<TradeBill, WechatError> {
    let bad = |reason: String| WechatError::InvalidJson { field: "trade bill", reason };
    let mut lines = csv_text.trim_start_matches('\u{feff}').lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines.next().ok_or_else(|| bad("empty".into()))?.split(',').map(str::trim).collect();
    let col = |name: &str| header.iter().position(|h| *h == name).ok_or_else(|| bad(format!("no column {name}")));
    let (c_time, c_tid, c_no, c_state, c_settle, c_rno, c_refund, c_order) = (
        col("交易时间")?,
        col("微信订单号")?,
        col("商户订单号")?,
        col("交易状态")?,
        col("应结订单金额")?,
        col("商户退款单号")?,
        col("退款金额")?,
        col("订单金额")?,
    );
    let field = |cells: &[&str], i: usize| {
        cells.get(i).map(|c| c.trim().trim_start_matches('`').to_owned()).unwrap_or_default()
    };
    let money = |cells: &[&str], i: usize, line: usize| {
        let raw = field(cells, i);
        if raw.is_empty() {
            return Ok(0);
        }
        yuan_to_fen(&raw).ok_or_else(|| bad(format!("line {line}: amount {raw:?}")))
    };
    let mut rows = Vec::new();
    let mut summary = None;
    let mut line_no = 1;
    while let Some(line) = lines.next() {
        line_no += 1;
        let cells: Vec<&str> = line.split(',').collect();
        if field(&cells, 0) == TRADE_BILL_SUMMARY_COLUMNS[0] {
            let values = lines.next().ok_or_else(|| bad("summary header without values".into()))?;
            let v: Vec<&str> = values.split(',').collect();
            let count: i64 = field(&v, 0).parse().map_err(|_| bad("summary count".into()))?;
            summary = Some((count, money(&v, 1, line_no + 1)?, money(&v, 2, line_no + 1)?));
            break;
        }
        rows.push(TradeBillRow {
            trade_time: field(&cells, c_time),
            transaction_id: field(&cells, c_tid),
            out_trade_no: field(&cells, c_no),
            trade_state: field(&cells, c_state),
            settlement_fen: money(&cells, c_settle, line_no)?,
            out_refund_no: field(&cells, c_rno),
            refund_fen: money(&cells, c_refund, line_no)?,
            order_fen: money(&cells, c_order, line_no)?,
        });
    }
    let (total_count, total_settlement_fen, total_refund_fen) = summary.ok_or_else(|| bad("no summary row".into()))?;
    let settled: i64 = rows.iter().map(|r| r.settlement_fen).sum();
    let refunded: i64 = rows.iter().map(|r| r.refund_fen).sum();
    if total_count != rows.len() as i64 || settled != total_settlement_fen || refunded != total_refund_fen {
        return Err(bad("summary row does not match the details".into()));
    }
    Ok(TradeBill { rows, total_count, total_settlement_fen, total_refund_fen })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_amounts_become_exact_fen() {
        assert_eq!(yuan_to_fen("12.30"), Some(1230));
        assert_eq!(yuan_to_fen("0.5"), Some(50));
        assert_eq!(yuan_to_fen("-3"), Some(-300));
        assert_eq!(yuan_to_fen("0.001"), None);
        assert_eq!(yuan_to_fen("1e3"), None);
        assert_eq!(fen_to_yuan(1230), "12.30");
        assert_eq!(fen_to_yuan(-5), "-0.05");
    }

    #[test]
    fn a_trade_bill_parses_by_header_name_and_checks_its_summary() {
        let header = TRADE_BILL_COLUMNS.join(",");
        let mut row: Vec<String> = TRADE_BILL_COLUMNS.iter().map(|_| "`".to_owned()).collect();
        row[5] = "`4200000001".into();
        row[6] = "`P123456".into();
        row[9] = "`SUCCESS".into();
        row[12] = "`12.30".into();
        row[16] = "`0.00".into();
        row[24] = "`12.30".into();
        let summary = TRADE_BILL_SUMMARY_COLUMNS.join(",");
        let text = format!("{header}\n{}\n{summary}\n`1,`12.30,`0.00,`0.00,`0.00,`12.30,`0.00\n", row.join(","));
        let bill = parse_trade_bill(&text).unwrap();
        assert_eq!(bill.rows.len(), 1);
        assert_eq!(bill.rows[0].out_trade_no, "P123456");
        assert_eq!(bill.rows[0].settlement_fen, 1230);
        let broken = text.replace("`1,`12.30", "`1,`12.31");
        assert!(parse_trade_bill(&broken).is_err());
    }
}
