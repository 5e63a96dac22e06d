//! An announcement's pure rules: what a well-formed one is (WeChat's article limits), its
//! states, and the name of a district's tag.

use serde::{Deserialize, Serialize};

/// WeChat's title limit, in UTF-8 bytes.
pub const MAX_TITLE_BYTES: usize = 64;
/// The digest shown under the title (WeChat cuts it at 120 characters).
pub const MAX_DIGEST_CHARS: usize = 120;
/// The body's limit (WeChat's: under 20 000 characters, 1 MB).
pub const MAX_BODY_CHARS: usize = 20_000;

/// One article as stored and sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    /// Title.
    pub title: String,
    /// Summary under the title.
    pub digest: String,
    /// Body text (plain text; sent as HTML paragraphs).
    pub body: String,
    /// The cover uploaded through `POST /v1/announcements/covers`.
    pub cover_media_id: String,
}

/// A field that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The field, e.g. `articles[1].title`.
    pub field: String,
    /// Why.
    pub message: String,
}

fn invalid(field: String, message: &str) -> Invalid {
    Invalid { field, message: message.to_owned() }
}

/// The articles, trimmed, or the first field that is wrong. `max_articles` is the setting
/// `channel.announcements.max_articles` (WeChat's limit may change).
pub fn parse_articles(articles: Vec<Article>, max_articles: usize) -> Result<Vec<Article>, Invalid> {
    if articles.is_empty() || articles.len() > max_articles {
        return Err(invalid("articles".into(), &format!("give 1 to {max_articles} articles")));
    }
    articles
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            let at = |f: &str| format!("articles[{i}].{f}");
            let title = a.title.trim().to_owned();
            if title.is_empty() || title.len() > MAX_TITLE_BYTES {
                return Err(invalid(at("title"), "a title of 1 to 64 bytes (about 21 Chinese characters)"));
            }
            let digest = a.digest.trim().to_owned();
            if digest.chars().count() > MAX_DIGEST_CHARS {
                return Err(invalid(at("digest"), "at most 120 characters"));
            }
            let body = a.body.trim().to_owned();
            if body.is_empty() || body.chars().count() > MAX_BODY_CHARS {
                return Err(invalid(at("body"), "a body of 1 to 20000 characters"));
            }
            let cover = a.cover_media_id.trim().to_owned();
            if cover.is_empty() || cover.len() > 128 || !cover.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(invalid(at("cover_media_id"), "the media id from POST /v1/announcements/covers"));
            }
            Ok(Article { title, digest, body, cover_media_id: cover })
        })
        .collect()
}

/// What an urgent notice's template message says under the title: the digest, or else the
/// body's first line, at most 60 characters (a template field is short).
pub fn notice_digest(a: &Article) -> String {
    let text = if a.digest.trim().is_empty() { a.body.lines().next().unwrap_or("") } else { a.digest.as_str() };
    text.trim().chars().take(60).collect()
}

/// Whether `bytes` can be a cover: a JPEG, PNG or GIF (by its signature) of at most 10 MB, as
/// WeChat's image material accepts.
pub fn is_cover_image(bytes: &[u8]) -> bool {
    let image =
        bytes.starts_with(&[0xFF, 0xD8, 0xFF]) || bytes.starts_with(b"\x89PNG\r\n\x1a\n") || bytes.starts_with(b"GIF8");
    image && bytes.len() <= 10 * 1024 * 1024
}

/// The body as WeChat's article HTML: one paragraph per line, text escaped.
pub fn body_html(body: &str) -> String {
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let escaped = l.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
            format!("<p>{escaped}</p>")
        })
        .collect()
}

/// Where an announcement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Written; a second editor must approve it.
    Pending,
    /// Approved; may be sent.
    Approved,
    /// One sender holds it and is talking to WeChat.
    Sending,
    /// WeChat accepted the broadcast.
    Sent,
}

impl Status {
    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Sending => "sending",
            Self::Sent => "sent",
        }
    }

    /// From the stored text.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "sending" => Self::Sending,
            "sent" => Self::Sent,
            _ => return None,
        })
    }
}

/// A sender's claim older than this is taken over (its process died mid-send); the
/// `clientmsgid` makes the second attempt the same broadcast.
pub const STALE_CLAIM_MS: i64 = 60_000;

/// The WeChat tag of a district (tag names are at most 30 bytes).
pub fn district_tag_name(district: &str) -> String {
    format!("city-district-{district}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(title: &str) -> Article {
        Article { title: title.into(), digest: "d".into(), body: "b".into(), cover_media_id: "MEDIA_1".into() }
    }

    #[test]
    fn seven_articles_are_refused_and_six_accepted_under_the_default_limit_of_six() {
        assert_eq!(parse_articles(vec![article("t"); 7], 6).unwrap_err().field, "articles");
        assert_eq!(parse_articles(vec![article("t"); 6], 6).unwrap().len(), 6);
        assert_eq!(parse_articles(vec![], 6).unwrap_err().field, "articles");
        assert_eq!(parse_articles(vec![article("t"); 3], 2).unwrap_err().field, "articles");
    }

    #[test]
    fn the_title_limit_counts_bytes_so_22_chinese_characters_are_too_many() {
        let ok = "停".repeat(21);
        let long = "停".repeat(22);
        assert!(parse_articles(vec![article(&ok)], 6).is_ok());
        assert_eq!(parse_articles(vec![article("x"), article(&long)], 6).unwrap_err().field, "articles[1].title");
    }

    #[test]
    fn the_body_becomes_escaped_paragraphs() {
        assert_eq!(body_html("a <b>\n\nc & d"), "<p>a &lt;b&gt;</p><p>c &amp; d</p>");
    }

    #[test]
    fn a_cover_is_an_image_by_its_signature() {
        assert!(is_cover_image(b"\x89PNG\r\n\x1a\nrest"));
        assert!(is_cover_image(&[0xFF, 0xD8, 0xFF, 0xE0]));
        assert!(!is_cover_image(b""));
        assert!(!is_cover_image(b"<svg></svg>"));
    }

    #[test]
    fn statuses_round_trip() {
        for s in [Status::Pending, Status::Approved, Status::Sending, Status::Sent] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("x"), None);
    }

    #[test]
    fn a_district_tag_name_fits_wechats_30_bytes() {
        assert!(district_tag_name("510104").len() <= 30);
    }
}
