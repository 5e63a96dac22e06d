//! Cross-cutting HTTP middleware, applied once around every route: request ids and spans, error
//! rendering, metrics, body size limits and rate limits.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use poem::endpoint::BoxEndpoint;
use poem::http::HeaderValue;
use poem::PathPattern;
use poem::{Body, Endpoint, EndpointExt, IntoResponse, Request, Response, Result};
use tracing::Instrument;

use crate::cache::Cache;
use crate::caller::{client_ip, identity_key};
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

/// Refuses bodies over `max` bytes with 413, whether or not the client declared a length.
pub async fn limit_body<E: Endpoint>(ep: Arc<E>, mut req: Request, max: usize) -> Result<Response> {
    let declared = req.header(poem::http::header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(n) if n > max as u64 => return Err(too_large(max)),
        Some(_) => {}
        None => {
            // Chunked or unknown length: read at most `max` bytes before anything parses it.
            if req.header(poem::http::header::TRANSFER_ENCODING).is_some() {
                let bytes = req.take_body().into_bytes_limit(max).await.map_err(|_| too_large(max))?;
                req.set_body(Body::from_bytes(bytes));
            }
        }
    }
    ep.call(req).await.map(IntoResponse::into_response)
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

/// Fixed-window request counters per client IP and per identity, in the shared cache.
#[derive(Clone)]
pub struct RateLimiter {
    cache: Arc<dyn Cache>,
    settings: RateLimitSettings,
    trusted_proxies: Arc<[IpAddr]>,
    internal: Option<crate::auth::InternalToken>,
}

impl RateLimiter {
    /// A limiter counting in `cache`; `X-Forwarded-For` is believed only from `trusted_proxies`.
    pub fn new(cache: Arc<dyn Cache>, settings: RateLimitSettings, trusted_proxies: Vec<IpAddr>) -> Self {
        Self { cache, settings, trusted_proxies: trusted_proxies.into(), internal: None }
    }

    /// Never limits calls that carry this internal token: services asking each other on behalf
    /// of many citizens (the Service Account channel) are not one client.
    pub fn exempting(mut self, internal: crate::auth::InternalToken) -> Self {
        self.internal = Some(internal);
        self
    }

    /// Counts this request; `Err` with a 429 problem when a limit is exceeded.
    pub async fn check(&self, req: &Request) -> std::result::Result<(), Problem> {
        if !self.settings.enabled || is_operational(req.uri().path()) {
            return Ok(());
        }
        if let (Some(internal), Some(presented)) = (&self.internal, req.header(crate::auth::INTERNAL_TOKEN_HEADER)) {
            if internal.matches(presented) {
                return Ok(());
            }
        }
        let window = self.settings.window_secs.max(1);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let slot = now / window;
        let retry_after = window - now % window;
        let ttl = Duration::from_secs(window + 1);
        let mut checks = Vec::with_capacity(2);
        if let Some(ip) = client_ip(req, &self.trusted_proxies) {
            checks.push((format!("rl:ip:{ip}:{slot}"), self.settings.per_ip, "this address"));
        }
        if let Some(identity) = identity_key(req) {
            checks.push((format!("rl:id:{identity}:{slot}"), self.settings.per_identity, "these credentials"));
        }
        for (key, limit, whom) in checks {
            match self.cache.increment(&key, ttl).await {
                Ok(count) if count > limit => {
                    let mut p = Problem::of(&kind::RATE_LIMITED)
                        .with_detail(format!("at most {limit} requests per {window} s from {whom}"));
                    p.retry_after = Some(retry_after);
                    return Err(p);
                }
                Ok(_) => {}
                // A cache outage must not take the portal down with it: fail open, loudly.
                Err(err) => tracing::warn!(error = %err, "rate limiter cache failed; allowing request"),
            }
        }
        Ok(())
    }
}

/// The rate-limit middleware body.
pub async fn rate_limit<E: Endpoint>(ep: Arc<E>, req: Request, limiter: RateLimiter) -> Result<Response> {
    limiter.check(&req).await?;
    ep.call(req).await.map(IntoResponse::into_response)
}

/// Probes and scrapes are never limited, so an overloaded portal still reports its health.
fn is_operational(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// The cross-cutting middleware, each exactly once, outermost last.
pub fn stack(
    route: BoxEndpoint<'static>,
    settings: &crate::config::Settings,
    limiter: RateLimiter,
    with_rate_limit: bool,
    idem: Option<crate::idempotency::Idempotency>,
) -> BoxEndpoint<'static> {
    let max_body = settings.max_body_bytes;
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
    inner.around(move |ep, req| limit_body(ep, req, max_body)).around(observe).with(cors).boxed()
}
