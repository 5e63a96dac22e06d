//! WeChat protocol cryptography and message formats for the City Services backend.
//!
//! Owns the pure, I/O-free half of our WeChat integration; HTTP clients will live beside it later.
//! - [`crypto::official_account`]: Service Account URL/message signatures and safe mode ([`crypto::official_account::MessageCrypt`]).
//! - [`crypto::mini_program`]: `rawData` signature and `encryptedData` decryption with the user's session_key.
//! - [`crypto::pay`]: WeChat Pay API v3 signing, the `Authorization` header, notification verification, AEAD resources.
//! - [`xml`]: push messages, the safe-mode envelope and passive replies.
//! - [`error`]: [`WechatError`], with one variant per handled WeChat `errcode` and a stable [`WechatError::kind`].
//!
//! Invariants: no async, no HTTP, no clock reads (time is passed in), no poem or sqlx;
//! everything that parses network input returns `Result` and never panics;
//! signatures are compared in constant time and computed over raw bytes as received;
//! keys and personal data never appear in `Debug` or `Display` output.

pub mod client;
pub mod crypto;
pub mod error;
pub mod pay_client;
pub mod xml;

pub use error::WechatError;
