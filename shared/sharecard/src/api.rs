//! The two answers of every `…/share` and `…/share.png` operation.

use poem_openapi::payload::Binary;
use poem_openapi::{ApiResponse, Object};

/// What a Mini Program page returns from `onShareAppMessage`: the card's title, the page that
/// reopens the same thing, and the thumbnail.
#[derive(Debug, Clone, PartialEq, Eq, Object)]
#[oai(rename = "SharePayload", deny_unknown_fields)]
pub struct SharePayload {
    /// The card's title, as the chat shows it.
    pub title: String,
    /// The Mini Program page with the query that reopens the same answer
    /// (e.g. `pages/air/district?code=510104&scheme=cn-2026`).
    pub path: String,
    /// The 5:4 PNG thumbnail, a path on this portal (`…/share.png`).
    pub image_url: String,
    /// The image's current `ETag`: it changes exactly when what the image shows changes.
    pub image_etag: String,
}

/// A share image: the PNG with its tag, or 304 when the client's `If-None-Match` still holds.
#[derive(ApiResponse)]
pub enum SharePng {
    /// The 500×400 PNG.
    #[oai(status = 200, content_type = "image/png")]
    Ok(
        Binary<Vec<u8>>,
        /// Changes exactly when what the image shows changes.
        #[oai(header = "ETag")]
        String,
        /// Revalidate before reuse: the tag, not the clock, says when the image changed.
        #[oai(header = "Cache-Control")]
        String,
    ),
    /// The image the client holds is still current.
    #[oai(status = 304)]
    NotModified(#[oai(header = "ETag")] String),
}

impl SharePng {
    /// The answer for a rendered image and the request's `If-None-Match`.
    pub fn answer(if_none_match: Option<&str>, etag: String, png: &[u8]) -> Self {
        if crate::if_none_match(if_none_match, &etag) {
            SharePng::NotModified(etag)
        } else {
            SharePng::Ok(Binary(png.to_vec()), etag, "public, no-cache".into())
        }
    }
}
