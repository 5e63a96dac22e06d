//! Announcements from the Service Account end to end (issue #21): two editors, followers who
//! shared their location through the callback, the sandbox's broadcasts with WeChat's monthly
//! limit, and the `MASSSENDJOBFINISH` totals coming back through the callback.

use std::time::{Duration, Instant};

use city_platform::coords::LatLon;
use city_platform::time::now_ms;
use serde_json::{json, Value};

use crate::harness::{city_command, spawn_app, spawn_app_with, TestApp};

pub(crate) const PASSWORD: &str = "correct horse battery";
/// WGS-84 points in Jinjiang (510104) and Shuangliu (510116).
pub(crate) const JINJIANG: (f64, f64) = (30.6552, 104.0811);
pub(crate) const SHUANGLIU: (f64, f64) = (30.5550, 104.0991);
/// An 8×8 red PNG.
const PNG: &[u8] = &[
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 8, 0, 0, 0, 8, 8, 2, 0, 0, 0, 75, 109, 41,
    220, 0, 0, 0, 17, 73, 68, 65, 84, 120, 156, 99, 56, 33, 39, 135, 21, 49, 12, 45, 9, 0, 144, 191, 65, 1, 178, 159,
    62, 34, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
];

pub(crate) async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.http.request(method.parse().unwrap(), app.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A staff member with `role`, signed in. The command runs off the runtime thread, which also
/// serves the portal.
pub(crate) async fn staff(app: &TestApp, username: &str, role: &str) -> String {
    let settings = app.settings.clone();
    let args: Vec<String> =
        ["staff", "create", "--username", username, "--password", PASSWORD, "--role", role, "--district", "510104"]
            .iter()
            .map(|a| a.to_string())
            .collect();
    let out = tokio::task::spawn_blocking(move || {
        city_command(&settings, &args.iter().map(String::as_str).collect::<Vec<_>>()).output()
    })
    .await
    .unwrap()
    .expect("the city binary runs");
    assert!(out.status.success(), "city staff create {username}: {}", String::from_utf8_lossy(&out.stderr));
    let (status, session) =
        send(app, "POST", "/v1/staff/sessions", None, Some(json!({"username": username, "password": PASSWORD}))).await;
    assert_eq!(status, 200, "{session}");
    session["token"].as_str().unwrap().to_owned()
}

/// A safe-mode push to the callback, encrypted and signed as WeChat does it.
pub(crate) async fn push(app: &TestApp, openid: &str, create_time: i64, body: &str) {
    let crypt = city_channel::message_crypt(&app.settings).expect("the account's crypto");
    let ts = (now_ms() / 1000).to_string();
    let nonce = "424242";
    let xml = format!(
        "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>{body}</xml>"
    );
    // A push's msg_signature is computed as a reply's, so the reply encryptor seals it.
    let sealed = crypt.encrypt_reply(&xml, ts.parse().unwrap(), nonce).expect("encrypted");
    let envelope = format!(
        "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><Encrypt><![CDATA[{}]]></Encrypt></xml>",
        sealed.encrypt
    );
    let resp = app
        .http
        .post(app.url("/wechat/callback"))
        .query(&[
            ("timestamp", ts.as_str()),
            ("nonce", nonce),
            ("openid", openid),
            ("encrypt_type", "aes"),
            ("msg_signature", sealed.msg_signature.as_str()),
        ])
        .header("content-type", "text/xml")
        .body(envelope)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

/// `openid` follows (at WeChat, then through the callback) and, if given, shares a location.
pub(crate) async fn follower(app: &TestApp, openid: &str, at: Option<(f64, f64)>) {
    let (status, _) =
        send(app, "POST", "/sandbox/wechat/_test/oa/followers", None, Some(json!({ "openid": openid }))).await;
    assert_eq!(status, 200);
    let t = now_ms() / 1000;
    push(app, openid, t, "<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[]]></EventKey>").await;
    if let Some((lat, lon)) = at {
        let gcj = LatLon::new(lat, lon).unwrap().to_gcj02();
        let body = format!(
            "<Event><![CDATA[LOCATION]]></Event><Latitude>{}</Latitude><Longitude>{}</Longitude><Precision>30.0</Precision>",
            gcj.lat(),
            gcj.lon()
        );
        push(app, openid, t + 1, &body).await;
    }
}

pub(crate) async fn cover(app: &TestApp, token: &str) -> String {
    let boundary = "----announcement-cover";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"cover\"; filename=\"cover.png\"\r\nContent-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(PNG);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let resp = app
        .http
        .post(app.url("/v1/announcements/covers"))
        .bearer_auth(token)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    v["cover_media_id"].as_str().unwrap().to_owned()
}

/// A new announcement by `author` (to `district`, or everyone).
pub(crate) async fn write(app: &TestApp, author: &str, title: &str, district: Option<&str>) -> String {
    let media = cover(app, author).await;
    let mut body = json!({"articles": [
        {"title": title, "digest": "Water off 9:00-17:00", "body": "Mains work on Chunxi Road.\nKeep water ready.", "cover_media_id": media},
        {"title": "How to store water", "body": "Fill clean containers.", "cover_media_id": media},
    ]});
    if let Some(d) = district {
        body["district"] = json!(d);
    }
    let (status, a) = send(app, "POST", "/v1/announcements", Some(author), Some(body)).await;
    assert_eq!(status, 201, "{a}");
    assert_eq!(a["status"], "pending");
    a["id"].as_str().unwrap().to_owned()
}

/// Broadcasts (not previews) the sandbox delivered to `openid`.
pub(crate) async fn broadcasts_to(app: &TestApp, openid: &str) -> Vec<Value> {
    let (_, list) = send(app, "GET", &format!("/sandbox/wechat/_test/mass/received?touser={openid}"), None, None).await;
    list.as_array().unwrap().iter().filter(|m| m["preview"] != true).cloned().collect()
}

/// The announcement once WeChat's job totals are recorded.
async fn with_totals(app: &TestApp, token: &str, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, a) = send(app, "GET", &format!("/v1/announcements/{id}"), Some(token), None).await;
        assert_eq!(status, 200, "{a}");
        if a.get("totals").is_some() {
            return a;
        }
        assert!(Instant::now() < deadline, "no MASSSENDJOBFINISH recorded: {a}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_district_announcement_is_approved_by_a_second_editor_and_reaches_exactly_the_districts_followers_once() {
    let app = spawn_app().await;
    let author = staff(&app, "ed.author", "editor").await;
    let approver = staff(&app, "ed.approver", "editor").await;
    let (_, d) = app.get_json(&format!("/v1/districts/locate?lat={}&lon={}", SHUANGLIU.0, SHUANGLIU.1)).await;
    assert_eq!(d["code"], "510116", "the test's second point");
    follower(&app, "oAnnJinjiang0000000000000001", Some(JINJIANG)).await;
    follower(&app, "oAnnJinjiang0000000000000002", Some(JINJIANG)).await;
    follower(&app, "oAnnShuangliu000000000000001", Some(SHUANGLIU)).await;
    follower(&app, "oAnnNowhere00000000000000001", None).await;

    let id = write(&app, &author, "Water cut in Jinjiang", Some("510104")).await;
    // Unapproved: not sent.
    let (status, p) = send(&app, "POST", &format!("/v1/announcements/{id}/send"), Some(&author), None).await;
    assert_eq!((status, p["type"].as_str()), (409, Some("/problems/announcement-not-approved")), "{p}");
    // The author cannot approve their own.
    let (status, p) = send(&app, "POST", &format!("/v1/announcements/{id}/approve"), Some(&author), None).await;
    assert_eq!((status, p["type"].as_str()), (403, Some("/problems/own-announcement")), "{p}");

    // A preview to the editor's own openid (a follower); a stranger's is refused.
    let preview = |openid: &str| json!({ "openid": openid });
    let (status, v) = send(
        &app,
        "POST",
        &format!("/v1/announcements/{id}/preview"),
        Some(&author),
        Some(preview("oAnnNowhere00000000000000001")),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (status, p) = send(
        &app,
        "POST",
        &format!("/v1/announcements/{id}/preview"),
        Some(&author),
        Some(preview("oAnnNotFollowing000000000001")),
    )
    .await;
    assert_eq!((status, p["errors"][0]["field"].as_str()), (422, Some("openid")), "{p}");

    let (status, a) = send(&app, "POST", &format!("/v1/announcements/{id}/approve"), Some(&approver), None).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!((a["status"].as_str(), a["approver"].as_str()), (Some("approved"), Some("ed.approver")));
    let (status, p) = send(&app, "POST", &format!("/v1/announcements/{id}/approve"), Some(&approver), None).await;
    assert_eq!((status, p["type"].as_str()), (409, Some("/problems/announcement-decided")), "{p}");

    // A double click: two sends at once, one broadcast.
    let path = format!("/v1/announcements/{id}/send");
    let (first, second) =
        tokio::join!(send(&app, "POST", &path, Some(&approver), None), send(&app, "POST", &path, Some(&author), None));
    assert_eq!((first.0, second.0), (200, 200), "{first:?} {second:?}");
    let (_, again) = send(&app, "POST", &path, Some(&author), None).await;
    assert_eq!(again["status"], "sent", "{again}");

    for openid in ["oAnnJinjiang0000000000000001", "oAnnJinjiang0000000000000002"] {
        assert_eq!(broadcasts_to(&app, openid).await.len(), 1, "{openid} gets it once");
    }
    for openid in ["oAnnShuangliu000000000000001", "oAnnNowhere00000000000000001"] {
        assert!(broadcasts_to(&app, openid).await.is_empty(), "{openid} is not in Jinjiang");
    }

    let done = with_totals(&app, &author, &id).await;
    assert_eq!(done["status"], "sent");
    assert_eq!(done["district"], "510104");
    let totals = &done["totals"];
    assert_eq!((totals["total_count"].as_i64(), totals["sent_count"].as_i64()), (Some(2), Some(2)), "{done}");
    assert_eq!(totals["error_count"], 0);

    let (_, history) = send(&app, "GET", "/v1/announcements", Some(&approver), None).await;
    assert_eq!(history.as_array().map(Vec::len), Some(1), "{history}");

    // The audit log has who wrote, approved and sent it.
    let admin = staff(&app, "ann.admin", "admin").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, entries) = send(&app, "GET", "/v1/staff/audit?service=channel", Some(&admin), None).await;
        let target = format!("announcement:{id}");
        let by = |action: &str| {
            entries
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["action"] == action && e["target"] == target.as_str())
                .cloned()
        };
        let found = (by("create_announcement"), by("approve_announcement"), by("send_announcement"));
        if let (Some(created), Some(approved), Some(sent)) = &found {
            assert_eq!(created["actor_name"], "ed.author");
            assert_eq!(approved["actor_name"], "ed.approver");
            assert!(sent["actor_name"] == "ed.approver" || sent["actor_name"] == "ed.author", "{sent}");
            break;
        }
        assert!(Instant::now() < deadline, "not audited: {entries}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_fifth_broadcast_in_a_month_is_refused_for_followers_who_had_four() {
    let app = spawn_app().await;
    let author = staff(&app, "ed.five", "editor").await;
    let approver = staff(&app, "ed.checker", "editor").await;
    let early = "oAnnEarlyFollower00000000001";
    follower(&app, early, None).await;

    let mut ids = Vec::new();
    for n in 1..=5 {
        let id = write(&app, &author, &format!("Notice {n}"), None).await;
        let (status, _) = send(&app, "POST", &format!("/v1/announcements/{id}/approve"), Some(&approver), None).await;
        assert_eq!(status, 200);
        ids.push(id);
    }
    for id in &ids[..4] {
        let (status, a) = send(&app, "POST", &format!("/v1/announcements/{id}/send"), Some(&author), None).await;
        assert_eq!((status, a["status"].as_str()), (200, Some("sent")), "{a}");
    }
    assert_eq!(broadcasts_to(&app, early).await.len(), 4);

    // The fifth: the only follower had four this month, so WeChat refuses it.
    let fifth = &ids[4];
    let (status, p) = send(&app, "POST", &format!("/v1/announcements/{fifth}/send"), Some(&author), None).await;
    assert_eq!((status, p["type"].as_str()), (409, Some("/problems/broadcast-quota-used")), "{p}");
    let (_, a) = send(&app, "GET", &format!("/v1/announcements/{fifth}"), Some(&author), None).await;
    assert_eq!(a["status"], "approved", "it may be sent later: {a}");

    // A new follower may still receive it; the one who had four does not.
    let late = "oAnnLateFollower000000000001";
    follower(&app, late, None).await;
    let (status, a) = send(&app, "POST", &format!("/v1/announcements/{fifth}/send"), Some(&author), None).await;
    assert_eq!((status, a["status"].as_str()), (200, Some("sent")), "{a}");
    assert_eq!(broadcasts_to(&app, early).await.len(), 4);
    assert_eq!(broadcasts_to(&app, late).await.len(), 1);
    let done = with_totals(&app, &author, fifth).await;
    let totals = &done["totals"];
    assert_eq!((totals["total_count"].as_i64(), totals["filter_count"].as_i64()), (Some(2), Some(1)), "{done}");
    app.stop().await;
}

#[tokio::test]
async fn only_editors_write_approve_and_send_announcements() {
    let app = spawn_app().await;
    let author = staff(&app, "ed.only", "editor").await;
    let clerk = staff(&app, "clerk.only", "clerk").await;
    let citizen = app.citizen_token("e2e-announcements-citizen").await;
    let id = write(&app, &author, "Heat warning", None).await;

    let article = json!({"articles": [{"title": "t", "body": "b", "cover_media_id": "MEDIA_x"}]});
    let routes: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/v1/announcements".into(), None),
        ("POST", "/v1/announcements".into(), Some(article.clone())),
        ("GET", format!("/v1/announcements/{id}"), None),
        ("POST", format!("/v1/announcements/{id}/approve"), None),
        ("POST", format!("/v1/announcements/{id}/send"), None),
        ("POST", format!("/v1/announcements/{id}/preview"), Some(json!({"openid": "oAnyone"}))),
    ];
    for (method, path, body) in &routes {
        let (status, _) = send(&app, method, path, None, body.clone()).await;
        assert_eq!(status, 401, "{method} {path} without a credential");
        for (who, token) in [("a citizen", &citizen), ("a clerk", &clerk)] {
            let (status, p) = send(&app, method, path, Some(token), body.clone()).await;
            assert_eq!(status, 403, "{method} {path} by {who}: {p}");
        }
    }
    let (_, a) = send(&app, "GET", &format!("/v1/announcements/{id}"), Some(&author), None).await;
    assert_eq!(a["status"], "pending", "nothing the others did changed it");

    // Bad input names the field.
    let seven: Vec<Value> = (0..7).map(|_| json!({"title": "t", "body": "b", "cover_media_id": "MEDIA_x"})).collect();
    let (status, p) = send(&app, "POST", "/v1/announcements", Some(&author), Some(json!({ "articles": seven }))).await;
    assert_eq!((status, p["errors"][0]["field"].as_str()), (422, Some("articles")), "{p}");
    let (status, p) = send(
        &app,
        "POST",
        "/v1/announcements",
        Some(&author),
        Some(json!({"articles": [{"title": "t", "body": "b", "cover_media_id": "MEDIA_x"}], "district": "999999"})),
    )
    .await;
    assert_eq!((status, p["errors"][0]["field"].as_str()), (422, Some("district")), "{p}");
    let (status, _) = send(&app, "GET", "/v1/announcements/no-such-id", Some(&author), None).await;
    assert_eq!(status, 404);
    let boundary = "----not-an-image";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"cover\"; filename=\"x.svg\"\r\n\r\n<svg/>\r\n--{boundary}--\r\n"
    );
    let resp = app
        .http
        .post(app.url("/v1/announcements/covers"))
        .bearer_auth(&author)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422, "a cover that is no image is refused before WeChat");
    app.stop().await;
}

#[tokio::test]
async fn the_article_and_monthly_limits_are_settings_the_channel_and_the_demos_sandbox_follow() {
    let app = spawn_app_with(|s| {
        s.channel.announcements.max_articles = 1;
        s.channel.announcements.monthly_broadcasts = 2;
    })
    .await;
    let author = staff(&app, "ed.limits", "editor").await;
    let media = cover(&app, &author).await;
    let article = json!({"title": "Heat warning", "body": "Stay indoors 12:00-16:00.", "cover_media_id": media});
    let body = json!({ "articles": [article.clone(), article.clone()] });
    let (status, p) = send(&app, "POST", "/v1/announcements", Some(&author), Some(body)).await;
    assert_eq!((status, p["errors"][0]["field"].as_str()), (422, Some("articles")), "two over a limit of one: {p}");
    let (status, a) =
        send(&app, "POST", "/v1/announcements", Some(&author), Some(json!({ "articles": [article] }))).await;
    assert_eq!(status, 201, "one is within the limit: {a}");
    // The sandbox answers its current limits; the demo's start from the same settings.
    let (status, limits) = send(&app, "POST", "/sandbox/wechat/_test/mass/limits", None, Some(json!({}))).await;
    assert_eq!((status, limits["monthly"].as_u64(), limits["articles"].as_u64()), (200, Some(2), Some(1)), "{limits}");
    app.stop().await;
}
