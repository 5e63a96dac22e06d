//! What applying a money movement (a payment or a refund's success) shares between settlement and
//! refunds: why it was refused, and the notice the citizen gets.

use std::fmt;

use serde_json::json;

use crate::store::{OrderRow, StoreError};

/// Why a paid transaction (or a refund's success) was not applied.
#[derive(Debug)]
pub enum ApplyError {
    /// No order (or refund) with that number.
    UnknownOrder,
    /// mchid or appid are not ours.
    WrongMerchant,
    /// The amount differs from the order's (or refund's).
    AmountMismatch,
    /// The store failed; WeChat Pay should retry.
    Store(StoreError),
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownOrder => f.write_str("no order or refund with that number"),
            Self::WrongMerchant => f.write_str("mchid or appid do not match"),
            Self::AmountMismatch => f.write_str("the amount does not match"),
            Self::Store(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for ApplyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Store(err) => Some(err),
            _ => None,
        }
    }
}

impl From<StoreError> for ApplyError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// The `notify.requested` event telling a citizen of money moving on their order, in both
/// languages, on the Mini Program and the Service Account.
pub fn citizen_notice(
    order: &OrderRow,
    kind: &str,
    notification_id: String,
    [title_zh, title_en]: [&str; 2],
    [body_zh, body_en]: [String; 2],
    data: serde_json::Value,
) -> (&'static str, serde_json::Value) {
    (
        "notify.requested",
        json!({
            "notification_id": notification_id, "citizen_id": order.citizen_id, "kind": kind,
            "title_zh": title_zh, "title_en": title_en, "body_zh": body_zh, "body_en": body_en,
            "data": data, "channels": ["miniprogram", "oa_template"],
        }),
    )
}
