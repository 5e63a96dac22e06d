//! Service Account push and reply XML, read and written with `quick-xml`.
//!
//! - [`PushMessage::parse`] turns a plaintext push (or a decrypted safe-mode push) into a typed message.
//! - [`EncryptedEnvelope`] is the safe-mode body `<xml><ToUserName/><Encrypt/></xml>`.
//! - [`Reply`] builds passive replies (text, image, voice, video, news, transfer to customer service).
//! - [`EncryptedReply::to_xml`] renders a safe-mode reply.
//!
//! Parsing rejects DTDs outright (no entity expansion, so no XXE), limits nesting depth, and
//! accepts values with or without CDATA. Writing wraps strings in CDATA and splits any `]]>`.
//! Every type can also be written, so the sandbox builds pushes with the same model the backend parses.

use std::borrow::Cow;
use std::str::FromStr;

use quick_xml::events::{BytesCData, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};

use crate::crypto::official_account::EncryptedReply;
use crate::WechatError;

/// Deeper nesting than any WeChat message has (5) is an attack or a bug.
const MAX_DEPTH: usize = 16;

/// One plaintext push from WeChat to our Service Account callback.
#[derive(Debug, Clone, PartialEq)]
pub struct PushMessage {
    /// Our account's original id (`gh_...`).
    pub to_user_name: String,
    /// The sender's openid for our account.
    pub from_user_name: String,
    /// Unix seconds.
    pub create_time: i64,
    /// `MsgId`, present on ordinary messages and absent on events.
    pub msg_id: Option<u64>,
    /// What was sent, by `MsgType`.
    pub kind: PushKind,
}

/// The `MsgType`-specific part of a push.
#[derive(Debug, Clone, PartialEq)]
pub enum PushKind {
    /// `text`.
    Text {
        /// `Content`.
        content: String,
    },
    /// `image`.
    Image {
        /// `PicUrl`.
        pic_url: String,
        /// `MediaId`.
        media_id: String,
    },
    /// `voice`.
    Voice {
        /// `MediaId`.
        media_id: String,
        /// `Format`: `amr` or `speex`.
        format: String,
        /// `Recognition`, when speech recognition is enabled.
        recognition: Option<String>,
    },
    /// `video`.
    Video {
        /// `MediaId`.
        media_id: String,
        /// `ThumbMediaId`.
        thumb_media_id: String,
    },
    /// `shortvideo`.
    ShortVideo {
        /// `MediaId`.
        media_id: String,
        /// `ThumbMediaId`.
        thumb_media_id: String,
    },
    /// `location`: a location the user sent as a message.
    Location {
        /// `Location_X`.
        latitude: f64,
        /// `Location_Y`.
        longitude: f64,
        /// `Scale` (map zoom).
        scale: u32,
        /// `Label`: the address text.
        label: String,
    },
    /// `link`.
    Link {
        /// `Title`.
        title: String,
        /// `Description`.
        description: String,
        /// `Url`.
        url: String,
    },
    /// `event`.
    Event(PushEvent),
    /// A `MsgType` this crate does not model; only the type is kept.
    Other {
        /// The `MsgType` as sent.
        msg_type: String,
    },
}

/// The `Event`-specific part of an `event` push. Event names are case-sensitive on the wire.
#[derive(Debug, Clone, PartialEq)]
pub enum PushEvent {
    /// `subscribe`: a follow, via a parametric QR code when `event_key` is `qrscene_<scene>`.
    Subscribe {
        /// `EventKey`, absent or empty for a plain follow.
        event_key: Option<String>,
        /// `Ticket` of the QR code.
        ticket: Option<String>,
    },
    /// `unsubscribe`: stop sending to this user.
    Unsubscribe,
    /// `SCAN`: an existing follower scanned a parametric QR code.
    Scan {
        /// `EventKey`: the scene value, without prefix.
        event_key: String,
        /// `Ticket` of the QR code.
        ticket: Option<String>,
    },
    /// `LOCATION`: periodic location report.
    Location {
        /// `Latitude`.
        latitude: f64,
        /// `Longitude`.
        longitude: f64,
        /// `Precision`.
        precision: f64,
    },
    /// `CLICK`: a click-type menu button.
    Click {
        /// `EventKey`: the button `key`.
        event_key: String,
    },
    /// `VIEW`: a view-type menu button (a reply would not be shown).
    View {
        /// `EventKey`: the target URL.
        url: String,
        /// `MenuId`.
        menu_id: Option<String>,
    },
    /// `view_miniprogram`: a miniprogram-type menu button.
    ViewMiniprogram {
        /// `EventKey`: the page path.
        page_path: String,
        /// `MenuId`.
        menu_id: Option<String>,
    },
    /// `scancode_push`: the client scanned a code and handled it itself.
    ScancodePush {
        /// `EventKey`: the button `key`.
        event_key: String,
        /// `ScanCodeInfo`.
        scan: ScanCodeInfo,
    },
    /// `scancode_waitmsg`: the client scanned a code and waits for our reply.
    ScancodeWaitmsg {
        /// `EventKey`: the button `key`.
        event_key: String,
        /// `ScanCodeInfo`.
        scan: ScanCodeInfo,
    },
    /// `pic_sysphoto`, `pic_photo_or_album` or `pic_weixin`: the user sent pictures from a menu button.
    Pictures {
        /// Which of the three buttons.
        source: PictureSource,
        /// `EventKey`: the button `key`.
        event_key: String,
        /// `SendPicsInfo/PicList/item/PicMd5Sum`, in order.
        pic_md5_sums: Vec<String>,
    },
    /// `location_select`: the user picked a location from a menu button.
    LocationSelect {
        /// `EventKey`: the button `key`.
        event_key: String,
        /// `SendLocationInfo`.
        location: SelectedLocation,
    },
    /// `TEMPLATESENDJOBFINISH`: delivery result of a template message.
    TemplateSendJobFinish {
        /// `MsgID` (note the capital D), as returned by the send call.
        msg_id: u64,
        /// `Status`: `success`, `failed:user block`, `failed: system failed`.
        status: String,
    },
    /// `MASSSENDJOBFINISH`: result of a broadcast.
    MassSendJobFinish {
        /// `MsgID`.
        msg_id: u64,
        /// `Status`.
        status: String,
        /// `TotalCount`.
        total_count: u64,
        /// `FilterCount`.
        filter_count: u64,
        /// `SentCount`.
        sent_count: u64,
        /// `ErrorCount`.
        error_count: u64,
    },
    /// An event this crate does not model.
    Other {
        /// `Event` as sent.
        event: String,
        /// `EventKey`, if any.
        event_key: Option<String>,
    },
}

/// `ScanCodeInfo` of the scancode events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanCodeInfo {
    /// `ScanType`, e.g. `qrcode`.
    pub scan_type: String,
    /// `ScanResult`: the decoded text.
    pub scan_result: String,
}

/// Which picture menu button produced a [`PushEvent::Pictures`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PictureSource {
    /// `pic_sysphoto`: system camera.
    SysPhoto,
    /// `pic_photo_or_album`: camera or album.
    PhotoOrAlbum,
    /// `pic_weixin`: WeChat album.
    Weixin,
}

impl PictureSource {
    fn event_name(self) -> &'static str {
        match self {
            Self::SysPhoto => "pic_sysphoto",
            Self::PhotoOrAlbum => "pic_photo_or_album",
            Self::Weixin => "pic_weixin",
        }
    }
}

/// `SendLocationInfo` of `location_select`.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectedLocation {
    /// `Location_X`.
    pub latitude: f64,
    /// `Location_Y`.
    pub longitude: f64,
    /// `Scale`.
    pub scale: u32,
    /// `Label`: the address text.
    pub label: String,
    /// `Poiname`: the point of interest, if any.
    pub poiname: Option<String>,
}

impl PushEvent {
    /// The `Event` value on the wire.
    pub fn name(&self) -> &str {
        match self {
            Self::Subscribe { .. } => "subscribe",
            Self::Unsubscribe => "unsubscribe",
            Self::Scan { .. } => "SCAN",
            Self::Location { .. } => "LOCATION",
            Self::Click { .. } => "CLICK",
            Self::View { .. } => "VIEW",
            Self::ViewMiniprogram { .. } => "view_miniprogram",
            Self::ScancodePush { .. } => "scancode_push",
            Self::ScancodeWaitmsg { .. } => "scancode_waitmsg",
            Self::Pictures { source, .. } => source.event_name(),
            Self::LocationSelect { .. } => "location_select",
            Self::TemplateSendJobFinish { .. } => "TEMPLATESENDJOBFINISH",
            Self::MassSendJobFinish { .. } => "MASSSENDJOBFINISH",
            Self::Other { event, .. } => event,
        }
    }

    /// The `EventKey` value on the wire, if the event has one.
    pub fn event_key(&self) -> Option<&str> {
        match self {
            Self::Subscribe { event_key, .. } | Self::Other { event_key, .. } => event_key.as_deref(),
            Self::Scan { event_key, .. }
            | Self::Click { event_key }
            | Self::ScancodePush { event_key, .. }
            | Self::ScancodeWaitmsg { event_key, .. }
            | Self::Pictures { event_key, .. }
            | Self::LocationSelect { event_key, .. } => Some(event_key),
            Self::View { url, .. } => Some(url),
            Self::ViewMiniprogram { page_path, .. } => Some(page_path),
            Self::Unsubscribe
            | Self::Location { .. }
            | Self::TemplateSendJobFinish { .. }
            | Self::MassSendJobFinish { .. } => None,
        }
    }

    /// For `subscribe` via a parametric QR code: the scene without the `qrscene_` prefix.
    pub fn qr_scene(&self) -> Option<&str> {
        match self {
            Self::Subscribe { event_key: Some(key), .. } => key.strip_prefix("qrscene_"),
            Self::Scan { event_key, .. } => Some(event_key),
            _ => None,
        }
    }
}

impl PushMessage {
    /// Parses a plaintext push XML body (CDATA optional).
    pub fn parse(xml: &str) -> Result<Self, WechatError> {
        let root = parse_document(xml)?;
        let msg_type = root.text("MsgType")?;
        let kind = match msg_type {
            "text" => PushKind::Text { content: root.text("Content")?.to_owned() },
            "image" => {
                PushKind::Image { pic_url: root.text("PicUrl")?.to_owned(), media_id: root.text("MediaId")?.to_owned() }
            }
            "voice" => PushKind::Voice {
                media_id: root.text("MediaId")?.to_owned(),
                format: root.text("Format")?.to_owned(),
                recognition: root.opt_text("Recognition"),
            },
            "video" => PushKind::Video {
                media_id: root.text("MediaId")?.to_owned(),
                thumb_media_id: root.text("ThumbMediaId")?.to_owned(),
            },
            "shortvideo" => PushKind::ShortVideo {
                media_id: root.text("MediaId")?.to_owned(),
                thumb_media_id: root.text("ThumbMediaId")?.to_owned(),
            },
            "location" => PushKind::Location {
                latitude: root.coordinate("Location_X")?,
                longitude: root.coordinate("Location_Y")?,
                scale: root.number("Scale")?,
                label: root.text("Label")?.to_owned(),
            },
            "link" => PushKind::Link {
                title: root.text("Title")?.to_owned(),
                description: root.text("Description")?.to_owned(),
                url: root.text("Url")?.to_owned(),
            },
            "event" => PushKind::Event(parse_event(&root)?),
            other => PushKind::Other { msg_type: other.to_owned() },
        };
        Ok(Self {
            to_user_name: root.text("ToUserName")?.to_owned(),
            from_user_name: root.text("FromUserName")?.to_owned(),
            create_time: root.number("CreateTime")?,
            msg_id: root.opt_number("MsgId")?,
            kind,
        })
    }

    /// The `MsgType` value on the wire.
    pub fn msg_type(&self) -> &str {
        match &self.kind {
            PushKind::Text { .. } => "text",
            PushKind::Image { .. } => "image",
            PushKind::Voice { .. } => "voice",
            PushKind::Video { .. } => "video",
            PushKind::ShortVideo { .. } => "shortvideo",
            PushKind::Location { .. } => "location",
            PushKind::Link { .. } => "link",
            PushKind::Event(_) => "event",
            PushKind::Other { msg_type } => msg_type,
        }
    }

    /// The key to dedupe WeChat's retries by: `MsgId` for messages, sender + time + event + key for events.
    pub fn dedupe_key(&self) -> String {
        if let Some(msg_id) = self.msg_id {
            return format!("msg:{msg_id}");
        }
        match &self.kind {
            PushKind::Event(event) => format!(
                "event:{}:{}:{}:{}",
                self.from_user_name,
                self.create_time,
                event.name(),
                event.event_key().unwrap_or("")
            ),
            _ => format!("push:{}:{}:{}", self.from_user_name, self.create_time, self.msg_type()),
        }
    }

    /// A passive reply to this push: addressed back to the sender, from our account.
    pub fn reply(&self, create_time: i64, kind: ReplyKind) -> Reply {
        Reply {
            to_user_name: self.from_user_name.clone(),
            from_user_name: self.to_user_name.clone(),
            create_time,
            kind,
        }
    }

    /// Renders the push as WeChat sends it (strings in CDATA); used by the sandbox's push driver.
    pub fn to_xml(&self) -> String {
        let mut out = XmlOut::new();
        out.start("xml");
        out.cdata("ToUserName", &self.to_user_name);
        out.cdata("FromUserName", &self.from_user_name);
        out.bare("CreateTime", self.create_time);
        out.cdata("MsgType", self.msg_type());
        match &self.kind {
            PushKind::Text { content } => out.cdata("Content", content),
            PushKind::Image { pic_url, media_id } => {
                out.cdata("PicUrl", pic_url);
                out.cdata("MediaId", media_id);
            }
            PushKind::Voice { media_id, format, recognition } => {
                out.cdata("MediaId", media_id);
                out.cdata("Format", format);
                if let Some(recognition) = recognition {
                    out.cdata("Recognition", recognition);
                }
            }
            PushKind::Video { media_id, thumb_media_id } | PushKind::ShortVideo { media_id, thumb_media_id } => {
                out.cdata("MediaId", media_id);
                out.cdata("ThumbMediaId", thumb_media_id);
            }
            PushKind::Location { latitude, longitude, scale, label } => {
                out.bare("Location_X", latitude);
                out.bare("Location_Y", longitude);
                out.bare("Scale", scale);
                out.cdata("Label", label);
            }
            PushKind::Link { title, description, url } => {
                out.cdata("Title", title);
                out.cdata("Description", description);
                out.cdata("Url", url);
            }
            PushKind::Event(event) => write_event(&mut out, event),
            PushKind::Other { .. } => {}
        }
        if let Some(msg_id) = self.msg_id {
            out.bare("MsgId", msg_id);
        }
        out.end("xml");
        out.finish()
    }
}

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

fn parse_event(root: &Element) -> Result<PushEvent, WechatError> {
    let event = root.text("Event")?;
    let key = || root.text("EventKey").map(str::to_owned);
    Ok(match event {
        "subscribe" => PushEvent::Subscribe { event_key: root.opt_text("EventKey"), ticket: root.opt_text("Ticket") },
        "unsubscribe" => PushEvent::Unsubscribe,
        "SCAN" => PushEvent::Scan { event_key: key()?, ticket: root.opt_text("Ticket") },
        "LOCATION" => PushEvent::Location {
            latitude: root.coordinate("Latitude")?,
            longitude: root.coordinate("Longitude")?,
            precision: root.coordinate("Precision")?,
        },
        "CLICK" => PushEvent::Click { event_key: key()? },
        "VIEW" => PushEvent::View { url: key()?, menu_id: root.opt_text("MenuId") },
        "view_miniprogram" => PushEvent::ViewMiniprogram { page_path: key()?, menu_id: root.opt_text("MenuId") },
        "scancode_push" | "scancode_waitmsg" => {
            let info = root.child("ScanCodeInfo")?;
            let scan = ScanCodeInfo {
                scan_type: info.text("ScanType")?.to_owned(),
                scan_result: info.text("ScanResult")?.to_owned(),
            };
            if event == "scancode_push" {
                PushEvent::ScancodePush { event_key: key()?, scan }
            } else {
                PushEvent::ScancodeWaitmsg { event_key: key()?, scan }
            }
        }
        "pic_sysphoto" | "pic_photo_or_album" | "pic_weixin" => {
            let source = match event {
                "pic_sysphoto" => PictureSource::SysPhoto,
                "pic_photo_or_album" => PictureSource::PhotoOrAlbum,
                _ => PictureSource::Weixin,
            };
            let info = root.child("SendPicsInfo")?;
            // PicList is absent when the user sent nothing; Count is redundant with the list.
            let pic_md5_sums = match info.find("PicList") {
                Some(list) => list
                    .children_named("item")
                    .map(|item| item.text("PicMd5Sum").map(str::to_owned))
                    .collect::<Result<Vec<_>, _>>()?,
                None => Vec::new(),
            };
            PushEvent::Pictures { source, event_key: key()?, pic_md5_sums }
        }
        "location_select" => {
            let info = root.child("SendLocationInfo")?;
            PushEvent::LocationSelect {
                event_key: key()?,
                location: SelectedLocation {
                    latitude: info.coordinate("Location_X")?,
                    longitude: info.coordinate("Location_Y")?,
                    scale: info.number("Scale")?,
                    label: info.text("Label")?.to_owned(),
                    poiname: info.opt_text("Poiname"),
                },
            }
        }
        "TEMPLATESENDJOBFINISH" => {
            PushEvent::TemplateSendJobFinish { msg_id: root.number("MsgID")?, status: root.text("Status")?.to_owned() }
        }
        "MASSSENDJOBFINISH" => PushEvent::MassSendJobFinish {
            msg_id: root.number("MsgID")?,
            status: root.text("Status")?.to_owned(),
            total_count: root.number("TotalCount")?,
            filter_count: root.number("FilterCount")?,
            sent_count: root.number("SentCount")?,
            error_count: root.number("ErrorCount")?,
        },
        other => PushEvent::Other { event: other.to_owned(), event_key: root.opt_text("EventKey") },
    })
}

fn write_event(out: &mut XmlOut, event: &PushEvent) {
    out.cdata("Event", event.name());
    match event {
        PushEvent::Subscribe { event_key, ticket } => {
            out.cdata("EventKey", event_key.as_deref().unwrap_or(""));
            if let Some(ticket) = ticket {
                out.cdata("Ticket", ticket);
            }
        }
        PushEvent::Unsubscribe => out.cdata("EventKey", ""),
        PushEvent::Scan { event_key, ticket } => {
            out.cdata("EventKey", event_key);
            if let Some(ticket) = ticket {
                out.cdata("Ticket", ticket);
            }
        }
        PushEvent::Location { latitude, longitude, precision } => {
            out.bare("Latitude", latitude);
            out.bare("Longitude", longitude);
            out.bare("Precision", precision);
        }
        PushEvent::Click { event_key } => out.cdata("EventKey", event_key),
        PushEvent::View { url: key, menu_id } | PushEvent::ViewMiniprogram { page_path: key, menu_id } => {
            out.cdata("EventKey", key);
            if let Some(menu_id) = menu_id {
                out.bare("MenuId", menu_id);
            }
        }
        PushEvent::ScancodePush { event_key, scan } | PushEvent::ScancodeWaitmsg { event_key, scan } => {
            out.cdata("EventKey", event_key);
            out.start("ScanCodeInfo");
            out.cdata("ScanType", &scan.scan_type);
            out.cdata("ScanResult", &scan.scan_result);
            out.end("ScanCodeInfo");
        }
        PushEvent::Pictures { event_key, pic_md5_sums, .. } => {
            out.cdata("EventKey", event_key);
            out.start("SendPicsInfo");
            out.bare("Count", pic_md5_sums.len());
            out.start("PicList");
            for sum in pic_md5_sums {
                out.start("item");
                out.cdata("PicMd5Sum", sum);
                out.end("item");
            }
            out.end("PicList");
            out.end("SendPicsInfo");
        }
        PushEvent::LocationSelect { event_key, location } => {
            out.cdata("EventKey", event_key);
            out.start("SendLocationInfo");
            out.cdata("Location_X", &location.latitude.to_string());
            out.cdata("Location_Y", &location.longitude.to_string());
            out.cdata("Scale", &location.scale.to_string());
            out.cdata("Label", &location.label);
            out.cdata("Poiname", location.poiname.as_deref().unwrap_or(""));
            out.end("SendLocationInfo");
        }
        PushEvent::TemplateSendJobFinish { msg_id, status } => {
            out.bare("MsgID", msg_id);
            out.cdata("Status", status);
        }
        PushEvent::MassSendJobFinish { msg_id, status, total_count, filter_count, sent_count, error_count } => {
            out.bare("MsgID", msg_id);
            out.cdata("Status", status);
            out.bare("TotalCount", total_count);
            out.bare("FilterCount", filter_count);
            out.bare("SentCount", sent_count);
            out.bare("ErrorCount", error_count);
        }
        PushEvent::Other { event_key, .. } => {
            if let Some(event_key) = event_key {
                out.cdata("EventKey", event_key);
            }
        }
    }
}

/// A parsed element: its name, its own text (CDATA and text joined), and its child elements.
/// Attributes are dropped because WeChat's XML has none.
#[derive(Debug)]
struct Element {
    name: String,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn find(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|child| child.name == name)
    }

    fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |child| child.name == name)
    }

    fn child(&self, name: &'static str) -> Result<&Element, WechatError> {
        self.find(name).ok_or(WechatError::MissingXmlField { field: name })
    }

    /// A required string value; present-but-empty is allowed.
    fn text(&self, name: &'static str) -> Result<&str, WechatError> {
        Ok(self.child(name)?.text.as_str())
    }

    /// An optional string value; empty counts as absent, because WeChat sends `<EventKey><![CDATA[]]></EventKey>`
    /// for "no key".
    fn opt_text(&self, name: &str) -> Option<String> {
        self.find(name).map(|child| child.text.as_str()).filter(|text| !text.is_empty()).map(str::to_owned)
    }

    fn number<T: FromStr>(&self, name: &'static str) -> Result<T, WechatError> {
        self.text(name)?
            .trim()
            .parse()
            .map_err(|_| WechatError::InvalidXmlField { field: name, reason: "not a number" })
    }

    fn opt_number<T: FromStr>(&self, name: &'static str) -> Result<Option<T>, WechatError> {
        match self.find(name) {
            Some(child) if !child.text.trim().is_empty() => self.number(name).map(Some),
            _ => Ok(None),
        }
    }

    /// A finite decimal coordinate (`f64::from_str` would also accept `NaN` and `inf`).
    fn coordinate(&self, name: &'static str) -> Result<f64, WechatError> {
        let value: f64 = self.number(name)?;
        if value.is_finite() {
            Ok(value)
        } else {
            Err(WechatError::InvalidXmlField { field: name, reason: "not a finite number" })
        }
    }
}

/// An element being read: text pieces stay apart until the end tag, see [`join_text`].
struct OpenElement {
    name: String,
    pieces: Vec<(bool, String)>,
    children: Vec<Element>,
}

impl OpenElement {
    fn close(self) -> Element {
        Element { name: self.name, text: join_text(self.pieces), children: self.children }
    }
}

/// Joins text and CDATA pieces; when CDATA is present, whitespace-only text around it is layout, not value.
fn join_text(pieces: Vec<(bool, String)>) -> String {
    let has_cdata = pieces.iter().any(|(is_cdata, _)| *is_cdata);
    pieces
        .into_iter()
        .filter(|(is_cdata, text)| *is_cdata || !has_cdata || !text.trim().is_empty())
        .map(|(_, text)| text)
        .collect()
}

fn malformed(reason: impl Into<String>) -> WechatError {
    WechatError::MalformedXml { reason: reason.into() }
}

fn element_name(start: &BytesStart<'_>) -> Result<String, WechatError> {
    std::str::from_utf8(start.name().as_ref()).map(str::to_owned).map_err(|_| malformed("element name is not UTF-8"))
}

/// Reads one document into an element tree, iteratively (no recursion on attacker-controlled depth).
fn parse_document(xml: &str) -> Result<Element, WechatError> {
    let mut reader = Reader::from_str(xml);
    let mut stack: Vec<OpenElement> = Vec::new();
    loop {
        let event = reader.read_event().map_err(|err| malformed(err.to_string()))?;
        match event {
            Event::Start(start) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(malformed("nested too deeply"));
                }
                stack.push(OpenElement { name: element_name(&start)?, pieces: Vec::new(), children: Vec::new() });
            }
            Event::Empty(start) => {
                let element = Element { name: element_name(&start)?, text: String::new(), children: Vec::new() };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => return Ok(element),
                }
            }
            Event::End(_) => {
                // quick-xml has already checked that the end tag matches the open one.
                let element = stack.pop().ok_or_else(|| malformed("end tag without start tag"))?.close();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(element),
                    None => return Ok(element),
                }
            }
            Event::Text(text) => {
                let text = text.unescape().map_err(|err| malformed(err.to_string()))?;
                push_piece(&mut stack, false, text)?;
            }
            Event::CData(cdata) => {
                let text =
                    String::from_utf8(cdata.into_inner().into_owned()).map_err(|_| malformed("CDATA is not UTF-8"))?;
                push_piece(&mut stack, true, Cow::Owned(text))?;
            }
            // A DTD is the door to entity expansion (XXE, billion laughs); WeChat never sends one.
            Event::DocType(_) => return Err(malformed("DTDs are not accepted")),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => {
                return Err(malformed(if stack.is_empty() { "no root element" } else { "unexpected end of input" }));
            }
        }
    }
}

fn push_piece(stack: &mut [OpenElement], is_cdata: bool, text: Cow<'_, str>) -> Result<(), WechatError> {
    match stack.last_mut() {
        Some(open) => {
            open.pieces.push((is_cdata, text.into_owned()));
            Ok(())
        }
        None if !is_cdata && text.trim().is_empty() => Ok(()),
        None => Err(malformed("text outside the root element")),
    }
}

/// A thin writer over `quick_xml::Writer` for WeChat's flat element style.
struct XmlOut {
    writer: Writer<Vec<u8>>,
}

impl XmlOut {
    fn new() -> Self {
        Self { writer: Writer::new(Vec::new()) }
    }

    fn write(&mut self, event: Event<'_>) {
        // The sink is a Vec<u8>, whose writes cannot fail; quick-xml reports only I/O errors when writing.
        self.writer.write_event(event).expect("writing XML into a Vec<u8> cannot fail");
    }

    fn start(&mut self, name: &str) {
        self.write(Event::Start(BytesStart::new(name)));
    }

    fn end(&mut self, name: &str) {
        self.write(Event::End(BytesEnd::new(name)));
    }

    /// `<name><![CDATA[value]]></name>`, splitting `]]>` across two CDATA sections so the value survives intact.
    fn cdata(&mut self, name: &str, value: &str) {
        self.start(name);
        let parts: Vec<&str> = value.split("]]>").collect();
        let last = parts.len() - 1;
        for (i, part) in parts.iter().enumerate() {
            let mut section = String::with_capacity(part.len() + 3);
            if i > 0 {
                section.push('>');
            }
            section.push_str(part);
            if i < last {
                section.push_str("]]");
            }
            self.write(Event::CData(BytesCData::new(section)));
        }
        self.end(name);
    }

    /// `<name>value</name>` for numbers and ids, which WeChat sends without CDATA.
    fn bare(&mut self, name: &str, value: impl ToString) {
        self.start(name);
        let value = value.to_string();
        self.write(Event::Text(BytesText::new(&value)));
        self.end(name);
    }

    fn finish(self) -> String {
        // Everything written came from `&str` values and ASCII markup.
        String::from_utf8_lossy(&self.writer.into_inner()).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENID: &str = "oUser000000000000000000001";
    const GH_ID: &str = "gh_0123456789ab";

    /// The plaintext push of reference vector 13.2.
    const TEXT_PUSH: &str = "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[oUser000000000000000000001]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hello]]></Content><MsgId>1234567890123456</MsgId></xml>";
    /// The reply of reference vector 13.3.
    const TEXT_REPLY: &str = "<xml><ToUserName><![CDATA[oUser000000000000000000001]]></ToUserName><FromUserName><![CDATA[gh_0123456789ab]]></FromUserName><CreateTime>1700000005</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[received]]></Content></xml>";

    fn event_push(event_xml: &str) -> String {
        format!(
            "<xml><ToUserName><![CDATA[{GH_ID}]]></ToUserName><FromUserName><![CDATA[{OPENID}]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType>{event_xml}</xml>"
        )
    }

    fn parse_event(event_xml: &str) -> PushEvent {
        match PushMessage::parse(&event_push(event_xml)).unwrap().kind {
            PushKind::Event(event) => event,
            other => panic!("not an event: {other:?}"),
        }
    }

    #[test]
    fn the_13_2_text_push_parses_into_a_typed_text_message() {
        let push = PushMessage::parse(TEXT_PUSH).unwrap();
        assert_eq!(
            push,
            PushMessage {
                to_user_name: GH_ID.to_owned(),
                from_user_name: OPENID.to_owned(),
                create_time: 1700000000,
                msg_id: Some(1234567890123456),
                kind: PushKind::Text { content: "hello".to_owned() },
            }
        );
        assert_eq!(push.dedupe_key(), "msg:1234567890123456");
    }

    #[test]
    fn writing_the_13_2_push_reproduces_its_bytes() {
        assert_eq!(PushMessage::parse(TEXT_PUSH).unwrap().to_xml(), TEXT_PUSH);
    }

    #[test]
    fn a_push_without_cdata_and_pretty_printed_parses_the_same() {
        let plain = "<?xml version=\"1.0\"?>\n<xml>\n  <ToUserName>gh_0123456789ab</ToUserName>\n  <FromUserName>oUser000000000000000000001</FromUserName>\n  <CreateTime> 1700000000 </CreateTime>\n  <MsgType>text</MsgType>\n  <Content>  <![CDATA[hello]]>\n  </Content>\n  <MsgId>1234567890123456</MsgId>\n</xml>\n";
        assert_eq!(PushMessage::parse(plain).unwrap(), PushMessage::parse(TEXT_PUSH).unwrap());
    }

    #[test]
    fn escaped_text_without_cdata_is_unescaped() {
        let xml = TEXT_PUSH.replace("<![CDATA[hello]]>", "a &lt;b&gt; &amp; &#x4E2D;");
        let push = PushMessage::parse(&xml).unwrap();
        assert_eq!(push.kind, PushKind::Text { content: "a <b> & 中".to_owned() });
    }

    #[test]
    fn the_reference_reply_example_builds_byte_for_byte() {
        let reply = Reply::text(OPENID, GH_ID, 1700000005, "received");
        assert_eq!(reply.to_xml(), TEXT_REPLY);
        assert_eq!(Reply::parse(TEXT_REPLY).unwrap(), reply);
        let push = PushMessage::parse(TEXT_PUSH).unwrap();
        assert_eq!(push.reply(1700000005, ReplyKind::Text { content: "received".to_owned() }), reply);
    }

    #[test]
    fn reply_content_containing_the_cdata_terminator_survives_a_round_trip() {
        for content in ["a]]>b", "]]>", "]]>]]>", "x]]]>y", "end]]", "<a href=\"https://city.example.cn\">link</a>"] {
            let reply = Reply::text(OPENID, GH_ID, 1, content);
            let xml = reply.to_xml();
            assert_eq!(xml.matches("<![CDATA[").count(), xml.matches("]]>").count(), "{xml}");
            assert_eq!(Reply::parse(&xml).unwrap(), reply, "{xml}");
        }
        let xml = Reply::text(OPENID, GH_ID, 1, "a]]>b").to_xml();
        assert!(xml.contains("<Content><![CDATA[a]]]]><![CDATA[>b]]></Content>"), "{xml}");
    }

    #[test]
    fn news_reply_has_article_count_and_items_and_round_trips() {
        let article = Article {
            title: "Air quality".to_owned(),
            description: "AQI 42 — good".to_owned(),
            pic_url: "https://city.example.cn/aqi.png".to_owned(),
            url: "https://city.example.cn/h5/aqi?x=1&y=2".to_owned(),
        };
        let reply = Reply::news(OPENID, GH_ID, 1700000005, vec![article]);
        let xml = reply.to_xml();
        assert!(xml.contains("<MsgType><![CDATA[news]]></MsgType><ArticleCount>1</ArticleCount><Articles><item><Title><![CDATA[Air quality]]></Title>"), "{xml}");
        assert!(
            xml.contains("<Url><![CDATA[https://city.example.cn/h5/aqi?x=1&y=2]]></Url></item></Articles></xml>"),
            "{xml}"
        );
        assert_eq!(Reply::parse(&xml).unwrap(), reply);
    }

    #[test]
    fn media_and_transfer_replies_round_trip() {
        let kinds = [
            ReplyKind::Image { media_id: "M1".to_owned() },
            ReplyKind::Voice { media_id: "M2".to_owned() },
            ReplyKind::Video { media_id: "M3".to_owned(), title: Some("T".to_owned()), description: None },
            ReplyKind::TransferCustomerService,
        ];
        for kind in kinds {
            let reply =
                Reply { to_user_name: OPENID.to_owned(), from_user_name: GH_ID.to_owned(), create_time: 7, kind };
            assert_eq!(Reply::parse(&reply.to_xml()).unwrap(), reply);
        }
        let image = Reply {
            to_user_name: "u".into(),
            from_user_name: "g".into(),
            create_time: 1,
            kind: ReplyKind::Image { media_id: "M1".into() },
        };
        assert!(image.to_xml().contains("<Image><MediaId><![CDATA[M1]]></MediaId></Image>"));
    }

    #[test]
    fn safe_mode_envelope_yields_the_encrypt_text_and_tolerates_extra_elements() {
        let xml = "<xml>\n  <ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>\n  <Encrypt><![CDATA[Q3stYC6h+/=]]></Encrypt>\n  <Extra>1</Extra>\n</xml>";
        let envelope = EncryptedEnvelope::parse(xml).unwrap();
        assert_eq!(
            envelope,
            EncryptedEnvelope { to_user_name: Some(GH_ID.to_owned()), encrypt: "Q3stYC6h+/=".to_owned() }
        );
        assert_eq!(EncryptedEnvelope::parse(&envelope.to_xml()).unwrap(), envelope);
        assert!(matches!(
            EncryptedEnvelope::parse("<xml><ToUserName>gh</ToUserName></xml>"),
            Err(WechatError::MissingXmlField { field: "Encrypt" })
        ));
    }

    #[test]
    fn encrypted_reply_renders_the_four_documented_fields_and_parses_back() {
        let reply = EncryptedReply {
            encrypt: "DpQeJfnf/MGZ".to_owned(),
            msg_signature: "dc39dda5b5649420d9aacdec12a9b6f1fd21e52e".to_owned(),
            timestamp: 1700000005,
            nonce: "987654321".to_owned(),
        };
        assert_eq!(
            reply.to_xml(),
            "<xml><Encrypt><![CDATA[DpQeJfnf/MGZ]]></Encrypt><MsgSignature><![CDATA[dc39dda5b5649420d9aacdec12a9b6f1fd21e52e]]></MsgSignature><TimeStamp>1700000005</TimeStamp><Nonce><![CDATA[987654321]]></Nonce></xml>"
        );
        assert_eq!(EncryptedReply::parse_xml(&reply.to_xml()).unwrap(), reply);
    }

    #[test]
    fn subscribe_via_parametric_qr_code_exposes_the_scene() {
        let event = parse_event("<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_123123]]></EventKey><Ticket><![CDATA[TICKET]]></Ticket>");
        assert_eq!(
            event,
            PushEvent::Subscribe { event_key: Some("qrscene_123123".to_owned()), ticket: Some("TICKET".to_owned()) }
        );
        assert_eq!(event.qr_scene(), Some("123123"));
    }

    #[test]
    fn plain_subscribe_with_an_empty_event_key_has_no_key() {
        let event = parse_event("<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[]]></EventKey>");
        assert_eq!(event, PushEvent::Subscribe { event_key: None, ticket: None });
        assert_eq!(event.qr_scene(), None);
    }

    #[test]
    fn events_parse_into_their_typed_variants() {
        let cases: Vec<(&str, PushEvent)> = vec![
            ("<Event><![CDATA[unsubscribe]]></Event><EventKey><![CDATA[]]></EventKey>", PushEvent::Unsubscribe),
            (
                "<Event><![CDATA[SCAN]]></Event><EventKey><![CDATA[123123]]></EventKey><Ticket><![CDATA[T]]></Ticket>",
                PushEvent::Scan { event_key: "123123".to_owned(), ticket: Some("T".to_owned()) },
            ),
            (
                "<Event><![CDATA[LOCATION]]></Event><Latitude>23.137466</Latitude><Longitude>113.352425</Longitude><Precision>119.385040</Precision>",
                PushEvent::Location { latitude: 23.137466, longitude: 113.352425, precision: 119.38504 },
            ),
            ("<Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[AQI_NOW]]></EventKey>", PushEvent::Click { event_key: "AQI_NOW".to_owned() }),
            (
                "<Event><![CDATA[VIEW]]></Event><EventKey><![CDATA[https://city.example.cn/h5/fines]]></EventKey><MenuId>5</MenuId>",
                PushEvent::View { url: "https://city.example.cn/h5/fines".to_owned(), menu_id: Some("5".to_owned()) },
            ),
            (
                "<Event><![CDATA[view_miniprogram]]></Event><EventKey><![CDATA[pages/booking/index]]></EventKey><MenuId>5</MenuId>",
                PushEvent::ViewMiniprogram { page_path: "pages/booking/index".to_owned(), menu_id: Some("5".to_owned()) },
            ),
            (
                "<Event><![CDATA[scancode_waitmsg]]></Event><EventKey><![CDATA[SCAN_1]]></EventKey><ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType><ScanResult><![CDATA[hello]]></ScanResult></ScanCodeInfo>",
                PushEvent::ScancodeWaitmsg {
                    event_key: "SCAN_1".to_owned(),
                    scan: ScanCodeInfo { scan_type: "qrcode".to_owned(), scan_result: "hello".to_owned() },
                },
            ),
            (
                "<Event><![CDATA[pic_weixin]]></Event><EventKey><![CDATA[PIC]]></EventKey><SendPicsInfo><Count>2</Count><PicList><item><PicMd5Sum><![CDATA[aaa]]></PicMd5Sum></item><item><PicMd5Sum><![CDATA[bbb]]></PicMd5Sum></item></PicList></SendPicsInfo>",
                PushEvent::Pictures {
                    source: PictureSource::Weixin,
                    event_key: "PIC".to_owned(),
                    pic_md5_sums: vec!["aaa".to_owned(), "bbb".to_owned()],
                },
            ),
            (
                "<Event><![CDATA[location_select]]></Event><EventKey><![CDATA[REPORT_LOC]]></EventKey><SendLocationInfo><Location_X><![CDATA[23]]></Location_X><Location_Y><![CDATA[113]]></Location_Y><Scale><![CDATA[15]]></Scale><Label><![CDATA[ Renmin Rd 12]]></Label><Poiname><![CDATA[]]></Poiname></SendLocationInfo>",
                PushEvent::LocationSelect {
                    event_key: "REPORT_LOC".to_owned(),
                    location: SelectedLocation { latitude: 23.0, longitude: 113.0, scale: 15, label: " Renmin Rd 12".to_owned(), poiname: None },
                },
            ),
            (
                "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>200163836</MsgID><Status><![CDATA[failed:user block]]></Status>",
                PushEvent::TemplateSendJobFinish { msg_id: 200163836, status: "failed:user block".to_owned() },
            ),
            (
                "<Event><![CDATA[MASSSENDJOBFINISH]]></Event><MsgID>1000001625</MsgID><Status><![CDATA[send success]]></Status><TotalCount>100</TotalCount><FilterCount>80</FilterCount><SentCount>75</SentCount><ErrorCount>5</ErrorCount>",
                PushEvent::MassSendJobFinish { msg_id: 1000001625, status: "send success".to_owned(), total_count: 100, filter_count: 80, sent_count: 75, error_count: 5 },
            ),
            (
                "<Event><![CDATA[subscribe_msg_popup_event]]></Event>",
                PushEvent::Other { event: "subscribe_msg_popup_event".to_owned(), event_key: None },
            ),
        ];
        for (xml, expected) in cases {
            assert_eq!(parse_event(xml), expected, "{xml}");
        }
    }

    #[test]
    fn event_names_are_case_sensitive() {
        let event = parse_event("<Event><![CDATA[click]]></Event><EventKey><![CDATA[K]]></EventKey>");
        assert_eq!(event, PushEvent::Other { event: "click".to_owned(), event_key: Some("K".to_owned()) });
    }

    #[test]
    fn ordinary_messages_parse_into_their_typed_variants() {
        let base = |body: &str, msg_type: &str| {
            format!("<xml><ToUserName><![CDATA[{GH_ID}]]></ToUserName><FromUserName><![CDATA[{OPENID}]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>{body}<MsgId>42</MsgId></xml>")
        };
        let cases = [
            (
                base("<PicUrl><![CDATA[https://p/x.jpg]]></PicUrl><MediaId><![CDATA[MID]]></MediaId>", "image"),
                PushKind::Image { pic_url: "https://p/x.jpg".to_owned(), media_id: "MID".to_owned() },
            ),
            (
                base("<MediaId><![CDATA[MID]]></MediaId><Format><![CDATA[amr]]></Format><Recognition><![CDATA[]]></Recognition>", "voice"),
                PushKind::Voice { media_id: "MID".to_owned(), format: "amr".to_owned(), recognition: None },
            ),
            (
                base("<MediaId><![CDATA[MID]]></MediaId><ThumbMediaId><![CDATA[TID]]></ThumbMediaId>", "shortvideo"),
                PushKind::ShortVideo { media_id: "MID".to_owned(), thumb_media_id: "TID".to_owned() },
            ),
            (
                base("<Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y><Scale>20</Scale><Label><![CDATA[Renmin Rd]]></Label>", "location"),
                PushKind::Location { latitude: 23.134521, longitude: 113.358803, scale: 20, label: "Renmin Rd".to_owned() },
            ),
            (
                base("<Title><![CDATA[T]]></Title><Description><![CDATA[D]]></Description><Url><![CDATA[https://u]]></Url>", "link"),
                PushKind::Link { title: "T".to_owned(), description: "D".to_owned(), url: "https://u".to_owned() },
            ),
            (base("", "miniprogrampage"), PushKind::Other { msg_type: "miniprogrampage".to_owned() }),
        ];
        for (xml, expected) in cases {
            let push = PushMessage::parse(&xml).unwrap();
            assert_eq!(push.kind, expected, "{xml}");
            assert_eq!(push.msg_id, Some(42));
        }
    }

    #[test]
    fn every_push_model_round_trips_through_its_own_xml() {
        let events = [
            PushEvent::Subscribe { event_key: Some("qrscene_7".to_owned()), ticket: Some("T".to_owned()) },
            PushEvent::Unsubscribe,
            PushEvent::Location { latitude: 23.137466, longitude: 113.352425, precision: 119.38504 },
            PushEvent::Click { event_key: "K]]>K".to_owned() },
            PushEvent::ScancodePush {
                event_key: "S".to_owned(),
                scan: ScanCodeInfo { scan_type: "qrcode".to_owned(), scan_result: "r".to_owned() },
            },
            PushEvent::Pictures {
                source: PictureSource::PhotoOrAlbum,
                event_key: "P".to_owned(),
                pic_md5_sums: vec!["m".to_owned()],
            },
            PushEvent::LocationSelect {
                event_key: "L".to_owned(),
                location: SelectedLocation {
                    latitude: 23.5,
                    longitude: 113.25,
                    scale: 15,
                    label: "here".to_owned(),
                    poiname: Some("park".to_owned()),
                },
            },
            PushEvent::MassSendJobFinish {
                msg_id: 1,
                status: "send success".to_owned(),
                total_count: 3,
                filter_count: 2,
                sent_count: 2,
                error_count: 0,
            },
        ];
        let kinds = events.into_iter().map(PushKind::Event).chain([
            PushKind::Text { content: "市民 <hello> & ]]> bye".to_owned() },
            PushKind::Voice {
                media_id: "M".to_owned(),
                format: "speex".to_owned(),
                recognition: Some("hi".to_owned()),
            },
            PushKind::Location { latitude: -33.8688, longitude: 151.2093, scale: 16, label: "Sydney".to_owned() },
        ]);
        for kind in kinds {
            let msg_id = if matches!(kind, PushKind::Event(_)) { None } else { Some(9) };
            let push = PushMessage {
                to_user_name: GH_ID.to_owned(),
                from_user_name: OPENID.to_owned(),
                create_time: 1700000000,
                msg_id,
                kind,
            };
            assert_eq!(PushMessage::parse(&push.to_xml()).unwrap(), push, "{}", push.to_xml());
        }
    }

    #[test]
    fn events_dedupe_by_sender_time_event_and_key() {
        let push =
            PushMessage::parse(&event_push("<Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[AQI_NOW]]></EventKey>"))
                .unwrap();
        assert_eq!(push.dedupe_key(), format!("event:{OPENID}:1700000000:CLICK:AQI_NOW"));
    }

    #[test]
    fn a_doctype_is_rejected_so_entities_can_never_expand() {
        let xxe = "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><xml><ToUserName>&xxe;</ToUserName></xml>";
        assert!(matches!(PushMessage::parse(xxe), Err(WechatError::MalformedXml { .. })));
        let undeclared = TEXT_PUSH.replace("<![CDATA[hello]]>", "&xxe;");
        assert!(matches!(PushMessage::parse(&undeclared), Err(WechatError::MalformedXml { .. })));
    }

    #[test]
    fn malformed_documents_are_errors_not_panics() {
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        let cases = [
            ("", "empty"),
            ("   ", "blank"),
            ("not xml", "text only"),
            ("<xml><ToUserName>gh</ToUserName>", "unclosed"),
            ("<xml><a></b></xml>", "mismatched end tag"),
            ("<xml><![CDATA[x]]", "unterminated cdata"),
            (deep.as_str(), "too deep"),
            ("junk<xml></xml>", "text before root"),
        ];
        for (xml, why) in cases {
            assert!(PushMessage::parse(xml).is_err(), "{why}");
        }
    }

    #[test]
    fn missing_or_mistyped_fields_name_the_element() {
        let no_type = TEXT_PUSH.replace("<MsgType><![CDATA[text]]></MsgType>", "");
        assert!(matches!(PushMessage::parse(&no_type), Err(WechatError::MissingXmlField { field: "MsgType" })));
        let bad_time = TEXT_PUSH.replace("1700000000", "yesterday");
        assert!(matches!(PushMessage::parse(&bad_time), Err(WechatError::InvalidXmlField { field: "CreateTime", .. })));
        let bad_id = TEXT_PUSH.replace("1234567890123456", "-1");
        assert!(matches!(PushMessage::parse(&bad_id), Err(WechatError::InvalidXmlField { field: "MsgId", .. })));
        let nan = parse_location_push("NaN");
        assert!(matches!(nan, Err(WechatError::InvalidXmlField { field: "Latitude", .. })));
    }

    fn parse_location_push(latitude: &str) -> Result<PushMessage, WechatError> {
        PushMessage::parse(&event_push(&format!(
            "<Event><![CDATA[LOCATION]]></Event><Latitude>{latitude}</Latitude><Longitude>1</Longitude><Precision>1</Precision>"
        )))
    }

    #[test]
    fn an_empty_content_element_is_an_empty_string() {
        let push =
            PushMessage::parse(&TEXT_PUSH.replace("<Content><![CDATA[hello]]></Content>", "<Content/>")).unwrap();
        assert_eq!(push.kind, PushKind::Text { content: String::new() });
    }
}
