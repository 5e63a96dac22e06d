//! The editors' announcements page in Chromium (issue #21): one editor writes a district
//! announcement with a cover and previews it to their own WeChat, cannot approve it
//! themselves; a second editor approves and sends it; the history shows WeChat's totals and the
//! sandbox delivered it to the district's follower once.

use std::time::{Duration, Instant};

use city_platform::coords::LatLon;
use city_platform::time::now_ms;
use serde_json::{json, Value};

use crate::browser::{self, Browser};
use crate::harness::{spawn_app, TestApp};
use crate::{PASSWORD, PNG};

const FOLLOWER: &str = "oConsoleAnnJinjiang000000001";

fn editor(app: &TestApp, username: &str) {
    app.city(&["staff", "create", "--username", username, "--password", PASSWORD, "--role", "editor"]);
}

/// A safe-mode push from `openid` to the callback, as WeChat seals it.
async fn push(app: &TestApp, openid: &str, create_time: i64, body: &str) {
    let crypt = city_channel::message_crypt(&app.settings).expect("the account's crypto");
    let ts = now_ms() / 1000;
    let nonce = "515151";
    let xml = format!(
        "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>{body}</xml>"
    );
    let sealed = crypt.encrypt_reply(&xml, ts, nonce).expect("encrypted");
    let envelope = format!(
        "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><Encrypt><![CDATA[{}]]></Encrypt></xml>",
        sealed.encrypt
    );
    let resp = app
        .http
        .post(app.url("/wechat/callback"))
        .query(&[
            ("timestamp", ts.to_string().as_str()),
            ("nonce", nonce),
            ("openid", openid),
            ("encrypt_type", "aes"),
            ("msg_signature", sealed.msg_signature.as_str()),
        ])
        .body(envelope)
        .send()
        .await
        .expect("the portal answers");
    assert_eq!(resp.status(), 200);
}

/// A follower (at WeChat and through the callback) last located on Chunxi Road.
async fn follower_in_jinjiang(app: &TestApp) {
    let resp = app
        .http
        .post(app.url("/sandbox/wechat/_test/oa/followers"))
        .json(&json!({ "openid": FOLLOWER }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let t = now_ms() / 1000;
    push(app, FOLLOWER, t, "<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[]]></EventKey>").await;
    let gcj = LatLon::new(crate::CHUNXI.0, crate::CHUNXI.1).unwrap().to_gcj02();
    let location = format!(
        "<Event><![CDATA[LOCATION]]></Event><Latitude>{}</Latitude><Longitude>{}</Longitude><Precision>30.0</Precision>",
        gcj.lat(),
        gcj.lon()
    );
    push(app, FOLLOWER, t + 1, &location).await;
}

/// Clicks `css` and waits for the next page's banner (the old one is removed first, so the
/// wait cannot end on it).
async fn submit(b: &Browser, css: &str) -> String {
    b.client.execute("document.getElementById('ann-banner')?.remove(); return true;", vec![]).await.unwrap();
    b.click(css).await;
    b.text("#ann-banner").await
}

async fn received(app: &TestApp) -> Vec<Value> {
    let url = app.url(&format!("/sandbox/wechat/_test/mass/received?touser={FOLLOWER}"));
    let list: Value = app.http.get(url).send().await.unwrap().json().await.unwrap();
    list.as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn an_editor_writes_a_district_announcement_a_second_editor_approves_and_sends_it_and_the_history_shows_the_totals(
) {
    if !browser::available() {
        return;
    }
    let app = spawn_app().await;
    editor(&app, "ann.author");
    editor(&app, "ann.approver");
    follower_in_jinjiang(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let cover = dir.path().join("cover.png");
    std::fs::write(&cover, PNG).unwrap();

    // The author writes it, with a cover, to Jinjiang.
    let author = Browser::start(&app.base).await;
    author.sign_in("ann.author", PASSWORD).await;
    author.goto("/console/announcements").await;
    author.assert_accessible("announcements").await;
    author.fill("#ann-title", "锦江区停水通知").await;
    author.fill("#ann-digest", "12月5日 9:00-17:00").await;
    author.fill("#ann-body", "春熙路一带管网维修。\n请提前储水。").await;
    author.find("#ann-cover").await.send_keys(cover.to_str().unwrap()).await.expect("the cover is chosen");
    // A second article, without a cover of its own: it takes the first one's.
    author.click("#ann-more-1 summary").await;
    author.fill("#ann-title-1", "如何储水").await;
    author.fill("#ann-body-1", "用干净的容器装水。").await;
    author.choose("#ann-district", "510104").await;
    submit(&author, "#ann-save").await;
    let pending = author.find("article[data-status=\"pending\"]").await;
    let text = pending.text().await.unwrap();
    assert!(text.contains("锦江区停水通知") && text.contains("如何储水"), "both articles: {text}");

    // A preview to the author's own WeChat; approving it themselves is refused.
    author.fill("article[data-status=\"pending\"] input[name=\"openid\"]", FOLLOWER).await;
    submit(&author, "article[data-status=\"pending\"] .ann-preview").await;
    assert_eq!(received(&app).await.iter().filter(|m| m["preview"] == true).count(), 1, "the preview arrived");
    let refusal = submit(&author, "article[data-status=\"pending\"] .ann-approve").await;
    assert!(refusal.to_lowercase().contains("own") || refusal.contains("自己"), "{refusal}");
    author.screenshot("announcements-pending").await;
    author.close().await;

    // The second editor approves and sends it.
    let approver = Browser::start(&app.base).await;
    approver.sign_in("ann.approver", PASSWORD).await;
    approver.goto("/console/announcements").await;
    submit(&approver, "article[data-status=\"pending\"] .ann-approve").await;
    approver.find("article[data-status=\"approved\"]").await;
    submit(&approver, "article[data-status=\"approved\"] .ann-send").await;
    approver.find("#ann-history tr[data-status=\"sent\"]").await;

    // WeChat's totals come back through the callback; the history shows them.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        approver.goto("/console/announcements").await;
        let totals = approver.text("#ann-history tr[data-status=\"sent\"] .ann-totals").await;
        if totals.starts_with("1 / 1") {
            break;
        }
        assert!(Instant::now() < deadline, "no totals shown: {totals}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    approver.assert_accessible("announcements history").await;
    approver.screenshot("announcements-history").await;
    assert_eq!(received(&app).await.iter().filter(|m| m["preview"] != true).count(), 1, "one broadcast");

    // An urgent one: marked on the form, approved and sent, it is no broadcast; the history
    // shows how many citizens it went to (none are concerned in this test).
    let urgent = Browser::start(&app.base).await;
    urgent.sign_in("ann.author", PASSWORD).await;
    urgent.goto("/console/announcements").await;
    urgent.fill("#ann-title", "燃气泄漏").await;
    urgent.fill("#ann-body", "春熙路燃气管道泄漏，请绕行。").await;
    urgent.find("#ann-cover").await.send_keys(cover.to_str().unwrap()).await.expect("the cover is chosen");
    urgent.choose("#ann-district", "510104").await;
    urgent.click("#ann-urgent").await;
    submit(&urgent, "#ann-save").await;
    let pending = urgent.text("article[data-status=\"pending\"] h3").await;
    assert!(pending.contains("燃气泄漏") && (pending.contains("紧急") || pending.contains("Urgent")), "{pending}");
    urgent.close().await;
    approver.goto("/console/announcements").await;
    submit(&approver, "article[data-status=\"pending\"] .ann-approve").await;
    submit(&approver, "article[data-status=\"approved\"] .ann-send").await;
    let rows = approver.text("#ann-history").await;
    assert!(rows.contains("燃气泄漏"), "{rows}");
    let urgent_row = rows.lines().find(|l| l.contains("燃气泄漏")).unwrap_or_default().to_owned();
    assert!(urgent_row.ends_with(": 0"), "sent to nobody concerned: {rows}");
    assert_eq!(received(&app).await.iter().filter(|m| m["preview"] != true).count(), 1, "still one broadcast");
    approver.close().await;
    app.stop().await;
}
