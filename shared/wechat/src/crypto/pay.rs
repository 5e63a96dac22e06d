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
mod tests {
    use super::*;
    use sha2::Digest as _;

    const KEY_PKCS8: &str = include_str!("testdata/test_key_pkcs8.pem");
    const KEY_PKCS1: &str = include_str!("testdata/test_key_pkcs1.pem");
    const PUB_SPKI: &str = include_str!("testdata/test_pub_spki.pem");
    const PUB_PKCS1: &str = include_str!("testdata/test_pub_pkcs1.pem");
    const CERT: &str = include_str!("testdata/test_cert.pem");
    const CERT_SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";

    const MCHID: &str = "1900000001";
    const APPID: &str = "wx1234567890abcdef";
    const NONCE: &str = "593BEC0C930BF1AFEB40B4A08C8FB242";
    const ORDER_BODY: &str = r#"{"appid":"wx1234567890abcdef","mchid":"1900000001","description":"Traffic fine 2023-001","out_trade_no":"FINE20231114000001","notify_url":"https://city.example.cn/api/pay/notify","amount":{"total":100,"currency":"CNY"},"payer":{"openid":"oUser000000000000000000001"}}"#;
    const ORDER_SIGNATURE: &str = "N63e33ulULMnRX/U/g0tTIySShLZBn/tKwC95d4D/ISCXdtivbtNB2ms9HTsUlQSK6uD40v61NWehTpP8PBtxTOYWwPRmElrLS6ft/7bF+7bj8xcG55xDKdYE5o/WgP3rrjpDL3Sj1PNg/4fHcDZu3E23s3rQGysOdkiajydRfM5v/E+DOdwq0HehkyJjdwQw3IHL12cO40xou52Gi7ZliaSbnhGrphj3rsfbdx+z8v8YyNRuZE5Euj4LAFmyU4/KZHNbS8OPx0XMTWM9qhBQZSpdv9fUxpK6GcElfB411s0XXU3G4tNwwdDXJ0pUXKsPGn3MU6qiVGm/kY8/N7p9Q==";
    const QUERY_URL: &str = "/v3/pay/transactions/out-trade-no/FINE20231114000001?mchid=1900000001";
    const QUERY_SIGNATURE: &str = "G5zz5Hm6a45ujT+6ZlVNQnL0HcbwWQXEa81VO2+Ij1/28Ic8HWveS7IFxX7H3pZr4d2cfvoHDHu14Cuw1b2e2R9jULuRfsScZXk4lppVTff6/LLSflQRgZ7extUA1ZczFzhc+aQTDWizDhOdDkaj6LtV9b1JRDOWljoldYUl2QgG9izCz55qKTwwmjb2Afs4LcaL8Hj47rVc3c6w2Uz3QJLsVk5g4Oe7MeK5lm+cLqlFF7bzrb7kUSOoL/+oHWDy5b3p8vROWWf+r8arlnR2wi+NUa9SgDCCPax8Bz5BGks3v8x0OFs/2KUkrLIARWWCcGEYVWopz0//LUHnxtw+pA==";
    const PAY_SIGN: &str = "SBisOCR01rIf8+sv/iWL/cB2VeeGFJMx4Ien1i1S7kz/xJNjK9eRNmYOgasiNfYZb3Szrges6LLvyde9qXvEI394ZVoM19U9hnUA+bC+Q2vrD2YEUdQJUbwHr2xnWK/gSrqouRL9QiFJsYgX9n0e6er13SP+V/Q+GhH8kyOat3LsVy/4+xHjnmgyAypiJa9HhIXmtaZcnlJVF5s5v1DdJgxpj4RHx0+a6jNtN9tzAuUVSxjPME9Ghkxm4+R8H9s98jl6uOgS/zV6nNFr6tKDdyrEAm5C/xTjlD4TfWh/q44vKskY4ES1PoZs+thBUL4R00LdFM++jbpf1olxjlw6DQ==";

    const API_V3_KEY: &str = "0123456789abcdef0123456789abcdef";
    const RESOURCE_NONCE: &str = "a1b2c3d4e5f6";
    const TRANSACTION_JSON: &str = r#"{"mchid":"1900000001","appid":"wx1234567890abcdef","out_trade_no":"FINE20231114000001","transaction_id":"4200000000202311140000000001","trade_type":"JSAPI","trade_state":"SUCCESS","trade_state_desc":"ok","bank_type":"OTHERS","attach":"","success_time":"2023-11-14T22:13:20+08:00","payer":{"openid":"oUser000000000000000000001"},"amount":{"total":100,"payer_total":100,"currency":"CNY","payer_currency":"CNY"}}"#;
    const RESOURCE_CIPHERTEXT: &str = "XB6Cd1TRZAa6voRFgdTB4CeZmKFSWRDOMgP6bbpVRLSdvbH+VDlQAzAGt/cwYDrmcAMJazp2UnXYqM2VnBzWazQqZRX3BZsflmDpHiPaGEGrRxylfFf2wGT514j+ETcd1hh7LF3IgtIBr+qZ2A3/QUH0N0vF01E/EThrDlNHPFaTCkasUoFwfYmIhdwU6N4fREQ2cU3Q2+CJVjUCgUBDzyBbQgKM9kmUuyd1klj7LtB8+QC54pOss07/x7uROi/6J8mA4bxBL+IHE2RSheO6SE8lzhl9WQ8+vUHuyIIvrib5RxqJw7N/7BJ3yVQIayPGVoXn+22dHiOjGWTOCLNoD45MEE61rUdTD1CQtPDUZ+BezCxuyYcgECfEq+UhLYaxFGq2uCuVW7YVWti4JsZ0nuHtpiyx8u829jWbcdG/at41Q9NxSIQGS40k8QplqMqecf65wXNuEvPxTiv4ndsEr46dHLSErBrzhS1pFNfGStieoIou1hIW0Fg4204l3h93xnhnJXYCUce4ccX4m2dnUoAD8q5t/OuNe/M/8kpV74pXC0a1w+9xbYA=";

    const PLATFORM_SERIAL: &str = "PUB_KEY_ID_0119000000012023111400000000000001";
    const NOTIFY_TIMESTAMP: &str = "1700000001";
    const NOTIFY_NONCE: &str = "fd5a0c1f0c7e4b0e9a1d2c3b4a596877";
    const NOTIFY_SIGNATURE: &str = "VG60Q5aFCLRw0KCb+HaIYP8ll4rg/4BLeuaqNQMVBCocrTIzoWVbMXdACTrtQRr7RikoEZJ7nWgxS8pffPuN7cMofvmzJs6ihxBwb0yjdELZaI68in9l+oNUTew7N0lPbNikQTSak+oaADg9yPe2cdw6jn9304m9/Pu7hFPtqK2wUh8cK48LKzQ8IsW2kqxrtcttqdMAdVEN42V/b7Y79wj4oPSsCoHvWNkmoyeBjuG9FGnqY2jYhk6vDCS14OZ8quGSxwrA5tfXFqkTxRg0RNMlE+fcj3fVvAfFa4AmJAHVKyAmBPlXk+DabMOszEUomMBWJi4YGVGqHzkMF/IZLg==";

    fn key() -> PayPrivateKey {
        PayPrivateKey::from_pem(KEY_PKCS8).unwrap()
    }

    fn signer() -> MerchantSigner {
        MerchantSigner::new(MCHID, "MERCHANT_CERT_SERIAL", key())
    }

    fn at(unix: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(unix, 0).unwrap()
    }

    fn notification_body() -> String {
        format!(
            r#"{{"id":"EV-2023111400000001","create_time":"2023-11-14T22:13:21+08:00","resource_type":"encrypt-resource","event_type":"TRANSACTION.SUCCESS","summary":"payment ok","resource":{{"original_type":"transaction","algorithm":"AEAD_AES_256_GCM","ciphertext":"{RESOURCE_CIPHERTEXT}","associated_data":"transaction","nonce":"a1b2c3d4e5f6"}}}}"#
        )
    }

    fn notification_headers() -> WechatpayHeaders {
        WechatpayHeaders {
            timestamp: NOTIFY_TIMESTAMP.to_owned(),
            nonce: NOTIFY_NONCE.to_owned(),
            signature: NOTIFY_SIGNATURE.to_owned(),
            serial: PLATFORM_SERIAL.to_owned(),
            signature_type: Some(SIGNATURE_TYPE.to_owned()),
        }
    }

    fn platform_verifier() -> PayVerifier {
        let mut verifier = PayVerifier::new();
        verifier.add_key(PLATFORM_SERIAL, PayPublicKey::from_pem(PUB_SPKI).unwrap());
        verifier
    }

    fn resource(ciphertext: &str, associated_data: &str) -> EncryptedResource {
        EncryptedResource {
            original_type: Some("transaction".to_owned()),
            algorithm: AEAD_ALGORITHM.to_owned(),
            ciphertext: ciphertext.to_owned(),
            associated_data: associated_data.to_owned(),
            nonce: RESOURCE_NONCE.to_owned(),
        }
    }

    #[test]
    fn order_request_signature_matches_vector_13_6a() {
        let message = request_message("POST", "/v3/pay/transactions/jsapi", 1700000000, NONCE, ORDER_BODY.as_bytes());
        let expected = format!("POST\n/v3/pay/transactions/jsapi\n1700000000\n{NONCE}\n{ORDER_BODY}\n");
        assert_eq!(message, expected.as_bytes());
        assert_eq!(key().sign(&message).unwrap(), ORDER_SIGNATURE);
    }

    #[test]
    fn get_request_with_empty_body_signature_matches_vector_13_6b() {
        let message = request_message("GET", QUERY_URL, 1700000000, NONCE, b"");
        assert_eq!(message, format!("GET\n{QUERY_URL}\n1700000000\n{NONCE}\n\n").as_bytes());
        assert_eq!(key().sign(&message).unwrap(), QUERY_SIGNATURE);
    }

    #[test]
    fn pkcs1_and_pkcs8_forms_of_the_test_key_sign_identically() {
        let pkcs1 = PayPrivateKey::from_pem(KEY_PKCS1).unwrap();
        let message = request_message("GET", QUERY_URL, 1700000000, NONCE, b"");
        assert_eq!(pkcs1.sign(&message).unwrap(), QUERY_SIGNATURE);
    }

    #[test]
    fn jsapi_pay_params_match_vector_13_6c() {
        let params = signer()
            .jsapi_params(APPID, "wx141459550000000000000000000000", 1700000000, "5K8264ILTKCH16CQ2502SI8ZNMTM67VS")
            .unwrap();
        assert_eq!(params.pay_sign, PAY_SIGN);
        assert_eq!(params.package, "prepay_id=wx141459550000000000000000000000");
        assert_eq!(params.sign_type, "RSA");
        assert_eq!(params.time_stamp, "1700000000");
        let json = serde_json::to_value(&params).unwrap();
        assert_eq!(json["appId"], APPID);
        assert_eq!(json["timeStamp"], "1700000000");
        assert_eq!(json["nonceStr"], "5K8264ILTKCH16CQ2502SI8ZNMTM67VS");
        assert_eq!(json["signType"], "RSA");
        assert_eq!(json["paySign"], PAY_SIGN);
        assert!(params.verify(&key().public_key()).is_ok());
    }

    #[test]
    fn notification_of_vector_13_6d_verifies_and_decrypts_to_the_13_5_transaction() {
        let body = notification_body();
        let digest = sha2::Sha256::digest(response_message(NOTIFY_TIMESTAMP, NOTIFY_NONCE, body.as_bytes()));
        assert_eq!(hex::encode(digest), "d513262f82e33ab54b4b5e5cfe51849dec916d75d0af9ff36d0e7a6b139d5843");

        platform_verifier().verify(&notification_headers(), body.as_bytes(), at(1700000001 + 5)).unwrap();
        let notification = Notification::parse(body.as_bytes()).unwrap();
        assert_eq!(notification.event_type, "TRANSACTION.SUCCESS");
        let plaintext = ApiV3Key::parse(API_V3_KEY).unwrap().decrypt_resource(&notification.resource).unwrap();
        assert_eq!(plaintext, TRANSACTION_JSON);
        let transaction: serde_json::Value = serde_json::from_str(&plaintext).unwrap();
        assert_eq!(transaction["amount"]["total"], 100);
    }

    #[test]
    fn signing_the_notification_reproduces_the_13_6d_headers() {
        let headers =
            WechatpayHeaders::sign(&key(), PLATFORM_SERIAL, 1700000001, NOTIFY_NONCE, notification_body().as_bytes())
                .unwrap();
        assert_eq!(headers, notification_headers());
        let names: Vec<_> = headers.to_pairs().into_iter().map(|(name, _)| name).collect();
        assert_eq!(names, [HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE, HEADER_SERIAL, HEADER_SIGNATURE_TYPE]);
    }

    #[test]
    fn a_notification_with_one_flipped_body_byte_is_rejected() {
        let mut body = notification_body().into_bytes();
        body[10] ^= 1;
        let res = platform_verifier().verify(&notification_headers(), &body, at(1700000001));
        assert!(matches!(res, Err(WechatError::SignatureMismatch)));
    }

    #[test]
    fn a_notification_from_an_unknown_serial_is_rejected() {
        let mut headers = notification_headers();
        headers.serial = "PUB_KEY_ID_0119000000012023111400000000000002".to_owned();
        let res = platform_verifier().verify(&headers, notification_body().as_bytes(), at(1700000001));
        assert!(matches!(res, Err(WechatError::UnknownSerial { .. })));
    }

    #[test]
    fn a_stale_or_future_notification_is_rejected_even_with_a_valid_signature() {
        let body = notification_body();
        for now in [1700000001 + 301, 1700000001 - 301, Utc::now().timestamp()] {
            let res = platform_verifier().verify(&notification_headers(), body.as_bytes(), at(now));
            assert!(matches!(res, Err(WechatError::TimestampOutsideWindow { .. })), "now {now}");
        }
        for now in [1700000001 + 300, 1700000001 - 300] {
            assert!(platform_verifier().verify(&notification_headers(), body.as_bytes(), at(now)).is_ok(), "now {now}");
        }
    }

    #[test]
    fn ring_verification_agrees_with_the_rsa_crate_on_good_and_bad_signatures() {
        let key = key();
        let public = key.public_key();
        assert!(public.ring_der.is_some(), "a 2048-bit key is verified by ring");
        let general = |message: &[u8], signature: &str| {
            let bytes = base64_decode("signature", signature).unwrap();
            Signature::try_from(bytes.as_slice()).ok().is_some_and(|s| public.verifying.verify(message, &s).is_ok())
        };
        for message in [&b""[..], b"a", ORDER_BODY.as_bytes(), &[0xffu8; 1000]] {
            let good = key.sign(message).unwrap();
            assert!(public.verify(message, &good).is_ok());
            assert!(general(message, &good));
            let mut other = message.to_vec();
            other.push(b'!');
            assert!(public.verify(&other, &good).is_err(), "another message");
            let mut bytes = base64_decode("signature", &good).unwrap();
            bytes[100] ^= 0x04;
            let flipped = base64_encode(&bytes);
            assert!(public.verify(message, &flipped).is_err() && !general(message, &flipped), "a flipped bit");
            assert!(public.verify(message, &base64_encode(&bytes[1..])).is_err(), "one byte short");
            let zeros = base64_encode(&vec![0u8; bytes.len()]);
            assert!(public.verify(message, &zeros).is_err(), "zero");
            let too_big = base64_encode(&vec![0xffu8; bytes.len()]);
            assert!(public.verify(message, &too_big).is_err(), "not below the modulus");
        }
    }

    #[test]
    fn a_sign_test_probe_never_verifies() {
        let mut headers = notification_headers();
        headers.signature = format!("{SIGN_TEST_PREFIX}{NOTIFY_SIGNATURE}");
        let res = platform_verifier().verify(&headers, notification_body().as_bytes(), at(1700000001));
        assert!(matches!(res, Err(WechatError::SignatureMismatch)));
    }

    #[test]
    fn another_signature_type_is_rejected() {
        let mut headers = notification_headers();
        headers.signature_type = Some("WECHATPAY2-SM2-WITH-SM3".to_owned());
        let res = platform_verifier().verify(&headers, notification_body().as_bytes(), at(1700000001));
        assert!(matches!(res, Err(WechatError::UnsupportedSignatureType(_))));
    }

    #[test]
    fn a_garbage_signature_or_timestamp_is_an_error_not_a_panic() {
        let body = notification_body();
        for (signature, timestamp) in [
            ("", NOTIFY_TIMESTAMP),
            ("!!!", NOTIFY_TIMESTAMP),
            ("AAAA", NOTIFY_TIMESTAMP),
            (NOTIFY_SIGNATURE, "-1"),
            (NOTIFY_SIGNATURE, "abc"),
        ] {
            let mut headers = notification_headers();
            headers.signature = signature.to_owned();
            headers.timestamp = timestamp.to_owned();
            assert!(platform_verifier().verify(&headers, body.as_bytes(), at(1700000001)).is_err());
        }
    }

    #[test]
    fn aead_resource_decrypts_as_in_vector_13_5() {
        let key = ApiV3Key::parse(API_V3_KEY).unwrap();
        assert_eq!(key.decrypt_resource(&resource(RESOURCE_CIPHERTEXT, "transaction")).unwrap(), TRANSACTION_JSON);
        let raw = base64_decode("ciphertext", RESOURCE_CIPHERTEXT).unwrap();
        assert_eq!(raw.len(), 425);
        assert_eq!(hex::encode(&raw[409..]), "f33ff24a55ef8a570b46b5c3ef716d80");
    }

    #[test]
    fn aead_encryption_reproduces_vector_13_5_and_round_trips() {
        let key = ApiV3Key::parse(API_V3_KEY).unwrap();
        let encrypted =
            key.encrypt_resource(Some("transaction"), "transaction", RESOURCE_NONCE, TRANSACTION_JSON).unwrap();
        assert_eq!(encrypted, resource(RESOURCE_CIPHERTEXT, "transaction"));
        let fresh = key.encrypt_resource(None, "", &new_resource_nonce(), "{}").unwrap();
        assert_eq!(key.decrypt_resource(&fresh).unwrap(), "{}");
    }

    #[test]
    fn a_tampered_resource_fails_the_gcm_tag() {
        let key = ApiV3Key::parse(API_V3_KEY).unwrap();
        // 'A' -> 'E' changes only data bits of the last base64 character, so decoding still succeeds.
        let tampered = RESOURCE_CIPHERTEXT.replace("xbYA=", "xbYE=");
        for (res, why) in [
            (resource(&tampered, "transaction"), "last ciphertext character"),
            (resource(RESOURCE_CIPHERTEXT, ""), "empty associated_data"),
            (resource(RESOURCE_CIPHERTEXT, "refund"), "other associated_data"),
        ] {
            assert!(matches!(key.decrypt_resource(&res), Err(WechatError::DecryptionFailed)), "{why}");
        }
        let wrong_key = ApiV3Key::parse("fedcba9876543210fedcba9876543210").unwrap();
        assert!(matches!(
            wrong_key.decrypt_resource(&resource(RESOURCE_CIPHERTEXT, "transaction")),
            Err(WechatError::DecryptionFailed)
        ));
        // 'A' -> 'B' sets filler bits: still rejected, as invalid base64.
        let non_canonical = RESOURCE_CIPHERTEXT.replace("xbYA=", "xbYB=");
        assert!(key.decrypt_resource(&resource(&non_canonical, "transaction")).is_err());
    }

    #[test]
    fn malformed_resources_are_errors_not_panics() {
        let key = ApiV3Key::parse(API_V3_KEY).unwrap();
        let mut bad_nonce = resource(RESOURCE_CIPHERTEXT, "transaction");
        bad_nonce.nonce = "short".to_owned();
        assert!(matches!(key.decrypt_resource(&bad_nonce), Err(WechatError::InvalidNonce { .. })));
        let mut bad_algorithm = resource(RESOURCE_CIPHERTEXT, "transaction");
        bad_algorithm.algorithm = "AEAD_SM4_GCM".to_owned();
        assert!(matches!(key.decrypt_resource(&bad_algorithm), Err(WechatError::UnsupportedAlgorithm(_))));
        assert!(matches!(
            key.decrypt_resource(&resource("AAAA", "transaction")),
            Err(WechatError::MalformedCiphertext { .. })
        ));
        assert!(matches!(
            key.decrypt_resource(&resource("not base64", "transaction")),
            Err(WechatError::InvalidBase64 { .. })
        ));
    }

    #[test]
    fn api_v3_key_must_be_32_bytes() {
        assert!(ApiV3Key::parse(&API_V3_KEY[..31]).is_err());
        assert!(ApiV3Key::parse(&format!("{API_V3_KEY}0")).is_err());
        assert_eq!(format!("{:?}", ApiV3Key::parse(API_V3_KEY).unwrap()), "ApiV3Key(***)");
    }

    #[test]
    fn authorization_header_renders_in_the_documented_shape_and_parses_back() {
        let header =
            signer().authorize("POST", "/v3/pay/transactions/jsapi", ORDER_BODY.as_bytes(), 1700000000, NONCE).unwrap();
        let rendered = header.to_string();
        assert_eq!(
            rendered,
            format!(
                r#"WECHATPAY2-SHA256-RSA2048 mchid="1900000001",nonce_str="{NONCE}",signature="{ORDER_SIGNATURE}",timestamp="1700000000",serial_no="MERCHANT_CERT_SERIAL""#
            )
        );
        assert_eq!(AuthorizationHeader::parse(&rendered).unwrap(), header);
    }

    #[test]
    fn the_sandbox_can_verify_a_signed_request_from_its_header() {
        let header =
            signer().authorize("POST", "/v3/pay/transactions/jsapi", ORDER_BODY.as_bytes(), 1700000000, NONCE).unwrap();
        let parsed = AuthorizationHeader::parse(&header.to_string()).unwrap();
        let merchant_public = PayPublicKey::from_pem(PUB_PKCS1).unwrap();
        assert!(parsed
            .verify(&merchant_public, "POST", "/v3/pay/transactions/jsapi", ORDER_BODY.as_bytes(), at(1700000100))
            .is_ok());
        let tampered = ORDER_BODY.replace("100", "1");
        let res =
            parsed.verify(&merchant_public, "POST", "/v3/pay/transactions/jsapi", tampered.as_bytes(), at(1700000100));
        assert!(matches!(res, Err(WechatError::SignatureMismatch)));
        let res = parsed.verify(
            &merchant_public,
            "POST",
            "/v3/pay/transactions/jsapi",
            ORDER_BODY.as_bytes(),
            at(1700000400),
        );
        assert!(matches!(res, Err(WechatError::TimestampOutsideWindow { .. })));
    }

    #[test]
    fn authorization_header_parsing_tolerates_spaces_and_order_but_not_gaps() {
        let loose = format!(
            r#"WECHATPAY2-SHA256-RSA2048 serial_no="S", timestamp="1700000000", signature="{ORDER_SIGNATURE}", nonce_str="{NONCE}", mchid="1900000001""#
        );
        let parsed = AuthorizationHeader::parse(&loose).unwrap();
        assert_eq!(parsed.serial_no, "S");
        assert_eq!(parsed.timestamp, 1700000000);

        let cases = [
            ("", "empty"),
            ("WECHATPAY2-SHA256-RSA2048", "no parameters"),
            (r#"Bearer mchid="1""#, "other scheme"),
            (r#"WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="n",signature="s",timestamp="1""#, "serial_no missing"),
            (
                r#"WECHATPAY2-SHA256-RSA2048 mchid=1,nonce_str="n",signature="s",timestamp="1",serial_no="x""#,
                "unquoted",
            ),
            (
                r#"WECHATPAY2-SHA256-RSA2048 mchid="1",mchid="2",nonce_str="n",signature="s",timestamp="1",serial_no="x""#,
                "repeated",
            ),
            (
                r#"WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="n",signature="s",timestamp="soon",serial_no="x""#,
                "bad timestamp",
            ),
            (
                r#"WECHATPAY2-SHA256-RSA2048 mchid="1",nonce_str="n",signature="s",timestamp="-5",serial_no="x""#,
                "negative timestamp",
            ),
        ];
        for (value, why) in cases {
            assert!(AuthorizationHeader::parse(value).is_err(), "{why}");
        }
    }

    #[test]
    fn public_keys_load_from_spki_pkcs1_and_certificate_pem() {
        let message = request_message("GET", QUERY_URL, 1700000000, NONCE, b"");
        for pem in [PUB_SPKI, PUB_PKCS1, CERT] {
            assert!(PayPublicKey::from_pem(pem).unwrap().verify(&message, QUERY_SIGNATURE).is_ok());
        }
        assert!(key().public_key().verify(&message, QUERY_SIGNATURE).is_ok());
    }

    #[test]
    fn platform_certificate_exposes_its_upper_case_serial_and_validity() {
        let cert = PlatformCertificate::from_pem(CERT).unwrap();
        assert_eq!(cert.serial_no, CERT_SERIAL);
        assert_eq!(cert.not_before, "2023-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(cert.not_after, "2043-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap());

        let mut verifier = PayVerifier::new();
        verifier.add_certificate(cert);
        assert!(verifier.has_key(&CERT_SERIAL.to_ascii_lowercase()));
        let body = notification_body();
        let headers = WechatpayHeaders::sign(&key(), CERT_SERIAL, 1700000001, NOTIFY_NONCE, body.as_bytes()).unwrap();
        assert!(verifier.verify(&headers, body.as_bytes(), at(1700000001)).is_ok());
    }

    #[test]
    fn unreadable_key_material_is_an_error() {
        for pem in ["", "garbage", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", PUB_SPKI] {
            assert!(matches!(PayPrivateKey::from_pem(pem), Err(WechatError::InvalidPrivateKey { .. })));
        }
        for pem in ["", "garbage", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", KEY_PKCS8] {
            assert!(matches!(PayPublicKey::from_pem(pem), Err(WechatError::InvalidPublicKey { .. })));
        }
        assert_eq!(format!("{:?}", key()), "PayPrivateKey(***)");
    }

    #[test]
    fn nonces_have_the_documented_shapes_and_differ() {
        let nonce = new_nonce();
        assert_eq!(nonce.len(), 32);
        assert!(nonce.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)));
        assert_ne!(nonce, new_nonce());
        let resource_nonce = new_resource_nonce();
        assert_eq!(resource_nonce.len(), 12);
        assert!(resource_nonce.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
