//! Parsing and writing against the reference vectors.

use super::*;
use crate::crypto::official_account::EncryptedReply;

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
        let reply = Reply { to_user_name: OPENID.to_owned(), from_user_name: GH_ID.to_owned(), create_time: 7, kind };
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
    assert_eq!(envelope, EncryptedEnvelope { to_user_name: Some(GH_ID.to_owned()), encrypt: "Q3stYC6h+/=".to_owned() });
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
        PushKind::Voice { media_id: "M".to_owned(), format: "speex".to_owned(), recognition: Some("hi".to_owned()) },
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
    let push = PushMessage::parse(&TEXT_PUSH.replace("<Content><![CDATA[hello]]></Content>", "<Content/>")).unwrap();
    assert_eq!(push.kind, PushKind::Text { content: String::new() });
}
