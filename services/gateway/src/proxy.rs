//! Distributed mode: the gateway forwards each path prefix to the service that owns it,
//! passing the request id, the credentials and the caller's address through.

use std::net::IpAddr;
use std::time::Duration;

use city_platform::config::ServiceUrls;
use city_platform::Problem;
use futures::TryStreamExt;
use poem::http::{header, HeaderName};
use poem::{Body, Endpoint, Request, Response, Result};

/// Which service owns which prefix (the architecture's table).
pub fn routes(urls: &ServiceUrls) -> Vec<(&'static str, String)> {
    vec![
        ("/v1/auth", urls.identity.clone()),
        ("/v1/me", urls.identity.clone()),
        ("/v1/staff", urls.identity.clone()),
        ("/v1/booking", urls.booking.clone()),
        ("/v1/payments", urls.payments.clone()),
        ("/v1/incidents", urls.incidents.clone()),
        ("/open311/v2", urls.incidents.clone()),
        ("/v1/air", urls.air.clone()),
        ("/wechat", urls.wechat.clone()),
    ]
}

/// Forwards every request it gets to `upstream`, keeping the path and query.
pub struct Forward {
    upstream: String,
    client: reqwest::Client,
}

impl Forward {
    /// A forwarder to `upstream` (e.g. `http://127.0.0.1:8085`) over a shared client.
    pub fn new(upstream: String, client: reqwest::Client) -> Self {
        Self { upstream: upstream.trim_end_matches('/').to_owned(), client }
    }
}

/// The HTTP client the forwarders share: pooled connections, bounded waits.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(30))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_default()
}

/// Headers that describe one hop, not the message (RFC 9110 §7.6.1); never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

impl Endpoint for Forward {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Response> {
        let path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let url = format!("{}{}", self.upstream, path);
        let mut out = self.client.request(req.method().clone(), &url);
        for (name, value) in req.headers() {
            if !HOP_BY_HOP.contains(&name.as_str()) && name.as_str() != "x-forwarded-for" {
                out = out.header(name, value);
            }
        }
        if let Some(id) = city_platform::request_id::current() {
            out = out.header(city_platform::request_id::HEADER, id);
        }
        let peer: Option<IpAddr> = req.remote_addr().as_socket_addr().map(|a| a.ip());
        let forwarded = match (req.header("x-forwarded-for"), peer) {
            (Some(prev), Some(ip)) => Some(format!("{prev}, {ip}")),
            (None, Some(ip)) => Some(ip.to_string()),
            (Some(prev), None) => Some(prev.to_owned()),
            (None, None) => None,
        };
        if let Some(f) = forwarded {
            out = out.header("x-forwarded-for", f);
        }
        let body = req.take_body();
        if !body.is_empty() {
            out = out.body(reqwest::Body::wrap_stream(body.into_bytes_stream()));
        }
        let upstream = match out.send().await {
            Ok(r) => r,
            Err(err) => {
                tracing::warn!(upstream = %self.upstream, error = %err, "upstream service unreachable");
                return Err(Problem::of(&crate::errors::UPSTREAM_UNAVAILABLE)
                    .with_detail("the service behind this path did not answer; try again shortly")
                    .into());
            }
        };
        let mut resp = Response::builder().status(upstream.status());
        for (name, value) in upstream.headers() {
            if !HOP_BY_HOP.contains(&name.as_str()) && *name != header::CONTENT_LENGTH {
                resp = resp.header(HeaderName::from(name), value.clone());
            }
        }
        let stream = upstream.bytes_stream().map_err(std::io::Error::other);
        Ok(resp.body(Body::from_bytes_stream(stream)))
    }
}
