//! Cross-cutting HTTP middleware, applied once around every route: request ids and spans, error
//! rendering, metrics, body size limits and rate limits.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use poem::endpoint::BoxEndpoint;
use poem::http::HeaderValue;
use poem::PathPattern;
use poem::{Body, Endpoint, EndpointExt, IntoResponse, Request, Response, Result};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::auth::VerifiedBearer;
use crate::cache::Cache;
use crate::caller::{client_ip, Cidr};
use crate::config::RateLimitSettings;
use crate::problem::{kind, render_error, Problem};
use crate::request_id;

/// Request ids, a span per request, one access log line, metrics, and the rendering of every
/// error that reached the top as problem+json. The outermost layer.
pub async fn observe<E: Endpoint>(ep: Arc<E>, req: Request) -> Result<Response> {
    let id = req
        .header(request_id::HEADER)
        .filter(|v| request_id::accept(v))
        .map(str::to_owned)
        .unwrap_or_else(crate::ids::new_request_id);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %id, method = %method, path = %path);
    crate::telemetry::otlp::join_trace(&span, &id, req.header("traceparent"));
    let started = Instant::now();
    let mut resp = request_id::scope(id.clone(), async {
        match ep.call(req).await {
            Ok(r) => r.into_response(),
            Err(err) => {
                let pattern = err.data::<PathPattern>().cloned();
                let mut r = render_error(err);
                if let Some(p) = pattern {
                    r.set_data(p);
                }
                r
            }
        }
    })
    .instrument(span.clone())
    .await;
    let elapsed = started.elapsed();
    let status = resp.status();
    let route = resp.data::<PathPattern>().map(|p| p.0.to_string()).unwrap_or_else(|| "unmatched".into());
    crate::telemetry::record_request(method.as_str(), &route, status.as_u16(), elapsed);
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), latency_ms = elapsed.as_secs_f64() * 1e3, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), latency_ms = elapsed.as_secs_f64() * 1e3, "request done");
        }
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(request_id::HEADER, v);
    }
    Ok(resp)
}

/// How many bytes of request bodies the whole process admits at once (at least one largest
/// body): each body is buffered whole by its handler, so without a bound a few hundred parallel
/// 2 MiB uploads hold gigabytes however the size of each is checked (issue #15).
pub const BODY_BUDGET_BYTES: usize = 32 * 1024 * 1024;

/// How long a request waits for room among the bodies in flight before it is turned away.
const BODY_BUDGET_WAIT: Duration = Duration::from_secs(2);

/// The bytes of request bodies in flight, shared by every stack in the process.
pub fn body_budget(max_body: usize) -> Arc<tokio::sync::Semaphore> {
    static BUDGET: std::sync::OnceLock<Arc<tokio::sync::Semaphore>> = std::sync::OnceLock::new();
    BUDGET.get_or_init(|| Arc::new(tokio::sync::Semaphore::new(BODY_BUDGET_BYTES.max(max_body)))).clone()
}

/// Refuses bodies over `max` bytes with 413, whether or not the client declared a length, and
/// admits a body only while `budget` has room for it (503 with `Retry-After` after a short wait).
///
/// A declared `Content-Length` is held to by hyper on HTTP/1.1 and HTTP/2 alike, so a small one
/// passes untouched. A body without one (HTTP/1.1 chunked, or any HTTP/2 stream, which needs no
/// length at all) is read here, at most `max` bytes of it, before any handler sees it: the
/// 413 answers as soon as the limit is crossed and the rest is never read. The budget is held
/// until the handler has answered, since handlers buffer the body they read.
pub async fn limit_body<E: Endpoint>(
    ep: Arc<E>,
    mut req: Request,
    max: usize,
    budget: Arc<tokio::sync::Semaphore>,
) -> Result<Response> {
    let declared = req.header(poem::http::header::CONTENT_LENGTH).and_then(|v| v.trim().parse::<u64>().ok());
    let body = req.take_body();
    let empty = body.is_empty();
    req.set_body(body);
    let size = match declared {
        Some(n) if n > max as u64 => return Err(too_large(max)),
        // Bounded by `max` just above.
        Some(n) => usize::try_from(n).unwrap_or(max),
        None if empty => 0,
        None => max,
    };
    let _held = if size == 0 { None } else { Some(admit(&budget, size).await?) };
    if declared.is_none() && size > 0 {
        let body = req.take_body();
        let bytes = body.into_bytes_limit(max).await.map_err(|err| match err {
            poem::error::ReadBodyError::PayloadTooLarge => too_large(max),
            other => Problem::malformed(Some("body"), format!("the body could not be read: {other}")).into(),
        })?;
        req.set_body(Body::from_bytes(bytes));
    }
    ep.call(req).await.map(IntoResponse::into_response)
}

/// Room for `size` bytes of body in `budget`, or 503 once a short wait did not free enough.
async fn admit(
    budget: &Arc<tokio::sync::Semaphore>,
    size: usize,
) -> Result<tokio::sync::OwnedSemaphorePermit, poem::Error> {
    let permits = u32::try_from(size).unwrap_or(u32::MAX);
    match tokio::time::timeout(BODY_BUDGET_WAIT, budget.clone().acquire_many_owned(permits)).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => {
            tracing::warn!(size, "request bodies in flight fill the budget; answered 503");
            let mut p = Problem::of(&kind::UNAVAILABLE)
                .with_detail("too many request bodies are being received at once; try again shortly");
            p.retry_after = Some(1);
            Err(p.into())
        }
    }
}

/// Whether the client came over https, as the peer says in `X-Forwarded-Proto`, believed only
/// when the peer is one of `trusted_proxies` (none by default): anyone else could write it, and
/// HSTS or a `Secure` cookie must not follow from a header a client forged. The right-most
/// value is the peer's own (a proxy appends); values to its left came from further out.
pub fn forwarded_https(req: &Request, trusted_proxies: &[Cidr]) -> bool {
    let Some(peer) = req.remote_addr().as_socket_addr().map(|a| a.ip()) else { return false };
    if !trusted_proxies.iter().any(|c| c.contains(peer)) {
        return false;
    }
    let last = req.headers().get_all("x-forwarded-proto").iter().filter_map(|v| v.to_str().ok()).next_back();
    last.and_then(|v| v.rsplit(',').next()).is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// Turns a panic anywhere below into the opaque 500 problem carrying the request id, logged
/// with it, instead of a dropped connection with no answer and no trace.
pub async fn catch_panic<E: Endpoint>(ep: Arc<E>, req: Request) -> Result<Response> {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(ep.call(req)).catch_unwind().await {
        Ok(answer) => answer.map(IntoResponse::into_response),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            tracing::error!(panic = %what, "the handler panicked; answered 500");
            Err(Problem::internal().into())
        }
    }
}

fn too_large(max: usize) -> poem::Error {
    Problem::of(&kind::PAYLOAD_TOO_LARGE).with_detail(format!("the body must be at most {max} bytes")).into()
}

impl From<Problem> for poem::Error {
    fn from(p: Problem) -> Self {
        let status = p.status_code();
        poem::Error::new(p, status)
    }
}

/// Fixed-window request counters per client IP and per verified identity, in the shared cache.
#[derive(Clone)]
pub struct RateLimiter {
    cache: Arc<dyn Cache>,
    /// Counts here while the shared cache fails: limits stay on, per replica.
    fallback: Arc<crate::cache::MemoryCache>,
    /// The window in which the last fallback warning was logged (one line per window).
    warned: Arc<AtomicU64>,
    settings: RateLimitSettings,
    trusted_proxies: Arc<[Cidr]>,
    internal: Option<crate::auth::InternalToken>,
    authenticator: Option<crate::auth::SharedAuthenticator>,
}

impl RateLimiter {
    /// A limiter counting in `cache`; `X-Forwarded-For` is believed only from `trusted_proxies`.
    /// Without [`RateLimiter::verifying`] it counts per address only.
    pub fn new(cache: Arc<dyn Cache>, settings: RateLimitSettings, trusted_proxies: Vec<Cidr>) -> Self {
        Self {
            cache,
            fallback: Arc::new(crate::cache::MemoryCache::default()),
            warned: Arc::new(AtomicU64::new(u64::MAX)),
            settings,
            trusted_proxies: trusted_proxies.into(),
            internal: None,
            authenticator: None,
        }
    }

    /// Never limits calls that carry this internal token: services asking each other on behalf
    /// of many citizens (the Service Account channel) are not one client.
    pub fn exempting(mut self, internal: crate::auth::InternalToken) -> Self {
        self.internal = Some(internal);
        self
    }

    /// Counts per identity only what `authenticator` vouches for: a made-up bearer string is
    /// no identity and counts against its address alone, so inventing tokens buys no budget.
    pub fn verifying(mut self, authenticator: crate::auth::SharedAuthenticator) -> Self {
        self.authenticator = Some(authenticator);
        self
    }

    /// Whose budget a request spends besides its address's: the principal behind a live
    /// credential, or nobody.
    /// The bearer token's principal, when the request has a live one (kept for the operation).
    async fn verified_identity(&self, req: &Request) -> Option<(String, Option<VerifiedBearer>)> {
        use crate::auth::Principal;
        let auth = self.authenticator.as_ref()?;
        if let Some(header) = req.header(poem::http::header::AUTHORIZATION) {
            let (scheme, token) = header.trim().split_once(' ')?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return None;
            }
            let principal = auth.bearer(token.trim()).await.ok()??;
            let identity = match &principal {
                Principal::Citizen(c) => format!("citizen:{}", c.citizen_id),
                Principal::Staff(s) => format!("staff:{}", s.staff_id),
                Principal::Integrator(i) => format!("key:{}", i.key_id),
            };
            return Some((identity, Some(VerifiedBearer::new(token.trim(), principal))));
        }
        let key = req.header("x-api-key")?;
        match auth.api_key(key.trim()).await {
            Ok(Some(i)) => Some((format!("key:{}", i.key_id), None)),
            _ => None,
        }
    }

    /// Counts this request; `Err` with a 429 problem when a limit is exceeded.
    pub async fn check(&self, req: &Request) -> std::result::Result<(), Problem> {
        self.check_verified(req).await.map(|_| ())
    }

    /// [`Self::check`], also returning the principal it verified on the way, if any.
    pub async fn check_verified(&self, req: &Request) -> std::result::Result<Option<VerifiedBearer>, Problem> {
        if !self.settings.enabled || is_operational(req.uri().path()) {
            return Ok(None);
        }
        if let (Some(internal), Some(presented)) = (&self.internal, req.header(crate::auth::INTERNAL_TOKEN_HEADER)) {
            if internal.matches(presented) {
                return Ok(None);
            }
        }
        let window = self.settings.window_secs.max(1);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let slot = now / window;
        let retry_after = window - now % window;
        let ttl = Duration::from_secs(window + 1);
        let spend = |key: String, limit: u64, whom: &'static str| async move {
            let count = match self.cache.increment(&key, ttl).await {
                Ok(count) => count,
                Err(err) => {
                    // A cache outage must neither take the portal down nor lift the limits:
                    // count in this process until the cache answers again.
                    if self.warned.swap(slot, Ordering::Relaxed) != slot {
                        tracing::warn!(error = %err, "rate limiter cache failed; counting in-process meanwhile");
                    }
                    self.fallback.increment(&key, ttl).await.unwrap_or(0)
                }
            };
            if count > limit {
                let mut p = Problem::of(&kind::RATE_LIMITED)
                    .with_detail(format!("at most {limit} requests per {window} s from {whom}"));
                p.retry_after = Some(retry_after);
                return Err(p);
            }
            Ok(())
        };
        if let Some(ip) = client_ip(req, &self.trusted_proxies) {
            spend(format!("rl:ip:{ip}:{slot}"), self.settings.per_ip, "this address").await?;
        }
        // Only within the address's budget is a credential looked up, so made-up tokens cannot
        // buy more lookups than requests.
        if let Some((identity, verified)) = self.verified_identity(req).await {
            let id = hex::encode(&Sha256::digest(identity.as_bytes())[..12]);
            spend(format!("rl:id:{id}:{slot}"), self.settings.per_identity, "these credentials").await?;
            return Ok(verified);
        }
        Ok(None)
    }
}

/// The rate-limit middleware body. The principal it verified goes on with the request, so the
/// operation behind it (in this process) does not look the token up again.
pub async fn rate_limit<E: Endpoint>(ep: Arc<E>, mut req: Request, limiter: RateLimiter) -> Result<Response> {
    if let Some(verified) = limiter.check_verified(&req).await? {
        req.extensions_mut().insert(verified);
    }
    ep.call(req).await.map(IntoResponse::into_response)
}

/// Probes and scrapes are never limited, so an overloaded portal still reports its health.
fn is_operational(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// The cross-cutting middleware, each exactly once, outermost last. Panics are caught just
/// inside `observe`, so even a panicking layer answers with its request id.
pub fn stack(
    route: BoxEndpoint<'static>,
    settings: &crate::config::Settings,
    limiter: RateLimiter,
    with_rate_limit: bool,
    idem: Option<crate::idempotency::Idempotency>,
) -> BoxEndpoint<'static> {
    let max_body = settings.max_body_bytes;
    let budget = body_budget(max_body);
    let mut cors = poem::middleware::Cors::new()
        .allow_methods(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
        .allow_headers(["authorization", "content-type", "idempotency-key", "x-api-key", "x-request-id", "if-match"])
        .expose_headers(["x-request-id", "retry-after", "etag", "location", "idempotent-replayed"])
        .max_age(600);
    for origin in &settings.cors_origins {
        cors = cors.allow_origin(origin.as_str());
    }
    let inner: BoxEndpoint<'static> = match idem {
        Some(cfg) => route.around(move |ep, req| crate::idempotency::idempotent(ep, req, cfg.clone())).boxed(),
        None => route,
    };
    let inner: BoxEndpoint<'static> =
        if with_rate_limit { inner.around(move |ep, req| rate_limit(ep, req, limiter.clone())).boxed() } else { inner };
    inner
        .around(move |ep, req| limit_body(ep, req, max_body, budget.clone()))
        .around(catch_panic)
        .around(observe)
        .with(cors)
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Authenticator, Citizen, Integrator, Principal};
    use crate::cache::{CacheError, MemoryCache};
    use crate::config::Settings;
    use async_trait::async_trait;

    #[tokio::test]
    async fn a_panicking_handler_answers_a_500_problem_with_its_request_id() {
        let boom = poem::endpoint::make_sync(|_: Request| -> &'static str { panic!("on purpose, for the test") });
        let route = poem::Route::new().at("/boom", boom).boxed();
        let settings = Settings::default();
        let limiter = RateLimiter::new(MemoryCache::new(), settings.rate_limit.clone(), Vec::new());
        let portal = stack(route, &settings, limiter, true, None);
        let req =
            Request::builder().uri(poem::http::Uri::from_static("/boom")).header("x-request-id", "boom-1").finish();
        let resp = portal.call(req).await.expect("an answer, not a dropped connection");
        assert_eq!(resp.status().as_u16(), 500);
        assert_eq!(resp.headers()["x-request-id"], "boom-1");
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("application/problem+json"));
        let body: serde_json::Value = serde_json::from_slice(&resp.into_body().into_vec().await.unwrap()).unwrap();
        assert_eq!((body["type"].as_str(), body["instance"].as_str()), (Some("/problems/internal"), Some("boom-1")));
        assert!(!body.to_string().contains("on purpose"), "the panic's words stay in the log: {body}");
    }

    #[tokio::test]
    async fn a_body_without_a_length_is_read_only_up_to_the_limit() {
        // An endless body, as an HTTP/2 stream may be; count what the edge pulls.
        let pulled = Arc::new(AtomicU64::new(0));
        let counter = pulled.clone();
        let endless = futures::stream::repeat_with(move || {
            counter.fetch_add(4096, Ordering::SeqCst);
            Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 4096]))
        });
        let mut req = Request::builder().method(poem::http::Method::POST).finish();
        req.set_body(Body::from_bytes_stream(endless));
        let handler =
            Arc::new(poem::endpoint::make_sync(|_: Request| -> &'static str { unreachable!("refused first") }));
        let budget = Arc::new(tokio::sync::Semaphore::new(BODY_BUDGET_BYTES));
        let err = limit_body(handler, req, 64 * 1024, budget.clone()).await.expect_err("refused");
        assert_eq!(err.status().as_u16(), 413);
        assert!(pulled.load(Ordering::SeqCst) <= 64 * 1024 + 8192, "read {} bytes", pulled.load(Ordering::SeqCst));

        // A small one passes whole.
        let mut req = Request::builder().method(poem::http::Method::POST).finish();
        req.set_body(Body::from_bytes_stream(futures::stream::iter([Ok::<_, std::io::Error>(
            bytes::Bytes::from_static(b"{}"),
        )])));
        let echo =
            Arc::new(poem::endpoint::make(
                |mut req: Request| async move { req.take_body().into_string().await.unwrap() },
            ));
        let resp = limit_body(echo, req, 64 * 1024, budget.clone()).await.unwrap();
        assert_eq!(resp.into_body().into_string().await.unwrap(), "{}");
        assert_eq!(budget.available_permits(), BODY_BUDGET_BYTES, "the budget is given back");
    }

    fn sized_post(len: usize) -> Request {
        Request::builder()
            .method(poem::http::Method::POST)
            .header("content-length", len.to_string())
            .body(vec![b' '; len])
    }

    #[test]
    fn x_forwarded_proto_counts_only_from_a_trusted_proxy_and_only_its_own_value() {
        let from = |peer: &str, protos: &[&str]| {
            let mut b = poem::http::Request::builder();
            for p in protos {
                b = b.header("x-forwarded-proto", *p);
            }
            let (parts, ()) = b.body(()).unwrap().into_parts();
            let addr: std::net::SocketAddr = peer.parse().unwrap();
            let remote = poem::web::RemoteAddr(poem::Addr::SocketAddr(addr));
            let parts = poem::RequestParts::from((parts, Default::default(), remote, poem::http::uri::Scheme::HTTP));
            Request::from_parts(parts, Body::empty())
        };
        let none: Vec<Cidr> = Vec::new();
        let proxy = vec![Cidr::parse("10.0.0.0/8").unwrap()];
        // Loopback is no proxy unless configured.
        assert!(!forwarded_https(&from("127.0.0.1:5000", &["https"]), &none));
        assert!(!forwarded_https(&from("203.0.113.9:5000", &["https"]), &proxy));
        assert!(forwarded_https(&from("10.1.2.3:5000", &["https"]), &proxy));
        assert!(forwarded_https(&from("10.1.2.3:5000", &["HTTPS"]), &proxy));
        // The client's own `https` to the left of what the proxy appended proves nothing.
        assert!(!forwarded_https(&from("10.1.2.3:5000", &["https, http"]), &proxy));
        assert!(!forwarded_https(&from("10.1.2.3:5000", &["https", "http"]), &proxy));
        assert!(forwarded_https(&from("10.1.2.3:5000", &["http, https"]), &proxy));
        assert!(!forwarded_https(&from("10.1.2.3:5000", &[]), &proxy));
    }

    #[tokio::test]
    async fn bodies_in_flight_past_the_budget_wait_then_get_a_503() {
        // Room for two 40 KiB bodies; the handler holds each until told to answer.
        let budget = Arc::new(tokio::sync::Semaphore::new(100 * 1024));
        let gate = Arc::new(tokio::sync::Notify::new());
        let open = gate.clone();
        let held = Arc::new(poem::endpoint::make(move |_: Request| {
            let gate = open.clone();
            async move {
                gate.notified().await;
                "done"
            }
        }));
        let first = tokio::spawn(limit_body(held.clone(), sized_post(40 * 1024), 64 * 1024, budget.clone()));
        let second = tokio::spawn(limit_body(held.clone(), sized_post(40 * 1024), 64 * 1024, budget.clone()));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(budget.available_permits(), 20 * 1024);
        let started = Instant::now();
        let err = limit_body(held.clone(), sized_post(40 * 1024), 64 * 1024, budget.clone()).await.unwrap_err();
        assert_eq!(err.status().as_u16(), 503);
        assert!(started.elapsed() >= BODY_BUDGET_WAIT, "it waited for room first");
        // A request without a body needs no room.
        let echo = Arc::new(poem::endpoint::make_sync(|_: Request| "ok"));
        let get = Request::builder().finish();
        assert_eq!(limit_body(echo, get, 64 * 1024, budget.clone()).await.unwrap().status().as_u16(), 200);
        gate.notify_waiters();
        first.await.unwrap().unwrap();
        second.await.unwrap().unwrap();
        assert_eq!(budget.available_permits(), 100 * 1024, "room comes back with the answers");
    }

    /// Vouches for bearer tokens starting with `good-<citizen>-`.
    struct Vouch;

    #[async_trait]
    impl Authenticator for Vouch {
        async fn bearer(&self, token: &str) -> Result<Option<Principal>, Problem> {
            let Some(rest) = token.strip_prefix("good-") else { return Ok(None) };
            let citizen_id = rest.split('-').next().unwrap_or_default().to_owned();
            Ok(Some(Principal::Citizen(Citizen { citizen_id, session_id: token.into() })))
        }
        async fn api_key(&self, _: &str) -> Result<Option<Integrator>, Problem> {
            Ok(None)
        }
    }

    fn bearer(token: &str) -> Request {
        Request::builder()
            .uri(poem::http::Uri::from_static("/v1/me"))
            .header("authorization", format!("Bearer {token}"))
            .finish()
    }

    fn limits(per_identity: u64) -> RateLimitSettings {
        RateLimitSettings { enabled: true, window_secs: 60, per_ip: 1000, per_identity }
    }

    #[tokio::test]
    async fn made_up_credentials_get_no_budget_of_their_own_and_real_ones_share_one() {
        let cache = MemoryCache::new();
        let limiter = RateLimiter::new(cache.clone(), limits(3), Vec::new()).verifying(Arc::new(Vouch));
        for i in 0..50 {
            limiter.check(&bearer(&format!("made-up-{i}"))).await.unwrap();
        }
        assert_eq!(cache.len(), 0, "a counter per invented token");
        // One citizen, two tokens: one budget.
        for token in ["good-c1-a", "good-c1-b", "good-c1-a"] {
            limiter.check(&bearer(token)).await.unwrap();
        }
        let p = limiter.check(&bearer("good-c1-b")).await.unwrap_err();
        assert_eq!(p.status, 429);
        limiter.check(&bearer("good-c2-a")).await.unwrap();
    }

    /// A cache that never answers.
    struct Down;

    #[async_trait]
    impl Cache for Down {
        async fn get(&self, _: &str) -> std::result::Result<Option<Vec<u8>>, CacheError> {
            Err(down())
        }
        async fn set(&self, _: &str, _: &[u8], _: Duration) -> std::result::Result<(), CacheError> {
            Err(down())
        }
        async fn set_if_absent(&self, _: &str, _: &[u8], _: Duration) -> std::result::Result<bool, CacheError> {
            Err(down())
        }
        async fn delete(&self, _: &str) -> std::result::Result<(), CacheError> {
            Err(down())
        }
        async fn increment(&self, _: &str, _: Duration) -> std::result::Result<u64, CacheError> {
            Err(down())
        }
        async fn ping(&self) -> std::result::Result<(), CacheError> {
            Err(down())
        }
        fn kind(&self) -> &'static str {
            "down"
        }
    }

    fn down() -> CacheError {
        CacheError(redis::RedisError::from((redis::ErrorKind::IoError, "connection refused")))
    }

    #[tokio::test]
    async fn a_failing_cache_falls_back_to_limits_in_process_never_to_none() {
        let limiter = RateLimiter::new(Arc::new(Down), limits(2), Vec::new()).verifying(Arc::new(Vouch));
        limiter.check(&bearer("good-c1-a")).await.unwrap();
        limiter.check(&bearer("good-c1-a")).await.unwrap();
        assert_eq!(limiter.check(&bearer("good-c1-a")).await.unwrap_err().status, 429);
    }
}
