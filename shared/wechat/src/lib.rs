//! WeChat protocol cryptography, message formats and HTTP clients for the City Services backend.
//!
//! Two halves: the pure, I/O-free protocol code below, and the HTTP clients built on it.
//! - [`client`]: Mini Program, Service Account and web OAuth calls, with the shared access token.
//! - [`mass`]: Service Account broadcasts (cover upload, drafts, preview, sendall, tags).
//! - [`pay_client`]: WeChat Pay API v3 orders, queries, refunds and trade bills.
//! - [`crypto::official_account`]: Service Account URL/message signatures and safe mode ([`crypto::official_account::MessageCrypt`]).
//! - [`crypto::mini_program`]: `rawData` signature and `encryptedData` decryption with the user's session_key.
//! - [`crypto::pay`]: WeChat Pay API v3 signing, the `Authorization` header, notification verification, AEAD resources.
//! - [`xml`]: push messages, the safe-mode envelope and passive replies.
//! - [`error`]: [`WechatError`], with one variant per handled WeChat `errcode` and a stable [`WechatError::kind`].
//!
//! Invariants: the protocol modules (`crypto`, `xml`, `error`) do no I/O and read no clock (time is
//! passed in); the crate never depends on poem or sqlx;
//! everything that parses network input returns `Result` and never panics;
//! signatures are compared in constant time and computed over raw bytes as received;
//! keys and personal data never appear in `Debug` or `Display` output.

pub mod client;
pub mod crypto;
pub mod error;
pub mod mass;
pub mod pay_client;
pub mod xml;

pub use error::WechatError;
