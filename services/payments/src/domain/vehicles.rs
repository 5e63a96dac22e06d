//! The vehicle registry's rules: what proves a citizen knows a car (the last six characters of
//! its engine number, as the traffic police's own app asks), how those characters are kept (a
//! keyed hash, never the characters), and how many wrong guesses a day allows.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Plate;

/// Fine lookups (by plate and engine, right or wrong, by decision number, and bindings) one
/// citizen may make in a Beijing day. Six characters are few (often only digits: a million
/// values) and decision numbers run in sequence, so guessing and walking must stay slow; an
/// owner looks up a handful of times.
pub const ATTEMPTS_PER_CITIZEN_PER_DAY: u64 = 20;

/// Plate-and-engine attempts one plate may receive in a Beijing day, from anyone: many accounts
/// guessing one plate are slowed down as much as one account guessing.
pub const ATTEMPTS_PER_PLATE_PER_DAY: u64 = 10;

/// The last six characters of an engine number (发动机号后六位), upper-case letters and digits.
#[derive(Clone, PartialEq, Eq)]
pub struct EngineCode(String);

impl std::fmt::Debug for EngineCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // It is the secret that opens a car's violations: never in a log.
        f.write_str("EngineCode(******)")
    }
}

fn letters_and_digits(raw: &str) -> Option<String> {
    let normal: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '\u{3000}')).collect();
    normal.chars().all(|c| c.is_ascii_alphanumeric()).then(|| normal.to_ascii_uppercase())
}

impl EngineCode {
    /// The six characters as a citizen types them (spaces ignored, any case).
    pub fn parse(raw: &str) -> Option<Self> {
        letters_and_digits(raw).filter(|s| s.len() == 6).map(Self)
    }

    /// The last six characters of a whole engine number, as the traffic police's file carries
    /// it (6 to 30 letters and digits; spaces and dashes ignored).
    pub fn of_engine_number(raw: &str) -> Option<Self> {
        let normal = letters_and_digits(raw).filter(|s| (6..=30).contains(&s.len()))?;
        Some(Self(normal[normal.len() - 6..].to_owned()))
    }
}

/// The key the registry's hashes are made with, derived from a payments secret that lives in
/// configuration (never in the database, so a copy of the database alone cannot test guesses).
pub fn registry_key(secret: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(b"city-payments/vehicle-registry/v1");
    mac.finalize().into_bytes().into()
}

/// The stored form of a car's engine code: HMAC-SHA256 over plate, plate type and the code, so
/// the same six characters on two cars hash differently.
pub fn engine_hash(key: &[u8; 32], plate: &Plate, plate_type: &str, code: &EngineCode) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for part in [plate.as_str(), plate_type, code.0.as_str()] {
        mac.update(part.as_bytes());
        mac.update(b"\n");
    }
    hex::encode(mac.finalize().into_bytes())
}

/// A plate's name in the attempt counters: keyed, so the cache holds no plate in clear.
pub fn plate_tag(key: &[u8; 32], plate: &Plate, plate_type: &str) -> String {
    engine_hash(key, plate, plate_type, &EngineCode(String::new()))[..32].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_six_characters_are_read_as_typed_and_from_a_whole_engine_number() {
        assert_eq!(EngineCode::parse(" 12ab3c "), EngineCode::parse("12AB3C"));
        assert!(EngineCode::parse("12345").is_none(), "five is too few");
        assert!(EngineCode::parse("12345的").is_none());
        assert_eq!(EngineCode::of_engine_number("LJ4A-0012AB3C"), EngineCode::parse("12AB3C"));
        assert!(EngineCode::of_engine_number("12345").is_none());
    }

    #[test]
    fn the_hash_depends_on_key_plate_type_and_code_and_never_shows_the_code() {
        let key = registry_key("k");
        let plate = Plate::parse("川A12345").unwrap();
        let code = EngineCode::parse("123456").unwrap();
        let h = engine_hash(&key, &plate, "02", &code);
        assert_eq!(h.len(), 64);
        assert!(!h.contains("123456"));
        assert_eq!(h, engine_hash(&key, &plate, "02", &code));
        assert_ne!(h, engine_hash(&registry_key("other"), &plate, "02", &code));
        assert_ne!(h, engine_hash(&key, &plate, "52", &code));
        assert_ne!(h, engine_hash(&key, &Plate::parse("川A12346").unwrap(), "02", &code));
        assert_ne!(h, engine_hash(&key, &plate, "02", &EngineCode::parse("123457").unwrap()));
        assert_eq!(format!("{code:?}"), "EngineCode(******)");
    }
}
