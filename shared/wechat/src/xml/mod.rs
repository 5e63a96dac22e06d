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

use crate::WechatError;

mod reply;
mod tree;

pub use reply::{Article, EncryptedEnvelope, Reply, ReplyKind};
use tree::{parse_document, Element, XmlOut};

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

    /// The key to dedupe WeChat's retries by: `MsgId` for messages, `MsgID` for job results,
    /// sender + time + event + key for other events.
    pub fn dedupe_key(&self) -> String {
        if let Some(msg_id) = self.msg_id {
            return format!("msg:{msg_id}");
        }
        match &self.kind {
            // Job results come from one system sender; two jobs finishing in the same second
            // differ only by their MsgID.
            PushKind::Event(
                event @ (PushEvent::MassSendJobFinish { msg_id, .. } | PushEvent::TemplateSendJobFinish { msg_id, .. }),
            ) => format!("job:{}:{msg_id}", event.name()),
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

#[cfg(test)]
mod tests;
