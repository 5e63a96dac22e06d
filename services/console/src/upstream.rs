//! How the console reaches the services: the [`Upstream`] trait and its two transports.
//!
//! All-in-one, [`InProcess`] hands each request to the portal's own route tree (no socket, but
//! the same handlers, checks and audit as any client gets). Apart, [`Http`] sends each request
//! to the service that owns its prefix over HTTP, and what no service owns (the gateway's
//! `/v1/districts`) in-process. The console never sees a table.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use poem::endpoint::BoxEndpoint;
use poem::http::{HeaderValue, Method};
use poem::{Endpoint, Request};

/// One request to a service's API.
#[derive(Debug, Clone)]
pub struct Call {
    /// `GET`, `POST`, ...
    pub method: Method,
    /// Path and query, e.g. `/v1/incidents/queue?state=open`.
    pub path: String,
    /// The staff member's bearer token, when signed in.
    pub bearer: Option<String>,
    /// `If-Match`, when acting on a version.
    pub if_match: Option<String>,
    /// A JSON body.
    pub json: Option<serde_json::Value>,
    /// Any other body, with its content type (a multipart upload).
    pub raw: Option<(String, Vec<u8>)>,
}

impl Call {
    /// A GET of `path`.
    pub fn get(path: impl Into<String>) -> Self {
        Self { method: Method::GET, path: path.into(), bearer: None, if_match: None, json: None, raw: None }
    }

    /// A POST of `body` as JSON to `path`.
    pub fn post(path: impl Into<String>, body: serde_json::Value) -> Self {
        Self { method: Method::POST, path: path.into(), bearer: None, if_match: None, json: Some(body), raw: None }
    }

    /// A POST of `body` of type `content_type` to `path`.
    pub fn post_raw(path: impl Into<String>, content_type: String, body: Vec<u8>) -> Self {
        Self { raw: Some((content_type, body)), json: None, ..Self::post(path, serde_json::Value::Null) }
    }

    /// With the staff member's token.
    pub fn bearer(mut self, token: &str) -> Self {
        self.bearer = Some(token.to_owned());
        self
    }
}

/// A service's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// `ETag`, when the answer carries one.
    pub etag: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The service could not be reached at all (not an HTTP error answer).
#[derive(Debug, thiserror::Error)]
#[error("the service did not answer: {0}")]
pub struct Unreachable(pub String);

/// A way to reach the services' APIs.
#[async_trait]
pub trait Upstream: Send + Sync + 'static {
    /// Sends `call` and returns the service's answer, whatever its status.
    async fn send(&self, call: Call) -> Result<Answer, Unreachable>;
}

/// The portal's own routes, called in-process.
pub struct InProcess {
    endpoint: Arc<BoxEndpoint<'static>>,
}

impl InProcess {
    /// Over the route tree the console is mounted beside.
    pub fn new(endpoint: Arc<BoxEndpoint<'static>>) -> Self {
        Self { endpoint }
    }
}

#[async_trait]
impl Upstream for InProcess {
    async fn send(&self, call: Call) -> Result<Answer, Unreachable> {
        let mut req = Request::builder().method(call.method).uri_str(&call.path);
        if let Some(token) = &call.bearer {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        if let Some(tag) = &call.if_match {
            req = req.header("if-match", tag);
        }
        if let Some(id) = city_platform::request_id::current() {
            req = req.header(city_platform::request_id::HEADER, id);
        }
        let req = match (&call.json, call.raw) {
            (_, Some((ct, bytes))) => req.content_type(&ct).body(bytes),
            (Some(body), None) => req.content_type("application/json").body(body.to_string()),
            (None, None) => req.finish(),
        };
        let resp = self.endpoint.get_response(req).await;
        let status = resp.status().as_u16();
        let etag = resp.headers().get("etag").and_then(|v: &HeaderValue| v.to_str().ok()).map(str::to_owned);
        let body = resp.into_body().into_vec().await.map_err(|e| Unreachable(e.to_string()))?;
        Ok(Answer { status, etag, body })
    }
}

/// Services running apart: each prefix to the base URL of the service that owns it, the rest
/// (the gateway's own routes) in-process.
pub struct Http {
    owners: Vec<(&'static str, String)>,
    local: InProcess,
    client: reqwest::Client,
}

impl Http {
    /// `owners` maps a path prefix to a service's base URL (`("/v1/incidents", "http://…:8084")`).
    pub fn new(owners: Vec<(&'static str, String)>, local: InProcess) -> Self {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        let owners = owners.into_iter().map(|(p, base)| (p, base.trim_end_matches('/').to_owned())).collect();
        Self { owners, local, client }
    }
}

#[async_trait]
impl Upstream for Http {
    async fn send(&self, call: Call) -> Result<Answer, Unreachable> {
        let owner = self.owners.iter().find(|(prefix, _)| call.path.starts_with(prefix));
        let Some((_, base)) = owner else { return self.local.send(call).await };
        let mut out = self.client.request(call.method.clone(), format!("{base}{}", call.path));
        if let Some(token) = &call.bearer {
            out = out.bearer_auth(token);
        }
        if let Some(tag) = &call.if_match {
            out = out.header("if-match", tag);
        }
        if let Some(id) = city_platform::request_id::current() {
            out = out.header(city_platform::request_id::HEADER, id);
        }
        if let Some((ct, bytes)) = &call.raw {
            out = out.header(poem::http::header::CONTENT_TYPE, ct.as_str()).body(bytes.clone());
        } else if let Some(body) = &call.json {
            out = out.json(body);
        }
        let resp = out.send().await.map_err(|e| Unreachable(e.to_string()))?;
        let status = resp.status().as_u16();
        let etag = resp.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = resp.bytes().await.map_err(|e| Unreachable(e.to_string()))?.to_vec();
        Ok(Answer { status, etag, body })
    }
}

#[cfg(test)]
mod tests {
    use poem::listener::{Acceptor, Listener, TcpListener};
    use poem::web::Json;
    use poem::{handler, EndpointExt, Route};
    use serde_json::{json, Value};

    use super::*;

    #[handler]
    fn echo(req: &Request) -> Json<Value> {
        Json(json!({
            "via": "http", "path": req.uri().to_string(),
            "auth": req.header("authorization"), "if_match": req.header("if-match"),
        }))
    }

    #[handler]
    fn own() -> poem::Response {
        poem::Response::builder().header("etag", "\"v7\"").body(json!({"via": "local"}).to_string())
    }

    #[tokio::test]
    async fn apart_each_owned_prefix_goes_over_http_with_the_token_and_the_rest_stays_in_process() {
        let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
        let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(Route::new().at("/*path", echo)));
        let local: BoxEndpoint<'static> = Route::new().at("/v1/districts", own).boxed();
        let http = Http::new(vec![("/v1/incidents", format!("http://{addr}/"))], InProcess::new(Arc::new(local)));

        let mut call = Call::post("/v1/incidents/queue/R1/state", json!({"state": "fixed"})).bearer("tok");
        call.if_match = Some("\"v3\"".into());
        let a = http.send(call).await.unwrap();
        assert_eq!(a.status, 200);
        let v = a.json();
        assert_eq!(v["via"], "http");
        assert_eq!(v["path"], "/v1/incidents/queue/R1/state");
        assert_eq!(v["auth"], "Bearer tok");
        assert_eq!(v["if_match"], "\"v3\"");

        let a = http.send(Call::get("/v1/districts?coord=wgs84")).await.unwrap();
        assert_eq!(a.json()["via"], "local");
        assert_eq!(a.etag.as_deref(), Some("\"v7\""));

        let down = Http::new(
            vec![("/v1/incidents", "http://127.0.0.1:9".into())],
            InProcess::new(Arc::new(Route::new().boxed())),
        );
        assert!(down.send(Call::get("/v1/incidents/queue")).await.is_err(), "nothing listens: unreachable");
    }
}
