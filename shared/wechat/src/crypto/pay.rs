//! WeChat Pay API v3 cryptography: RSA-SHA256 request signing and the `Authorization` header,
//! verification of signed responses and notifications, AEAD_AES_256_GCM resources, and
//! `wx.requestPayment` parameters.
//!
//! Both directions are here because the sandbox plays WeChat Pay: it parses and verifies our
//! `Authorization` header and signs its responses with [`WechatpayHeaders::sign`].
//! Signatures are always computed over the exact body bytes sent or received, never re-serialised JSON.
//! Time is passed in (`now`), so tests can use the 2023 vectors and the sandbox can run a fake clock.

use std::collections::HashMap;
use std::fmt;

use aes_gcm::aead::{Aead as _, Payload};
use aes_gcm::{Aes256Gcm, KeyInit as _};
use chrono::{DateTime, Utc};
use rand::distributions::Alphanumeric;
use rand::{Rng as _, RngCore as _};
use rsa::pkcs1::{DecodeRsaPrivateKey as _, DecodeRsaPublicKey as _};
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey as _, DecodePublicKey as _};
use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _, Verifier as _};
use rsa::traits::PublicKeyParts as _;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use x509_cert::der::{DecodePem as _, Encode as _};

use crate::crypto::{base64_decode, base64_encode};
use crate::WechatError;

/// The only signature scheme of API v3: the `Authorization` scheme and the `Wechatpay-Signature-Type` value.
pub const SIGNATURE_TYPE: &str = "WECHATPAY2-SHA256-RSA2048";
/// Signed timestamps further than this from our clock are rejected (both directions use 5 minutes).
pub const TIMESTAMP_WINDOW_SECS: u64 = 300;
/// The only notification resource algorithm.
pub const AEAD_ALGORITHM: &str = "AEAD_AES_256_GCM";
/// WeChat Pay's signature probes start with this; they must never verify.
pub const SIGN_TEST_PREFIX: &str = "WECHATPAY/SIGNTEST/";

/// Header carrying the signed unix seconds of a response or notification.
pub const HEADER_TIMESTAMP: &str = "Wechatpay-Timestamp";
/// Header carrying the nonce of a response or notification.
pub const HEADER_NONCE: &str = "Wechatpay-Nonce";
/// Header carrying the base64 RSA signature of a response or notification.
pub const HEADER_SIGNATURE: &str = "Wechatpay-Signature";
/// Header naming the platform certificate serial or `PUB_KEY_ID_...` that signed.
pub const HEADER_SERIAL: &str = "Wechatpay-Serial";
/// Header naming the signature scheme.
pub const HEADER_SIGNATURE_TYPE: &str = "Wechatpay-Signature-Type";

/// The message a merchant signs for a request: `METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n`.
///
/// `canonical_url` is path plus query exactly as sent; `body` is empty for GET and DELETE.
pub fn request_message(method: &str, canonical_url: &str, timestamp: i64, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut message = format!("{method}\n{canonical_url}\n{timestamp}\n{nonce}\n").into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    message
}

/// The message WeChat Pay signs for a response or notification: `TIMESTAMP\nNONCE\nBODY\n`.
///
/// `timestamp` is the header text as received, so a verifier signs exactly what was sent.
pub fn response_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut message = format!("{timestamp}\n{nonce}\n").into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    message
}

/// The message behind `paySign`: appId, timeStamp, nonceStr and package, each followed by `\n`.
pub fn jsapi_message(app_id: &str, time_stamp: &str, nonce_str: &str, package: &str) -> Vec<u8> {
    format!("{app_id}\n{time_stamp}\n{nonce_str}\n{package}\n").into_bytes()
}

/// A fresh request nonce: 32 upper-case hex characters from the OS CSPRNG.
pub fn new_nonce() -> String {
    let mut bytes = [0_u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode_upper(bytes)
}

/// A fresh 12-character alphanumeric AEAD nonce, the shape WeChat Pay uses in `resource.nonce`.
pub fn new_resource_nonce() -> String {
    rand::rngs::OsRng.sample_iter(&Alphanumeric).take(12).map(char::from).collect()
}

/// Rejects a signed timestamp more than [`TIMESTAMP_WINDOW_SECS`] away from `now` (replay or clock skew).
pub fn check_timestamp_window(timestamp: i64, now: DateTime<Utc>) -> Result<(), WechatError> {
    let now = now.timestamp();
    if now.abs_diff(timestamp) > TIMESTAMP_WINDOW_SECS {
        return Err(WechatError::TimestampOutsideWindow { timestamp, now });
    }
    Ok(())
}

/// An RSA private key that signs with RSA-SHA256 PKCS#1 v1.5: the merchant API key (or, in the sandbox, the platform key).
#[derive(Clone)]
pub struct PayPrivateKey {
    signing: SigningKey<Sha256>,
}

impl PayPrivateKey {
    /// Reads a PEM key: `BEGIN PRIVATE KEY` (PKCS#8, what the merchant console issues) or `BEGIN RSA PRIVATE KEY` (PKCS#1).
    pub fn from_pem(pem: &str) -> Result<Self, WechatError> {
        let pem = pem.trim();
        let key = if pem.starts_with("-----BEGIN RSA PRIVATE KEY-----") {
            RsaPrivateKey::from_pkcs1_pem(pem).map_err(|err| err.to_string())
        } else if pem.starts_with("-----BEGIN PRIVATE KEY-----") {
            RsaPrivateKey::from_pkcs8_pem(pem).map_err(|err| err.to_string())
        } else {
            Err("expected a PEM PRIVATE KEY or RSA PRIVATE KEY block".to_owned())
        };
        let key = key.map_err(|reason| WechatError::InvalidPrivateKey { reason })?;
        Ok(Self { signing: SigningKey::new(key) })
    }

    /// Base64 RSA-SHA256 PKCS#1 v1.5 signature of `message`.
    ///
    /// The signature is deterministic; the RNG only blinds the private-key operation against timing attacks.
    pub fn sign(&self, message: &[u8]) -> Result<String, WechatError> {
        let signature =
            self.signing.try_sign_with_rng(&mut rand::rngs::OsRng, message).map_err(|_| WechatError::SigningFailed)?;
        Ok(base64_encode(&signature.to_bytes()))
    }

    /// The matching public key (the sandbox verifies our requests with it).
    pub fn public_key(&self) -> PayPublicKey {
        let public = RsaPublicKey::from(self.signing.as_ref());
        PayPublicKey::new(public)
    }
}

impl fmt::Debug for PayPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PayPrivateKey(***)")
    }
}

/// An RSA public key that verifies RSA-SHA256 PKCS#1 v1.5 signatures: a WeChat Pay public key or platform certificate key.
#[derive(Debug, Clone)]
pub struct PayPublicKey {
    verifying: VerifyingKey<Sha256>,
    /// The key as PKCS#1 `RSAPublicKey` DER for ring, whose verification is several times faster
    /// than the rsa crate's (every payment notification is verified); `None` for keys under
    /// 2048 bits, which ring refuses and which only tests use.
    ring_der: Option<std::sync::Arc<[u8]>>,
}

impl PayPublicKey {
    fn new(key: RsaPublicKey) -> Self {
        use rsa::pkcs1::EncodeRsaPublicKey as _;
        let ring_der = (key.n().bits() >= 2048)
            .then(|| key.to_pkcs1_der().ok())
            .flatten()
            .map(|der| std::sync::Arc::from(der.as_bytes()));
        Self { verifying: VerifyingKey::new(key), ring_der }
    }
}

impl PayPublicKey {
    /// Reads a PEM `PUBLIC KEY` (the WeChat Pay public key download), `RSA PUBLIC KEY`, or `CERTIFICATE`.
    pub fn from_pem(pem: &str) -> Result<Self, WechatError> {
        let pem = pem.trim();
        if pem.starts_with("-----BEGIN CERTIFICATE-----") {
            return Ok(PlatformCertificate::from_pem(pem)?.public_key);
        }
        let key = if pem.starts_with("-----BEGIN RSA PUBLIC KEY-----") {
            RsaPublicKey::from_pkcs1_pem(pem).map_err(|err| err.to_string())
        } else if pem.starts_with("-----BEGIN PUBLIC KEY-----") {
            RsaPublicKey::from_public_key_pem(pem).map_err(|err| err.to_string())
        } else {
            Err("expected a PEM PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE block".to_owned())
        };
        let key = key.map_err(|reason| WechatError::InvalidPublicKey { reason })?;
        Ok(Self::new(key))
    }

    /// Checks a base64 RSA-SHA256 PKCS#1 v1.5 signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &str) -> Result<(), WechatError> {
        // Probes are deliberately invalid; rejecting them by prefix keeps that independent of base64 quirks.
        if signature.starts_with(SIGN_TEST_PREFIX) {
            return Err(WechatError::SignatureMismatch);
        }
        let bytes = base64_decode("signature", signature).map_err(|_| WechatError::SignatureMismatch)?;
        if let Some(der) = &self.ring_der {
            let key = ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, &der[..]);
            return key.verify(message, &bytes).map_err(|_| WechatError::SignatureMismatch);
        }
        let signature = Signature::try_from(bytes.as_slice()).map_err(|_| WechatError::SignatureMismatch)?;
        self.verifying.verify(message, &signature).map_err(|_| WechatError::SignatureMismatch)
    }
}

/// A WeChat Pay platform certificate: the key plus the serial `Wechatpay-Serial` names it by.
#[derive(Debug, Clone)]
pub struct PlatformCertificate {
    /// Upper-case hex serial without leading zero bytes, as WeChat Pay writes it.
    pub serial_no: String,
    /// The certificate's RSA public key.
    pub public_key: PayPublicKey,
    /// Start of validity.
    pub not_before: DateTime<Utc>,
    /// End of validity; prefer the newest certificate that is still valid.
    pub not_after: DateTime<Utc>,
}

impl PlatformCertificate {
    /// Reads a PEM `CERTIFICATE` (as decrypted from `/v3/certificates`).
    pub fn from_pem(pem: &str) -> Result<Self, WechatError> {
        let invalid = |reason: String| WechatError::InvalidPublicKey { reason };
        let cert = x509_cert::Certificate::from_pem(pem.trim()).map_err(|err| invalid(err.to_string()))?;
        let tbs = &cert.tbs_certificate;
        let spki_der = tbs.subject_public_key_info.to_der().map_err(|err| invalid(err.to_string()))?;
        let key = RsaPublicKey::from_public_key_der(&spki_der).map_err(|err| invalid(err.to_string()))?;
        // DER adds a 0x00 byte to keep serials with the top bit set positive; WeChat's hex omits it.
        let serial = tbs.serial_number.as_bytes();
        let first_significant = serial.iter().position(|&b| b != 0).unwrap_or(serial.len().saturating_sub(1));
        let to_utc = |time: x509_cert::time::Time| {
            i64::try_from(time.to_unix_duration().as_secs())
                .ok()
                .and_then(|secs| DateTime::from_timestamp(secs, 0))
                .ok_or_else(|| invalid("validity out of range".to_owned()))
        };
        Ok(Self {
            serial_no: hex::encode_upper(&serial[first_significant..]),
            public_key: PayPublicKey::new(key),
            not_before: to_utc(tbs.validity.not_before)?,
            not_after: to_utc(tbs.validity.not_after)?,
        })
    }
}

/// The merchant side of request signing: mchid, API certificate serial and private key.
#[derive(Debug, Clone)]
pub struct MerchantSigner {
    mchid: String,
    serial_no: String,
    key: PayPrivateKey,
}

impl MerchantSigner {
    /// Binds a merchant id to the serial of its API certificate and the matching private key.
    pub fn new(mchid: impl Into<String>, serial_no: impl Into<String>, key: PayPrivateKey) -> Self {
        Self { mchid: mchid.into(), serial_no: serial_no.into(), key }
    }

    /// The merchant id.
    pub fn mchid(&self) -> &str {
        &self.mchid
    }

    /// The merchant API certificate serial.
    pub fn serial_no(&self) -> &str {
        &self.serial_no
    }

    /// The private key, e.g. to derive its public key for the sandbox.
    pub fn key(&self) -> &PayPrivateKey {
        &self.key
    }

    /// Signs one request; send `header.to_string()` as `Authorization` with exactly these `body` bytes.
    pub fn authorize(
        &self,
        method: &str,
        canonical_url: &str,
        body: &[u8],
        timestamp: i64,
        nonce: &str,
    ) -> Result<AuthorizationHeader, WechatError> {
        let signature = self.key.sign(&request_message(method, canonical_url, timestamp, nonce, body))?;
        Ok(AuthorizationHeader {
            mchid: self.mchid.clone(),
            nonce_str: nonce.to_owned(),
            signature,
            timestamp,
            serial_no: self.serial_no.clone(),
        })
    }

    /// Client parameters for `wx.requestPayment` / `getBrandWCPayRequest` for a `prepay_id`.
    ///
    /// `app_id` is the appid the order was placed with (Mini Program or Official Account).
    pub fn jsapi_params(
        &self,
        app_id: &str,
        prepay_id: &str,
        timestamp: i64,
        nonce_str: &str,
    ) -> Result<JsapiPayParams, WechatError> {
        let time_stamp = timestamp.to_string();
        let package = format!("prepay_id={prepay_id}");
        let pay_sign = self.key.sign(&jsapi_message(app_id, &time_stamp, nonce_str, &package))?;
        Ok(JsapiPayParams {
            app_id: app_id.to_owned(),
            time_stamp,
            nonce_str: nonce_str.to_owned(),
            package,
            sign_type: "RSA".to_owned(),
            pay_sign,
        })
    }
}

/// `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="..",nonce_str="..",signature="..",timestamp="..",serial_no=".."`.
///
/// `Display` renders the header value; [`AuthorizationHeader::parse`] reads one (the sandbox's side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationHeader {
    /// Merchant id.
    pub mchid: String,
    /// The request nonce.
    pub nonce_str: String,
    /// Base64 RSA-SHA256 signature of [`request_message`].
    pub signature: String,
    /// Unix seconds.
    pub timestamp: i64,
    /// Serial of the merchant API certificate whose key signed.
    pub serial_no: String,
}

impl AuthorizationHeader {
    /// Parses a header value; the scheme must be `WECHATPAY2-SHA256-RSA2048` and all five fields present once.
    pub fn parse(value: &str) -> Result<Self, WechatError> {
        let malformed = |reason| WechatError::MalformedAuthorization { reason };
        let value = value.trim();
        let (scheme, params) = value.split_once(' ').ok_or(malformed("no scheme"))?;
        if scheme != SIGNATURE_TYPE {
            return Err(WechatError::UnsupportedSignatureType(scheme.to_owned()));
        }
        let mut fields: HashMap<&str, &str> = HashMap::new();
        for param in params.split(',') {
            let (name, quoted) = param.trim().split_once('=').ok_or(malformed("parameter without ="))?;
            let inner = quoted
                .strip_prefix('"')
                .and_then(|rest| rest.strip_suffix('"'))
                .ok_or(malformed("value is not quoted"))?;
            if inner.contains('"') {
                return Err(malformed("quote inside a value"));
            }
            if fields.insert(name.trim(), inner).is_some() {
                return Err(malformed("repeated parameter"));
            }
        }
        let mut take = |name: &'static str, missing: &'static str| {
            fields.remove(name).map(str::to_owned).ok_or(WechatError::MalformedAuthorization { reason: missing })
        };
        let mchid = take("mchid", "mchid missing")?;
        let nonce_str = take("nonce_str", "nonce_str missing")?;
        let signature = take("signature", "signature missing")?;
        let timestamp = take("timestamp", "timestamp missing")?;
        let serial_no = take("serial_no", "serial_no missing")?;
        let timestamp = parse_unix_seconds(&timestamp).map_err(|_| malformed("timestamp is not unix seconds"))?;
        Ok(Self { mchid, nonce_str, signature, timestamp, serial_no })
    }

    /// Verifies the signature over this request with the merchant's public key, then the 5-minute window.
    ///
    /// Checking that `mchid` and `serial_no` belong together is the caller's job.
    pub fn verify(
        &self,
        key: &PayPublicKey,
        method: &str,
        canonical_url: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), WechatError> {
        let message = request_message(method, canonical_url, self.timestamp, &self.nonce_str, body);
        key.verify(&message, &self.signature)?;
        check_timestamp_window(self.timestamp, now)
    }
}

impl fmt::Display for AuthorizationHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            r#"{SIGNATURE_TYPE} mchid="{}",nonce_str="{}",signature="{}",timestamp="{}",serial_no="{}""#,
            self.mchid, self.nonce_str, self.signature, self.timestamp, self.serial_no
        )
    }
}

/// The `Wechatpay-*` headers of a signed response or notification, as received (header names are case-insensitive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WechatpayHeaders {
    /// `Wechatpay-Timestamp`, unix seconds as text.
    pub timestamp: String,
    /// `Wechatpay-Nonce`.
    pub nonce: String,
    /// `Wechatpay-Signature`, base64.
    pub signature: String,
    /// `Wechatpay-Serial`: platform certificate serial or `PUB_KEY_ID_...`.
    pub serial: String,
    /// `Wechatpay-Signature-Type`; absent is treated as `WECHATPAY2-SHA256-RSA2048`.
    pub signature_type: Option<String>,
}

impl WechatpayHeaders {
    /// Signs a response or notification body (the sandbox's side of WeChat Pay).
    pub fn sign(
        key: &PayPrivateKey,
        serial: &str,
        timestamp: i64,
        nonce: &str,
        body: &[u8],
    ) -> Result<Self, WechatError> {
        let timestamp = timestamp.to_string();
        let signature = key.sign(&response_message(&timestamp, nonce, body))?;
        Ok(Self {
            timestamp,
            nonce: nonce.to_owned(),
            signature,
            serial: serial.to_owned(),
            signature_type: Some(SIGNATURE_TYPE.to_owned()),
        })
    }

    /// The headers as (name, value) pairs, in the order WeChat Pay sends them.
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            (HEADER_TIMESTAMP, self.timestamp.clone()),
            (HEADER_NONCE, self.nonce.clone()),
            (HEADER_SIGNATURE, self.signature.clone()),
            (HEADER_SERIAL, self.serial.clone()),
        ];
        if let Some(signature_type) = &self.signature_type {
            pairs.push((HEADER_SIGNATURE_TYPE, signature_type.clone()));
        }
        pairs
    }
}

/// The keys WeChat Pay signs with, by `Wechatpay-Serial`: platform certificates and/or the WeChat Pay public key.
///
/// Both kinds can be configured at once, which a switch from certificates to the public key requires.
#[derive(Debug, Clone, Default)]
pub struct PayVerifier {
    keys: HashMap<String, PayPublicKey>,
}

impl PayVerifier {
    /// An empty verifier; add keys before use.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key under its id (`PUB_KEY_ID_...` or a certificate serial).
    pub fn add_key(&mut self, id: &str, key: PayPublicKey) {
        self.keys.insert(id.trim().to_ascii_uppercase(), key);
    }

    /// Adds a platform certificate under its serial.
    pub fn add_certificate(&mut self, certificate: PlatformCertificate) {
        self.add_key(&certificate.serial_no, certificate.public_key);
    }

    /// Whether a key with this id is known; if not, refresh certificates once before rejecting.
    pub fn has_key(&self, id: &str) -> bool {
        self.keys.contains_key(&id.trim().to_ascii_uppercase())
    }

    /// Verifies a signed response or notification over its raw body bytes.
    ///
    /// Order: scheme, key by serial, RSA signature, then the 5-minute window around `now`.
    pub fn verify(&self, headers: &WechatpayHeaders, body: &[u8], now: DateTime<Utc>) -> Result<(), WechatError> {
        if let Some(signature_type) = &headers.signature_type {
            if signature_type != SIGNATURE_TYPE {
                return Err(WechatError::UnsupportedSignatureType(signature_type.clone()));
            }
        }
        let key = self
            .keys
            .get(&headers.serial.trim().to_ascii_uppercase())
            .ok_or_else(|| WechatError::UnknownSerial { serial: headers.serial.clone() })?;
        key.verify(&response_message(&headers.timestamp, &headers.nonce, body), &headers.signature)?;
        check_timestamp_window(parse_unix_seconds(&headers.timestamp)?, now)
    }
}

/// The 32-byte APIv3 key (set in the merchant console as 32 ASCII characters) that keys AEAD_AES_256_GCM.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiV3Key([u8; 32]);

impl ApiV3Key {
    /// Accepts the console value: exactly 32 bytes of text.
    pub fn parse(raw: &str) -> Result<Self, WechatError> {
        <[u8; 32]>::try_from(raw.as_bytes()).map(Self).map_err(|_| WechatError::InvalidApiV3Key)
    }

    /// Decrypts a notification (or `/v3/certificates`) resource to its UTF-8 plaintext.
    pub fn decrypt_resource(&self, resource: &EncryptedResource) -> Result<String, WechatError> {
        if resource.algorithm != AEAD_ALGORITHM {
            return Err(WechatError::UnsupportedAlgorithm(resource.algorithm.clone()));
        }
        let nonce = aead_nonce(&resource.nonce)?;
        let data = base64_decode("ciphertext", &resource.ciphertext)?;
        // The 16-byte tag is appended to the ciphertext.
        if data.len() < 16 {
            return Err(WechatError::MalformedCiphertext { reason: "shorter than the GCM tag" });
        }
        let plaintext = Aes256Gcm::new(&self.0.into())
            .decrypt(&nonce.into(), Payload { msg: &data, aad: resource.associated_data.as_bytes() })
            .map_err(|_| WechatError::DecryptionFailed)?;
        String::from_utf8(plaintext).map_err(|_| WechatError::InvalidUtf8 { field: "resource plaintext" })
    }

    /// Encrypts a plaintext into a resource, as WeChat Pay does for notifications (the sandbox's side).
    ///
    /// `nonce` must be 12 bytes; use [`new_resource_nonce`] for a fresh one.
    pub fn encrypt_resource(
        &self,
        original_type: Option<&str>,
        associated_data: &str,
        nonce: &str,
        plaintext: &str,
    ) -> Result<EncryptedResource, WechatError> {
        let nonce_bytes = aead_nonce(nonce)?;
        let data = Aes256Gcm::new(&self.0.into())
            .encrypt(&nonce_bytes.into(), Payload { msg: plaintext.as_bytes(), aad: associated_data.as_bytes() })
            .map_err(|_| WechatError::MessageTooLarge)?;
        Ok(EncryptedResource {
            original_type: original_type.map(str::to_owned),
            algorithm: AEAD_ALGORITHM.to_owned(),
            ciphertext: base64_encode(&data),
            associated_data: associated_data.to_owned(),
            nonce: nonce.to_owned(),
        })
    }
}

impl fmt::Debug for ApiV3Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiV3Key(***)")
    }
}

/// The `resource` object of a notification (and `encrypt_certificate` of `/v3/certificates`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedResource {
    /// `transaction`, `refund`, ...; absent in `/v3/certificates`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_type: Option<String>,
    /// Always `AEAD_AES_256_GCM`.
    pub algorithm: String,
    /// Base64 of ciphertext followed by the 16-byte tag.
    pub ciphertext: String,
    /// AAD; may be empty (or absent, read as empty).
    #[serde(default)]
    pub associated_data: String,
    /// 12-character nonce, used as its UTF-8 bytes.
    pub nonce: String,
}

/// A WeChat Pay notification envelope (payment, refund); decrypt `resource` with [`ApiV3Key::decrypt_resource`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Notification id, e.g. `EV-2018022511223320873`; one dedupe key among others.
    pub id: String,
    /// RFC 3339 with offset.
    pub create_time: String,
    /// `encrypt-resource`.
    pub resource_type: String,
    /// `TRANSACTION.SUCCESS`, `REFUND.SUCCESS`, `REFUND.ABNORMAL`, `REFUND.CLOSED`, ...
    pub event_type: String,
    /// Human-readable summary.
    #[serde(default)]
    pub summary: String,
    /// The encrypted business object.
    pub resource: EncryptedResource,
}

impl Notification {
    /// Parses the raw body; verify its signature over the same bytes first.
    pub fn parse(body: &[u8]) -> Result<Self, WechatError> {
        serde_json::from_slice(body)
            .map_err(|err| WechatError::InvalidJson { field: "notification body", reason: err.to_string() })
    }
}

/// What the backend returns to the client for `wx.requestPayment` (`appId` is ignored there but used by
/// `getBrandWCPayRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JsapiPayParams {
    /// `appId`: the appid of the order.
    pub app_id: String,
    /// `timeStamp`: unix seconds **as a string**.
    pub time_stamp: String,
    /// `nonceStr`: at most 32 characters.
    pub nonce_str: String,
    /// `package`: `prepay_id=...`.
    pub package: String,
    /// `signType`: always `RSA`.
    pub sign_type: String,
    /// `paySign`: base64 RSA-SHA256 of [`jsapi_message`].
    pub pay_sign: String,
}

impl JsapiPayParams {
    /// Checks `paySign` with the merchant public key (the sandbox's side).
    pub fn verify(&self, key: &PayPublicKey) -> Result<(), WechatError> {
        key.verify(&jsapi_message(&self.app_id, &self.time_stamp, &self.nonce_str, &self.package), &self.pay_sign)
    }
}

/// Unix seconds as decimal text: 1-19 ASCII digits (no sign, no spaces).
fn parse_unix_seconds(text: &str) -> Result<i64, WechatError> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WechatError::InvalidTimestamp);
    }
    text.parse().map_err(|_| WechatError::InvalidTimestamp)
}

fn aead_nonce(nonce: &str) -> Result<[u8; 12], WechatError> {
    <[u8; 12]>::try_from(nonce.as_bytes()).map_err(|_| WechatError::InvalidNonce { reason: "must be 12 bytes" })
}

#[cfg(test)]
mod tests;
