//! How one process reaches another service: its replicas' base URLs in turn (round-robin), a
//! replica that failed to answer set aside for a while (passive ejection), and the headers that
//! tie an internal call to the request it serves (`x-request-id`, W3C `traceparent`).
//!
//! Whether a peer is this very process (all-in-one) or other processes (apart) is decided by
//! the mode the binary runs in ([`crate::config::Topology`]), never by comparing URLs.
//! In a cluster the platform's Service balances and each list holds one URL; this serves
//! compose files and bare processes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// One service's replicas as this process sees them. Cheap to clone; clones share their view.
#[derive(Clone)]
pub struct Peer {
    inner: Arc<Inner>,
}

struct Inner {
    service: String,
    urls: Vec<String>,
    next: AtomicUsize,
    /// Per replica: until when it is set aside.
    ejected: Mutex<Vec<Option<Instant>>>,
    eject_for: Duration,
}

/// A replica's state, for `/readyz` and `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaState {
    /// Its base URL.
    pub url: String,
    /// Whether requests go to it now (false while it is set aside after a failure).
    pub healthy: bool,
}

impl Peer {
    /// The replicas of `service` at `urls` (trailing slashes dropped); a replica that fails is
    /// set aside for `eject_for` before it is tried again.
    pub fn new(service: &str, urls: &[String], eject_for: Duration) -> Self {
        let urls: Vec<String> = urls.iter().map(|u| u.trim().trim_end_matches('/').to_owned()).collect();
        let ejected = Mutex::new(vec![None; urls.len()]);
        Self {
            inner: Arc::new(Inner { service: service.to_owned(), urls, next: AtomicUsize::new(0), ejected, eject_for }),
        }
    }

    /// The service's name.
    pub fn service(&self) -> &str {
        &self.inner.service
    }

    /// The next replica in turn that is not set aside; `None` when every one is.
    pub fn pick(&self) -> Option<String> {
        let n = self.inner.urls.len();
        if n == 0 {
            return None;
        }
        let now = Instant::now();
        let start = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let mut ejected = self.inner.ejected.lock();
        for i in 0..n {
            let at = (start + i) % n;
            match ejected[at] {
                Some(until) if until > now => continue,
                Some(_) => ejected[at] = None,
                None => {}
            }
            return Some(self.inner.urls[at].clone());
        }
        None
    }

    /// [`Peer::pick`], or when every replica is set aside the next one anyway: a service asking
    /// another would rather try than give up without a word.
    pub fn base(&self) -> String {
        self.pick().unwrap_or_else(|| {
            let n = self.inner.urls.len().max(1);
            let at = self.inner.next.fetch_add(1, Ordering::Relaxed) % n;
            self.inner.urls.get(at).cloned().unwrap_or_default()
        })
    }

    /// Sets the replica at `base` aside: it did not answer (refused, reset or timed out).
    pub fn failed(&self, base: &str) {
        if let Some(at) = self.inner.urls.iter().position(|u| u == base) {
            let until = Instant::now() + self.inner.eject_for;
            self.inner.ejected.lock()[at] = Some(until);
            tracing::warn!(service = %self.inner.service, replica = %base, eject_secs = self.inner.eject_for.as_secs(), "replica did not answer; set aside");
        }
    }

    /// Each replica and whether it takes requests now.
    pub fn states(&self) -> Vec<ReplicaState> {
        let now = Instant::now();
        let ejected = self.inner.ejected.lock();
        self.inner
            .urls
            .iter()
            .zip(ejected.iter())
            .map(|(url, until)| ReplicaState { url: url.clone(), healthy: !until.is_some_and(|t| t > now) })
            .collect()
    }
}

/// Sets the `gateway_upstream_healthy{service, replica}` gauge (1 in rotation, 0 set aside) of
/// every replica of `peers`, for `/metrics`.
pub fn record_states(peers: &[Peer]) {
    for peer in peers {
        for replica in peer.states() {
            let labels = [("service", peer.service().to_owned()), ("replica", replica.url)];
            metrics::gauge!("gateway_upstream_healthy", &labels).set(if replica.healthy { 1.0 } else { 0.0 });
        }
    }
}

/// The headers an internal call carries so its logs join the request's: the current request
/// id, and a W3C `traceparent` whose trace id is derived from that request id (so every hop of
/// one request shares it) with a fresh parent id per call. Empty outside a request.
pub fn trace_headers() -> Vec<(&'static str, String)> {
    match crate::request_id::current() {
        Some(id) => vec![(crate::request_id::HEADER, id.clone()), ("traceparent", traceparent(&trace_id_of(&id)))],
        None => Vec::new(),
    }
}

// The trace-id functions live apart so the exporter can use them without importing this module.
pub use crate::trace_context::{trace_id_in, trace_id_of};

/// A `traceparent` (version 00, sampled) in trace `trace_id` naming the current span as the
/// parent when traces are exported (telemetry::otlp), else a new parent id.
pub fn traceparent(trace_id: &str) -> String {
    let span =
        crate::telemetry::otlp::current_span_id().unwrap_or_else(|| format!("{:016x}", rand::random::<u64>() | 1));
    format!("00-{trace_id}-{span}-01")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two() -> Peer {
        Peer::new("booking", &["http://a:1/".into(), "http://b:2".into()], Duration::from_secs(30))
    }

    #[test]
    fn replicas_take_turns_and_trailing_slashes_are_dropped() {
        let p = two();
        let picks: Vec<String> = (0..4).map(|_| p.pick().unwrap()).collect();
        assert_eq!(picks, ["http://a:1", "http://b:2", "http://a:1", "http://b:2"]);
    }

    #[test]
    fn a_failed_replica_is_set_aside_and_none_is_left_when_both_failed() {
        let p = two();
        p.failed("http://a:1");
        assert!((0..4).all(|_| p.pick().as_deref() == Some("http://b:2")));
        assert_eq!(p.states().iter().filter(|s| s.healthy).count(), 1);
        p.failed("http://b:2");
        assert_eq!(p.pick(), None);
        // A service still tries rather than giving up.
        assert!(p.base().starts_with("http://"));
    }

    #[test]
    fn a_set_aside_replica_is_tried_again_after_its_time() {
        let p = Peer::new("air", &["http://a:1".into(), "http://b:2".into()], Duration::ZERO);
        p.failed("http://a:1");
        let picks: Vec<String> = (0..2).map(|_| p.pick().unwrap()).collect();
        assert!(picks.contains(&"http://a:1".to_owned()));
    }

    #[tokio::test]
    async fn an_internal_call_made_while_serving_a_request_carries_its_id_and_trace() {
        assert!(trace_headers().is_empty(), "nothing outside a request");
        let headers = crate::request_id::scope("req-7".into(), async { trace_headers() }).await;
        assert_eq!(headers[0], ("x-request-id", "req-7".to_owned()));
        assert_eq!(headers[1].0, "traceparent");
        assert_eq!(trace_id_in(&headers[1].1), Some(trace_id_of("req-7").as_str()));
    }

    #[test]
    fn traceparent_is_well_formed_and_shares_the_request_trace() {
        let trace = trace_id_of("req-1");
        let header = traceparent(&trace);
        assert_eq!(trace_id_in(&header), Some(trace.as_str()));
        assert_ne!(header, traceparent(&trace), "a new parent id per call");
        assert_eq!(trace_id_in("00-00000000000000000000000000000000-0000000000000001-01"), None);
        assert_eq!(trace_id_in("garbage"), None);
    }
}
