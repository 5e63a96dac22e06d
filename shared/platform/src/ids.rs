//! Identifiers: UUIDv7 text, time-ordered so indexes stay append-mostly.

/// A new UUIDv7 as 36-character lowercase text.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A new request id: UUIDv7 without dashes, short enough to read aloud from a screenshot.
/// Its random part comes from the thread's userspace generator rather than a system call per
/// request (every request gets one); ids of rows keep [`new_id`]'s in-process ordering.
pub fn new_request_id() -> String {
    use rand::RngCore;
    let mut random = [0u8; 10];
    rand::thread_rng().fill_bytes(&mut random);
    let ms = crate::time::now_ms().max(0) as u64;
    uuid::Builder::from_unix_timestamp_millis(ms, &random).into_uuid().simple().to_string()
}

/// A new random secret of `n_bytes` from the OS generator, as lowercase hex.
pub fn token(n_bytes: usize) -> String {
    use rand::RngCore;
    let mut bytes = vec![0u8; n_bytes];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_version_7_and_differ() {
        let a = uuid::Uuid::parse_str(&super::new_request_id()).unwrap();
        let b = uuid::Uuid::parse_str(&super::new_request_id()).unwrap();
        assert_eq!(a.get_version_num(), 7);
        assert_ne!(a, b);
        let (secs, _) = a.get_timestamp().unwrap().to_unix();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        assert!(now.abs_diff(secs) < 5, "the id carries the time it was made");
    }
}
