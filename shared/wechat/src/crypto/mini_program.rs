//! Mini Program user data: `rawData` signature, `encryptedData` decryption, login-state signature.
//!
//! All three are keyed by the user's `session_key` from jscode2session; a failure usually means the
//! client used a session_key of an older login, so the caller should ask it to `wx.login` again.
//! The session_key never leaves the backend: `Debug` hides it and nothing here logs it.

use std::fmt;

use cbc::cipher::KeyIvInit as _;
use hmac::{Hmac, Mac as _};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha1::{Digest as _, Sha1};
use sha2::Sha256;

use crate::crypto::{
    base64_decode, base64_encode, cbc_decrypt_in_place, cbc_encrypt_in_place, strip_padding, verify_hex_digest,
};
use crate::WechatError;

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;
type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

/// A Mini Program `session_key`: base64 text of 16 bytes.
///
/// Both forms matter: the text keys the SHA-1 and HMAC signatures, the bytes key AES-128.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKey {
    text: String,
    bytes: [u8; 16],
}

impl SessionKey {
    /// Accepts the base64 text as returned by jscode2session.
    pub fn parse(text: &str) -> Result<Self, WechatError> {
        let decoded = base64_decode("session_key", text).map_err(|_| WechatError::InvalidSessionKey)?;
        let bytes = <[u8; 16]>::try_from(decoded.as_slice()).map_err(|_| WechatError::InvalidSessionKey)?;
        Ok(Self { text: text.trim().to_owned(), bytes })
    }

    /// The base64 text, for storing server-side (never send it to a client).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey(***)")
    }
}

/// `signature` of `wx.getUserInfo`-style results: hex SHA-1 of `rawData` followed by the session_key text.
pub fn raw_data_signature(raw_data: &str, session_key: &SessionKey) -> String {
    hex::encode(raw_data_digest(raw_data, session_key))
}

/// Checks a client-sent `signature` over the exact `rawData` string, in constant time.
pub fn verify_raw_data_signature(raw_data: &str, session_key: &SessionKey, signature: &str) -> Result<(), WechatError> {
    verify_hex_digest(&raw_data_digest(raw_data, session_key), signature)
}

/// The "user login-state signature" (checksession `signature` with `sig_method=hmac_sha256`):
/// lowercase hex HMAC-SHA256 keyed by the session_key **text**, over `body` (empty for checksession).
pub fn login_state_signature(session_key: &SessionKey, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail; the fallback only avoids a panic path.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(session_key.text.as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// `watermark` inside decrypted user data: which appid the data was produced for, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    /// Must equal our appid; [`decrypt_user_data`] checks it.
    pub appid: String,
    /// Unix seconds when WeChat produced the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
}

/// Decrypted `encryptedData` whose watermark named our appid.
#[derive(Clone, PartialEq, Eq)]
pub struct UserData {
    /// The decrypted UTF-8 JSON, exactly as WeChat produced it.
    pub json: String,
    /// The checked watermark.
    pub watermark: Watermark,
}

impl UserData {
    /// Deserializes the JSON into a concrete shape such as [`PhoneInfo`].
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, WechatError> {
        serde_json::from_str(&self.json)
            .map_err(|err| WechatError::InvalidJson { field: "encryptedData", reason: err.to_string() })
    }
}

impl fmt::Debug for UserData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The JSON holds personal data (phone numbers); only the watermark is safe to log.
        f.debug_struct("UserData").field("json", &"***").field("watermark", &self.watermark).finish()
    }
}

/// Decrypts `encryptedData` (AES-128-CBC, PKCS#7) and checks `watermark.appid == appid`.
///
/// `encrypted_data` and `iv` are the base64 strings from the client.
pub fn decrypt_user_data(
    session_key: &SessionKey,
    encrypted_data: &str,
    iv: &str,
    appid: &str,
) -> Result<UserData, WechatError> {
    let iv = base64_decode("iv", iv)?;
    let iv = <[u8; 16]>::try_from(iv.as_slice())
        .map_err(|_| WechatError::MalformedCiphertext { reason: "iv must be 16 bytes" })?;
    let mut buf = base64_decode("encryptedData", encrypted_data)?;
    cbc_decrypt_in_place(Aes128CbcDec::new(&session_key.bytes.into(), &iv.into()), &mut buf)?;
    let plain = strip_padding(&buf, 16)?;
    let json = std::str::from_utf8(plain).map_err(|_| WechatError::InvalidUtf8 { field: "encryptedData" })?;

    #[derive(Deserialize)]
    struct WithWatermark {
        watermark: Option<Watermark>,
    }
    let parsed: WithWatermark = serde_json::from_str(json)
        .map_err(|err| WechatError::InvalidJson { field: "encryptedData", reason: err.to_string() })?;
    let watermark = parsed
        .watermark
        .ok_or_else(|| WechatError::InvalidJson { field: "encryptedData", reason: "no watermark".to_owned() })?;
    if watermark.appid != appid {
        return Err(WechatError::AppidMismatch { expected: appid.to_owned(), actual: watermark.appid });
    }
    Ok(UserData { json: json.to_owned(), watermark })
}

/// Encrypts user data the way WeChat does (AES-128-CBC, PKCS#7); for the sandbox and tests.
///
/// Returns the base64 `encryptedData`; send `iv` base64-encoded alongside.
pub fn encrypt_user_data(session_key: &SessionKey, iv: &[u8; 16], json: &str) -> String {
    let mut buf = json.as_bytes().to_vec();
    let pad = 16 - buf.len() % 16;
    buf.resize(buf.len() + pad, pad as u8);
    cbc_encrypt_in_place(Aes128CbcEnc::new(&session_key.bytes.into(), &(*iv).into()), &mut buf);
    base64_encode(&buf)
}

/// A phone number as decrypted from the legacy button or returned by `getuserphonenumber` (`phone_info`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhoneInfo {
    /// With a `+<country code>` prefix for non-mainland numbers.
    pub phone_number: String,
    /// Never has a prefix.
    pub pure_phone_number: String,
    /// Without `+`, e.g. `86`.
    pub country_code: String,
    /// Check its appid when the data did not come through [`decrypt_user_data`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<Watermark>,
}

impl fmt::Debug for PhoneInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Phone numbers are personal data: logs only ever see the masked form.
        f.debug_struct("PhoneInfo")
            .field("pure_phone_number", &mask(&self.pure_phone_number))
            .field("country_code", &self.country_code)
            .field("watermark", &self.watermark)
            .finish()
    }
}

fn raw_data_digest(raw_data: &str, session_key: &SessionKey) -> [u8; 20] {
    let mut hasher = Sha1::new();
    hasher.update(raw_data.as_bytes());
    hasher.update(session_key.text.as_bytes());
    hasher.finalize().into()
}

/// `13800138000` → `138****8000`; short values are hidden completely.
fn mask(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() < 8 {
        return "***".to_owned();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION_KEY: &str = "AAECAwQFBgcICQoLDA0ODw==";
    const IV: &str = "EBESExQVFhcYGRobHB0eHw==";
    const APPID: &str = "wx1234567890abcdef";
    const PHONE_JSON: &str = r#"{"phoneNumber":"13800138000","purePhoneNumber":"13800138000","countryCode":"86","watermark":{"timestamp":1700000000,"appid":"wx1234567890abcdef"}}"#;
    const ENCRYPTED_DATA: &str = "aLhedzo+Z6es5zW+YHo9susiHnaEYeAkbZXA6vB3xXwsEHApbzM53NsvIVPS8sbzE9Tu3cKoosCIaJ9ReH9c7q8xI4AFlJ8HTHrrdVC0WzSFVEG+Q/SUBzVOfvRAiCzg9pRwA0o1X/SBOShf2kiL8/1VPA0T0S6Y/TuAcdQjCasEz+0LGlZlBKmVV/zlPsAljzcmIgBWfYjd9HGU2V9+bA==";

    fn session_key() -> SessionKey {
        SessionKey::parse(SESSION_KEY).unwrap()
    }

    fn iv_bytes() -> [u8; 16] {
        base64_decode("iv", IV).unwrap().try_into().unwrap()
    }

    #[test]
    fn encrypted_phone_data_decrypts_as_in_vector_13_4() {
        let data = decrypt_user_data(&session_key(), ENCRYPTED_DATA, IV, APPID).unwrap();
        assert_eq!(data.json, PHONE_JSON);
        assert_eq!(data.watermark, Watermark { appid: APPID.to_owned(), timestamp: Some(1700000000) });
        let phone: PhoneInfo = data.parse().unwrap();
        assert_eq!(phone.pure_phone_number, "13800138000");
        assert_eq!(phone.country_code, "86");
    }

    #[test]
    fn encrypting_the_13_4_plaintext_gives_the_13_4_ciphertext() {
        assert_eq!(encrypt_user_data(&session_key(), &iv_bytes(), PHONE_JSON), ENCRYPTED_DATA);
    }

    #[test]
    fn user_data_for_another_appid_is_rejected() {
        let res = decrypt_user_data(&session_key(), ENCRYPTED_DATA, IV, "wx0000000000000000");
        assert!(matches!(res, Err(WechatError::AppidMismatch { ref actual, .. }) if actual == APPID));
    }

    #[test]
    fn user_data_without_a_watermark_is_rejected() {
        let encrypted = encrypt_user_data(&session_key(), &iv_bytes(), r#"{"nickName":"x"}"#);
        let res = decrypt_user_data(&session_key(), &encrypted, IV, APPID);
        assert!(matches!(res, Err(WechatError::InvalidJson { .. })));
    }

    #[test]
    fn user_data_under_another_session_key_fails_cleanly() {
        let stale = SessionKey::parse("EBESExQVFhcYGRobHB0eHw==").unwrap();
        let res = decrypt_user_data(&stale, ENCRYPTED_DATA, IV, APPID);
        // Almost always bad padding; in rare cases the garbage happens to unpad and then fails as JSON.
        assert!(matches!(
            res,
            Err(WechatError::BadPadding | WechatError::InvalidUtf8 { .. } | WechatError::InvalidJson { .. })
        ));
    }

    #[test]
    fn malformed_user_data_inputs_are_errors_not_panics() {
        let cases = [
            ("", IV, "empty data"),
            ("not base64", IV, "bad base64"),
            ("AAAA", IV, "not block aligned"),
            (ENCRYPTED_DATA, "AAAA", "short iv"),
            (ENCRYPTED_DATA, "", "empty iv"),
        ];
        for (data, iv, why) in cases {
            assert!(decrypt_user_data(&session_key(), data, iv, APPID).is_err(), "{why}");
        }
    }

    #[test]
    fn user_data_round_trips_for_every_length_around_the_block_size() {
        for n in 0..40 {
            let json = format!(r#"{{"x":"{}","watermark":{{"appid":"{APPID}","timestamp":1}}}}"#, "y".repeat(n));
            let encrypted = encrypt_user_data(&session_key(), &iv_bytes(), &json);
            assert_eq!(decrypt_user_data(&session_key(), &encrypted, IV, APPID).unwrap().json, json);
        }
    }

    #[test]
    fn raw_data_signature_matches_vector_13_4() {
        let raw = r#"{"nickName":"Test","avatarUrl":""}"#;
        assert_eq!(raw_data_signature(raw, &session_key()), "ef0eeb44405a2df87f45b3fcb17696f4c92a36ef");
        assert!(verify_raw_data_signature(raw, &session_key(), "ef0eeb44405a2df87f45b3fcb17696f4c92a36ef").is_ok());
    }

    #[test]
    fn raw_data_signature_over_altered_raw_data_is_rejected() {
        let altered = r#"{"nickName":"Test2","avatarUrl":""}"#;
        let res = verify_raw_data_signature(altered, &session_key(), "ef0eeb44405a2df87f45b3fcb17696f4c92a36ef");
        assert!(matches!(res, Err(WechatError::SignatureMismatch)));
    }

    #[test]
    fn login_state_signature_matches_vector_13_4_and_the_vendor_example() {
        assert_eq!(
            login_state_signature(&session_key(), b""),
            "75c022993d64e3ac224c1c9d6f2b4c6eb53f22f6c7aa6be94428577d11d12fd5"
        );
        let vendor_key = SessionKey::parse("o0q0otL8aEzpcZL/FT9WsQ==").unwrap();
        assert_eq!(
            login_state_signature(&vendor_key, br#"{"foo":"bar"}"#),
            "654571f79995b2ce1e149e53c0a33dc39c0a74090db514261454e8dbe432aa0b"
        );
    }

    #[test]
    fn session_key_must_be_base64_of_16_bytes() {
        for raw in ["", "AAECAwQFBgcICQoLDA0O", "AAECAwQFBgcICQoLDA0ODxA=", "not base64 at all!!!!!!!"] {
            assert!(matches!(SessionKey::parse(raw), Err(WechatError::InvalidSessionKey)), "{raw}");
        }
        assert_eq!(format!("{:?}", session_key()), "SessionKey(***)");
    }

    #[test]
    fn debug_output_never_shows_the_full_phone_number() {
        let data = decrypt_user_data(&session_key(), ENCRYPTED_DATA, IV, APPID).unwrap();
        let phone: PhoneInfo = data.parse().unwrap();
        let shown = format!("{phone:?} {data:?}");
        assert!(!shown.contains("13800138000"), "{shown}");
        assert!(shown.contains("138****8000"), "{shown}");
    }
}
