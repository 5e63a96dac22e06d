//! Security headers on every answer of the portal, whatever produced it (an operation, a
//! problem, the proxy, the sandbox, a page).
//!
//! Every answer: `X-Content-Type-Options: nosniff` (a JSON body is never run as a script) and
//! `Referrer-Policy: no-referrer` (tokens in URLs, such as OAuth codes, never leak onwards).
//! Over https: `Strict-Transport-Security`, when a trusted proxy (the peer is within
//! `trusted_proxies`, none by default) says the client came over https in `X-Forwarded-Proto`;
//! never on plain http, where a browser would ignore it and a man in the middle could have
//! forged it.
//! HTML pages (`/docs`, the console, the sandbox's pages) get a Content-Security-Policy unless
//! they set their own: scripts only from this origin or the page's own inline scripts, named
//! by their SHA-256, so an injected script does not run; no framing, no plugins.

use std::sync::Arc;

use base64::Engine as _;
use city_platform::caller::Cidr;
use poem::http::header::{HeaderName, HeaderValue, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};
use sha2::{Digest, Sha256};

/// HSTS for a year, subdomains included (the portal's host is the city's own).
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// The middleware; `trusted` are the proxies whose `X-Forwarded-Proto` is believed.
pub struct SecurityHeaders {
    trusted: Arc<[Cidr]>,
}

impl SecurityHeaders {
    /// Headers for answers to requests from anywhere, trusting `trusted` proxies.
    pub fn new(trusted: Arc<[Cidr]>) -> Self {
        Self { trusted }
    }
}

impl<E: Endpoint> Middleware<E> for SecurityHeaders {
    type Output = SecurityHeadersEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        SecurityHeadersEndpoint { inner, trusted: self.trusted.clone() }
    }
}

/// [`SecurityHeaders`] around an endpoint.
pub struct SecurityHeadersEndpoint<E> {
    inner: E,
    trusted: Arc<[Cidr]>,
}

impl<E: Endpoint> Endpoint for SecurityHeadersEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Response> {
        let over_https = city_platform::edge::forwarded_https(&req, &self.trusted);
        let mut resp = match self.inner.call(req).await {
            Ok(resp) => resp.into_response(),
            Err(err) => err.into_response(),
        };
        let headers = resp.headers_mut();
        headers.insert(HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff"));
        headers.insert(HeaderName::from_static("referrer-policy"), HeaderValue::from_static("no-referrer"));
        if over_https {
            headers.insert(HeaderName::from_static("strict-transport-security"), HeaderValue::from_static(HSTS));
        }
        let html = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("text/html"));
        if html && !resp.headers().contains_key(CONTENT_SECURITY_POLICY) {
            let body = resp.take_body().into_bytes().await?;
            let policy = page_policy(&String::from_utf8_lossy(&body));
            if let Ok(value) = HeaderValue::from_str(&policy) {
                resp.headers_mut().insert(CONTENT_SECURITY_POLICY, value);
            }
            resp.set_body(body);
        }
        Ok(resp)
    }
}

/// The policy of one HTML page: its own inline scripts (by hash) and this origin's files.
/// Inline styles are allowed (Swagger UI sets them, and a style cannot run code), and images
/// from any https origin (the console's map tiles).
pub fn page_policy(html: &str) -> String {
    let hashes: Vec<String> = inline_scripts(html)
        .into_iter()
        .map(|script| {
            format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(script.as_bytes())))
        })
        .collect();
    format!(
        "default-src 'self'; script-src 'self'{}{}; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; \
         font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
         frame-ancestors 'none'",
        if hashes.is_empty() { "" } else { " " },
        hashes.join(" ")
    )
}

/// The text of every `<script>` element without a `src`, exactly as the browser hashes it.
fn inline_scripts(html: &str) -> Vec<&str> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(start) = lower[at..].find("<script").map(|i| at + i) {
        let Some(open_end) = lower[start..].find('>').map(|i| start + i + 1) else { break };
        let Some(close) = lower[open_end..].find("</script").map(|i| open_end + i) else { break };
        if !lower[start..open_end].contains(" src=") {
            found.push(&html[open_end..close]);
        }
        at = close + "</script".len();
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_policy_names_each_inline_script_and_no_external_one() {
        let html = "<html><script>alert(1)</script><script src=\"/app.js\"></script><SCRIPT type=x>let a</SCRIPT>";
        assert_eq!(inline_scripts(html), vec!["alert(1)", "let a"]);
        let policy = page_policy(html);
        let expected = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"alert(1)"));
        assert!(policy.contains(&format!("'sha256-{expected}'")), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'") && policy.contains("object-src 'none'"), "{policy}");
        assert!(!policy.contains("unsafe-eval"));
    }
}
