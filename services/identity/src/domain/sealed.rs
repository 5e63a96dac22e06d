//! Personal data at rest: AES-256-GCM with a random 96-bit nonce (`base64(nonce || ciphertext)`),
//! and a keyed HMAC-SHA256 for uniqueness and cross-service matching without decryption.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The keys for sealing personal data. `Debug` shows nothing.
#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
    hash_key: Vec<u8>,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(****)")
    }
}

/// Ciphertext that does not open with our key (tampered, or another key).
#[derive(Debug, thiserror::Error)]
#[error("sealed data does not open with the configured key")]
pub struct Unsealable;

impl Sealer {
    /// Keys derived from the configured secrets (any length; SHA-256 stretches them to 32 bytes).
    pub fn new(data_key: &str, hash_key: &str) -> Self {
        let key = Sha256::digest(data_key.as_bytes());
        Self { cipher: Aes256Gcm::new(&key), hash_key: hash_key.as_bytes().to_vec() }
    }

    /// Encrypts `plain`.
    pub fn seal(&self, plain: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        // Encryption with a valid key and nonce cannot fail for in-memory data.
        let ct = self.cipher.encrypt(Nonce::from_slice(&nonce), plain.as_bytes()).unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        STANDARD.encode(out)
    }

    /// Decrypts what [`Sealer::seal`] produced.
    pub fn open(&self, sealed: &str) -> Result<String, Unsealable> {
        let bytes = STANDARD.decode(sealed).map_err(|_| Unsealable)?;
        if bytes.len() < 12 + 16 {
            return Err(Unsealable);
        }
        let (nonce, ct) = bytes.split_at(12);
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), ct).map_err(|_| Unsealable)?;
        String::from_utf8(plain).map_err(|_| Unsealable)
    }

    /// Lowercase hex HMAC-SHA256 of `value` under the hash key: stable, not reversible.
    pub fn keyed_hash(&self, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.hash_key).expect("HMAC takes any key length");
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_with_the_same_key_only() {
        let a = Sealer::new("k1", "h1");
        let sealed = a.seal("11010519491231002X");
        assert_ne!(sealed, a.seal("11010519491231002X"), "a fresh nonce each time");
        assert_eq!(a.open(&sealed).unwrap(), "11010519491231002X");
        assert!(Sealer::new("k2", "h1").open(&sealed).is_err());
    }

    #[test]
    fn the_keyed_hash_is_stable_and_depends_on_the_key() {
        let a = Sealer::new("k1", "h1");
        assert_eq!(a.keyed_hash("x"), a.keyed_hash("x"));
        assert_ne!(a.keyed_hash("x"), Sealer::new("k1", "h2").keyed_hash("x"));
    }
}
