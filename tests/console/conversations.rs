//! The agents' pages in Chromium (issue #20): a follower's message the assistant cannot answer
//! reaches the inbox without a reload; the agent accepts it, sees the follower's context,
//! replies in free text and with a canned reply (the sandbox's customer-service API receives
//! both), transfers it to another group with a note; online, the next conversation is theirs at
//! once, a reply outside WeChat's 48-hour window is refused on the page and the template goes
//! out instead; they close it. A clerk without the agent role gets no conversations page.

use city_platform::time::now_ms;
use serde_json::{json, Value};

use crate::browser::{self, Browser};
use crate::harness::{spawn_app_with, TestApp};
use crate::PASSWORD;

const GH: &str = "gh_0123456789ab";
const SHOTS: &str = "/var/tmp/shots";

/// Agents on duty around the clock, so the test does not depend on the hour it runs.
async fn app() -> TestApp {
    spawn_app_with(|s| {
        let c = &mut s.channel.conversations;
        c.opens = "00:00".into();
        c.closes = "23:59".into();
        c.days = vec![1, 2, 3, 4, 5, 6, 7];
    })
    .await
}

fn staff(app: &TestApp, username: &str, role: &str) {
    app.city(&["staff", "create", "--username", username, "--password", PASSWORD, "--role", role]);
}

async fn token(app: &TestApp, username: &str) -> String {
    let resp = app
        .http
        .post(app.url("/v1/staff/sessions"))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let session: Value = resp.json().await.unwrap();
    session["token"].as_str().expect("a token").to_owned()
}

async fn api(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = app.http.request(method.parse().unwrap(), app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A follower's text message, pushed to the callback in safe mode as WeChat seals it.
async fn says(app: &TestApp, openid: &str, msg_id: i64, content: &str) {
    let xml = format!(
        "<xml><ToUserName><![CDATA[{GH}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>\
         <MsgId>{msg_id}</MsgId></xml>",
        now_ms() / 1000
    );
    let crypt = city_channel::message_crypt(&app.settings).expect("the account's crypto");
    let ts = now_ms() / 1000;
    let nonce = "30303030";
    let sealed = crypt.encrypt_reply(&xml, ts, nonce).expect("encrypted");
    let envelope = format!(
        "<xml><ToUserName><![CDATA[{GH}]]></ToUserName><Encrypt><![CDATA[{}]]></Encrypt></xml>",
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
        .header("content-type", "text/xml")
        .body(envelope)
        .send()
        .await
        .expect("the portal answers");
    assert_eq!(resp.status(), 200);
}

/// Tells the sandbox the follower wrote, which opens WeChat's 48-hour window for them.
async fn interacted(app: &TestApp, openid: &str) {
    let resp =
        app.http.post(app.url("/sandbox/wechat/_test/oa/interactions")).json(&json!({ "openid": openid })).send().await;
    assert_eq!(resp.unwrap().status(), 200);
}

/// What the sandbox delivered to `openid` of `kind` (`custom`, `template`).
async fn delivered(app: &TestApp, openid: &str, kind: &str) -> Vec<Value> {
    let url = app.url(&format!("/sandbox/wechat/_test/messages?touser={openid}&kind={kind}"));
    app.http.get(url).send().await.unwrap().json().await.unwrap()
}

/// Clicks `css` and waits for the next page's banner (the old one removed first, so the wait
/// cannot end on it); its text.
async fn submit(b: &Browser, css: &str) -> String {
    b.client.execute("document.getElementById('conv-banner')?.remove(); return true;", vec![]).await.unwrap();
    b.click(css).await;
    b.text("#conv-banner").await
}

async fn shot(b: &Browser, name: &str) {
    let png = b.screenshot(name).await;
    std::fs::create_dir_all(SHOTS).expect("the shots folder");
    std::fs::copy(&png, format!("{SHOTS}/{name}.png")).expect("the screenshot is copied");
}

/// The id of the conversation the page shows.
async fn shown_id(b: &Browser) -> String {
    let path = b.path().await;
    path.trim_start_matches("/console/conversations/").split('?').next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn an_agent_takes_a_conversation_from_the_live_inbox_replies_transfers_and_closes_one_past_the_window() {
    if !browser::available() {
        return;
    }
    let app = app().await;
    staff(&app, "conv.admin", "admin");
    staff(&app, "conv.agent", "agent");
    staff(&app, "conv.peer", "agent");
    let admin = token(&app, "conv.admin").await;
    let canned = json!({"title": "办理材料", "text": "请携带身份证原件到任一服务中心。", "group": "general"});
    let (status, canned) = api(&app, "POST", "/v1/conversations/canned-replies", &admin, Some(canned)).await;
    assert_eq!(status, 201, "{canned}");

    // Signed in, the agent is away: what arrives waits in their group's queue.
    let b = Browser::start(&app.base).await;
    b.sign_in("conv.agent", PASSWORD).await;
    b.goto("/console/conversations").await;
    assert_eq!(b.find("#agent-status").await.attr("data-status").await.unwrap().as_deref(), Some("away"));
    b.assert_accessible("inbox").await;

    let first = "oConsoleConvFirst00000000001";
    interacted(&app, first).await;
    says(&app, first, 61_001, "我想问一下居住证续签的事情，找人工").await;
    // No reload: the poller brings it in.
    let link = b.find("#conv-queue a.conv-link").await;
    let row = b.text("#conv-queue .conv-row").await;
    assert!(row.contains("居住证") && row.contains('…'), "preview and the masked follower: {row}");
    b.find("#conv-changed:not([hidden])").await;
    shot(&b, "conversations-inbox").await;
    link.click().await.expect("the conversation opens");

    // A colleague of the same group opens it too.
    b.find("#accept").await;
    let conversation_path = b.path().await;
    let peer = Browser::start(&app.base).await;
    peer.sign_in("conv.peer", PASSWORD).await;
    peer.goto(&conversation_path).await;
    peer.find("#accept").await;

    // Accept; the context panel; the full openid is nowhere on the page.
    let page = b.client.source().await.unwrap();
    assert!(!page.contains(first), "the openid is masked");
    assert!(submit(&b, "#accept").await.contains("已接入"));
    // The colleague's accept comes second: the page says it is taken and offers no reply box.
    let taken = submit(&peer, "#accept").await;
    assert!(peer.find("#conv-banner").await.attr("class").await.unwrap().unwrap_or_default().contains("failed"));
    assert!(taken.starts_with("未完成"), "{taken}");
    assert!(peer.client.find(fantoccini::Locator::Css("#form-reply")).await.is_err());
    peer.close().await;
    assert_eq!(b.find("#conv-state").await.attr("data-state").await.unwrap().as_deref(), Some("assigned"));
    assert_eq!(b.find("#ctx-signed-in").await.attr("data-signed-in").await.unwrap().as_deref(), Some("false"));
    let id = shown_id(&b).await;

    // A reply of the agent's own, then the canned one.
    b.fill("#reply-text", "您好，居住证续签可在网上办理。").await;
    assert!(submit(&b, "#send-reply").await.contains("已发送"));
    b.choose("#canned", canned["id"].as_str().unwrap()).await;
    assert!(b.text("#canned-text").await.contains("身份证原件"), "the canned reply's text is shown");
    assert!(submit(&b, "#send-reply").await.contains("已发送"));
    let sent = delivered(&app, first, "custom").await;
    let texts: Vec<&str> = sent.iter().filter_map(|m| m["body"]["text"]["content"].as_str()).collect();
    assert!(texts.contains(&"您好，居住证续签可在网上办理。"), "{sent:?}");
    assert!(texts.contains(&"请携带身份证原件到任一服务中心。"), "{sent:?}");
    let agents = b.client.find_all(fantoccini::Locator::Css("#messages li[data-from=\"agent\"]")).await.unwrap();
    assert_eq!(agents.len(), 2, "both replies are in the history");
    b.assert_accessible("conversation").await;
    shot(&b, "conversations-conversation").await;

    // Transferred to payments with a note: it leaves the agent's lists.
    b.choose("#transfer-to", "group:payments").await;
    b.fill("#transfer-note", "关于缴费的问题").await;
    assert!(submit(&b, "#do-transfer").await.contains("已转接"));
    assert!(b.path().await.starts_with("/console/conversations?"), "{}", b.path().await);
    let (_, moved) = api(&app, "GET", &format!("/v1/conversations/{id}"), &admin, None).await;
    assert_eq!((moved["state"].as_str(), moved["group"].as_str()), (Some("waiting"), Some("payments")), "{moved}");
    assert_eq!(moved["transfers"][0]["note"], "关于缴费的问题");

    // Online: the next follower's conversation is the agent's at once. This follower last wrote
    // to WeChat long ago (the sandbox has no recent message), so WeChat refuses the reply.
    assert!(submit(&b, "#go-online").await.contains("状态已更新"));
    assert_eq!(b.find("#agent-status").await.attr("data-status").await.unwrap().as_deref(), Some("online"));
    let second = "oConsoleConvSecond0000000002";
    says(&app, second, 61_002, "请人工帮我查一下办理进度").await;
    b.click("#conv-mine a.conv-link").await;
    b.find("#form-reply").await;
    b.fill("#reply-text", "正在为您查询。").await;
    let refusal = submit(&b, "#send-reply").await;
    assert!(b.find("#conv-banner").await.attr("class").await.unwrap().unwrap_or_default().contains("failed"));
    assert!(!refusal.is_empty(), "the refusal is said on the page");
    b.find("#window-closed-why").await;
    assert!(delivered(&app, second, "custom").await.is_empty(), "nothing went out");
    b.find("#messages li[data-delivery=\"window-closed\"]").await;
    b.fill("#template-text", "您的咨询已收到，请回复本公众号继续。").await;
    assert!(submit(&b, "#send-template").await.contains("模板消息已发送"));
    let templates = delivered(&app, second, "template").await;
    assert_eq!(templates.len(), 1, "{templates:?}");
    let second_id = shown_id(&b).await;

    // Closed as resolved.
    b.choose("#outcome", "resolved").await;
    assert!(submit(&b, "#do-close").await.contains("会话已结束"));
    let (_, closed) = api(&app, "GET", &format!("/v1/conversations/{second_id}"), &admin, None).await;
    assert_eq!((closed["state"].as_str(), closed["outcome"].as_str()), (Some("closed"), Some("resolved")), "{closed}");

    // The same inbox in English.
    b.click("a.lang").await;
    b.until("the English page", "document.documentElement.lang === 'en'").await;
    assert!(b.text("h1").await.contains("Conversations"));
    assert!(b.text("#agent-status").await.contains("Online"));

    // Every form needs the session's CSRF token.
    let script = format!(
        "const done = arguments[arguments.length - 1];
         fetch('/console/conversations/{id}/accept', {{method: 'POST', body: new URLSearchParams({{}}), redirect: 'manual'}})
           .then(r => done(r.status)).catch(e => done(String(e)));"
    );
    assert_eq!(b.client.execute_async(&script, vec![]).await.unwrap(), json!(403));
    b.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_clerk_without_the_agent_role_gets_no_conversations_page() {
    if !browser::available() {
        return;
    }
    let app = app().await;
    staff(&app, "conv.clerkonly", "clerk");
    let b = Browser::start(&app.base).await;
    b.sign_in("conv.clerkonly", PASSWORD).await;
    assert!(
        b.client.find(fantoccini::Locator::Css("nav a[href=\"/console/conversations\"]")).await.is_err(),
        "no conversations in the clerk's menu"
    );
    b.goto("/console/conversations").await;
    assert!(b.text("main").await.contains("仅供客服坐席"), "{}", b.text("main").await);
    assert!(b.client.find(fantoccini::Locator::Css("#conv-lists")).await.is_err());
    let status = "const done = arguments[arguments.length - 1];
        fetch('/console/conversations', {credentials: 'same-origin'}).then(r => done(r.status));";
    assert_eq!(b.client.execute_async(status, vec![]).await.unwrap(), json!(403));
    b.close().await;
    app.stop().await;
}

/// The processes of the split test, killed when dropped.
struct Procs(Vec<std::process::Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn ready(http: &reqwest::Client, base: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
        assert!(std::time::Instant::now() < deadline, "{base} did not become ready");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Apart, the console reaches the channel's `/v1/agents` and `/v1/conversations` over HTTP:
/// identity, the channel and the sandbox each their own process, the gateway in front.
#[tokio::test]
async fn apart_the_agent_pages_reach_the_channel_through_the_gateway() {
    if !browser::available() {
        return;
    }
    let (settings, dir) = crate::harness::test_settings();
    if settings.database_url.is_none() || settings.redis_url.is_none() {
        eprintln!("the agents' pages apart need CITY_TEST_DATABASE_URL and CITY_TEST_REDIS_URL: skipped");
        return;
    }
    let city = |s: &city_platform::config::Settings, args: &[&str]| crate::harness::city_command(s, args);
    let out = city(&settings, &["demo-secrets", "init"]).output().expect("the city binary runs");
    assert!(out.status.success(), "demo-secrets init: {}", String::from_utf8_lossy(&out.stderr));
    let settings = city_platform::profile::prepare(settings).expect("the demo set loads").settings;
    let port = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let services = ["sandbox", "identity", "channel"];
    let ports: Vec<u16> = services.iter().map(|_| port()).collect();
    let env: Vec<(String, String)> = services
        .iter()
        .zip(&ports)
        .map(|(name, p)| (format!("CITY_SERVICES__{}", name.to_ascii_uppercase()), format!("http://127.0.0.1:{p}")))
        .chain([("CITY_RATE_LIMIT__ENABLED".to_owned(), "false".to_owned())])
        .collect();
    let http = reqwest::Client::new();
    let mut procs = Procs(Vec::new());
    for (name, p) in services.iter().zip(&ports) {
        let listen = format!("127.0.0.1:{p}");
        let mut cmd = city(&settings, &["serve", "--only", name, "--listen", &listen]);
        cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str()))).stdout(std::process::Stdio::null());
        procs.0.push(cmd.spawn().expect("the city binary starts"));
        ready(&http, &format!("http://{listen}")).await;
    }
    let gateway = port();
    let base = format!("http://127.0.0.1:{gateway}");
    let mut cmd = city(&settings, &["serve", "--gateway", "--listen", &format!("127.0.0.1:{gateway}")]);
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str()))).stdout(std::process::Stdio::null());
    procs.0.push(cmd.spawn().expect("the gateway starts"));
    ready(&http, &base).await;
    let out =
        city(&settings, &["staff", "create", "--username", "split.agent", "--password", PASSWORD, "--role", "agent"])
            .output()
            .expect("the city binary runs");
    assert!(out.status.success(), "staff create: {}", String::from_utf8_lossy(&out.stderr));

    let b = Browser::start(&base).await;
    b.sign_in("split.agent", PASSWORD).await;
    b.goto("/console/conversations").await;
    assert_eq!(b.find("#agent-status").await.attr("data-status").await.unwrap().as_deref(), Some("away"));
    b.find("#conv-lists").await;
    assert!(submit(&b, "#go-online").await.contains("状态已更新"));
    assert_eq!(b.find("#agent-status").await.attr("data-status").await.unwrap().as_deref(), Some("online"));
    b.close().await;
    drop(procs);
    if let Some(url) = &settings.database_url {
        for service in ["gateway", "sandbox", "identity", "incidents", "notify", "wechat", "air", "booking", "payments"]
        {
            let _ = city_platform::db::drop_schema(url.expose(), &format!("{}{service}", settings.schema_prefix)).await;
        }
    }
    drop(dir);
}
