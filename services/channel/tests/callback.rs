//! The Service Account callback as WeChat drives it: URL verification, plaintext and safe-mode
//! pushes with real signatures and AES, replies decrypted and read, retries, bad input. On both
//! backends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use city_channel::services::{AirNow, Bill, CityServices, ServiceError};
use city_channel::{message_crypt, store, ChannelDeps, ChannelService};
use city_notify::wechat::{WechatApiError, WechatMessages};
use city_platform::testing::{test_platform_with, TestPlatform};
use city_platform::time::now_ms;
use city_wechat::crypto::official_account::EncryptedReply;
use city_wechat::crypto::official_account::{msg_signature, url_signature, MessageCrypt};
use city_wechat::xml::{EncryptedEnvelope, PushEvent, PushKind, PushMessage, Reply, ReplyKind};
use parking_lot::Mutex;
use poem::test::TestClient;
use poem::Route;

const OPENID: &str = "oFollower0000000000000000001";
const GH: &str = "gh_0123456789ab";

/// The other services as a test wants them.
#[derive(Default)]
struct FakeServices {
    linked: Mutex<Option<String>>,
    delay: Mutex<Duration>,
    air_asked: Mutex<Vec<(f64, f64)>>,
}

#[async_trait]
impl CityServices for FakeServices {
    async fn air_near(&self, latitude: f64, longitude: f64) -> Result<Option<AirNow>, ServiceError> {
        let delay = *self.delay.lock();
        tokio::time::sleep(delay).await;
        self.air_asked.lock().push((latitude, longitude));
        Ok(Some(AirNow {
            station: "Xinhua Road".into(),
            distance_m: 1200.0,
            aqi: Some(42),
            category: "优 Good".into(),
            advice: "Enjoy the outdoors.".into(),
        }))
    }

    async fn citizen_for_openid(&self, _openid: &str) -> Result<Option<String>, ServiceError> {
        Ok(self.linked.lock().clone())
    }

    async fn next_appointment(
        &self,
        _citizen_id: &str,
    ) -> Result<Option<city_channel::services::Appointment>, ServiceError> {
        Ok(None)
    }

    async fn unpaid(&self, _citizen_id: &str) -> Result<Vec<Bill>, ServiceError> {
        Ok(vec![Bill {
            kind: "bill".into(),
            id: "bill-1".into(),
            description: "Parking fine".into(),
            amount_fen: 20_000,
            due_date: None,
        }])
    }
}

/// Customer-service messages "sent", as (openid, content).
#[derive(Default)]
struct SentMessages(Mutex<Vec<(String, String)>>);

#[async_trait]
impl WechatMessages for SentMessages {
    async fn send_custom_text(&self, openid: &str, content: &str) -> Result<(), WechatApiError> {
        self.0.lock().push((openid.into(), content.into()));
        Ok(())
    }
    async fn send_template(&self, _openid: &str, _body: serde_json::Value) -> Result<(), WechatApiError> {
        Ok(())
    }
    async fn send_subscribe(&self, _openid: &str, _body: serde_json::Value) -> Result<(), WechatApiError> {
        Ok(())
    }
}

struct NoContacts;

#[async_trait]
impl city_notify::Contacts for NoContacts {
    async fn contact(&self, _citizen_id: &str) -> Result<city_notify::Contact, String> {
        Ok(city_notify::Contact::default())
    }
}

struct Harness {
    t: TestPlatform,
    state: Arc<city_channel::ChannelState>,
    client: TestClient<Route>,
    crypt: MessageCrypt,
    db: city_platform::Db,
    services: Arc<FakeServices>,
    sent: Arc<SentMessages>,
}

async fn harness() -> Harness {
    harness_with(|_| {}).await
}

async fn harness_with(tweak: impl FnOnce(&mut city_platform::Settings)) -> Harness {
    let t = test_platform_with(tweak).await;
    let services = Arc::new(FakeServices::default());
    let sent = Arc::new(SentMessages::default());
    let deps = ChannelDeps {
        services: services.clone(),
        messages: sent.clone(),
        account_messages: Default::default(),
        reply_budget: Duration::from_millis(1500),
        mp_messages: sent.clone(),
        contacts: Arc::new(NoContacts),
        notify: city_notify::NotifySettings::from_settings(&t.settings),
    };
    let (api, route, db) = ChannelService::start_with(t.platform.clone(), deps).await.unwrap();
    t.track(&db);
    let crypt = message_crypt(&t.settings).unwrap();
    Harness { state: api.state().clone(), client: TestClient::new(route), crypt, db, services, sent, t }
}

fn push(kind: PushKind, create_time: i64, msg_id: Option<u64>) -> PushMessage {
    PushMessage { to_user_name: GH.into(), from_user_name: OPENID.into(), create_time, msg_id, kind }
}

fn event(e: PushEvent, create_time: i64) -> PushMessage {
    push(PushKind::Event(e), create_time, None)
}

fn text(content: &str, msg_id: u64) -> PushMessage {
    push(PushKind::Text { content: content.into() }, now_ms() / 1000, Some(msg_id))
}

impl Harness {
    /// Posts `msg` in safe mode, as WeChat would; returns (status, body).
    async fn post_safe(&self, msg: &PushMessage) -> (u16, String) {
        self.post_safe_to(&self.client, msg).await
    }

    /// [`Harness::post_safe`] to another replica's callback.
    async fn post_safe_to(&self, client: &TestClient<Route>, msg: &PushMessage) -> (u16, String) {
        let ts = (now_ms() / 1000).to_string();
        let nonce = "1320562132";
        let encrypt = self.crypt.encrypt(&msg.to_xml()).unwrap();
        let sig = msg_signature(self.crypt.token(), &ts, nonce, &encrypt);
        let body = EncryptedEnvelope { to_user_name: Some(GH.into()), encrypt }.to_xml();
        let resp = client
            .post("/wechat/callback")
            .query("signature", &url_signature(self.crypt.token(), &ts, nonce))
            .query("timestamp", &ts)
            .query("nonce", &nonce)
            .query("openid", &OPENID)
            .query("encrypt_type", &"aes")
            .query("msg_signature", &sig)
            .content_type("text/xml")
            .body(body)
            .send()
            .await;
        let status = resp.0.status().as_u16();
        (status, resp.0.into_body().into_string().await.unwrap())
    }

    /// Posts `msg` in safe mode and decrypts the reply's text, checking its signature; `None` for `success`.
    async fn ask(&self, msg: &PushMessage) -> Option<String> {
        let (status, body) = self.post_safe(msg).await;
        assert_eq!(status, 200, "{body}");
        if body == "success" {
            return None;
        }
        let reply = EncryptedReply::parse_xml(&body).unwrap();
        let expected = msg_signature(self.crypt.token(), &reply.timestamp.to_string(), &reply.nonce, &reply.encrypt);
        assert_eq!(reply.msg_signature, expected, "the reply is signed");
        let plain = Reply::parse(&self.crypt.decrypt(&reply.encrypt).unwrap()).unwrap();
        assert_eq!((plain.to_user_name.as_str(), plain.from_user_name.as_str()), (OPENID, GH));
        match plain.kind {
            ReplyKind::Text { content } => Some(content),
            other => panic!("unexpected reply {other:?}"),
        }
    }

    async fn post_plain(&self, body: &str, ts: &str, signature: &str) -> (u16, String) {
        let resp = self
            .client
            .post("/wechat/callback")
            .query("signature", &signature)
            .query("timestamp", &ts)
            .query("nonce", &"42")
            .query("openid", &OPENID)
            .content_type("text/xml")
            .body(body.to_owned())
            .send()
            .await;
        let status = resp.0.status().as_u16();
        (status, resp.0.into_body().into_string().await.unwrap())
    }
}

#[tokio::test]
async fn url_verification_echoes_only_a_correctly_signed_request() {
    let h = harness().await;
    let sig = url_signature(h.crypt.token(), "1700000000", "1320562132");
    let ok = h
        .client
        .get("/wechat/callback")
        .query("signature", &sig)
        .query("timestamp", &"1700000000")
        .query("nonce", &"1320562132")
        .query("echostr", &"echo-4711")
        .send()
        .await;
    ok.assert_status_is_ok();
    ok.assert_text("echo-4711").await;
    let bad = h
        .client
        .get("/wechat/callback")
        .query("signature", &"0000000000000000000000000000000000000000")
        .query("timestamp", &"1700000000")
        .query("nonce", &"1320562132")
        .query("echostr", &"echo-4711")
        .send()
        .await;
    bad.assert_status(poem::http::StatusCode::FORBIDDEN);
    h.t.cleanup().await;
}

#[tokio::test]
async fn safe_mode_subscribe_click_location_and_text_get_encrypted_answers_and_a_retry_changes_nothing() {
    let h = harness().await;
    let t0 = now_ms() / 1000;

    let welcome = h.ask(&event(PushEvent::Subscribe { event_key: None, ticket: None }, t0)).await.unwrap();
    assert!(welcome.contains("欢迎关注城市服务"), "{welcome}");

    let click = event(PushEvent::Click { event_key: "AIR_NEAR_ME".into() }, t0 + 1);
    let ask = h.ask(&click).await.unwrap();
    assert!(ask.contains("send your location"), "no location yet: {ask}");

    let location = event(PushEvent::Location { latitude: 31.2304, longitude: 121.4737, precision: 30.0 }, t0 + 2);
    assert_eq!(h.ask(&location).await, None, "location reports are silent");

    let air = h.ask(&event(PushEvent::Click { event_key: "AIR_NEAR_ME".into() }, t0 + 3)).await.unwrap();
    assert!(air.contains("AQI 42") && air.contains("Xinhua Road"), "{air}");
    assert_eq!(*h.services.air_asked.lock(), [(31.2304, 121.4737)]);

    let faq = h.ask(&text("what is the air quality today?", 9001)).await.unwrap();
    assert!(faq.contains("air quality near you"), "{faq}");

    let kept = text("路灯坏了三天了请修一下，谢谢！在XX小区门口", 9002);
    // "路灯" is a FAQ keyword: this one is answered from the FAQ, not kept.
    assert!(h.ask(&kept).await.unwrap().contains("随手拍上报"));
    let for_staff = text("我想表扬一下环卫工人", 9003);
    let ack = h.ask(&for_staff).await.unwrap();
    assert!(ack.contains("staff will reply"), "{ack}");

    // WeChat retries the same push: the same answer, no second conversation, no second air lookup.
    assert_eq!(h.ask(&for_staff).await.unwrap(), ack);
    assert_eq!(h.ask(&click).await.unwrap(), ask, "a retried click is answered as the first time");
    assert_eq!(store::open_conversations(&h.db).await.unwrap().len(), 1);
    assert_eq!(h.services.air_asked.lock().len(), 1);

    // Follower state lands in the store with the writer's next batch.
    h.state.followers.flush().await;
    let stored = store::follower(&h.db, OPENID).await.unwrap().expect("the follower is stored");
    assert!(stored.subscribed);
    assert_eq!(stored.location, Some((31.2304, 121.4737)));
    assert!(now_ms() - stored.last_interaction_at < 60_000, "{stored:?}");
    h.t.cleanup().await;
}

#[tokio::test]
async fn an_unfollow_is_stored_and_a_retry_whose_claim_was_lost_still_keeps_one_conversation() {
    let h = harness().await;
    let t0 = now_ms() / 1000;
    let message = text("请问周末办证大厅开门吗", 4242);
    assert!(h.ask(&message).await.unwrap().contains("staff will reply"));
    // As if Redis had lost the claim: the retry is handled again, but what it writes is keyed.
    h.t.platform.cache.delete("wechat:push:msg:4242").await.unwrap();
    assert!(h.ask(&message).await.unwrap().contains("staff will reply"));
    assert_eq!(store::open_conversations(&h.db).await.unwrap().len(), 1);

    assert_eq!(h.ask(&event(PushEvent::Unsubscribe, t0 + 1)).await, None);
    h.state.followers.flush().await;
    let stored = store::follower(&h.db, OPENID).await.unwrap().expect("the follower is stored");
    assert!(!stored.subscribed, "{stored:?}");
    h.t.cleanup().await;
}

#[tokio::test]
async fn twenty_concurrent_deliveries_of_one_push_have_one_effect() {
    let h = Arc::new(harness().await);
    let msg = text("I would like to thank the street cleaners", 777);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let h = h.clone();
        let msg = msg.clone();
        tasks.push(tokio::spawn(async move { h.post_safe(&msg).await.0 }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(store::open_conversations(&h.db).await.unwrap().len(), 1);
    let h = Arc::into_inner(h).unwrap();
    h.t.cleanup().await;
}

#[tokio::test]
async fn a_plaintext_push_with_a_good_signature_gets_a_plaintext_reply() {
    let h = harness().await;
    let ts = (now_ms() / 1000).to_string();
    let sig = url_signature(h.crypt.token(), &ts, "42");
    let (status, body) = h.post_plain(&text("hotline", 1).to_xml(), &ts, &sig).await;
    assert_eq!(status, 200);
    let reply = Reply::parse(&body).unwrap();
    assert!(matches!(reply.kind, ReplyKind::Text { content } if content.contains("12345")));
    h.t.cleanup().await;
}

#[tokio::test]
async fn each_callback_mode_takes_only_the_pushes_the_consoles_setting_sends() {
    use city_platform::config::CallbackMode;
    // (mode, plaintext push, safe-mode push): safe mode refuses plaintext, whose signature
    // covers the query only; plaintext mode refuses what it was not configured for.
    let expected =
        [(CallbackMode::Plaintext, 200, 400), (CallbackMode::Compatible, 200, 200), (CallbackMode::Safe, 403, 200)];
    for (i, (mode, plain_status, safe_status)) in expected.into_iter().enumerate() {
        let h = harness_with(|s| s.wechat.oa_callback_mode = Some(mode)).await;
        let now = (now_ms() / 1000).to_string();
        let signature = url_signature(h.crypt.token(), &now, "42");
        let id = 7000 + 10 * i as u64;
        let (status, body) = h.post_plain(&text("hello", id).to_xml(), &now, &signature).await;
        assert_eq!(status, plain_status, "{mode:?}, plaintext: {body}");
        assert_eq!(h.post_safe(&text("hello again", id + 1)).await.0, safe_status, "{mode:?}, safe");
        h.t.cleanup().await;
    }
}

#[tokio::test]
async fn bad_signatures_stale_timestamps_and_malformed_xml_are_refused_without_effects() {
    let h = harness().await;
    let now = (now_ms() / 1000).to_string();
    let body = text("hello", 5).to_xml();
    let good = url_signature(h.crypt.token(), &now, "42");

    assert_eq!(h.post_plain(&body, &now, "deadbeef").await.0, 403, "wrong signature");
    let old = (now_ms() / 1000 - 3600).to_string();
    let old_sig = url_signature(h.crypt.token(), &old, "42");
    assert_eq!(h.post_plain(&body, &old, &old_sig).await.0, 403, "stale timestamp");
    assert_eq!(h.post_plain("<xml><MsgType>text", &now, &good).await.0, 400, "truncated XML");
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><a>&e;</a></xml>"#;
    assert_eq!(h.post_plain(xxe, &now, &good).await.0, 400, "DTDs are refused");

    // Safe mode: a ciphertext for another appid, and a tampered ciphertext.
    let other = MessageCrypt::new(
        city_wechat::crypto::official_account::ServerToken::parse("anotheraccountstoken").unwrap(),
        city_wechat::crypto::official_account::EncodingAesKey::parse(h.t.settings.wechat.oa_aes_key.expose()).unwrap(),
        "wxsomeoneelse0000",
    );
    for encrypt in [other.encrypt(&body).unwrap(), "not-base64!!".to_owned()] {
        let sig = msg_signature(h.crypt.token(), &now, "42", &encrypt);
        let resp = h
            .client
            .post("/wechat/callback")
            .query("timestamp", &now)
            .query("nonce", &"42")
            .query("encrypt_type", &"aes")
            .query("msg_signature", &sig)
            .body(EncryptedEnvelope { to_user_name: None, encrypt }.to_xml())
            .send()
            .await;
        resp.assert_status(poem::http::StatusCode::BAD_REQUEST);
    }
    h.state.followers.flush().await;
    assert_eq!(store::follower(&h.db, OPENID).await.unwrap(), None, "nothing was recorded");
    h.t.cleanup().await;
}

#[tokio::test]
async fn an_unknown_message_type_is_answered_success() {
    let h = harness().await;
    let msg = push(PushKind::Other { msg_type: "hologram".into() }, now_ms() / 1000, Some(12));
    assert_eq!(h.ask(&msg).await, None);
    h.t.cleanup().await;
}

#[tokio::test]
async fn a_follower_who_never_signed_in_is_invited_and_a_linked_one_sees_the_bills() {
    let h = harness().await;
    let t0 = now_ms() / 1000;
    let invite = h.ask(&event(PushEvent::Click { event_key: "MY_UNPAID".into() }, t0)).await.unwrap();
    assert!(invite.contains("sign in once"), "{invite}");
    *h.services.linked.lock() = Some("citizen-1".into());
    let bills = h.ask(&event(PushEvent::Click { event_key: "MY_UNPAID".into() }, t0 + 1)).await.unwrap();
    assert!(bills.contains("Parking fine ¥200.00"), "{bills}");
    let other = h.ask(&event(PushEvent::Click { event_key: "HOTLINE".into() }, t0 + 2)).await.unwrap();
    assert!(other.contains("12345"));
    h.t.cleanup().await;
}

#[tokio::test]
async fn a_slow_service_gets_success_in_time_and_the_answer_follows_as_a_customer_service_message() {
    let h = harness().await;
    *h.services.delay.lock() = Duration::from_millis(2500);
    let msg = push(
        PushKind::Location { latitude: 31.2, longitude: 121.4, scale: 15, label: "People's Square".into() },
        now_ms() / 1000,
        Some(31337),
    );
    let started = Instant::now();
    assert_eq!(h.ask(&msg).await, None);
    assert!(started.elapsed() < Duration::from_millis(2400), "answered before the service did");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some((to, content)) = h.sent.0.lock().first().cloned() {
            assert_eq!(to, OPENID);
            assert!(content.contains("AQI 42"), "{content}");
            break;
        }
        assert!(Instant::now() < deadline, "no customer-service message");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.t.cleanup().await;
}

#[tokio::test]
async fn two_replicas_receiving_the_same_push_act_on_it_once() {
    let h = harness().await;
    // The second replica: its own Platform (its own Redis connection when distributed) over the
    // same store. Embedded there is one process by design, so it shares that process's cache.
    let platform = match &h.t.settings.redis_url {
        Some(_) => city_platform::Platform::build(h.t.settings.clone(), "replica-2", h.t.platform.shutdown.clone())
            .await
            .unwrap(),
        None => h.t.platform.clone(),
    };
    let deps = ChannelDeps {
        services: h.services.clone(),
        messages: h.sent.clone(),
        account_messages: Default::default(),
        reply_budget: Duration::from_millis(1500),
        mp_messages: h.sent.clone(),
        contacts: Arc::new(NoContacts),
        notify: city_notify::NotifySettings::from_settings(&h.t.settings),
    };
    let (_api, route, _db) = ChannelService::start_with(platform, deps).await.unwrap();
    let second = Arc::new(TestClient::new(route));

    // A sent location is answered from the air service: one lookup however many deliveries.
    let msg = push(
        PushKind::Location { latitude: 30.65, longitude: 104.06, scale: 15, label: "天府广场".into() },
        now_ms() / 1000,
        Some(5150),
    );
    let h = Arc::new(h);
    let mut tasks = Vec::new();
    for i in 0..10 {
        let (h, second, msg) = (h.clone(), second.clone(), msg.clone());
        tasks.push(tokio::spawn(async move {
            let replica = if i % 2 == 0 { &h.client } else { &*second };
            h.post_safe_to(replica, &msg).await.0
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    assert_eq!(h.services.air_asked.lock().len(), 1, "one effect across both replicas");
    let h = Arc::into_inner(h).unwrap();
    h.t.cleanup().await;
}
