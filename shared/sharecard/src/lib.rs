//! Share cards: what a Mini Program page hands to `onShareAppMessage` (a title, the page path with
//! the parameters that reopen it, an image URL) and the image itself, a 5:4 PNG drawn here.
//!
//! A service builds a [`Card`] from exactly what an anonymous `GET` of the same resource shows,
//! asks a [`CardCache`] for the PNG, and answers with the card's [`Card::etag`]: the tag is a hash
//! of the card's content (and of [`RENDER_VERSION`]), so it changes exactly when what the image
//! shows changes, and every replica computes the same tag without sharing anything.
//!
//! Drawing is tiny-skia (shapes, PNG encoding) and ab_glyph (glyph outlines of the bundled Noto
//! Sans SC subset, `fonts/README.md`). No HTTP here beyond the two OpenAPI shapes every service
//! answers with ([`SharePayload`], [`SharePng`]).

mod cache;
mod draw;
mod text;

use sha2::{Digest, Sha256};

pub use cache::CardCache;
pub use draw::{render, RenderError};
pub use text::missing_chars;

mod api;
pub use api::{SharePayload, SharePng};

/// Width of every card in pixels (WeChat's share thumbnail is 5:4).
pub const WIDTH: u32 = 500;
/// Height of every card in pixels.
pub const HEIGHT: u32 = 400;

/// Bumped whenever the drawing changes, so tags of older images stop matching.
pub const RENDER_VERSION: u32 = 1;

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// Dark slate, the cards' ordinary text.
    pub const INK: Rgb = Rgb(0x1F, 0x29, 0x37);
    /// Grey for secondary lines.
    pub const MUTED: Rgb = Rgb(0x6B, 0x72, 0x80);
    /// White.
    pub const WHITE: Rgb = Rgb(0xFF, 0xFF, 0xFF);
    /// The city's blue, for badges that carry no colour of their own.
    pub const CITY: Rgb = Rgb(0x1D, 0x4E, 0xD8);

    /// `#RRGGBB` (or `RRGGBB`); `None` for anything else.
    pub fn from_hex(text: &str) -> Option<Rgb> {
        let t = text.strip_prefix('#').unwrap_or(text);
        if t.len() != 6 || !t.is_ascii() {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(&t[i..i + 2], 16).ok();
        Some(Rgb(byte(0)?, byte(2)?, byte(4)?))
    }
}

/// The large coloured block on the left: an AQI with its band, a report's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Badge {
    /// The big text (`85`, `处理中`).
    pub value: String,
    /// The line under it (`良`, `一级`).
    pub label: String,
    /// The block's colour (the AQI band's colour).
    pub fill: Rgb,
    /// The text colour that reads on `fill`.
    pub text: Rgb,
}

/// A small map on the right: outlines (WGS-84 `(lon, lat)` rings) and an optional pin.
#[derive(Debug, Clone, PartialEq)]
pub struct MapInset {
    /// Exterior rings of the area, each `(lon, lat)`.
    pub rings: Vec<Vec<(f64, f64)>>,
    /// Where the pin goes, `(lon, lat)`; may be rounded by the caller to what is public.
    pub pin: Option<(f64, f64)>,
}

/// Everything one card shows; nothing else reaches the image.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    /// The small line at the top (`成都 · 空气质量`).
    pub kicker: String,
    /// The headline (the district, the doctor, the category).
    pub title: String,
    /// The coloured block, if any.
    pub badge: Option<Badge>,
    /// Up to four short lines of detail under the title.
    pub lines: Vec<String>,
    /// A map inset, if any.
    pub map: Option<MapInset>,
    /// The bottom line (`城市服务 · 数据更新于 …`).
    pub footer: String,
}

impl Card {
    /// The strong validator of the image: a hash of what is drawn and of the drawing's version.
    pub fn etag(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(RENDER_VERSION.to_be_bytes());
        hash.update(canonical(self).as_bytes());
        format!("\"{}\"", hex::encode(&hash.finalize()[..16]))
    }

    /// Every character the card draws, for checking the font covers them.
    pub fn text(&self) -> String {
        let mut all = format!("{}{}{}", self.kicker, self.title, self.footer);
        if let Some(b) = &self.badge {
            all.push_str(&b.value);
            all.push_str(&b.label);
        }
        for l in &self.lines {
            all.push_str(l);
        }
        all
    }
}

/// A stable text form of the card for hashing: its `Debug` form (field order is the struct's,
/// strings quoted and escaped, floats printed exactly), which the version above pins.
fn canonical(card: &Card) -> String {
    format!("{card:?}")
}

/// Whether `tag` (an `If-None-Match` value: one tag, a list, or `*`) matches `etag`.
pub fn if_none_match(header: Option<&str>, etag: &str) -> bool {
    let Some(h) = header else { return false };
    h.split(',').map(|t| t.trim().trim_start_matches("W/")).any(|t| t == "*" || t == etag)
}

#[cfg(test)]
mod tests;
