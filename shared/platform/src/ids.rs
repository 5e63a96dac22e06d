//! Identifiers: UUIDv7 text, time-ordered so indexes stay append-mostly.

/// A new UUIDv7 as 36-character lowercase text.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A new request id: UUIDv7 without dashes, short enough to read aloud from a screenshot.
pub fn new_request_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// A new random secret of `n_bytes` from the OS generator, as lowercase hex.
pub fn token(n_bytes: usize) -> String {
    use rand::RngCore;
    let mut bytes = vec![0u8; n_bytes];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}
