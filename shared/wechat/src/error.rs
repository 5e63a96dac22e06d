//! The one error type of this crate, [`WechatError`], and the WeChat Pay v3 error body.
//!
//! Three families share the enum:
//! WeChat API `errcode`s (one variant per code the backend reacts to, built with [`WechatError::from_errcode`]),
//! WeChat Pay v3 error responses ([`WechatError::PayApi`], built from a [`PayErrorBody`]),
//! and local failures while verifying, decrypting or parsing what WeChat sent us.
//! [`WechatError::kind`] is the stable kebab-case name the HTTP layer uses as the problem `type`;
//! the `Display` text is for logs and never contains keys or plaintext.

use serde::{Deserialize, Serialize};

/// Everything that can go wrong in this crate, and every WeChat `errcode` the backend handles on purpose.
#[derive(Debug, thiserror::Error)]
pub enum WechatError {
    // --- WeChat API errcodes (api.weixin.qq.com answers HTTP 200 with a non-zero `errcode`) ---
    /// -1: WeChat is busy; retry once after a short back-off, then give up.
    #[error("wechat system busy (errcode -1): {errmsg}")]
    SystemBusy {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 40001: the access_token is not the latest one (or the AppSecret is wrong when fetching one).
    #[error("wechat invalid credential (errcode 40001): {errmsg}")]
    InvalidCredential {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 40003: the openid does not belong to this appid.
    #[error("wechat invalid openid (errcode 40003): {errmsg}")]
    InvalidOpenid {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 40013: the configured appid is wrong.
    #[error("wechat invalid appid (errcode 40013): {errmsg}")]
    InvalidAppid {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 40014: the access_token is malformed or unknown.
    #[error("wechat invalid access_token (errcode 40014): {errmsg}")]
    InvalidAccessToken {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 40029: the login / OAuth / phone code is wrong, expired, or for another appid.
    #[error("wechat invalid code (errcode 40029): {errmsg}")]
    InvalidCode {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 40037: the template id is unknown.
    #[error("wechat invalid template_id (errcode 40037): {errmsg}")]
    InvalidTemplateId {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 40125: the configured AppSecret is wrong.
    #[error("wechat invalid appsecret (errcode 40125): {errmsg}")]
    InvalidAppSecret {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 40163: the code was already used; the client must log in again (never retry the same code).
    #[error("wechat code been used (errcode 40163): {errmsg}")]
    CodeUsed {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 40164: the calling IP is not in the account's whitelist.
    #[error("wechat ip not whitelisted (errcode 40164): {errmsg}")]
    IpNotWhitelisted {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 40226: WeChat blocked the login of a high-risk user.
    #[error("wechat high-risk user (errcode 40226): {errmsg}")]
    HighRiskUser {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 41001: the access_token parameter is missing.
    #[error("wechat access_token missing (errcode 41001): {errmsg}")]
    AccessTokenMissing {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 41030: the Mini Program page path of a subscribe message does not exist.
    #[error("wechat invalid page (errcode 41030): {errmsg}")]
    InvalidPage {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 42001: the access_token expired.
    #[error("wechat access_token expired (errcode 42001): {errmsg}")]
    AccessTokenExpired {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 42002: the web OAuth refresh_token expired (30 days).
    #[error("wechat refresh_token expired (errcode 42002): {errmsg}")]
    RefreshTokenExpired {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 42003: the web OAuth code expired.
    #[error("wechat oauth code expired (errcode 42003): {errmsg}")]
    OauthCodeExpired {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 43004: the user does not follow the Official Account.
    #[error("wechat user not following (errcode 43004): {errmsg}")]
    UserNotFollowing {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 43101: the user has no remaining subscribe-message acceptance for this template.
    #[error("wechat user has not subscribed (errcode 43101): {errmsg}")]
    NotSubscribed {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 45002: the message content is too long.
    #[error("wechat content too long (errcode 45002): {errmsg}")]
    ContentTooLong {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 45009: the daily call quota of this API is used up.
    #[error("wechat daily quota reached (errcode 45009): {errmsg}")]
    DailyQuotaExceeded {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 45011: the per-minute (or per-user) frequency limit was hit; retry later.
    #[error("wechat rate limited (errcode 45011): {errmsg}")]
    RateLimited {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 45015: the 48-hour customer-service window is closed.
    #[error("wechat reply window closed (errcode 45015): {errmsg}")]
    ReplyWindowClosed {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 45047: too many customer-service messages since the user's last interaction.
    #[error("wechat reply count limit (errcode 45047): {errmsg}")]
    ReplyCountExceeded {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 46003: there is no custom menu.
    #[error("wechat menu does not exist (errcode 46003): {errmsg}")]
    MenuNotFound {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 47003: an argument (typically a template data value) is invalid.
    #[error("wechat argument invalid (errcode 47003): {errmsg}")]
    InvalidArgument {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 48001: the account type or OAuth scope is not allowed to call this API.
    #[error("wechat api unauthorized (errcode 48001): {errmsg}")]
    ApiUnauthorized {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 87009: the login-state signature is wrong (stale or wrong session_key).
    #[error("wechat invalid session signature (errcode 87009): {errmsg}")]
    InvalidSessionSignature {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 87014: content security check says the content is risky.
    #[error("wechat risky content (errcode 87014): {errmsg}")]
    RiskyContent {
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// 40016-40027, 40054, 40055: the custom menu violates a limit (count, type, name/key/url size, domain).
    #[error("wechat invalid menu (errcode {errcode}): {errmsg}")]
    InvalidMenu {
        /// The exact menu errcode, which names the broken limit.
        errcode: i64,
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },
    /// Any other non-zero errcode.
    #[error("wechat api error (errcode {errcode}): {errmsg}")]
    OtherErrcode {
        /// The errcode as WeChat sent it.
        errcode: i64,
        /// WeChat's `errmsg`, kept for the log.
        errmsg: String,
    },

    // --- WeChat Pay API v3 (real HTTP status plus a JSON body) ---
    /// WeChat Pay answered with a non-2xx status and a `{code, message, detail}` body.
    #[error("wechat pay error (HTTP {status}, {}): {}", body.code, body.message)]
    PayApi {
        /// The HTTP status of the response.
        status: u16,
        /// The parsed error body (boxed to keep `WechatError` small on every happy path).
        body: Box<PayErrorBody>,
    },

    // --- Configuration and key material ---
    /// The Official Account server Token is not 3-32 ASCII letters or digits.
    #[error("server token must be 3-32 ASCII letters or digits")]
    InvalidServerToken,
    /// The EncodingAESKey is not 43 base64 characters decoding to 32 bytes.
    #[error("EncodingAESKey must be 43 base64 characters")]
    InvalidEncodingAesKey,
    /// The session_key is not base64 of 16 bytes.
    #[error("session_key must be base64 of 16 bytes")]
    InvalidSessionKey,
    /// The WeChat Pay APIv3 key is not exactly 32 bytes.
    #[error("APIv3 key must be exactly 32 bytes")]
    InvalidApiV3Key,
    /// The merchant RSA private key could not be read.
    #[error("invalid RSA private key: {reason}")]
    InvalidPrivateKey {
        /// What the PEM/DER decoder said.
        reason: String,
    },
    /// The WeChat Pay public key or platform certificate could not be read.
    #[error("invalid RSA public key or certificate: {reason}")]
    InvalidPublicKey {
        /// What the PEM/DER decoder said.
        reason: String,
    },

    // --- Verification and decryption of what WeChat (or a client) sent ---
    /// A SHA-1 or RSA signature does not match the signed data.
    #[error("signature does not match")]
    SignatureMismatch,
    /// A field that must be base64 is not.
    #[error("{field} is not valid base64")]
    InvalidBase64 {
        /// The protocol name of the field.
        field: &'static str,
    },
    /// Ciphertext has an impossible length or structure.
    #[error("malformed ciphertext: {reason}")]
    MalformedCiphertext {
        /// Which structural rule was broken.
        reason: &'static str,
    },
    /// The padding after CBC decryption is invalid: wrong key, tampered data, or a stale session_key.
    #[error("bad padding after decryption")]
    BadPadding,
    /// The AEAD tag did not verify: wrong APIv3 key, nonce, associated data, or tampered ciphertext.
    #[error("AEAD_AES_256_GCM decryption failed")]
    DecryptionFailed,
    /// The decrypted data names another appid than ours.
    #[error("appid mismatch: expected {expected}, got {actual}")]
    AppidMismatch {
        /// Our appid.
        expected: String,
        /// The appid found in the decrypted data.
        actual: String,
    },
    /// Decrypted or received bytes that must be UTF-8 are not.
    #[error("{field} is not valid UTF-8")]
    InvalidUtf8 {
        /// The protocol name of the field.
        field: &'static str,
    },
    /// Decrypted or received JSON does not have the expected shape.
    #[error("invalid JSON in {field}: {reason}")]
    InvalidJson {
        /// The protocol name of the field.
        field: &'static str,
        /// What the JSON decoder said.
        reason: String,
    },
    /// A timestamp is not a decimal number of unix seconds.
    #[error("timestamp is not a number of unix seconds")]
    InvalidTimestamp,
    /// A signed timestamp is more than five minutes away from our clock (replay or clock skew).
    #[error("timestamp {timestamp} is outside the allowed window around {now}")]
    TimestampOutsideWindow {
        /// The timestamp that was signed, unix seconds.
        timestamp: i64,
        /// Our clock, unix seconds.
        now: i64,
    },
    /// `Wechatpay-Serial` names a key we do not have.
    #[error("unknown WeChat Pay key serial {serial}")]
    UnknownSerial {
        /// The serial or `PUB_KEY_ID_...` from the header.
        serial: String,
    },
    /// `Wechatpay-Signature-Type` or the Authorization scheme is not `WECHATPAY2-SHA256-RSA2048`.
    #[error("unsupported signature type {0}")]
    UnsupportedSignatureType(String),
    /// A notification resource uses another algorithm than `AEAD_AES_256_GCM`.
    #[error("unsupported algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// A nonce has the wrong length.
    #[error("invalid nonce: {reason}")]
    InvalidNonce {
        /// Which rule was broken.
        reason: &'static str,
    },
    /// An `Authorization: WECHATPAY2-SHA256-RSA2048 ...` header could not be parsed.
    #[error("malformed Authorization header: {reason}")]
    MalformedAuthorization {
        /// Which rule was broken.
        reason: &'static str,
    },
    /// A message is too large for the 4-byte length field of safe mode.
    #[error("message too large to encrypt")]
    MessageTooLarge,
    /// RSA signing failed (should not happen with a valid key).
    #[error("RSA signing failed")]
    SigningFailed,

    // --- XML ---
    /// The XML is not well formed, has a DTD, or nests too deeply.
    #[error("malformed XML: {reason}")]
    MalformedXml {
        /// What the XML reader said.
        reason: String,
    },
    /// A required XML element is missing.
    #[error("missing XML element {field}")]
    MissingXmlField {
        /// The element name.
        field: &'static str,
    },
    /// An XML element has a value of the wrong type.
    #[error("invalid XML element {field}: {reason}")]
    InvalidXmlField {
        /// The element name.
        field: &'static str,
        /// Which rule was broken.
        reason: &'static str,
    },
}

impl WechatError {
    /// Maps a WeChat API `errcode` (non-zero) and its `errmsg` to the matching variant.
    ///
    /// Codes the backend does not treat specially become [`WechatError::OtherErrcode`].
    pub fn from_errcode(errcode: i64, errmsg: impl Into<String>) -> Self {
        let errmsg = errmsg.into();
        match errcode {
            -1 => Self::SystemBusy { errmsg },
            40001 => Self::InvalidCredential { errmsg },
            40003 => Self::InvalidOpenid { errmsg },
            40013 => Self::InvalidAppid { errmsg },
            40014 => Self::InvalidAccessToken { errmsg },
            40029 => Self::InvalidCode { errmsg },
            40037 => Self::InvalidTemplateId { errmsg },
            40125 => Self::InvalidAppSecret { errmsg },
            40163 => Self::CodeUsed { errmsg },
            40164 => Self::IpNotWhitelisted { errmsg },
            40226 => Self::HighRiskUser { errmsg },
            41001 => Self::AccessTokenMissing { errmsg },
            41030 => Self::InvalidPage { errmsg },
            42001 => Self::AccessTokenExpired { errmsg },
            42002 => Self::RefreshTokenExpired { errmsg },
            42003 => Self::OauthCodeExpired { errmsg },
            43004 => Self::UserNotFollowing { errmsg },
            43101 => Self::NotSubscribed { errmsg },
            45002 => Self::ContentTooLong { errmsg },
            45009 => Self::DailyQuotaExceeded { errmsg },
            45011 => Self::RateLimited { errmsg },
            45015 => Self::ReplyWindowClosed { errmsg },
            45047 => Self::ReplyCountExceeded { errmsg },
            46003 => Self::MenuNotFound { errmsg },
            47003 => Self::InvalidArgument { errmsg },
            48001 => Self::ApiUnauthorized { errmsg },
            87009 => Self::InvalidSessionSignature { errmsg },
            87014 => Self::RiskyContent { errmsg },
            40016..=40019 | 40023..=40027 | 40054 | 40055 => Self::InvalidMenu { errcode, errmsg },
            _ => Self::OtherErrcode { errcode, errmsg },
        }
    }

    /// Builds the error for a non-2xx WeChat Pay response from its status and raw body.
    ///
    /// A body that is not the documented JSON shape still yields an error (code `""`), so the
    /// status is never lost.
    pub fn from_pay_response(status: u16, body: &[u8]) -> Self {
        let body = PayErrorBody::parse(body).unwrap_or_else(|_| PayErrorBody {
            code: PayErrorCode::Other(String::new()),
            message: String::from_utf8_lossy(body).chars().take(200).collect(),
            detail: None,
        });
        Self::PayApi { status, body: Box::new(body) }
    }

    /// The WeChat `errcode` behind this error, if it came from the WeChat API.
    pub fn errcode(&self) -> Option<i64> {
        let code = match self {
            Self::SystemBusy { .. } => -1,
            Self::InvalidCredential { .. } => 40001,
            Self::InvalidOpenid { .. } => 40003,
            Self::InvalidAppid { .. } => 40013,
            Self::InvalidAccessToken { .. } => 40014,
            Self::InvalidCode { .. } => 40029,
            Self::InvalidTemplateId { .. } => 40037,
            Self::InvalidAppSecret { .. } => 40125,
            Self::CodeUsed { .. } => 40163,
            Self::IpNotWhitelisted { .. } => 40164,
            Self::HighRiskUser { .. } => 40226,
            Self::AccessTokenMissing { .. } => 41001,
            Self::InvalidPage { .. } => 41030,
            Self::AccessTokenExpired { .. } => 42001,
            Self::RefreshTokenExpired { .. } => 42002,
            Self::OauthCodeExpired { .. } => 42003,
            Self::UserNotFollowing { .. } => 43004,
            Self::NotSubscribed { .. } => 43101,
            Self::ContentTooLong { .. } => 45002,
            Self::DailyQuotaExceeded { .. } => 45009,
            Self::RateLimited { .. } => 45011,
            Self::ReplyWindowClosed { .. } => 45015,
            Self::ReplyCountExceeded { .. } => 45047,
            Self::MenuNotFound { .. } => 46003,
            Self::InvalidArgument { .. } => 47003,
            Self::ApiUnauthorized { .. } => 48001,
            Self::InvalidSessionSignature { .. } => 87009,
            Self::RiskyContent { .. } => 87014,
            Self::InvalidMenu { errcode, .. } | Self::OtherErrcode { errcode, .. } => *errcode,
            _ => return None,
        };
        Some(code)
    }

    /// True for 40001 / 40014 / 42001: drop the cached access_token (compare-and-delete), refresh once, retry once.
    pub fn is_token_invalid(&self) -> bool {
        matches!(
            self,
            Self::InvalidCredential { .. } | Self::InvalidAccessToken { .. } | Self::AccessTokenExpired { .. }
        )
    }

    /// A stable kebab-case name for this kind of error, used as the problem+json `type`.
    ///
    /// `wechat-*` for the WeChat API and local checks, `wechatpay-*` for WeChat Pay.
    /// Clients and dashboards switch on it, so a published value never changes.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::SystemBusy { .. } => "wechat-system-busy",
            Self::InvalidCredential { .. } => "wechat-invalid-credential",
            Self::InvalidOpenid { .. } => "wechat-invalid-openid",
            Self::InvalidAppid { .. } => "wechat-invalid-appid",
            Self::InvalidAccessToken { .. } => "wechat-invalid-access-token",
            Self::InvalidCode { .. } => "wechat-invalid-code",
            Self::InvalidTemplateId { .. } => "wechat-invalid-template-id",
            Self::InvalidAppSecret { .. } => "wechat-invalid-app-secret",
            Self::CodeUsed { .. } => "wechat-code-used",
            Self::IpNotWhitelisted { .. } => "wechat-ip-not-whitelisted",
            Self::HighRiskUser { .. } => "wechat-high-risk-user",
            Self::AccessTokenMissing { .. } => "wechat-access-token-missing",
            Self::InvalidPage { .. } => "wechat-invalid-page",
            Self::AccessTokenExpired { .. } => "wechat-access-token-expired",
            Self::RefreshTokenExpired { .. } => "wechat-refresh-token-expired",
            Self::OauthCodeExpired { .. } => "wechat-oauth-code-expired",
            Self::UserNotFollowing { .. } => "wechat-user-not-following",
            Self::NotSubscribed { .. } => "wechat-not-subscribed",
            Self::ContentTooLong { .. } => "wechat-content-too-long",
            Self::DailyQuotaExceeded { .. } => "wechat-daily-quota-exceeded",
            Self::RateLimited { .. } => "wechat-rate-limited",
            Self::ReplyWindowClosed { .. } => "wechat-reply-window-closed",
            Self::ReplyCountExceeded { .. } => "wechat-reply-count-exceeded",
            Self::MenuNotFound { .. } => "wechat-menu-not-found",
            Self::InvalidArgument { .. } => "wechat-invalid-argument",
            Self::ApiUnauthorized { .. } => "wechat-api-unauthorized",
            Self::InvalidSessionSignature { .. } => "wechat-invalid-session-signature",
            Self::RiskyContent { .. } => "wechat-risky-content",
            Self::InvalidMenu { .. } => "wechat-invalid-menu",
            Self::OtherErrcode { .. } => "wechat-api-error",
            Self::PayApi { body, .. } => body.code.kind(),
            Self::InvalidServerToken => "wechat-invalid-server-token",
            Self::InvalidEncodingAesKey => "wechat-invalid-encoding-aes-key",
            Self::InvalidSessionKey => "wechat-invalid-session-key",
            Self::InvalidApiV3Key => "wechatpay-invalid-api-v3-key",
            Self::InvalidPrivateKey { .. } => "wechatpay-invalid-private-key",
            Self::InvalidPublicKey { .. } => "wechatpay-invalid-public-key",
            Self::SignatureMismatch => "wechat-signature-mismatch",
            Self::InvalidBase64 { .. } => "wechat-invalid-base64",
            Self::MalformedCiphertext { .. } => "wechat-malformed-ciphertext",
            Self::BadPadding => "wechat-bad-padding",
            Self::DecryptionFailed => "wechatpay-decryption-failed",
            Self::AppidMismatch { .. } => "wechat-appid-mismatch",
            Self::InvalidUtf8 { .. } => "wechat-invalid-utf8",
            Self::InvalidJson { .. } => "wechat-invalid-json",
            Self::InvalidTimestamp => "wechat-invalid-timestamp",
            Self::TimestampOutsideWindow { .. } => "wechat-timestamp-outside-window",
            Self::UnknownSerial { .. } => "wechatpay-unknown-serial",
            Self::UnsupportedSignatureType(_) => "wechatpay-unsupported-signature-type",
            Self::UnsupportedAlgorithm(_) => "wechatpay-unsupported-algorithm",
            Self::InvalidNonce { .. } => "wechat-invalid-nonce",
            Self::MalformedAuthorization { .. } => "wechatpay-malformed-authorization",
            Self::MessageTooLarge => "wechat-message-too-large",
            Self::SigningFailed => "wechatpay-signing-failed",
            Self::MalformedXml { .. } => "wechat-malformed-xml",
            Self::MissingXmlField { .. } => "wechat-missing-xml-field",
            Self::InvalidXmlField { .. } => "wechat-invalid-xml-field",
        }
    }
}

/// The `errcode` / `errmsg` pair every `api.weixin.qq.com` JSON answer may carry.
///
/// Success is an absent `errcode` or `0`, whatever the HTTP status; `#[serde(flatten)]` this into
/// a response struct, or deserialize it alone, then call [`ErrcodeStatus::into_result`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrcodeStatus {
    /// 0 or absent on success.
    #[serde(default)]
    pub errcode: i64,
    /// `ok` on success, a hint otherwise.
    #[serde(default)]
    pub errmsg: String,
}

impl ErrcodeStatus {
    /// `Ok(())` for errcode 0, otherwise the typed [`WechatError`].
    pub fn into_result(self) -> Result<(), WechatError> {
        if self.errcode == 0 {
            Ok(())
        } else {
            Err(WechatError::from_errcode(self.errcode, self.errmsg))
        }
    }
}

/// The JSON body of a non-2xx WeChat Pay API v3 response: `{"code":..,"message":..,"detail":{..}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayErrorBody {
    /// The machine-readable code, e.g. `PARAM_ERROR`.
    pub code: PayErrorCode,
    /// Human-readable text from WeChat Pay (not for citizens).
    #[serde(default)]
    pub message: String,
    /// Which field was wrong, for `PARAM_ERROR` and similar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<PayErrorDetail>,
}

impl PayErrorBody {
    /// Parses the raw response body.
    pub fn parse(body: &[u8]) -> Result<Self, WechatError> {
        serde_json::from_slice(body)
            .map_err(|err| WechatError::InvalidJson { field: "wechat pay error body", reason: err.to_string() })
    }
}

/// The `detail` object of a WeChat Pay error body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayErrorDetail {
    /// JSON pointer of the offending field, e.g. `/amount/total`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The offending value as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// What is wrong with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<String>,
    /// Where the field was: `body`, `query`, `path`, `header`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// The `code` of a WeChat Pay v3 error body; the ones of reference section 9.8 are named.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum PayErrorCode {
    /// `PARAM_ERROR`: bad parameter; fix the request, do not retry.
    ParamError,
    /// `INVALID_REQUEST`: not allowed in the current state (e.g. other parameters for a used out_trade_no).
    InvalidRequest,
    /// `APPID_MCHID_NOT_MATCH`: the appid is not bound to the mchid.
    AppidMchidNotMatch,
    /// `ORDER_CLOSED`: the order is closed; use a new out_trade_no.
    OrderClosed,
    /// `SIGN_ERROR`: bad Authorization signature, serial or clock skew.
    SignError,
    /// `OUT_TRADE_NO_USED`: the out_trade_no was used with different content.
    OutTradeNoUsed,
    /// `NO_AUTH`: the merchant lacks the product permission.
    NoAuth,
    /// `NOT_ENOUGH` / `NOTENOUGH`: insufficient balance.
    NotEnough,
    /// `RULE_LIMIT`: a business rule blocks the trade.
    RuleLimit,
    /// `TRADE_ERROR`: risk control blocks the trade.
    TradeError,
    /// `ACCOUNT_ERROR`: account problem blocks the trade.
    AccountError,
    /// `USER_ACCOUNT_ABNORMAL`: the payer's account is abnormal (refunds).
    UserAccountAbnormal,
    /// `MCH_NOT_EXISTS`: unknown merchant id.
    MchNotExists,
    /// `ORDER_NOT_EXIST` / `ORDERNOTEXIST`: unknown order.
    OrderNotExist,
    /// `RESOURCE_NOT_EXISTS`: unknown refund or other resource.
    ResourceNotExists,
    /// `FREQUENCY_LIMITED`: back off and retry.
    FrequencyLimited,
    /// `SYSTEM_ERROR`: retry with the same out_trade_no / out_refund_no.
    SystemError,
    /// `BANK_ERROR`: bank-side error; retry or query later.
    BankError,
    /// `NO_STATEMENT_EXIST`: no bill for that day (a normal outcome).
    NoStatementExist,
    /// `STATEMENT_CREATING`: the bill is not generated yet.
    StatementCreating,
    /// Any other code, kept verbatim.
    Other(String),
}

impl PayErrorCode {
    /// The code as WeChat Pay spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::ParamError => "PARAM_ERROR",
            Self::InvalidRequest => "INVALID_REQUEST",
            Self::AppidMchidNotMatch => "APPID_MCHID_NOT_MATCH",
            Self::OrderClosed => "ORDER_CLOSED",
            Self::SignError => "SIGN_ERROR",
            Self::OutTradeNoUsed => "OUT_TRADE_NO_USED",
            Self::NoAuth => "NO_AUTH",
            Self::NotEnough => "NOT_ENOUGH",
            Self::RuleLimit => "RULE_LIMIT",
            Self::TradeError => "TRADE_ERROR",
            Self::AccountError => "ACCOUNT_ERROR",
            Self::UserAccountAbnormal => "USER_ACCOUNT_ABNORMAL",
            Self::MchNotExists => "MCH_NOT_EXISTS",
            Self::OrderNotExist => "ORDER_NOT_EXIST",
            Self::ResourceNotExists => "RESOURCE_NOT_EXISTS",
            Self::FrequencyLimited => "FREQUENCY_LIMITED",
            Self::SystemError => "SYSTEM_ERROR",
            Self::BankError => "BANK_ERROR",
            Self::NoStatementExist => "NO_STATEMENT_EXIST",
            Self::StatementCreating => "STATEMENT_CREATING",
            Self::Other(code) => code,
        }
    }

    /// The stable problem `type` for this code.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ParamError => "wechatpay-param-error",
            Self::InvalidRequest => "wechatpay-invalid-request",
            Self::AppidMchidNotMatch => "wechatpay-appid-mchid-not-match",
            Self::OrderClosed => "wechatpay-order-closed",
            Self::SignError => "wechatpay-sign-error",
            Self::OutTradeNoUsed => "wechatpay-out-trade-no-used",
            Self::NoAuth => "wechatpay-no-auth",
            Self::NotEnough => "wechatpay-not-enough",
            Self::RuleLimit => "wechatpay-rule-limit",
            Self::TradeError => "wechatpay-trade-error",
            Self::AccountError => "wechatpay-account-error",
            Self::UserAccountAbnormal => "wechatpay-user-account-abnormal",
            Self::MchNotExists => "wechatpay-mch-not-exists",
            Self::OrderNotExist => "wechatpay-order-not-exist",
            Self::ResourceNotExists => "wechatpay-resource-not-exists",
            Self::FrequencyLimited => "wechatpay-frequency-limited",
            Self::SystemError => "wechatpay-system-error",
            Self::BankError => "wechatpay-bank-error",
            Self::NoStatementExist => "wechatpay-no-statement-exist",
            Self::StatementCreating => "wechatpay-statement-creating",
            Self::Other(_) => "wechatpay-error",
        }
    }
}

impl From<String> for PayErrorCode {
    fn from(code: String) -> Self {
        match code.as_str() {
            "PARAM_ERROR" => Self::ParamError,
            "INVALID_REQUEST" => Self::InvalidRequest,
            "APPID_MCHID_NOT_MATCH" => Self::AppidMchidNotMatch,
            "ORDER_CLOSED" => Self::OrderClosed,
            "SIGN_ERROR" => Self::SignError,
            "OUT_TRADE_NO_USED" => Self::OutTradeNoUsed,
            "NO_AUTH" => Self::NoAuth,
            "NOT_ENOUGH" | "NOTENOUGH" => Self::NotEnough,
            "RULE_LIMIT" => Self::RuleLimit,
            "TRADE_ERROR" => Self::TradeError,
            "ACCOUNT_ERROR" => Self::AccountError,
            "USER_ACCOUNT_ABNORMAL" => Self::UserAccountAbnormal,
            "MCH_NOT_EXISTS" => Self::MchNotExists,
            "ORDER_NOT_EXIST" | "ORDERNOTEXIST" => Self::OrderNotExist,
            "RESOURCE_NOT_EXISTS" => Self::ResourceNotExists,
            "FREQUENCY_LIMITED" => Self::FrequencyLimited,
            "SYSTEM_ERROR" => Self::SystemError,
            "BANK_ERROR" => Self::BankError,
            "NO_STATEMENT_EXIST" => Self::NoStatementExist,
            "STATEMENT_CREATING" => Self::StatementCreating,
            _ => Self::Other(code),
        }
    }
}

impl From<PayErrorCode> for String {
    fn from(code: PayErrorCode) -> Self {
        match code {
            PayErrorCode::Other(code) => code,
            named => named.as_str().to_owned(),
        }
    }
}

impl std::fmt::Display for PayErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;
