//! Who is calling, as far as the edge can tell before authentication: the client's address and a
//! key for its credentials. The rate limiter and the idempotency records both key on these.

use std::net::IpAddr;

use poem::Request;
use sha2::{Digest, Sha256};

/// The caller's IP: the socket peer, or the first `X-Forwarded-For` hop when the peer is a
/// trusted proxy (the gateway in distributed mode).
pub fn client_ip(req: &Request, trusted_proxies: &[IpAddr]) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
    match peer {
        Some(ip) if trusted_proxies.contains(&ip) => req
            .header("x-forwarded-for")
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
            .or(Some(ip)),
        other => other,
    }
}

/// A short, irreversible key for the caller's credentials (bearer token or API key), so limits
/// and idempotency records follow an identity without storing its secret.
pub fn identity_key(req: &Request) -> Option<String> {
    let credential = req.header(poem::http::header::AUTHORIZATION).or_else(|| req.header("x-api-key"))?;
    let digest = Sha256::digest(credential.as_bytes());
    Some(hex::encode(&digest[..12]))
}
