//! W3C Trace Context ids derived from and read out of requests, shared by the peers client and the
//! OTLP exporter (kept apart from both so neither imports the other for them).

/// 32 lowercase hex digits naming the trace of the request `request_id`.
pub fn trace_id_of(request_id: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(request_id.as_bytes());
    hex::encode(&digest[..16])
}

/// The trace id of a well-formed `traceparent` header value (version 00, non-zero ids).
pub fn trace_id_in(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.trim().split('-');
    let (version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let zero = |s: &str| s.bytes().all(|b| b == b'0');
    (version == "00" && hex(trace, 32) && !zero(trace) && hex(parent, 16) && !zero(parent) && hex(flags, 2))
        .then_some(trace)
}
