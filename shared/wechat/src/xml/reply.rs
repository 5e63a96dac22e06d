//! Passive replies and the safe-mode envelopes, written (and, for the sandbox, read) as WeChat does.

use crate::crypto::official_account::EncryptedReply;
use crate::WechatError;

use super::tree::{parse_document, XmlOut};

/// The safe-mode push body: only `Encrypt` matters (`ToUserName` is informational, extra elements are ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedEnvelope {
    /// Our account's original id, if sent.
    pub to_user_name: Option<String>,
    /// The base64 ciphertext to verify (`msg_signature`) and decrypt.
    pub encrypt: String,
}

impl EncryptedEnvelope {
    /// Parses a safe-mode or compatible-mode push body.
    pub fn parse(xml: &str) -> Result<Self, WechatError> {
        let root = parse_document(xml)?;
        Ok(Self { to_user_name: root.opt_text("ToUserName"), encrypt: root.text("Encrypt")?.to_owned() })
    }

    /// Renders the envelope as WeChat sends it; used by the sandbox's push driver.
    pub fn to_xml(&self) -> String {
        let mut out = XmlOut::new();
        out.start("xml");
        if let Some(to_user_name) = &self.to_user_name {
            out.cdata("ToUserName", to_user_name);
        }
        out.cdata("Encrypt", &self.encrypt);
        out.end("xml");
        out.finish()
    }
}

impl EncryptedReply {
    /// Renders the safe-mode reply body: `Encrypt`, `MsgSignature`, `TimeStamp`, `Nonce`.
    pub fn to_xml(&self) -> String {
        let mut out = XmlOut::new();
        out.start("xml");
        out.cdata("Encrypt", &self.encrypt);
        out.cdata("MsgSignature", &self.msg_signature);
        out.bare("TimeStamp", self.timestamp);
        out.cdata("Nonce", &self.nonce);
        out.end("xml");
        out.finish()
    }

    /// Parses a safe-mode reply body (the sandbox reads our replies with it).
    pub fn parse_xml(xml: &str) -> Result<Self, WechatError> {
        let root = parse_document(xml)?;
        Ok(Self {
            encrypt: root.text("Encrypt")?.to_owned(),
            msg_signature: root.text("MsgSignature")?.to_owned(),
            timestamp: root.number("TimeStamp")?,
            nonce: root.text("Nonce")?.to_owned(),
        })
    }
}

/// A passive reply to a push (plaintext XML; wrap with `MessageCrypt::encrypt_reply` in safe mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The user's openid.
    pub to_user_name: String,
    /// Our account's original id (`gh_...`).
    pub from_user_name: String,
    /// Unix seconds.
    pub create_time: i64,
    /// What to send.
    pub kind: ReplyKind,
}

/// The `MsgType`-specific part of a passive reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyKind {
    /// `text`; may contain `<a href>` links.
    Text {
        /// `Content`.
        content: String,
    },
    /// `image`.
    Image {
        /// `Image/MediaId`.
        media_id: String,
    },
    /// `voice`.
    Voice {
        /// `Voice/MediaId`.
        media_id: String,
    },
    /// `video`.
    Video {
        /// `Video/MediaId`.
        media_id: String,
        /// `Video/Title`.
        title: Option<String>,
        /// `Video/Description`.
        description: Option<String>,
    },
    /// `news`: article cards (WeChat shows only the first nowadays).
    News {
        /// `Articles/item`.
        articles: Vec<Article>,
    },
    /// `transfer_customer_service`: hand the conversation to the human console.
    TransferCustomerService,
}

/// One `item` of a news reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Article {
    /// `Title`.
    pub title: String,
    /// `Description`.
    pub description: String,
    /// `PicUrl`: cover image.
    pub pic_url: String,
    /// `Url`: where a tap leads.
    pub url: String,
}

impl Reply {
    /// A text reply.
    pub fn text(
        to_user_name: impl Into<String>,
        from_user_name: impl Into<String>,
        create_time: i64,
        content: impl Into<String>,
    ) -> Self {
        Self {
            to_user_name: to_user_name.into(),
            from_user_name: from_user_name.into(),
            create_time,
            kind: ReplyKind::Text { content: content.into() },
        }
    }

    /// A news (article card) reply.
    pub fn news(
        to_user_name: impl Into<String>,
        from_user_name: impl Into<String>,
        create_time: i64,
        articles: Vec<Article>,
    ) -> Self {
        Self {
            to_user_name: to_user_name.into(),
            from_user_name: from_user_name.into(),
            create_time,
            kind: ReplyKind::News { articles },
        }
    }

    /// The `MsgType` value on the wire.
    pub fn msg_type(&self) -> &'static str {
        match self.kind {
            ReplyKind::Text { .. } => "text",
            ReplyKind::Image { .. } => "image",
            ReplyKind::Voice { .. } => "voice",
            ReplyKind::Video { .. } => "video",
            ReplyKind::News { .. } => "news",
            ReplyKind::TransferCustomerService => "transfer_customer_service",
        }
    }

    /// Renders the reply XML; every string is CDATA with `]]>` split safely.
    pub fn to_xml(&self) -> String {
        let mut out = XmlOut::new();
        out.start("xml");
        out.cdata("ToUserName", &self.to_user_name);
        out.cdata("FromUserName", &self.from_user_name);
        out.bare("CreateTime", self.create_time);
        out.cdata("MsgType", self.msg_type());
        match &self.kind {
            ReplyKind::Text { content } => out.cdata("Content", content),
            ReplyKind::Image { media_id } => {
                out.start("Image");
                out.cdata("MediaId", media_id);
                out.end("Image");
            }
            ReplyKind::Voice { media_id } => {
                out.start("Voice");
                out.cdata("MediaId", media_id);
                out.end("Voice");
            }
            ReplyKind::Video { media_id, title, description } => {
                out.start("Video");
                out.cdata("MediaId", media_id);
                if let Some(title) = title {
                    out.cdata("Title", title);
                }
                if let Some(description) = description {
                    out.cdata("Description", description);
                }
                out.end("Video");
            }
            ReplyKind::News { articles } => {
                out.bare("ArticleCount", articles.len());
                out.start("Articles");
                for article in articles {
                    out.start("item");
                    out.cdata("Title", &article.title);
                    out.cdata("Description", &article.description);
                    out.cdata("PicUrl", &article.pic_url);
                    out.cdata("Url", &article.url);
                    out.end("item");
                }
                out.end("Articles");
            }
            ReplyKind::TransferCustomerService => {}
        }
        out.end("xml");
        out.finish()
    }

    /// Parses a plaintext reply (the sandbox reads our replies with it).
    pub fn parse(xml: &str) -> Result<Self, WechatError> {
        let root = parse_document(xml)?;
        let kind = match root.text("MsgType")? {
            "text" => ReplyKind::Text { content: root.text("Content")?.to_owned() },
            "image" => ReplyKind::Image { media_id: root.child("Image")?.text("MediaId")?.to_owned() },
            "voice" => ReplyKind::Voice { media_id: root.child("Voice")?.text("MediaId")?.to_owned() },
            "video" => {
                let video = root.child("Video")?;
                ReplyKind::Video {
                    media_id: video.text("MediaId")?.to_owned(),
                    title: video.opt_text("Title"),
                    description: video.opt_text("Description"),
                }
            }
            "news" => {
                let articles = root
                    .child("Articles")?
                    .children_named("item")
                    .map(|item| {
                        Ok(Article {
                            title: item.text("Title")?.to_owned(),
                            description: item.opt_text("Description").unwrap_or_default(),
                            pic_url: item.opt_text("PicUrl").unwrap_or_default(),
                            url: item.opt_text("Url").unwrap_or_default(),
                        })
                    })
                    .collect::<Result<Vec<_>, WechatError>>()?;
                ReplyKind::News { articles }
            }
            "transfer_customer_service" => ReplyKind::TransferCustomerService,
            _ => return Err(WechatError::InvalidXmlField { field: "MsgType", reason: "not a reply type" }),
        };
        Ok(Self {
            to_user_name: root.text("ToUserName")?.to_owned(),
            from_user_name: root.text("FromUserName")?.to_owned(),
            create_time: root.number("CreateTime")?,
            kind,
        })
    }
}
