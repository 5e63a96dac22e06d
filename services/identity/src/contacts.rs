//! A citizen's e-mail address and notice preferences (issue #23).
//!
//! - An address is kept only once confirmed: [`request_email`] keeps the address beside a fresh
//!   token in the shared cache for [`CONFIRM_TTL`] and sends the link through the mail path (a
//!   `notify.requested` event written with the outbox, delivered by the notifier to that address
//!   alone); [`confirm_email`] stores it sealed, shown masked.
//! - Preferences: per kind of notice (`payments.bill_due`), the channels wanted; the notifier
//!   asks identity for them with the contacts and sends on those alone.
//! - Unsubscribing needs no sign-in: every e-mail carries a link with [`unsubscribe_token`], the
//!   citizen id signed with the hash key; [`unsubscribe`] takes e-mail off that kind of notice.

use std::time::Duration;

use city_platform::outbox;
use city_platform::time::now_ms;
use serde_json::json;
use tracing::field::Empty;

use crate::domain::citizen_id::CitizenId;
use crate::domain::credential;
use crate::state::IdentityState;
use crate::store;

/// How long a confirmation link works.
pub const CONFIRM_TTL: Duration = Duration::from_secs(24 * 3600);

/// The channels a notice can go on.
pub const CHANNELS: [&str; 3] = ["oa_template", "miniprogram", "email"];

/// The kinds of notice a citizen can choose channels for.
pub const KINDS: [&str; 12] = [
    "booking.booked",
    "booking.cancelled",
    "booking.reminder",
    "booking.waitlist_offered",
    "booking.stop_diagnosis",
    "payments.paid",
    "payments.refunded",
    "payments.bill_new",
    "payments.bill_due",
    "payments.fine_new",
    "incidents.updated",
    "air.alert",
];

/// Why a contacts operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ContactsError {
    /// A field breaks its rule.
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// The rule.
        message: &'static str,
    },
    /// The store, cache or outbox failed.
    #[error("contacts store failed: {0}")]
    Store(String),
}

impl From<sqlx::Error> for ContactsError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.to_string())
    }
}

impl From<city_platform::cache::CacheError> for ContactsError {
    fn from(e: city_platform::cache::CacheError) -> Self {
        Self::Store(e.to_string())
    }
}

/// A plausible address: one `@`, something before it, a dotted domain after, no spaces or
/// angle brackets (it becomes a mail header), at most 254 bytes (RFC 5321's path limit).
pub fn parse_email(raw: &str) -> Result<String, ContactsError> {
    let refuse = || ContactsError::Invalid { field: "email", message: "an e-mail address such as name@example.cn" };
    let e = raw.trim();
    let (local, domain) = e.split_once('@').ok_or_else(refuse)?;
    let ok = !local.is_empty()
        && e.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && e.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | ',' | ';' | '\\'));
    if ok {
        Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
    } else {
        Err(refuse())
    }
}

/// `c***@example.cn`: the first character of the local part and the domain.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
        None => "***".into(),
    }
}

fn confirm_key(token: &str) -> String {
    format!("identity:email-confirm:{}", credential::hash(token))
}

/// Keeps `email` pending for the citizen and mails it the confirmation link.
#[tracing::instrument(skip_all, fields(citizen_id = %citizen_id, notification_id = Empty))]
pub async fn request_email(s: &IdentityState, citizen_id: &CitizenId, raw: &str) -> Result<String, ContactsError> {
    let email = parse_email(raw)?;
    let token = credential::new_token();
    let pending = json!({"citizen_id": citizen_id.as_str(), "email": email});
    s.platform.cache.set(&confirm_key(&token), pending.to_string().as_bytes(), CONFIRM_TTL).await?;
    let link = format!("{}/v1/me/email/confirm?token={token}", s.platform.settings.public_base_url());
    let notification_id = format!("identity:{citizen_id}:email-confirm:{}", credential::hash(&token));
    tracing::Span::current().record("notification_id", notification_id.as_str());
    let notice = json!({
        "notification_id": notification_id,
        "citizen_id": citizen_id.as_str(),
        "kind": "identity.email_confirm",
        "title_zh": "请确认你的邮箱",
        "title_en": "Confirm your e-mail address",
        "body_zh": format!("打开此链接确认邮箱（24 小时内有效）：{link}"),
        "body_en": format!("Open this link to confirm your address (valid for 24 hours): {link}"),
        "channels": ["email"],
        "data": {"to_email": email},
    });
    let mut tx = s.db.begin_write().await?;
    outbox::enqueue(&mut tx, city_notify_topic(), &notice).await?;
    tx.commit().await?;
    tracing::info!(citizen_id = %citizen_id, "e-mail confirmation sent to {}", mask_email(&email));
    Ok(mask_email(&email))
}

/// The topic the notifier consumes (kept as a literal: identity does not depend on the notifier).
fn city_notify_topic() -> &'static str {
    "notify.requested"
}

/// Stores the address behind a confirmation token (single use); its masked form.
#[tracing::instrument(skip_all, fields(citizen_id = Empty))]
pub async fn confirm_email(s: &IdentityState, token: &str) -> Result<String, ContactsError> {
    let refuse = || ContactsError::Invalid { field: "token", message: "unknown or expired confirmation link" };
    if token.is_empty() || token.len() > 256 {
        return Err(refuse());
    }
    let key = confirm_key(token);
    let pending = s.platform.cache.get(&key).await?.ok_or_else(refuse)?;
    let pending: serde_json::Value = serde_json::from_slice(&pending).map_err(|_| refuse())?;
    let (Some(citizen), Some(email)) = (pending["citizen_id"].as_str(), pending["email"].as_str()) else {
        return Err(refuse());
    };
    let citizen_id = CitizenId::new(citizen.to_owned());
    tracing::Span::current().record("citizen_id", tracing::field::display(&citizen_id));
    let masked = mask_email(email);
    store::set_email(&s.db, &citizen_id, &s.sealer.seal(email), &masked, now_ms()).await?;
    let _ = s.platform.cache.delete(&key).await;
    tracing::info!(citizen_id = %citizen_id, "e-mail address confirmed");
    Ok(masked)
}

/// The citizen's confirmed address in clear (for the notifier), if any.
pub async fn email_in_clear(s: &IdentityState, citizen_id: &CitizenId) -> Result<Option<String>, ContactsError> {
    let Some(row) = store::email_of(&s.db, citizen_id).await? else { return Ok(None) };
    Ok(s.sealer.open(&row.sealed).ok())
}

/// The citizen's confirmed address, masked.
pub async fn email_masked(s: &IdentityState, citizen_id: &CitizenId) -> Result<Option<String>, ContactsError> {
    Ok(store::email_of(&s.db, citizen_id).await?.map(|r| r.masked))
}

/// The citizen's choices: (kind, channels).
pub async fn preferences(
    s: &IdentityState,
    citizen_id: &CitizenId,
) -> Result<Vec<(String, Vec<String>)>, ContactsError> {
    let rows = store::preferences_of(&s.db, citizen_id).await?;
    Ok(rows
        .into_iter()
        .map(|(kind, channels)| {
            (kind, channels.split(',').filter(|c| !c.is_empty()).map(str::to_owned).collect::<Vec<_>>())
        })
        .collect())
}

/// Sets the channels for `kind` (each known, no repeats; empty: none at all).
#[tracing::instrument(skip_all, fields(citizen_id = %citizen_id))]
pub async fn set_preference(
    s: &IdentityState,
    citizen_id: &CitizenId,
    kind: &str,
    channels: &[String],
) -> Result<(), ContactsError> {
    if !KINDS.contains(&kind) {
        return Err(ContactsError::Invalid { field: "kind", message: "one of the kinds GET /v1/me/preferences lists" });
    }
    let mut chosen: Vec<&str> = Vec::new();
    for c in channels {
        let Some(known) = CHANNELS.iter().find(|k| **k == c.as_str()) else {
            return Err(ContactsError::Invalid { field: "channels", message: "oa_template, miniprogram or email" });
        };
        if !chosen.contains(known) {
            chosen.push(known);
        }
    }
    store::set_preference(&s.db, citizen_id, kind, &chosen.join(","), now_ms()).await?;
    Ok(())
}

/// The token of every unsubscribe link mailed to this citizen: their id and its keyed hash.
/// It lets its holder take e-mail off a kind of notice of this citizen, nothing else.
pub fn unsubscribe_token(s: &IdentityState, citizen_id: &CitizenId) -> String {
    format!("{}.{}", citizen_id.as_str(), s.sealer.keyed_hash(&format!("unsubscribe:{}", citizen_id.as_str())))
}

/// Takes e-mail off `kind` for the citizen the token names (all kinds when `kind` is none of
/// [`KINDS`]).
/// Idempotent: a second click changes nothing.
#[tracing::instrument(skip_all, fields(citizen_id = Empty))]
pub async fn unsubscribe(s: &IdentityState, token: &str, kind: Option<&str>) -> Result<(), ContactsError> {
    let refuse = || ContactsError::Invalid { field: "token", message: "not an unsubscribe link of this portal" };
    let (citizen, _) = token.split_once('.').ok_or_else(refuse)?;
    let citizen_id = CitizenId::new(citizen.to_owned());
    let expected = unsubscribe_token(s, &citizen_id);
    // Both sides are hex of one length; a constant-time compare keeps the key's bytes unguessable.
    if expected.len() != token.len() || !expected.bytes().zip(token.bytes()).fold(true, |ok, (a, b)| ok & (a == b)) {
        return Err(refuse());
    }
    tracing::Span::current().record("citizen_id", tracing::field::display(&citizen_id));
    // A mail of a kind with no choice of channels (the confirmation itself): e-mail stops for all.
    let kinds: Vec<&str> = match kind {
        Some(k) if KINDS.contains(&k) => vec![k],
        _ => KINDS.to_vec(),
    };
    let current = preferences(s, &citizen_id).await?;
    for k in kinds {
        let channels: Vec<String> = match current.iter().find(|(kind, _)| kind == k) {
            Some((_, chosen)) => chosen.iter().filter(|c| *c != "email").cloned().collect(),
            // No choice made yet: everything but e-mail.
            None => CHANNELS.iter().filter(|c| **c != "email").map(|c| (*c).to_owned()).collect(),
        };
        store::set_preference(&s.db, &citizen_id, k, &channels.join(","), now_ms()).await?;
    }
    tracing::info!(citizen_id = %citizen_id, "unsubscribed from e-mail");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_that_would_break_a_mail_header_are_refused() {
        for bad in ["", "no-at", "@example.cn", "a@b", "a@.cn", "a b@example.cn", "a@example.cn>", "a@b@c.cn"] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_email(" Chen@Example.CN ").unwrap(), "Chen@example.cn");
    }

    #[test]
    fn a_masked_address_keeps_the_first_character_and_the_domain() {
        assert_eq!(mask_email("chen@example.cn"), "c***@example.cn");
    }
}
