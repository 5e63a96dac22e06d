//! Opaque credentials: bearer tokens and API keys are 32 random bytes in base64url; only their
//! SHA-256 is stored, so a copy of the database signs nobody in.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of API keys, so a leaked key is recognisable (secret scanners) and never confused with a token.
pub const API_KEY_PREFIX: &str = "cityk_";

/// What an API key may be granted, and nothing else: each is checked by the service that
/// owns it (`open311`: filing Open311 requests; `air-ingest`: pushing station readings).
pub const API_KEY_SCOPES: &[&str] = &["air-ingest", "open311"];

/// [`known_scope`] in words, for the problem that refuses a scope.
pub const SCOPES_RULE: &str =
    "one to 20 of `air-ingest` and `open311`; `air-ingest:<station or network>` binds a feed to what it feeds";

/// Whether `scope` is one of [`API_KEY_SCOPES`], or `air-ingest` narrowed to one station or
/// network (`air-ingest:<id>`, an id of letters, digits, `.`, `_` and `-`).
pub fn known_scope(scope: &str) -> bool {
    match scope.split_once(':') {
        None => API_KEY_SCOPES.contains(&scope),
        Some(("air-ingest", id)) => {
            (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        }
        Some(_) => false,
    }
}

/// A fresh bearer token.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A fresh API key.
pub fn new_api_key() -> String {
    format!("{API_KEY_PREFIX}{}", new_token())
}

/// The stored form of a token or key: lowercase hex SHA-256.
pub fn hash(credential: &str) -> String {
    hex::encode(Sha256::digest(credential.as_bytes()))
}

/// Whether `text` could be one of our tokens (43 base64url characters), so garbage is refused
/// without a lookup.
pub fn looks_like_token(text: &str) -> bool {
    text.len() == 43 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_url_safe_characters_and_never_repeat() {
        let a = new_token();
        assert!(looks_like_token(&a));
        assert_ne!(a, new_token());
    }

    #[test]
    fn the_stored_hash_is_stable_and_not_the_token() {
        assert_eq!(hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn only_known_scopes_are_granted() {
        for ok in ["air-ingest", "open311", "air-ingest:510104-01", "air-ingest:net.chengdu"] {
            assert!(known_scope(ok), "{ok}");
        }
        for bad in ["admin", "", "open311:x", "air-ingest:", "air-ingest:a b", "AIR-INGEST", "*"] {
            assert!(!known_scope(bad), "{bad}");
        }
    }

    #[test]
    fn api_keys_carry_their_prefix() {
        assert!(new_api_key().starts_with(API_KEY_PREFIX));
    }
}
