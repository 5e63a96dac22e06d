//! Service Account (Official Account) server push: URL verification, message signatures and safe mode.
//!
//! Plaintext mode signs `sort([token, timestamp, nonce])`; safe mode additionally signs the base64
//! `Encrypt` text and encrypts with AES-256-CBC (WXBizMsgCrypt).
//! Verify the signature before decrypting: [`MessageCrypt::decrypt_push`] does both in that order,
//! so a tampered ciphertext never reaches the padding check.

use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use cbc::cipher::KeyIvInit as _;
use rand::{Rng as _, RngCore as _};
use sha1::{Digest as _, Sha1};

use crate::crypto::{
    base64_decode, base64_encode, cbc_decrypt_in_place, cbc_encrypt_in_place, strip_padding, verify_hex_digest,
};
use crate::WechatError;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// WeChat pads safe-mode plaintext to multiples of 32 bytes, not the AES block size of 16.
const SAFE_MODE_PAD_UNIT: usize = 32;
/// Bytes of random prefix before the length field.
const RANDOM_PREFIX_LEN: usize = 16;

/// The Token configured in the Official Account console (3-32 ASCII letters or digits).
///
/// It is a shared secret, so `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerToken(String);

impl ServerToken {
    /// Accepts 3-32 ASCII letters or digits, as the console does.
    pub fn parse(raw: &str) -> Result<Self, WechatError> {
        let ok = (3..=32).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(WechatError::InvalidServerToken)
        }
    }

    /// The token text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ServerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerToken(***)")
    }
}

/// The 32-byte AES key behind a 43-character EncodingAESKey.
///
/// `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct EncodingAesKey([u8; 32]);

impl EncodingAesKey {
    /// Decodes the 43-character console value (base64 without its final `=`).
    pub fn parse(raw: &str) -> Result<Self, WechatError> {
        // The console draws all 43 characters at random, so the last one usually carries
        // non-zero filler bits that a strict base64 decoder rejects; WeChat ignores them.
        const LENIENT: GeneralPurpose =
            GeneralPurpose::new(&alphabet::STANDARD, GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true));
        if raw.len() != 43 {
            return Err(WechatError::InvalidEncodingAesKey);
        }
        let bytes = LENIENT.decode(format!("{raw}=")).map_err(|_| WechatError::InvalidEncodingAesKey)?;
        let key = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| WechatError::InvalidEncodingAesKey)?;
        Ok(Self(key))
    }

    /// The raw AES-256 key.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// WeChat's IV is the first 16 key bytes (fixed per key, a protocol choice we must follow).
    fn iv(&self) -> [u8; 16] {
        let mut iv = [0_u8; 16];
        iv.copy_from_slice(&self.0[..16]);
        iv
    }

    fn encryptor(&self) -> Aes256CbcEnc {
        Aes256CbcEnc::new(&self.0.into(), &self.iv().into())
    }

    fn decryptor(&self) -> Aes256CbcDec {
        Aes256CbcDec::new(&self.0.into(), &self.iv().into())
    }
}

impl fmt::Debug for EncodingAesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncodingAesKey(***)")
    }
}

/// `signature` of URL verification and of plaintext-mode pushes: SHA-1 over sorted `[token, timestamp, nonce]`.
pub fn url_signature(token: &ServerToken, timestamp: &str, nonce: &str) -> String {
    hex::encode(sorted_sha1(&mut [token.as_str(), timestamp, nonce]))
}

/// Checks a received `signature` in constant time.
pub fn verify_url_signature(
    token: &ServerToken,
    timestamp: &str,
    nonce: &str,
    signature: &str,
) -> Result<(), WechatError> {
    verify_hex_digest(&sorted_sha1(&mut [token.as_str(), timestamp, nonce]), signature)
}

/// `msg_signature` of safe mode: SHA-1 over sorted `[token, timestamp, nonce, encrypt]`.
pub fn msg_signature(token: &ServerToken, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    hex::encode(sorted_sha1(&mut [token.as_str(), timestamp, nonce, encrypt]))
}

/// Checks a received `msg_signature` in constant time.
pub fn verify_msg_signature(
    token: &ServerToken,
    timestamp: &str,
    nonce: &str,
    encrypt: &str,
    signature: &str,
) -> Result<(), WechatError> {
    verify_hex_digest(&sorted_sha1(&mut [token.as_str(), timestamp, nonce, encrypt]), signature)
}

/// A fresh reply nonce: 10 random decimal digits, the shape WeChat itself sends.
pub fn new_nonce() -> String {
    rand::thread_rng().gen_range(1_000_000_000_u64..10_000_000_000).to_string()
}

/// The fields of an encrypted passive reply; `to_xml` (in [`crate::xml`]) renders the reply body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedReply {
    /// Base64 ciphertext (`Encrypt`).
    pub encrypt: String,
    /// SHA-1 over sorted `[token, timestamp, nonce, encrypt]` (`MsgSignature`).
    pub msg_signature: String,
    /// Unix seconds (`TimeStamp`).
    pub timestamp: i64,
    /// `Nonce`.
    pub nonce: String,
}

/// Safe-mode (WXBizMsgCrypt) encryption for one Official Account: token, AES key and appid.
///
/// During an EncodingAESKey rotation a previous key can be kept for decryption only.
#[derive(Debug, Clone)]
pub struct MessageCrypt {
    token: ServerToken,
    key: EncodingAesKey,
    previous_key: Option<EncodingAesKey>,
    appid: String,
}

impl MessageCrypt {
    /// Binds the console Token and EncodingAESKey to our appid (the one decrypted messages must name).
    pub fn new(token: ServerToken, key: EncodingAesKey, appid: impl Into<String>) -> Self {
        Self { token, key, previous_key: None, appid: appid.into() }
    }

    /// Also accepts messages encrypted with the key used before a console rotation.
    pub fn with_previous_key(mut self, previous_key: EncodingAesKey) -> Self {
        self.previous_key = Some(previous_key);
        self
    }

    /// The Token, for plaintext-mode signature checks.
    pub fn token(&self) -> &ServerToken {
        &self.token
    }

    /// Our appid.
    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// Verifies `msg_signature` over the `Encrypt` text, then decrypts it to the plaintext push XML.
    pub fn decrypt_push(
        &self,
        msg_signature: &str,
        timestamp: &str,
        nonce: &str,
        encrypt: &str,
    ) -> Result<String, WechatError> {
        verify_msg_signature(&self.token, timestamp, nonce, encrypt, msg_signature)?;
        self.decrypt(encrypt)
    }

    /// Decrypts an `Encrypt` value without checking any signature; prefer [`MessageCrypt::decrypt_push`].
    pub fn decrypt(&self, encrypt: &str) -> Result<String, WechatError> {
        let ciphertext = base64_decode("Encrypt", encrypt)?;
        match decrypt_with_key(&self.key, &ciphertext, &self.appid) {
            Ok(msg) => Ok(msg),
            Err(first) => match &self.previous_key {
                Some(previous) => decrypt_with_key(previous, &ciphertext, &self.appid).map_err(|_| first),
                None => Err(first),
            },
        }
    }

    /// Encrypts `msg` to the base64 `Encrypt` value with a fresh CSPRNG prefix.
    pub fn encrypt(&self, msg: &str) -> Result<String, WechatError> {
        let mut random = [0_u8; RANDOM_PREFIX_LEN];
        rand::rngs::OsRng.fill_bytes(&mut random);
        self.encrypt_with_random(msg, random)
    }

    /// Encrypts `msg` with a given 16-byte prefix; only tests and the sandbox should fix the prefix.
    pub fn encrypt_with_random(&self, msg: &str, random: [u8; 16]) -> Result<String, WechatError> {
        // The length field is 4 bytes; a reply that large would be a bug, so refuse rather than truncate.
        let msg_len = u32::try_from(msg.len()).map_err(|_| WechatError::MessageTooLarge)?;
        let mut buf = Vec::with_capacity(RANDOM_PREFIX_LEN + 4 + msg.len() + self.appid.len() + SAFE_MODE_PAD_UNIT);
        buf.extend_from_slice(&random);
        buf.extend_from_slice(&msg_len.to_be_bytes());
        buf.extend_from_slice(msg.as_bytes());
        buf.extend_from_slice(self.appid.as_bytes());
        // Always pad, a whole 32-byte unit when already aligned, so the last byte is never data.
        let pad = SAFE_MODE_PAD_UNIT - buf.len() % SAFE_MODE_PAD_UNIT;
        buf.resize(buf.len() + pad, pad as u8);
        cbc_encrypt_in_place(self.key.encryptor(), &mut buf);
        Ok(base64_encode(&buf))
    }

    /// Encrypts and signs a passive reply with a fresh random prefix.
    pub fn encrypt_reply(&self, reply_xml: &str, timestamp: i64, nonce: &str) -> Result<EncryptedReply, WechatError> {
        let encrypt = self.encrypt(reply_xml)?;
        Ok(self.sign_reply(encrypt, timestamp, nonce))
    }

    /// [`MessageCrypt::encrypt_reply`] with a given random prefix, for deterministic tests.
    pub fn encrypt_reply_with_random(
        &self,
        reply_xml: &str,
        timestamp: i64,
        nonce: &str,
        random: [u8; 16],
    ) -> Result<EncryptedReply, WechatError> {
        let encrypt = self.encrypt_with_random(reply_xml, random)?;
        Ok(self.sign_reply(encrypt, timestamp, nonce))
    }

    fn sign_reply(&self, encrypt: String, timestamp: i64, nonce: &str) -> EncryptedReply {
        let msg_signature = msg_signature(&self.token, &timestamp.to_string(), nonce, &encrypt);
        EncryptedReply { encrypt, msg_signature, timestamp, nonce: nonce.to_owned() }
    }
}

fn sorted_sha1(parts: &mut [&str]) -> [u8; 20] {
    // Plain `str` ordering is byte order, which is what WeChat sorts by.
    parts.sort_unstable();
    let mut hasher = Sha1::new();
    for part in parts.iter() {
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
}

fn decrypt_with_key(key: &EncodingAesKey, ciphertext: &[u8], appid: &str) -> Result<String, WechatError> {
    let mut buf = ciphertext.to_vec();
    cbc_decrypt_in_place(key.decryptor(), &mut buf)?;
    let unpadded = strip_padding(&buf, SAFE_MODE_PAD_UNIT)?;

    let body = unpadded
        .get(RANDOM_PREFIX_LEN..)
        .ok_or(WechatError::MalformedCiphertext { reason: "shorter than the random prefix" })?;
    let (len_bytes, rest) =
        body.split_first_chunk::<4>().ok_or(WechatError::MalformedCiphertext { reason: "no length field" })?;
    let msg_len = usize::try_from(u32::from_be_bytes(*len_bytes))
        .map_err(|_| WechatError::MalformedCiphertext { reason: "length field too large" })?;
    if msg_len > rest.len() {
        return Err(WechatError::MalformedCiphertext { reason: "length field exceeds the data" });
    }
    let (msg, received_appid) = rest.split_at(msg_len);
    if received_appid != appid.as_bytes() {
        return Err(WechatError::AppidMismatch {
            expected: appid.to_owned(),
            actual: String::from_utf8_lossy(received_appid).into_owned(),
        });
    }
    String::from_utf8(msg.to_vec()).map_err(|_| WechatError::InvalidUtf8 { field: "decrypted message" })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "cityservices";
    const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const APPID: &str = "wx1234567890abcdef";
    const PUSH_XML: &str = "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[oUser000000000000000000001]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content><MsgId>1234567890123456</MsgId></xml>";
    const PUSH_ENCRYPT: &str = "Q3stYC6hdFzMh9T8HCvyDEucXTwsrhyMrrLzgqWGKQuV9e+NqzOpo9nYh1PuwcOcf48D80vwD5p1du3iURj2GjN8n0w+HAS9xVnVOOJ0iL5cPF4pAkffv3Tc5KI/19KGrG2veS64Z4PGi+LuYUc6aHc89ys1icuxlyTxuw2I7mgdwokHQPFU7/BmbrhGLdM7N7seLRBRjiyKWM0ylm8Y82SdWvCgLU/dp1W6L+QXmv9LvOqgTubenY/xN6etRrrTrqyyARDwllez55dM7oWyMfbdx7Iu4lVkOz/OL92tL2Es2VM+9I+F2EmW7o+CvZUm4HT1sQK0CtRqnYIETmHY4Z9kMkbSO0l42G5XwZY7IgTJSZtTOhvrtzVSkzViPH0WT4mMuhbGNLfhzVigI0tDUZBgVaJxk/rCrrY2UmX5y8Q=";
    const REPLY_XML: &str = "<xml><ToUserName><![CDATA[oUser000000000000000000001]]></ToUserName><FromUserName><![CDATA[gh_0123456789ab]]></FromUserName><CreateTime>1700000005</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[received]]></Content></xml>";
    const REPLY_ENCRYPT: &str = "DpQeJfnf/MGZ/+GTIspwVF7dGxwINw03DhAg5nb39UbDmtxwadgnJLqy4mukGFhHiI//YH/UNfr6DW53YfaygiylyEh07/w9aD0KYsrebQgagt9GOE/bLefXDERpn07sM/nAwPygxZC6upDPwChFnWnWNLfDReYtu3p+52A+QZwmUKnPxlUUE8LDIAcoQ4EEFl6443qW1VgpOuMa0VpqofZBe4sO5OV4kwgdd8X075E/+nEg/WbjRQcRCFev8nWZvpFqYV1Njn7P5tlJcMWAjzbnJD25yFY5hV59FrzxXkX0yGsrZifzrwtsfqlrqI3JMCWvOJyF5Et8hWR9TdsR4tF1B6JiOVwF6MFzfTBfMeSvXkfGJxVbul9j5Q84/y9q";
    const FULL_BLOCK_ENCRYPT: &str = "Q3stYC6hdFzMh9T8HCvyDPCFlYQWfSrQ4WOaBBolvOL4HalqAPhj0UT3NoAtqniTEjDYXcXcDE7/YJpFFYzHuxWLemNL/98XsybNczbkEKeZQUZGtPmZ9eor11fnGFmj";

    fn token() -> ServerToken {
        ServerToken::parse(TOKEN).unwrap()
    }

    fn crypt() -> MessageCrypt {
        MessageCrypt::new(token(), EncodingAesKey::parse(AES_KEY).unwrap(), APPID)
    }

    fn raw_plaintext(key: &EncodingAesKey, encrypt: &str) -> Vec<u8> {
        let mut buf = base64_decode("Encrypt", encrypt).unwrap();
        cbc_decrypt_in_place(key.decryptor(), &mut buf).unwrap();
        buf
    }

    fn encrypt_raw(key: &EncodingAesKey, mut plain: Vec<u8>) -> String {
        cbc_encrypt_in_place(key.encryptor(), &mut plain);
        base64_encode(&plain)
    }

    #[test]
    fn url_signature_matches_vector_13_1() {
        assert_eq!(url_signature(&token(), "1700000000", "1320562132"), "2c278b14704b3e15746e748744c9def6175d87fe");
        assert!(verify_url_signature(&token(), "1700000000", "1320562132", "2c278b14704b3e15746e748744c9def6175d87fe")
            .is_ok());
    }

    #[test]
    fn url_signature_in_upper_case_hex_is_accepted() {
        let upper = "2C278B14704B3E15746E748744C9DEF6175D87FE";
        assert!(verify_url_signature(&token(), "1700000000", "1320562132", upper).is_ok());
    }

    #[test]
    fn url_signature_with_any_changed_input_is_rejected() {
        let good = "2c278b14704b3e15746e748744c9def6175d87fe";
        let cases = [
            ("1700000001", "1320562132", good, "other timestamp"),
            ("1700000000", "1320562133", good, "other nonce"),
            ("1700000000", "1320562132", "2c278b14704b3e15746e748744c9def6175d87ff", "last digit flipped"),
            ("1700000000", "1320562132", "2c278b14", "truncated"),
            ("1700000000", "1320562132", "not hex at all", "not hex"),
            ("1700000000", "1320562132", "", "empty"),
        ];
        for (timestamp, nonce, signature, why) in cases {
            let res = verify_url_signature(&token(), timestamp, nonce, signature);
            assert!(matches!(res, Err(WechatError::SignatureMismatch)), "{why}");
        }
    }

    #[test]
    fn encoding_aes_key_decodes_to_the_vector_key_despite_filler_bits() {
        let key = EncodingAesKey::parse(AES_KEY).unwrap();
        assert_eq!(hex::encode(key.as_bytes()), "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051");
        assert_eq!(hex::encode(key.iv()), "69b71d79f8218a39259a7a29aabb2dba");
    }

    #[test]
    fn encoding_aes_key_of_the_wrong_length_or_alphabet_is_rejected() {
        for raw in ["", "abc", &AES_KEY[..42], &format!("{AES_KEY}A"), "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF!"] {
            assert!(matches!(EncodingAesKey::parse(raw), Err(WechatError::InvalidEncodingAesKey)), "{raw}");
        }
    }

    #[test]
    fn server_token_must_be_3_to_32_letters_or_digits() {
        assert!(ServerToken::parse("abc").is_ok());
        assert!(ServerToken::parse(&"a".repeat(32)).is_ok());
        for raw in ["ab", &"a".repeat(33), "city services", "token!", "tökén"] {
            assert!(ServerToken::parse(raw).is_err(), "{raw}");
        }
        assert_eq!(format!("{:?}", token()), "ServerToken(***)");
    }

    #[test]
    fn safe_mode_push_decrypts_as_in_vector_13_2() {
        assert_eq!(
            msg_signature(&token(), "1700000000", "1320562132", PUSH_ENCRYPT),
            "3625baa2de6c22ecb822b1960197b85ba296b741"
        );
        let msg = crypt()
            .decrypt_push("3625baa2de6c22ecb822b1960197b85ba296b741", "1700000000", "1320562132", PUSH_ENCRYPT)
            .unwrap();
        assert_eq!(msg, PUSH_XML);
    }

    #[test]
    fn safe_mode_vector_13_2_has_the_documented_layout() {
        let plain = raw_plaintext(&EncodingAesKey::parse(AES_KEY).unwrap(), PUSH_ENCRYPT);
        assert_eq!(plain.len(), 320);
        assert_eq!(&plain[..16], b"0123456789abcdef");
        assert_eq!(plain[16..20], [0, 0, 1, 0x0b]);
        assert_eq!(&plain[20..287], PUSH_XML.as_bytes());
        assert_eq!(&plain[287..305], APPID.as_bytes());
        assert!(plain[305..].iter().all(|&b| b == 0x0f));
    }

    #[test]
    fn safe_mode_push_with_a_wrong_msg_signature_is_rejected_before_decrypting() {
        let res =
            crypt().decrypt_push("3625baa2de6c22ecb822b1960197b85ba296b740", "1700000000", "1320562132", PUSH_ENCRYPT);
        assert!(matches!(res, Err(WechatError::SignatureMismatch)));
    }

    #[test]
    fn safe_mode_reply_encrypts_as_in_vector_13_3() {
        let reply =
            crypt().encrypt_reply_with_random(REPLY_XML, 1700000005, "987654321", *b"fedcba9876543210").unwrap();
        assert_eq!(reply.encrypt, REPLY_ENCRYPT);
        assert_eq!(reply.msg_signature, "dc39dda5b5649420d9aacdec12a9b6f1fd21e52e");
        assert_eq!(reply.timestamp, 1700000005);
        assert_eq!(reply.nonce, "987654321");
        assert_eq!(crypt().decrypt(&reply.encrypt).unwrap(), REPLY_XML);
    }

    #[test]
    fn safe_mode_pushes_the_13_2_ciphertext_when_given_the_13_2_prefix() {
        assert_eq!(crypt().encrypt_with_random(PUSH_XML, *b"0123456789abcdef").unwrap(), PUSH_ENCRYPT);
    }

    #[test]
    fn aligned_plaintext_gets_a_full_32_byte_pad_block_as_in_vector_13_3b() {
        let msg = "<xml><a>01234567</a></xml>";
        let encrypt = crypt().encrypt_with_random(msg, *b"0123456789abcdef").unwrap();
        assert_eq!(encrypt, FULL_BLOCK_ENCRYPT);
        let plain = raw_plaintext(&EncodingAesKey::parse(AES_KEY).unwrap(), FULL_BLOCK_ENCRYPT);
        assert_eq!(plain.len(), 96);
        assert!(plain[64..].iter().all(|&b| b == 0x20));
        assert_eq!(crypt().decrypt(FULL_BLOCK_ENCRYPT).unwrap(), msg);
    }

    #[test]
    fn safe_mode_round_trips_messages_of_every_length_around_the_pad_unit() {
        let crypt = crypt();
        for len in 0..80 {
            let msg = "x".repeat(len);
            let encrypt = crypt.encrypt(&msg).unwrap();
            assert_eq!(crypt.decrypt(&encrypt).unwrap(), msg, "len {len}");
        }
        let unicode = "<xml><Content><![CDATA[市民服务 ✓]]></Content></xml>";
        assert_eq!(crypt.decrypt(&crypt.encrypt(unicode).unwrap()).unwrap(), unicode);
    }

    #[test]
    fn a_fresh_prefix_makes_two_encryptions_of_one_message_differ() {
        let crypt = crypt();
        assert_ne!(crypt.encrypt("same").unwrap(), crypt.encrypt("same").unwrap());
    }

    #[test]
    fn a_message_for_another_appid_is_rejected() {
        let other = MessageCrypt::new(token(), EncodingAesKey::parse(AES_KEY).unwrap(), "wx1234567890abcdee");
        let encrypt = other.encrypt_with_random(PUSH_XML, *b"0123456789abcdef").unwrap();
        let res = crypt().decrypt(&encrypt);
        assert!(
            matches!(res, Err(WechatError::AppidMismatch { ref expected, ref actual }) if expected == APPID && actual == "wx1234567890abcdee")
        );
    }

    #[test]
    fn pad_byte_zero_or_above_32_or_inconsistent_is_rejected() {
        let key = EncodingAesKey::parse(AES_KEY).unwrap();
        let mut plain = raw_plaintext(&key, FULL_BLOCK_ENCRYPT);
        for (last, why) in [(0_u8, "zero"), (33, "above 32"), (0xff, "far above")] {
            let mut tampered = plain.clone();
            *tampered.last_mut().unwrap() = last;
            let res = crypt().decrypt(&encrypt_raw(&key, tampered));
            assert!(matches!(res, Err(WechatError::BadPadding)), "{why}");
        }
        plain[70] = 0x1f;
        assert!(matches!(crypt().decrypt(&encrypt_raw(&key, plain)), Err(WechatError::BadPadding)));
    }

    #[test]
    fn a_length_field_beyond_the_data_is_rejected() {
        let key = EncodingAesKey::parse(AES_KEY).unwrap();
        let mut plain = raw_plaintext(&key, FULL_BLOCK_ENCRYPT);
        plain[16..20].copy_from_slice(&1000_u32.to_be_bytes());
        let res = crypt().decrypt(&encrypt_raw(&key, plain));
        assert!(matches!(res, Err(WechatError::MalformedCiphertext { .. })));
    }

    #[test]
    fn garbage_ciphertext_is_an_error_not_a_panic() {
        let crypt = crypt();
        for encrypt in ["", "not base64!", "AAAA", "AAAAAAAAAAAAAAAAAAAAAA==", &PUSH_ENCRYPT[..40]] {
            assert!(crypt.decrypt(encrypt).is_err(), "{encrypt}");
        }
    }

    #[test]
    fn a_message_under_the_previous_key_still_decrypts_during_rotation() {
        let old_key = EncodingAesKey::parse(AES_KEY).unwrap();
        let new_key = EncodingAesKey::parse("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq").unwrap();
        let rotated = MessageCrypt::new(token(), new_key.clone(), APPID).with_previous_key(old_key);
        assert_eq!(rotated.decrypt(PUSH_ENCRYPT).unwrap(), PUSH_XML);
        let only_new = MessageCrypt::new(token(), new_key, APPID);
        assert!(only_new.decrypt(PUSH_ENCRYPT).is_err());
    }

    #[test]
    fn reply_nonces_are_ten_digits() {
        let nonce = new_nonce();
        assert_eq!(nonce.len(), 10);
        assert!(nonce.bytes().all(|b| b.is_ascii_digit()));
    }
}
