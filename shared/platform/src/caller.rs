//! Who is calling, as far as the edge can tell before authentication: the client's address and a
//! key for its credentials. The rate limiter and the idempotency records both key on these.

use std::net::IpAddr;

use poem::Request;
use sha2::{Digest, Sha256};

/// One trusted proxy network (`10.0.0.0/8`, `192.168.1.7`, `::1/128`): a peer inside it may
/// say who its client was in `X-Forwarded-For`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`, `x::y/n` or a bare address (one host); the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| format!("`{text}` is not an address or a CIDR"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{text}`: the prefix length must be 0 to {max}"))?,
        };
        Ok(Self { addr, prefix })
    }

    /// One host.
    pub fn host(addr: IpAddr) -> Self {
        Self { addr, prefix: if addr.is_ipv4() { 32 } else { 128 } }
    }

    /// Whether `ip` lies inside this network (an IPv4-mapped IPv6 peer counts as its IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), 32, self.prefix) == masked(u32::from(ip).into(), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128, self.prefix) == masked(u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn masked(bits: u128, width: u32, prefix: u8) -> u128 {
    let prefix = u32::from(prefix);
    if prefix == 0 {
        0
    } else {
        bits >> (width - prefix)
    }
}

/// Parses the `trusted_proxies` setting; the error names the entry.
pub fn parse_trusted(entries: &[String]) -> Result<Vec<Cidr>, String> {
    entries.iter().map(|e| Cidr::parse(e)).collect()
}

fn trusted(ip: IpAddr, proxies: &[Cidr]) -> bool {
    proxies.iter().any(|c| c.contains(ip))
}

/// The caller's IP: the socket peer, unless the peer is a trusted proxy; then `X-Forwarded-For`
/// is read from the right, skipping trusted hops, and the first untrusted hop is the client.
/// Hops to its left were written by the client itself and prove nothing.
pub fn client_ip(req: &Request, trusted_proxies: &[Cidr]) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip())?;
    if !trusted(peer, trusted_proxies) {
        return Some(peer);
    }
    let hops: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        // An unreadable hop ends the walk: the last trusted one is as far as we can believe.
        let Ok(ip) = hop.parse::<IpAddr>() else { break };
        client = ip;
        if !trusted(ip, trusted_proxies) {
            break;
        }
    }
    Some(client)
}

/// A short, irreversible key for the caller's credentials (bearer token or API key), so
/// idempotency records follow an identity without storing its secret. Unverified: the rate
/// limiter keys on the principal the authenticator vouches for instead.
pub fn identity_key(req: &Request) -> Option<String> {
    let credential = req.header(poem::http::header::AUTHORIZATION).or_else(|| req.header("x-api-key"))?;
    let digest = Sha256::digest(credential.as_bytes());
    Some(hex::encode(&digest[..12]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn from(peer: &str, xff: &[&str]) -> Request {
        let mut b = http::Request::builder();
        for v in xff {
            b = b.header("x-forwarded-for", *v);
        }
        let (parts, ()) = b.body(()).unwrap().into_parts();
        let addr: SocketAddr = peer.parse().unwrap();
        let remote = poem::web::RemoteAddr(poem::Addr::SocketAddr(addr));
        let parts = poem::RequestParts::from((parts, Default::default(), remote, poem::http::uri::Scheme::HTTP));
        Request::from_parts(parts, poem::Body::empty())
    }

    fn nets(list: &[&str]) -> Vec<Cidr> {
        parse_trusted(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn cidrs_parse_and_contain_what_they_say() {
        let n = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(n.contains("10.1.200.3".parse().unwrap()));
        assert!(!n.contains("10.2.0.1".parse().unwrap()));
        assert!(Cidr::parse("::1").unwrap().contains("::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("fd00::/8").unwrap().contains("fd12::1".parse().unwrap()));
        assert!(n.contains("::ffff:10.1.0.9".parse().unwrap()), "an IPv4-mapped peer is its IPv4");
        for bad in ["10.0.0.0/33", "banana", "10.0.0.0/x", "::/129", ""] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_peer() {
        // No proxies trusted (the default): the header is the client's own word.
        assert_eq!(client_ip(&from("127.0.0.1:9", &["6.6.6.6"]), &[]), Some("127.0.0.1".parse().unwrap()));
        let proxies = nets(&["127.0.0.1", "10.0.0.0/8"]);
        assert_eq!(client_ip(&from("203.0.113.5:9", &["6.6.6.6"]), &proxies), Some("203.0.113.5".parse().unwrap()));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let proxies = nets(&["127.0.0.1", "10.0.0.0/8"]);
        // The client wrote 6.6.6.6 itself; 198.51.100.7 is what our first proxy saw.
        let req = from("127.0.0.1:9", &["6.6.6.6, 198.51.100.7, 10.0.0.4"]);
        assert_eq!(client_ip(&req, &proxies), Some("198.51.100.7".parse().unwrap()));
        // Several header lines are one list, in order.
        let req = from("127.0.0.1:9", &["6.6.6.6", "198.51.100.8"]);
        assert_eq!(client_ip(&req, &proxies), Some("198.51.100.8".parse().unwrap()));
        // Only trusted hops: the left-most of them.
        assert_eq!(client_ip(&from("127.0.0.1:9", &["10.0.0.9"]), &proxies), Some("10.0.0.9".parse().unwrap()));
        // Garbage stops the walk at the last believable hop.
        assert_eq!(client_ip(&from("127.0.0.1:9", &["x, 10.0.0.9"]), &proxies), Some("10.0.0.9".parse().unwrap()));
        assert_eq!(client_ip(&from("127.0.0.1:9", &[]), &proxies), Some("127.0.0.1".parse().unwrap()));
    }
}
