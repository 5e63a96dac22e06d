//! Distributed mode: the gateway forwards each path prefix to the service that owns it, taking
//! the service's replicas in turn and setting aside one that does not answer, passing the
//! request id, a W3C `traceparent`, the credentials and the caller's address through. Answers,
//! redirects included, go back to the client as they came: the gateway never follows a redirect
//! (a browser's OAuth consent hop carries its own cookie).

use std::net::IpAddr;
use std::time::Duration;

use city_platform::peers::{self, Peer};
use city_platform::{Problem, Settings};
use futures::TryStreamExt;
use poem::http::{header, HeaderName};
use poem::{Body, Endpoint, Request, Response, Result};

/// Which service owns which prefix (the architecture's table), with its replicas. The prefixes
/// of one service share one [`Peer`], so they share its rotation and its view of failures.
pub fn routes(settings: &Settings) -> Vec<(&'static str, Peer)> {
    let urls = &settings.services;
    let identity = settings.peer("identity", &urls.identity);
    let incidents = settings.peer("incidents", &urls.incidents);
    vec![
        ("/v1/auth", identity.clone()),
        ("/v1/me", identity.clone()),
        ("/v1/staff", identity),
        ("/v1/booking", settings.peer("booking", &urls.booking)),
        ("/v1/payments", settings.peer("payments", &urls.payments)),
        ("/v1/incidents", incidents.clone()),
        ("/open311/v2", incidents),
        ("/v1/air", settings.peer("air", &urls.air)),
        ("/v1/announcements", settings.peer("channel", &urls.channel)),
        ("/v1/conversations", settings.peer("channel", &urls.channel)),
        ("/v1/agents", settings.peer("channel", &urls.channel)),
        ("/v1/channel", settings.peer("channel", &urls.channel)),
        ("/wechat", settings.peer("channel", &urls.channel)),
    ]
}

/// Forwards every request it gets to one replica of a service, keeping the path and query.
pub struct Forward {
    peer: Peer,
    client: reqwest::Client,
    timeout: Duration,
}

impl Forward {
    /// A forwarder to `peer`'s replicas over a shared client; a replica that has not answered
    /// within `timeout` gets the client a 504.
    pub fn new(peer: Peer, client: reqwest::Client, timeout: Duration) -> Self {
        Self { peer, client, timeout }
    }
}

/// The HTTP client the forwarders share: pooled connections, bounded connects, and redirects
/// handed to the client rather than followed.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .redirect(reqwest::redirect::Policy::none())
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

/// Why one try at one replica did not get an answer.
enum Miss {
    /// Nothing was sent (refused, reset before the request): another replica may take it.
    Unreached,
    /// Sent, but no answer in time.
    TimedOut,
    /// Sent, then the connection failed.
    Broken,
}

impl Endpoint for Forward {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Response> {
        let path = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned();
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in req.headers() {
            let n = name.as_str();
            if !HOP_BY_HOP.contains(&n) && n != "x-forwarded-for" && n != "traceparent" && n != "tracestate" {
                headers.append(name.clone(), value.clone());
            }
        }
        if let Some(id) = city_platform::request_id::current() {
            // The client's trace when it sent one, else one named after the request id (as the
            // services name theirs, so every hop of one request is one trace).
            let trace = req
                .header("traceparent")
                .and_then(peers::trace_id_in)
                .map(str::to_owned)
                .unwrap_or_else(|| peers::trace_id_of(&id));
            if let Ok(v) = peers::traceparent(&trace).parse() {
                headers.insert("traceparent", v);
            }
            if let Some(state) = req.headers().get("tracestate") {
                headers.insert("tracestate", state.clone());
            }
            if let Ok(v) = id.parse() {
                headers.insert(city_platform::request_id::HEADER, v);
            }
        }
        let peer_ip: Option<IpAddr> = req.remote_addr().as_socket_addr().map(|a| a.ip());
        let forwarded = match (req.header("x-forwarded-for"), peer_ip) {
            (Some(prev), Some(ip)) => Some(format!("{prev}, {ip}")),
            (None, Some(ip)) => Some(ip.to_string()),
            (Some(prev), None) => Some(prev.to_owned()),
            (None, None) => None,
        };
        if let Some(v) = forwarded.and_then(|f| f.parse().ok()) {
            headers.insert("x-forwarded-for", v);
        }
        // Held whole (the edge already capped its size) so a replica that refused the connection
        // can be replaced by another without the client noticing.
        let body = req.take_body().into_bytes().await?;
        let replicas = self.peer.states().len().max(1);
        let mut miss = None;
        for _ in 0..replicas {
            let Some(base) = self.peer.pick() else { break };
            let mut out = self.client.request(req.method().clone(), format!("{base}{path}")).headers(headers.clone());
            if !body.is_empty() {
                out = out.body(body.clone());
            }
            let sent = tokio::time::timeout(self.timeout, out.send()).await;
            let err = match sent {
                Ok(Ok(upstream)) => return Ok(answer(upstream)),
                Err(_) => {
                    self.peer.failed(&base);
                    tracing::warn!(service = self.peer.service(), replica = %base, timeout_secs = self.timeout.as_secs(), "upstream did not answer in time");
                    miss = Some(Miss::TimedOut);
                    break;
                }
                Ok(Err(err)) => err,
            };
            self.peer.failed(&base);
            let connect = err.is_connect();
            tracing::warn!(service = self.peer.service(), replica = %base, error = %err.without_url(), "upstream replica unreachable");
            if connect {
                miss = Some(Miss::Unreached);
                continue;
            }
            miss = Some(Miss::Broken);
            break;
        }
        let problem = match miss {
            None => Problem::of(&crate::errors::NO_HEALTHY_REPLICA).with_detail(format!(
                "every replica of the {} service failed recently; try again shortly",
                self.peer.service()
            )),
            Some(Miss::TimedOut) => Problem::of(&crate::errors::UPSTREAM_TIMEOUT).with_detail(format!(
                "the {} service did not answer within {} s",
                self.peer.service(),
                self.timeout.as_secs()
            )),
            Some(Miss::Unreached | Miss::Broken) => Problem::of(&crate::errors::UPSTREAM_UNAVAILABLE)
                .with_detail("the service behind this path did not answer; try again shortly"),
        };
        Err(problem.into())
    }
}

/// The upstream's answer as the client gets it: status, headers (a redirect's `Location`
/// included) and a streamed body.
fn answer(upstream: reqwest::Response) -> Response {
    let mut resp = Response::builder().status(upstream.status());
    for (name, value) in upstream.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) && *name != header::CONTENT_LENGTH {
            resp = resp.header(HeaderName::from(name), value.clone());
        }
    }
    let stream = upstream.bytes_stream().map_err(std::io::Error::other);
    resp.body(Body::from_bytes_stream(stream))
}
