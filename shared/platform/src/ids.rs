//! Identifiers: UUIDv7 text, time-ordered so indexes stay append-mostly.

/// A new UUIDv7 as 36-character lowercase text.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A new request id: UUIDv7 without dashes, short enough to read aloud from a screenshot.
pub fn new_request_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}
