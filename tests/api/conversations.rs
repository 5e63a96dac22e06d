//! Conversations with city agents end to end (issue #20): followers write to the Service
//! Account through the callback (safe mode, signed and encrypted as WeChat does it), the
//! channel routes what the assistant cannot answer to agents, and agents answer through the
//! sandbox's customer-service API, which refuses messages outside the 48-hour window (45015).

use std::time::Duration;

use city_platform::time::now_ms;
use futures::future::join_all;
use serde_json::{json, Value};

use crate::harness::{city_command, spawn_app_with, TestApp};

const PASSWORD: &str = "correct horse battery";
const GH: &str = "gh_0123456789ab";

/// Agents on duty around the clock, so the answers do not depend on when the test runs.
pub(crate) async fn app() -> TestApp {
    spawn_app_with(|s| {
        let c = &mut s.channel.conversations;
        c.opens = "00:00".into();
        c.closes = "23:59".into();
        c.days = vec![1, 2, 3, 4, 5, 6, 7];
    })
    .await
}

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

/// A staff member with `roles`, signed in; the command runs off the runtime thread, which also
/// serves the portal.
pub(crate) async fn staff(app: &TestApp, username: &str, roles: &[&str]) -> String {
    let settings = app.settings.clone();
    let mut args: Vec<String> =
        ["staff", "create", "--username", username, "--password", PASSWORD, "--district", "510104"]
            .iter()
            .map(|a| a.to_string())
            .collect();
    for r in roles {
        args.extend(["--role".to_owned(), r.to_string()]);
    }
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

/// An agent configured by the admin (general, both languages, `max`) and online; (token, id).
async fn agent(app: &TestApp, admin: &str, username: &str, max: i64) -> (String, String) {
    let token = staff(app, username, &["agent"]).await;
    let (status, me) = send(app, "GET", "/v1/agents/me", Some(&token), None).await;
    assert_eq!(status, 200, "{me}");
    let id = me["staff_id"].as_str().unwrap().to_owned();
    let body = json!({"groups": ["general"], "languages": ["zh", "en"], "max_concurrent": max});
    let (status, a) = send(app, "PUT", &format!("/v1/agents/{id}"), Some(admin), Some(body)).await;
    assert_eq!(status, 200, "{a}");
    let (status, a) = send(app, "PUT", "/v1/agents/me/status", Some(&token), Some(json!({"status": "online"}))).await;
    assert_eq!((status, a["status"].as_str()), (200, Some("online")), "{a}");
    (token, id)
}

/// The text between `<tag>` and `</tag>`, CDATA unwrapped.
fn element<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = xml.find(&open).unwrap_or_else(|| panic!("no <{tag}> in {xml}")) + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>")).expect("a closing tag");
    let inner = &xml[start..end];
    inner.strip_prefix("<![CDATA[").and_then(|s| s.strip_suffix("]]>")).unwrap_or(inner)
}

/// A text message as WeChat pushes it (`msg_id` is WeChat's MsgId: a retry carries the same).
fn text(openid: &str, msg_id: i64, content: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{GH}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>\
         <MsgId>{msg_id}</MsgId></xml>",
        now_ms() / 1000
    )
}

/// Posts a push in safe mode; the decrypted passive reply, or `None` for `success`.
async fn push(app: &TestApp, xml: &str) -> Option<String> {
    let crypt = city_channel::message_crypt(&app.settings).expect("the account's crypto");
    let ts = now_ms() / 1000;
    let nonce = "20261203";
    // A push's msg_signature is computed as a reply's, so the reply encryptor seals it.
    let sealed = crypt.encrypt_reply(xml, ts, nonce).expect("encrypted");
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
            ("openid", element(xml, "FromUserName")),
            ("encrypt_type", "aes"),
            ("msg_signature", sealed.msg_signature.as_str()),
        ])
        .header("content-type", "text/xml")
        .body(envelope)
        .send()
        .await
        .expect("the portal answers");
    assert_eq!(resp.status(), 200);
    let body = resp.text().await.unwrap();
    if body == "success" {
        return None;
    }
    let plain = crypt
        .decrypt_push(
            element(&body, "MsgSignature"),
            element(&body, "TimeStamp"),
            element(&body, "Nonce"),
            element(&body, "Encrypt"),
        )
        .expect("a reply signed and encrypted with the account's keys");
    Some(element(&plain, "Content").to_owned())
}

/// Tells the sandbox the follower wrote (WeChat opens the 48-hour window on a message).
async fn interacted(app: &TestApp, openid: &str) {
    let resp =
        app.http.post(app.url("/sandbox/wechat/_test/oa/interactions")).json(&json!({"openid": openid})).send().await;
    assert_eq!(resp.unwrap().status(), 200);
}

/// What the sandbox delivered to `openid` of `kind` (`custom`, `template`).
async fn delivered(app: &TestApp, openid: &str, kind: &str) -> Vec<Value> {
    let url = app.url(&format!("/sandbox/wechat/_test/messages?touser={openid}&kind={kind}"));
    app.http.get(url).send().await.unwrap().json().await.unwrap()
}

fn follower(n: usize) -> String {
    format!("oConvFollower{n:015}")
}

async fn conversations(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (status, page) = send(app, "GET", &format!("/v1/conversations?{query}&limit=200"), Some(token), None).await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

async fn agents_by_id(app: &TestApp, token: &str) -> Vec<(String, i64, i64)> {
    let (status, list) = send(app, "GET", "/v1/agents", Some(token), None).await;
    assert_eq!(status, 200, "{list}");
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["staff_id"].as_str().unwrap().to_owned(),
                a["active"].as_i64().unwrap(),
                a["max_concurrent"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn thirty_followers_three_agents_each_conversation_assigned_once_the_rest_queued_in_order() {
    let app = app().await;
    let admin = staff(&app, "conv.admin", &["admin"]).await;
    let mut agents = Vec::new();
    for name in ["conv.agent1", "conv.agent2", "conv.agent3"] {
        agents.push(agent(&app, &admin, name, 4).await);
    }
    for n in 0..30 {
        interacted(&app, &follower(n)).await;
    }

    // The first twelve write at once: each lands on an agent, none over four.
    let first = join_all((0..12).map(|n| {
        let app = &app;
        async move {
            push(app, &text(&follower(n), 7_000 + n as i64, "请问社保卡补办需要带什么材料？")).await
        }
    }))
    .await;
    for reply in &first {
        let reply = reply.as_deref().expect("a passive reply");
        assert!(reply.contains("staff will reply") && reply.contains("Service hours"), "{reply}");
    }
    // The other eighteen, one after another: they wait in this order.
    for n in 12..30 {
        let reply =
            push(&app, &text(&follower(n), 7_000 + n as i64, "I have a question about my residence permit")).await;
        let reply = reply.expect("a passive reply");
        assert!(reply.contains(&format!("{} ahead of you", n - 12)), "{n}: {reply}");
    }
    // WeChat retries a push: one message, one conversation.
    let again = push(&app, &text(&follower(3), 7_003, "请问社保卡补办需要带什么材料？")).await;
    assert!(again.is_some_and(|r| r.contains("staff will reply")));

    let all = conversations(&app, &admin, "view=all").await;
    assert_eq!(all.len(), 30, "one conversation per follower");
    let assigned: Vec<&Value> = all.iter().filter(|c| c["state"] == "assigned").collect();
    assert_eq!(assigned.len(), 12);
    for (id, active, max) in agents_by_id(&app, &admin).await {
        assert_eq!((active, max), (4, 4), "{id}");
        assert_eq!(assigned.iter().filter(|c| c["agent_id"] == id.as_str()).count(), 4, "{id}");
    }
    let queue = conversations(&app, &admin, "view=queue").await;
    let order: Vec<String> =
        queue.iter().map(|c| c["follower"]["openid_masked"].as_str().unwrap().to_owned()).collect();
    let expected: Vec<String> = (12..30).map(|n| format!("oCon…{:03}", n)).collect();
    assert_eq!(order, expected, "the queue keeps arrival order");
    for (i, c) in queue.iter().enumerate() {
        assert_eq!(c["queue_position"], json!(i + 1));
    }
    let retried = all.iter().find(|c| c["follower"]["openid_masked"] == "oCon…003").unwrap();
    let (_, full) =
        send(&app, "GET", &format!("/v1/conversations/{}", retried["id"].as_str().unwrap()), Some(&admin), None).await;
    assert_eq!(full["messages"].as_array().unwrap().len(), 1, "{full}");

    // An agent closes one: the head of the queue is theirs at once; the follower is asked for a score.
    let (token1, id1) = &agents[0];
    let mine = conversations(&app, token1, "view=mine").await;
    assert_eq!(mine.len(), 4);
    let closed_id = mine[0]["id"].as_str().unwrap().to_owned();
    let (status, closed) = send(
        &app,
        "POST",
        &format!("/v1/conversations/{closed_id}/close"),
        Some(token1),
        Some(json!({"outcome": "resolved"})),
    )
    .await;
    assert_eq!((status, closed["state"].as_str()), (200, Some("closed")), "{closed}");
    let head = &queue[0];
    let (_, head_now) =
        send(&app, "GET", &format!("/v1/conversations/{}", head["id"].as_str().unwrap()), Some(&admin), None).await;
    assert_eq!((head_now["state"].as_str(), head_now["agent_id"].as_str()), (Some("assigned"), Some(id1.as_str())));
    assert!(agents_by_id(&app, &admin).await.iter().all(|(_, active, max)| active <= max));
    assert_eq!(conversations(&app, &admin, "view=queue").await.len(), 17);

    let closed_openid_n: usize =
        closed["follower"]["openid_masked"].as_str().unwrap().trim_start_matches("oCon…").parse().unwrap();
    let who = follower(closed_openid_n);
    let asked = delivered(&app, &who, "custom").await;
    assert!(asked.iter().any(|m| m["body"]["text"]["content"].as_str().unwrap().contains("1–5")), "{asked:?}");
    let thanks = push(&app, &text(&who, 9_100, "5")).await.unwrap();
    assert!(thanks.contains("5/5"), "{thanks}");
    let (_, rated) = send(&app, "GET", &format!("/v1/conversations/{closed_id}"), Some(&admin), None).await;
    assert_eq!((rated["satisfaction"].as_i64(), rated["outcome"].as_str()), (Some(5), Some("resolved")));

    // Another agent cannot take what agent 1 holds.
    let (token2, id2) = &agents[1];
    let (status, taken) =
        send(&app, "POST", &format!("/v1/conversations/{}/accept", head["id"].as_str().unwrap()), Some(token2), None)
            .await;
    assert_eq!((status, taken["type"].as_str()), (409, Some("/problems/conversation-taken")), "{taken}");

    // Agent 2 answers one of theirs, then hands it to payments with a note: history kept, and
    // agent 2's freed place goes to the next in the queue.
    let theirs = conversations(&app, token2, "view=mine").await;
    let moved_id = theirs[0]["id"].as_str().unwrap().to_owned();
    let (status, accepted) =
        send(&app, "POST", &format!("/v1/conversations/{moved_id}/accept"), Some(token2), None).await;
    assert_eq!(status, 200, "{accepted}");
    let (status, sent) = send(
        &app,
        "POST",
        &format!("/v1/conversations/{moved_id}/messages"),
        Some(token2),
        Some(json!({"text": "您好，请带身份证原件到任一服务中心办理。"})),
    )
    .await;
    assert_eq!(
        (status, sent["delivery"].as_str(), sent["from"].as_str()),
        (201, Some("sent"), Some("agent")),
        "{sent}"
    );
    let (status, full_agent) = send(
        &app,
        "POST",
        &format!("/v1/conversations/{moved_id}/transfer"),
        Some(token2),
        Some(json!({"to_agent_id": id1, "note": "busy"})),
    )
    .await;
    assert_eq!((status, full_agent["type"].as_str()), (409, Some("/problems/agent-at-capacity")), "{full_agent}");
    let (status, moved) = send(
        &app,
        "POST",
        &format!("/v1/conversations/{moved_id}/transfer"),
        Some(token2),
        Some(json!({"to_group": "payments", "note": "about a fee refund"})),
    )
    .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!((moved["state"].as_str(), moved["group"].as_str()), (Some("waiting"), Some("payments")));
    assert_eq!(moved["transfers"][0]["note"], "about a fee refund");
    assert_eq!(moved["transfers"][0]["from_agent_id"], id2.as_str());
    let froms: Vec<&str> = moved["messages"].as_array().unwrap().iter().map(|m| m["from"].as_str().unwrap()).collect();
    assert_eq!(froms, ["citizen", "agent"], "the history moves with it");
    assert_eq!(conversations(&app, token2, "view=mine").await.len(), 4, "agent 2 took the next waiting one");
    assert_eq!(conversations(&app, &admin, "view=queue&state=waiting").await.len(), 16 + 1);
    assert!(agents_by_id(&app, &admin).await.iter().all(|(_, active, max)| active == max));
    app.stop().await;
}

#[tokio::test]
async fn a_reply_after_the_window_is_refused_and_kept_then_the_template_goes_out() {
    let app = app().await;
    let admin = staff(&app, "conv.admin", &["admin"]).await;
    let (token, _) = agent(&app, &admin, "conv.window", 4).await;
    let recent = follower(100);
    // The sandbox has seen no message from this one within 48 hours (as if they last wrote
    // two days ago): WeChat answers 45015 to a customer-service message.
    let silent = follower(101);
    interacted(&app, &recent).await;
    for (n, who) in [&recent, &silent].into_iter().enumerate() {
        assert!(push(&app, &text(who, 8_000 + n as i64, "a question about my residence registration")).await.is_some());
    }
    // A location sent during the conversation is one of its messages and gives the context's
    // district (a point in Jinjiang, GCJ-02 as WeChat sends it).
    let place = format!(
        "<xml><ToUserName><![CDATA[{GH}]]></ToUserName><FromUserName><![CDATA[{recent}]]></FromUserName>\
         <CreateTime>{}</CreateTime><MsgType><![CDATA[location]]></MsgType><Location_X>30.6528</Location_X>\
         <Location_Y>104.0867</Location_Y><Scale>15</Scale><Label><![CDATA[春熙路]]></Label><MsgId>8100</MsgId></xml>",
        now_ms() / 1000
    );
    assert!(push(&app, &place).await.is_some(), "the assistant still answers a location");
    let mine = conversations(&app, &token, "view=mine").await;
    assert_eq!(mine.len(), 2);
    let id_of = |masked: &str| {
        mine.iter().find(|c| c["follower"]["openid_masked"] == masked).unwrap()["id"].as_str().unwrap().to_owned()
    };
    let (recent_id, silent_id) = (id_of("oCon…100"), id_of("oCon…101"));
    for c in &mine {
        assert_eq!(
            c["window_closes_at_ms"].as_i64().unwrap() - c["last_message_at_ms"].as_i64().unwrap(),
            48 * 3600 * 1000
        );
    }

    let (_, with_place) = send(&app, "GET", &format!("/v1/conversations/{recent_id}"), Some(&token), None).await;
    let kinds: Vec<&str> =
        with_place["messages"].as_array().unwrap().iter().map(|m| m["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["text", "location"], "{with_place}");
    assert_eq!(with_place["context"]["district"]["code"], "510104", "{with_place}");
    assert_eq!(with_place["context"]["signed_in"], false);
    assert!(!with_place.to_string().contains(&recent), "the openid is only ever shown masked");

    let reply = json!({"text": "We have your case; a caseworker calls tomorrow."});
    let (status, ok) =
        send(&app, "POST", &format!("/v1/conversations/{recent_id}/messages"), Some(&token), Some(reply.clone())).await;
    assert_eq!(status, 201, "{ok}");
    let got = delivered(&app, &recent, "custom").await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["body"]["text"]["content"], reply["text"]);

    let (status, refused) =
        send(&app, "POST", &format!("/v1/conversations/{silent_id}/messages"), Some(&token), Some(reply)).await;
    assert_eq!((status, refused["type"].as_str()), (409, Some("/problems/reply-window-closed")), "{refused}");
    assert!(delivered(&app, &silent, "custom").await.is_empty());
    let (_, conv) = send(&app, "GET", &format!("/v1/conversations/{silent_id}"), Some(&token), None).await;
    let last = conv["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["from"].as_str(), last["delivery"].as_str()), (Some("agent"), Some("window-closed")), "{conv}");

    let (status, tpl) = send(
        &app,
        "POST",
        &format!("/v1/conversations/{silent_id}/template"),
        Some(&token),
        Some(json!({"text": "请回复本公众号以继续咨询"})),
    )
    .await;
    assert_eq!(
        (status, tpl["kind"].as_str(), tpl["delivery"].as_str()),
        (201, Some("template"), Some("sent")),
        "{tpl}"
    );
    let templates = delivered(&app, &silent, "template").await;
    assert_eq!(templates.len(), 1);
    assert_eq!(templates[0]["body"]["data"]["thing2"]["value"], "请回复本公众号以继续咨询");
    app.stop().await;
}

#[tokio::test]
async fn emergencies_are_answered_with_the_number_a_person_can_be_asked_for_and_only_agents_may_call() {
    let app = app().await;
    let admin = staff(&app, "conv.admin", &["admin"]).await;
    let (token, _) = agent(&app, &admin, "conv.only", 2).await;
    let clerk = staff(&app, "conv.clerk", &["clerk"]).await;
    let citizen = app.citizen_token("conv-citizen").await;

    // Streams of changes: an agent's sees a new conversation arrive.
    let mut events = app.http.get(app.url("/v1/conversations/events")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(events.status(), 200);
    assert!(events.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));

    let fire = push(&app, &text(&follower(200), 9_001, "救命！楼下着火了")).await.unwrap();
    assert!(fire.starts_with("【紧急】") && fire.contains("119"), "{fire}");
    let crash = push(&app, &text(&follower(201), 9_002, "There was a car crash at the junction")).await.unwrap();
    assert!(crash.contains("122"), "{crash}");
    // "人工" is also an FAQ keyword (the hotline); asking for a person hands over instead.
    let person = push(&app, &text(&follower(202), 9_003, "转人工")).await.unwrap();
    assert!(person.contains("staff will reply") && !person.contains("12345 answers around the clock"), "{person}");

    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains("event: conversation") {
        let chunk =
            tokio::time::timeout_at(deadline, events.chunk()).await.expect("an event in time").unwrap().unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("\"openid_masked\""), "{seen}");

    // Canned replies: admins write them, agents use them.
    let canned = json!({"title": "材料", "text": "请携带身份证原件。Bring your ID card.", "group": "general"});
    let (status, _) = send(&app, "POST", "/v1/conversations/canned-replies", Some(&token), Some(canned.clone())).await;
    assert_eq!(status, 403, "agents do not write the library");
    let (status, created) = send(&app, "POST", "/v1/conversations/canned-replies", Some(&admin), Some(canned)).await;
    assert_eq!(status, 201, "{created}");
    let mine = conversations(&app, &token, "view=mine").await;
    interacted(&app, &follower(200)).await;
    let fire_conv = mine.iter().find(|c| c["follower"]["openid_masked"] == "oCon…200").expect("the emergency is kept");
    let (status, used) = send(
        &app,
        "POST",
        &format!("/v1/conversations/{}/messages", fire_conv["id"].as_str().unwrap()),
        Some(&token),
        Some(json!({"canned_reply_id": created["id"]})),
    )
    .await;
    assert_eq!((status, used["text"].as_str()), (201, Some("请携带身份证原件。Bring your ID card.")), "{used}");

    // Who may call: no credential 401; a citizen, a clerk without the agent role 403; an agent
    // may not configure agents; another agent's conversation is not theirs to answer.
    for (method, path) in [("GET", "/v1/conversations"), ("GET", "/v1/agents/me"), ("GET", "/v1/agents")] {
        assert_eq!(send(&app, method, path, None, None).await.0, 401, "{path}");
        assert_eq!(send(&app, method, path, Some(&citizen), None).await.0, 403, "{path}");
        assert_eq!(send(&app, method, path, Some(&clerk), None).await.0, 403, "{path}");
    }
    let (status, _) = send(&app, "PUT", "/v1/agents/me/status", Some(&clerk), Some(json!({"status": "online"}))).await;
    assert_eq!(status, 403);
    let settings = json!({"groups": ["general"], "languages": ["zh"], "max_concurrent": 9});
    assert_eq!(send(&app, "PUT", "/v1/agents/someone", Some(&token), Some(settings)).await.0, 403);
    let bad = json!({"groups": ["parking"], "languages": ["zh"], "max_concurrent": 2});
    let (status, problem) = send(&app, "PUT", "/v1/agents/someone", Some(&admin), Some(bad)).await;
    assert_eq!((status, problem["errors"][0]["field"].as_str()), (422, Some("groups")), "{problem}");
    let other = staff(&app, "conv.other", &["agent", "clerk"]).await;
    let (status, problem) = send(
        &app,
        "POST",
        &format!("/v1/conversations/{}/messages", fire_conv["id"].as_str().unwrap()),
        Some(&other),
        Some(json!({"text": "hello"})),
    )
    .await;
    assert_eq!((status, problem["type"].as_str()), (409, Some("/problems/not-your-conversation")), "{problem}");
    app.stop().await;
}

/// The sandbox plays the follower (`/_test/oa/say`): a typed message reaches the callback signed
/// as WeChat signs it, opens the 48-hour window, and the assistant's answer comes back; the way
/// a person tries the conversations from the command line (README).
#[tokio::test]
async fn a_follower_typing_through_the_sandbox_reaches_an_agent_who_answers_in_the_window() {
    let app = app().await;
    let admin = staff(&app, "say.admin", &["admin"]).await;
    let (agent_token, agent_id) = agent(&app, &admin, "say.agent", 2).await;
    let openid = "oSayFollower000000000000001";
    let say = |body: Value| {
        let app = &app;
        async move {
            let resp = app.http.post(app.url("/sandbox/wechat/_test/oa/say")).json(&body).send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    let (status, said) = say(json!({"openid": openid, "text": "转人工"})).await;
    assert_eq!((status, said["callback_status"].as_i64()), (200, Some(200)), "{said}");
    let reply = said["reply"].as_str().unwrap();
    assert!(element(reply, "Content").contains("人工") || element(reply, "Content").contains("客服"), "{reply}");
    let mine = conversations(&app, &agent_token, "view=mine").await;
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0]["agent_id"].as_str(), Some(agent_id.as_str()));
    let id = mine[0]["id"].as_str().unwrap().to_owned();

    // The same follower again: the same conversation, one more message.
    let (status, _) = say(json!({"openid": openid, "text": "我的居住证什么时候能办好？"})).await;
    assert_eq!(status, 200);
    let (_, conv) = send(&app, "GET", &format!("/v1/conversations/{id}"), Some(&agent_token), None).await;
    let from_citizen = conv["messages"].as_array().unwrap().iter().filter(|m| m["from"] == "citizen").count();
    assert_eq!(from_citizen, 2, "{conv}");

    // The window is open at WeChat, so the agent's answer is delivered.
    let body = json!({"text": "您好，一般十个工作日内办好。"});
    let (status, m) =
        send(&app, "POST", &format!("/v1/conversations/{id}/messages"), Some(&agent_token), Some(body)).await;
    assert_eq!((status, m["delivery"].as_str()), (201, Some("sent")), "{m}");
    assert_eq!(delivered(&app, openid, "custom").await.len(), 1);

    // Neither text nor location, or a bad openid: refused, nothing pushed.
    for bad in [json!({"openid": openid}), json!({"openid": "bad openid!", "text": "hi"})] {
        let (status, problem) = say(bad).await;
        assert_eq!(status, 400, "{problem}");
    }
}

/// An agent of `languages` (group general, up to 3), put online now; their id.
async fn speaker(app: &TestApp, admin: &str, username: &str, languages: &[&str]) -> String {
    let token = staff(app, username, &["agent"]).await;
    let (_, me) = send(app, "GET", "/v1/agents/me", Some(&token), None).await;
    let id = me["staff_id"].as_str().unwrap().to_owned();
    let body = json!({"groups": ["general"], "languages": languages, "max_concurrent": 3});
    let (status, a) = send(app, "PUT", &format!("/v1/agents/{id}"), Some(admin), Some(body)).await;
    assert_eq!(status, 200, "{a}");
    let (status, _) = send(app, "PUT", "/v1/agents/me/status", Some(&token), Some(json!({"status": "online"}))).await;
    assert_eq!(status, 200);
    id
}

#[tokio::test]
async fn a_conversation_goes_to_an_agent_who_speaks_its_language_before_a_less_busy_one() {
    let app = app().await;
    let admin = staff(&app, "lang.admin", &["admin"]).await;
    // The English speaker comes online first: without languages, ties and load would favour them.
    let english = speaker(&app, &admin, "lang.en", &["en"]).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let chinese = speaker(&app, &admin, "lang.zh", &["zh"]).await;
    let writes = [
        (40, "转人工，我想问社保卡的事"),
        (41, "人工客服，请问居住证怎么续签"),
        (42, "I need to talk to a person about my permit"),
    ];
    for (n, words) in writes {
        interacted(&app, &follower(n)).await;
        push(&app, &text(&follower(n), 9_000 + n as i64, words)).await.expect("a passive reply");
    }
    let all = conversations(&app, &admin, "view=all").await;
    let of = |n: usize| {
        let masked = format!("oCon…{:03}", n);
        all.iter().find(|c| c["follower"]["openid_masked"] == masked.as_str()).unwrap().clone()
    };
    for (n, language, agent) in [(40, "zh", &chinese), (41, "zh", &chinese), (42, "en", &english)] {
        let c = of(n);
        assert_eq!(c["language"], language, "{c}");
        assert_eq!(c["state"], "assigned", "{c}");
        // The second Chinese one too, though the English speaker had nobody.
        assert_eq!(c["agent_id"], agent.as_str(), "follower {n}: {c}");
    }
}
