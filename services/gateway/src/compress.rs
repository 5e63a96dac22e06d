//! Response compression where it pays (issue #24): gzip for JSON, XML, scripts, styles and SVG
//! of at least [`MIN_BYTES`], when the client accepts gzip. A phone on a mobile network waits
//! for bytes far longer than the portal spends compressing them (the catalogue's 3.6 KB become
//! 2.1 KB; longer lists of like rows shrink more); below a kilobyte the header and
//! the CPU cost more than the bytes saved.
//!
//! Left as they are, on purpose:
//! - answers with an `ETag`: clerks send it back in `If-Match`, which compares strongly, so the
//!   compressed representation would need a tag of its own; these are single records, small;
//! - HTML pages and answers that set a cookie: a page can hold a CSRF token next to text an
//!   attacker chose, and compressing both together leaks the token by length (BREACH);
//! - images, CSV exports and anything already encoded or marked `no-transform`.
//!
//! Request bodies are never decompressed here: a compressed upload would bypass the body limit.

use std::io::Write as _;

use poem::http::header::{
    HeaderValue, ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG, SET_COOKIE, VARY,
};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

/// Bodies smaller than this go out as they are.
pub const MIN_BYTES: usize = 1024;

/// The middleware.
pub struct Compression;

impl<E: Endpoint> Middleware<E> for Compression {
    type Output = CompressionEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        CompressionEndpoint { inner }
    }
}

/// [`Compression`] around an endpoint.
pub struct CompressionEndpoint<E> {
    inner: E,
}

impl<E: Endpoint> Endpoint for CompressionEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Response> {
        let gzip = accepts_gzip(req.headers().get(ACCEPT_ENCODING));
        let mut resp = match self.inner.call(req).await {
            Ok(resp) => resp.into_response(),
            Err(err) => err.into_response(),
        };
        if !compressible(&resp) {
            return Ok(resp);
        }
        // Caches must keep the two representations apart, whichever this one is.
        resp.headers_mut().append(VARY, HeaderValue::from_static("accept-encoding"));
        if !gzip {
            return Ok(resp);
        }
        let body = resp.take_body().into_bytes().await?;
        if body.len() < MIN_BYTES {
            resp.set_body(body);
            return Ok(resp);
        }
        // Level 1: most of the saving for a fraction of the CPU of the default level.
        let mut encoder =
            flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::fast());
        let packed = encoder.write_all(&body).and_then(|()| encoder.finish());
        match packed {
            Ok(packed) => {
                let headers = resp.headers_mut();
                headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                headers.remove(CONTENT_LENGTH);
                resp.set_body(packed);
            }
            // Writing into memory does not fail; if it did, the plain body still serves.
            Err(_) => resp.set_body(body),
        }
        Ok(resp)
    }
}

/// Whether `Accept-Encoding` names gzip (or `*`) with a quality above zero.
pub fn accepts_gzip(value: Option<&HeaderValue>) -> bool {
    let Some(value) = value.and_then(|v| v.to_str().ok()) else { return false };
    value.split(',').any(|item| {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")).and_then(|q| q.trim().parse::<f32>().ok())
                == Some(0.0)
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

/// Whether this answer is of a kind that compression pays for and may touch.
fn compressible(resp: &Response) -> bool {
    let headers = resp.headers();
    if headers.contains_key(CONTENT_ENCODING) || headers.contains_key(ETAG) || headers.contains_key(SET_COOKIE) {
        return false;
    }
    let no_transform = headers
        .get(CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("no-transform"));
    if no_transform {
        return false;
    }
    let Some(ct) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let ct = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    ct == "application/json"
        || ct.ends_with("+json")
        || ct == "application/xml"
        || ct == "text/xml"
        || ct == "application/javascript"
        || ct == "text/javascript"
        || ct == "text/css"
        || ct == "image/svg+xml"
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use poem::{handler, EndpointExt, Route};

    use super::*;

    fn big_json() -> String {
        let items: Vec<String> = (0..200).map(|i| format!("{{\"id\":{i},\"name\":\"service {i}\"}}")).collect();
        format!("[{}]", items.join(","))
    }

    #[handler]
    fn json() -> Response {
        Response::builder().content_type("application/json").body(big_json())
    }

    #[handler]
    fn small() -> Response {
        Response::builder().content_type("application/json").body("{\"ok\":true}")
    }

    #[handler]
    fn tagged() -> Response {
        Response::builder().content_type("application/json").header(ETAG, "\"v3\"").body(big_json())
    }

    #[handler]
    fn page() -> Response {
        Response::builder().content_type("text/html; charset=utf-8").body(big_json())
    }

    #[handler]
    fn cookie() -> Response {
        Response::builder().content_type("application/json").header(SET_COOKIE, "s=1").body(big_json())
    }

    fn app() -> impl Endpoint<Output = Response> {
        Route::new()
            .at("/json", json)
            .at("/small", small)
            .at("/tagged", tagged)
            .at("/page", page)
            .at("/cookie", cookie)
            .with(Compression)
    }

    async fn get(path: &str, accept: Option<&'static str>) -> Response {
        let mut req = Request::builder().uri(path.parse().unwrap());
        if let Some(accept) = accept {
            req = req.header(ACCEPT_ENCODING, accept);
        }
        let resp = app().call(req.finish()).await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        resp
    }

    #[tokio::test]
    async fn large_json_is_gzipped_for_a_client_that_accepts_it_and_unpacks_to_the_same_bytes() {
        let resp = get("/json", Some("br;q=1.0, gzip;q=0.8")).await;
        assert_eq!(resp.headers().get(CONTENT_ENCODING).unwrap(), "gzip");
        assert_eq!(resp.headers().get(VARY).unwrap(), "accept-encoding");
        let packed = resp.into_body().into_vec().await.unwrap();
        assert!(packed.len() * 3 < big_json().len(), "{} bytes from {}", packed.len(), big_json().len());
        let mut plain = String::new();
        flate2::read::GzDecoder::new(&packed[..]).read_to_string(&mut plain).unwrap();
        assert_eq!(plain, big_json());
    }

    #[tokio::test]
    async fn nothing_is_compressed_without_gzip_below_a_kilobyte_with_an_etag_a_cookie_or_in_a_page() {
        for (path, accept) in [
            ("/json", None),
            ("/json", Some("gzip;q=0")),
            ("/json", Some("br")),
            ("/small", Some("gzip")),
            ("/tagged", Some("gzip")),
            ("/page", Some("gzip")),
            ("/cookie", Some("gzip")),
        ] {
            let resp = get(path, accept).await;
            assert!(resp.headers().get(CONTENT_ENCODING).is_none(), "{path} with {accept:?} was compressed");
            let body = resp.into_body().into_string().await.unwrap();
            assert!(body.starts_with('[') || body.starts_with('{'), "{path}: {body}");
        }
    }

    #[test]
    fn accept_encoding_is_read_with_its_qualities() {
        let h = |s: &'static str| Some(HeaderValue::from_static(s));
        assert!(accepts_gzip(h("gzip").as_ref()));
        assert!(accepts_gzip(h("deflate, GZIP;q=0.5").as_ref()));
        assert!(accepts_gzip(h("*").as_ref()));
        assert!(!accepts_gzip(h("gzip;q=0").as_ref()));
        assert!(!accepts_gzip(h("identity").as_ref()));
        assert!(!accepts_gzip(None));
    }
}
