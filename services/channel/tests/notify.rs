//! Notification delivery against a real SMTP server on loopback (lettre's real SMTP transport,
//! a tiny server speaking enough SMTP), plus subscribe-message authorizations. On both backends.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use city_channel::{ChannelDeps, ChannelService};
use city_notify::wechat::{WechatApiError, WechatMessages};
use city_notify::{Contact, Contacts, Notification, Notifier, NotifySettings};
use city_platform::auth::{Citizen, Principal};
use city_platform::testing::{test_platform, StaticAuthenticator, TestPlatform};
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// How the SMTP server answers `MAIL FROM`.
#[derive(Clone, Copy)]
enum Mood {
    Accept,
    /// 451: try again later.
    Busy,
}

/// A minimal SMTP server: 220 / EHLO / MAIL / RCPT / DATA / QUIT; keeps each message's DATA.
struct SmtpSink {
    port: u16,
    received: Arc<Mutex<Vec<String>>>,
    attempts: Arc<Mutex<u32>>,
}

async fn smtp_sink(mood: Mood) -> SmtpSink {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = Arc::new(Mutex::new(Vec::new()));
    let attempts = Arc::new(Mutex::new(0));
    let (rx, at) = (received.clone(), attempts.clone());
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (rx, at) = (rx.clone(), at.clone());
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.ok();
                while let Ok(Some(line)) = lines.next_line().await {
                    let upper = line.to_ascii_uppercase();
                    let answer: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        b"250 sink\r\n"
                    } else if upper.starts_with("MAIL") {
                        *at.lock() += 1;
                        match mood {
                            Mood::Accept => b"250 ok\r\n",
                            Mood::Busy => b"451 try later\r\n",
                        }
                    } else if upper.starts_with("RCPT") || upper.starts_with("RSET") || upper.starts_with("NOOP") {
                        b"250 ok\r\n"
                    } else if upper.starts_with("DATA") {
                        write.write_all(b"354 end with .\r\n").await.ok();
                        let mut data = String::new();
                        while let Ok(Some(l)) = lines.next_line().await {
                            if l == "." {
                                break;
                            }
                            data.push_str(&l);
                            data.push('\n');
                        }
                        rx.lock().push(data);
                        b"250 queued\r\n"
                    } else if upper.starts_with("QUIT") {
                        write.write_all(b"221 bye\r\n").await.ok();
                        break;
                    } else {
                        b"502 not implemented\r\n"
                    };
                    write.write_all(answer).await.ok();
                }
            });
        }
    });
    SmtpSink { port, received, attempts }
}

struct FixedContacts;

#[async_trait]
impl Contacts for FixedContacts {
    async fn contact(&self, _citizen_id: &str) -> Result<Contact, String> {
        Ok(Contact {
            email: Some("li.lei@example.cn".into()),
            oa_openid: Some("oOA0000000000000000000000001".into()),
            mp_openid: Some("oMP0000000000000000000000001".into()),
            ..Contact::default()
        })
    }
}

/// Subscribe and template messages "sent": (kind, openid, body).
#[derive(Default)]
struct Sent(Mutex<Vec<(String, String, Value)>>);

#[async_trait]
impl WechatMessages for Sent {
    async fn send_custom_text(&self, openid: &str, content: &str) -> Result<(), WechatApiError> {
        self.0.lock().push(("custom".into(), openid.into(), json!(content)));
        Ok(())
    }
    async fn send_template(&self, openid: &str, body: Value) -> Result<(), WechatApiError> {
        self.0.lock().push(("template".into(), openid.into(), body));
        Ok(())
    }
    async fn send_subscribe(&self, openid: &str, body: Value) -> Result<(), WechatApiError> {
        self.0.lock().push(("subscribe".into(), openid.into(), body));
        Ok(())
    }
}

fn notification(id: &str, channels: &[&str]) -> Notification {
    Notification {
        notification_id: id.into(),
        citizen_id: "citizen-1".into(),
        kind: "booking.cancelled".into(),
        title_zh: "预约已取消".into(),
        title_en: "Appointment cancelled".into(),
        body_zh: "您 11 月 30 日的心内科预约已取消。".into(),
        body_en: "Your cardiology appointment on 30 November was cancelled.".into(),
        data: json!({"when": "2026-11-30 09:30"}),
        channels: channels.iter().map(|c| (*c).to_owned()).collect(),
    }
}

async fn notifier(t: &TestPlatform, smtp_port: u16, sent: Arc<Sent>) -> (Notifier, city_platform::Db) {
    // Through the `notify` settings section, as `CITY_NOTIFY__SMTP_URL` would set it.
    let mut configured = t.settings.clone();
    configured.notify.smtp_url = Some(city_platform::config::Secret::new(format!("smtp://127.0.0.1:{smtp_port}")));
    configured.notify.retry_secs = vec![0, 0];
    let settings = NotifySettings::from_settings(&configured);
    assert_eq!(settings.outbox_dir, t.settings.data_dir.join("outbox"));
    // The service runs its own delivery loop beside the test's notifier: both get the same
    // WeChat stand-in and contacts, so whichever claims a delivery does the same thing.
    let deps = ChannelDeps {
        notify: settings.clone(),
        messages: sent.clone(),
        mp_messages: sent.clone(),
        contacts: Arc::new(FixedContacts),
        ..ChannelDeps::from_settings(&t.platform)
    };
    let (_api, _route, db) = ChannelService::start_with(t.platform.clone(), deps).await.unwrap();
    t.track(&db);
    let n = Notifier::new(db.clone(), settings, sent.clone(), sent, Arc::new(FixedContacts)).unwrap();
    (n, db)
}

/// The rows of a notification once none is pending: the service's own delivery loop may have
/// claimed one, and its record follows the send.
async fn settled(n: &Notifier, id: &str) -> Vec<city_notify::Delivery> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = n.deliveries(id).await.unwrap();
        if rows.iter().all(|r| r.status != "pending") || Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs delivery passes until `done` or a deadline.
async fn deliver_until(n: &Notifier, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        n.deliver_due().await.unwrap();
        assert!(Instant::now() < deadline, "delivery did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_email_reaches_a_real_smtp_server_once_even_when_the_event_arrives_twice() {
    let t = test_platform().await;
    let sink = smtp_sink(Mood::Accept).await;
    let (n, _db) = notifier(&t, sink.port, Arc::new(Sent::default())).await;
    let note = notification("booking:b1:cancelled", &["email"]);
    assert_eq!(n.accept(&note).await.unwrap(), 1);
    assert_eq!(n.accept(&note).await.unwrap(), 0, "the second event plans nothing");
    deliver_until(&n, || !sink.received.lock().is_empty()).await;
    n.deliver_due().await.unwrap();
    let mails = sink.received.lock().clone();
    assert_eq!(mails.len(), 1);
    assert!(mails[0].contains("To: li.lei@example.cn"), "{}", mails[0]);
    assert!(mails[0].contains("Appointment cancelled"), "{}", mails[0]);
    let rows = settled(&n, "booking:b1:cancelled").await;
    assert_eq!((rows[0].status.as_str(), rows[0].attempts), ("sent", 1));
    assert_eq!(sink.received.lock().len(), 1, "one mail, whoever sent it");
    t.cleanup().await;
}

#[tokio::test]
async fn a_busy_smtp_server_is_retried_and_then_the_delivery_is_dead_lettered() {
    let t = test_platform().await;
    let sink = smtp_sink(Mood::Busy).await;
    let (n, db) = notifier(&t, sink.port, Arc::new(Sent::default())).await;
    n.accept(&notification("booking:b2:cancelled", &["email"])).await.unwrap();
    let mut status = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while status != "dead" {
        n.deliver_due().await.unwrap();
        status = n.deliveries("booking:b2:cancelled").await.unwrap()[0].status.clone();
        assert!(Instant::now() < deadline, "never dead-lettered");
    }
    // One first attempt and two retries (the schedule has two entries).
    assert_eq!(*sink.attempts.lock(), 3);
    let dead: i64 =
        sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM notify_dead_letters WHERE notification_id = $1")
            .bind("booking:b2:cancelled")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!(dead, 1);
    t.cleanup().await;
}

#[tokio::test]
async fn a_subscribe_message_goes_out_only_with_an_authorization_and_uses_it() {
    let t = test_platform().await;
    let sink = smtp_sink(Mood::Accept).await;
    let sent = Arc::new(Sent::default());
    let (n, db) = notifier(&t, sink.port, sent.clone()).await;

    // Without an authorization: dead-lettered at once, nothing sent.
    n.accept(&notification("booking:b3:cancelled", &["miniprogram", "oa_template"])).await.unwrap();
    deliver_until(&n, || sent.0.lock().len() == 1).await;
    n.deliver_due().await.unwrap();
    let rows = settled(&n, "booking:b3:cancelled").await;
    let status: Vec<(&str, &str)> = rows.iter().map(|r| (r.channel.as_str(), r.status.as_str())).collect();
    assert_eq!(status, [("miniprogram", "dead"), ("oa_template", "sent")]);
    assert_eq!(sent.0.lock()[0].2["data"]["thing1"]["value"], "预约已取消");

    // The citizen accepts the template in the Mini Program; the next notification uses it.
    // Its delivery loop gets the same stand-ins as the test's notifier (see `notifier`).
    let deps = ChannelDeps {
        messages: sent.clone(),
        mp_messages: sent.clone(),
        contacts: Arc::new(FixedContacts),
        ..ChannelDeps::from_settings(&t.platform)
    };
    let (api, _route, _db2) = ChannelService::start_with(t.platform.clone(), deps).await.unwrap();
    let auth = StaticAuthenticator::new();
    auth.with_token("tok", Principal::Citizen(Citizen { citizen_id: "citizen-1".into(), session_id: "s".into() }));
    let client = t.client(api, &db, auth);
    let resp = client
        .post("/wechat/subscriptions")
        .header("Authorization", "Bearer tok")
        .body_json(&json!({"template_ids": ["TPL_MP_BOOKING_0001"]}))
        .send()
        .await;
    resp.assert_status_is_ok();
    resp.assert_json(json!([{"template_id": "TPL_MP_BOOKING_0001", "remaining": 1}])).await;
    let bad = client
        .post("/wechat/subscriptions")
        .header("Authorization", "Bearer tok")
        .body_json(&json!({"template_ids": ["bad id!"]}))
        .send()
        .await;
    bad.assert_status(poem::http::StatusCode::UNPROCESSABLE_ENTITY);

    n.accept(&notification("booking:b4:cancelled", &["miniprogram"])).await.unwrap();
    deliver_until(&n, || sent.0.lock().iter().any(|(kind, _, _)| kind == "subscribe")).await;
    n.accept(&notification("booking:b5:cancelled", &["miniprogram"])).await.unwrap();
    n.deliver_due().await.unwrap();
    let rows = settled(&n, "booking:b5:cancelled").await;
    assert_eq!(rows[0].status, "dead", "the one authorization was used up");
    t.cleanup().await;
}

/// A citizen who chose e-mail alone for cancellations (issue #23), with an unsubscribe token.
struct ChoosingContacts;

#[async_trait]
impl Contacts for ChoosingContacts {
    async fn contact(&self, citizen_id: &str) -> Result<Contact, String> {
        let mut c = FixedContacts.contact(citizen_id).await?;
        c.preferences.insert("booking.cancelled".into(), vec!["email".into()]);
        c.unsubscribe_token = Some("citizen-1.signature".into());
        Ok(c)
    }
}

#[tokio::test]
async fn the_citizens_channels_win_and_each_mail_carries_a_one_click_unsubscribe() {
    let t = test_platform().await;
    let sink = smtp_sink(Mood::Accept).await;
    let sent = Arc::new(Sent::default());
    let (_, db) = notifier(&t, sink.port, sent.clone()).await;
    let mut configured = t.settings.clone();
    configured.notify.smtp_url = Some(city_platform::config::Secret::new(format!("smtp://127.0.0.1:{}", sink.port)));
    let settings = NotifySettings::from_settings(&configured);
    let n = Notifier::new(db, settings, sent.clone(), sent.clone(), Arc::new(ChoosingContacts)).unwrap();

    // The sender asked for WeChat; the citizen chose e-mail for this kind.
    let note = notification("booking:b9:cancelled", &["miniprogram", "oa_template"]);
    assert_eq!(n.accept(&note).await.unwrap(), 1);
    deliver_until(&n, || !sink.received.lock().is_empty()).await;
    let rows = n.deliveries("booking:b9:cancelled").await.unwrap();
    assert_eq!(rows.iter().map(|r| r.channel.as_str()).collect::<Vec<_>>(), ["email"]);
    assert!(sent.0.lock().is_empty(), "nothing went by WeChat");
    let mail = sink.received.lock()[0].clone();
    let base = configured.public_base_url();
    let expected =
        format!("List-Unsubscribe: <{base}/v1/me/email/unsubscribe?token=citizen-1.signature&kind=booking.cancelled>");
    assert!(mail.contains(&expected), "{mail}");
    assert!(mail.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"), "{mail}");

    // A kind the citizen made no choice for goes where the sender said.
    let mut other = notification("booking:b9:booked", &["oa_template"]);
    other.kind = "booking.booked".into();
    assert_eq!(n.accept(&other).await.unwrap(), 1);
    assert_eq!(n.deliveries("booking:b9:booked").await.unwrap()[0].channel, "oa_template");
    t.cleanup().await;
}
