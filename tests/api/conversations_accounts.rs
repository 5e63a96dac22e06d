//! Networked Service Accounts end to end (issue #20): followers write to the city's account and
//! to a departmental one (the demo's `health`) through the sandbox (`/_test/oa/say`), one agent
//! pool serves both, a conversation moves to another account's agents while replies keep coming
//! from the account the citizen wrote to, each account's callback checks its own signatures,
//! and the city's account links Mini Programs up to WeChat's limit.

use city_platform::time::now_ms;
use futures::future::join_all;
use serde_json::{json, Value};

// The conversations suite's own set-up: the same portal, callers and staff.
use crate::conversations::{app, send, staff};
use crate::harness::{spawn_app_with, TestApp};

/// An agent of group general serving `accounts` (keys; empty: all), `max`, online; (token, id).
async fn agent(app: &TestApp, admin: &str, username: &str, accounts: &[&str], max: i64) -> (String, String) {
    let token = staff(app, username, &["agent"]).await;
    let (status, me) = send(app, "GET", "/v1/agents/me", Some(&token), None).await;
    assert_eq!(status, 200, "{me}");
    let id = me["staff_id"].as_str().unwrap().to_owned();
    let body = json!({"groups": ["general"], "languages": ["zh"], "max_concurrent": max, "accounts": accounts});
    let (status, a) = send(app, "PUT", &format!("/v1/agents/{id}"), Some(admin), Some(body)).await;
    assert_eq!(status, 200, "{a}");
    let mut served: Vec<&str> = a["accounts"].as_array().unwrap().iter().map(|k| k.as_str().unwrap()).collect();
    served.sort();
    let mut wanted = accounts.to_vec();
    wanted.sort();
    assert_eq!(served, wanted, "{a}");
    let (status, a) = send(app, "PUT", "/v1/agents/me/status", Some(&token), Some(json!({"status": "online"}))).await;
    assert_eq!((status, a["status"].as_str()), (200, Some("online")), "{a}");
    (token, id)
}

/// The follower writes `text` to `account` (a key; `None`: the city's) through the sandbox.
async fn say(app: &TestApp, account: Option<&str>, openid: &str, text: &str) -> Value {
    let mut body = json!({"openid": openid, "text": text});
    if let Some(a) = account {
        body["account"] = json!(a);
    }
    let resp = app.http.post(app.url("/sandbox/wechat/_test/oa/say")).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    let said: Value = resp.json().await.unwrap();
    assert_eq!((status, said["callback_status"].as_i64()), (200, Some(200)), "{said}");
    said
}

fn appid_of(app: &TestApp, key: &str) -> String {
    city_platform::config::service_accounts(&app.settings).into_iter().find(|a| a.key == key).unwrap().appid
}

/// What the sandbox delivered to `openid` from the account with `appid`.
async fn delivered_from(app: &TestApp, openid: &str, appid: &str) -> Vec<Value> {
    let url = app.url(&format!("/sandbox/wechat/_test/messages?touser={openid}&kind=custom&appid={appid}"));
    app.http.get(url).send().await.unwrap().json().await.unwrap()
}

async fn conversations(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (status, page) = send(app, "GET", &format!("/v1/conversations?{query}&limit=200"), Some(token), None).await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

/// Every `null` in a JSON document, by path (optional fields are left out, never null).
fn nulls(v: &Value, path: &str, found: &mut Vec<String>) {
    match v {
        Value::Null => found.push(path.to_owned()),
        Value::Array(items) => items.iter().enumerate().for_each(|(i, x)| nulls(x, &format!("{path}[{i}]"), found)),
        Value::Object(map) => map.iter().for_each(|(k, x)| nulls(x, &format!("{path}.{k}"), found)),
        _ => {}
    }
}

#[tokio::test]
async fn thirty_followers_across_two_accounts_one_pool_each_conversation_assigned_once_within_maximums() {
    let app = app().await;
    let admin = staff(&app, "net.admin", &["admin"]).await;
    let (city_token, city_agent) = agent(&app, &admin, "net.city", &["city"], 12).await;
    let (health_token, health_agent) = agent(&app, &admin, "net.health", &["health"], 12).await;
    let (_, both_agent) = agent(&app, &admin, "net.both", &[], 12).await;

    // Fifteen followers write to the city's account and fifteen to the health commission's, at once.
    join_all((0..30).map(|n| {
        let app = &app;
        async move {
            let account = if n < 15 { None } else { Some("health") };
            say(app, account, &format!("oNetFollower{n:015}"), "转人工").await
        }
    }))
    .await;

    let all = conversations(&app, &admin, "view=all").await;
    assert_eq!(all.len(), 30, "one conversation per follower");
    let count = |key: &str| all.iter().filter(|c| c["account"]["key"] == key).count();
    assert_eq!((count("city"), count("health")), (15, 15));
    for c in &all {
        assert_eq!(c["state"], "assigned", "every conversation assigned: {c}");
        assert_eq!(c["account"]["key"], c["handled_by_account"]["key"], "{c}");
        let agent = c["agent_id"].as_str().unwrap();
        // An agent serving one account only gets that account's conversations.
        if agent == city_agent {
            assert_eq!(c["account"]["key"], "city", "{c}");
        }
        if agent == health_agent {
            assert_eq!(c["account"]["key"], "health", "{c}");
        }
    }
    let (status, agents) = send(&app, "GET", "/v1/agents", Some(&admin), None).await;
    assert_eq!(status, 200, "{agents}");
    let mut total = 0;
    for a in agents["items"].as_array().unwrap() {
        let active = a["active"].as_i64().unwrap();
        assert!(active <= a["max_concurrent"].as_i64().unwrap(), "no agent over their maximum: {a}");
        total += active;
    }
    assert_eq!(total, 30, "each conversation held once: {agents}");
    assert!(all.iter().any(|c| c["agent_id"] == both_agent.as_str()), "the agent of every account took some");

    // An agent sees only the accounts they serve.
    for c in conversations(&app, &city_token, "view=all").await {
        assert_eq!(c["handled_by_account"]["key"], "city", "{c}");
    }
    for c in conversations(&app, &health_token, "view=all").await {
        assert_eq!(c["handled_by_account"]["key"], "health", "{c}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_conversation_moved_to_another_accounts_agents_keeps_its_history_and_replies_from_the_account_written_to() {
    let app = app().await;
    let admin = staff(&app, "move.admin", &["admin"]).await;
    let (health_token, health_agent) = agent(&app, &admin, "move.health", &["health"], 4).await;
    let openid = "oMoveFollower000000000000001";
    let said = say(&app, Some("health"), openid, "转人工").await;
    assert!(
        said["reply"].as_str().unwrap().contains("人工") || said["reply"].as_str().unwrap().contains("客服"),
        "{said}"
    );
    say(&app, Some("health"), openid, "我想问一下驾驶证体检在哪里做？").await;
    let mine = conversations(&app, &health_token, "view=mine").await;
    assert_eq!(mine.len(), 1, "{mine:?}");
    let id = mine[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(mine[0]["agent_id"].as_str(), Some(health_agent.as_str()));

    // Wrong targets are refused naming the field; nothing moves.
    let (status, problem) = send(
        &app,
        "POST",
        &format!("/v1/conversations/{id}/transfer"),
        Some(&health_token),
        Some(json!({"to_account": "nowhere", "note": "x"})),
    )
    .await;
    assert_eq!((status, problem["errors"][0]["field"].as_str()), (422, Some("to_account")), "{problem}");

    // The health agent moves it to the traffic police's agents (none online yet: it waits there).
    let (status, moved) = send(
        &app,
        "POST",
        &format!("/v1/conversations/{id}/transfer"),
        Some(&health_token),
        Some(json!({"to_account": "traffic", "note": "驾驶证体检归交警"})),
    )
    .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        (moved["state"].as_str(), moved["account"]["key"].as_str(), moved["handled_by_account"]["key"].as_str()),
        (Some("waiting"), Some("health"), Some("traffic")),
        "{moved}"
    );
    assert_eq!(moved["transfers"][0]["to_account"], "traffic", "{moved}");
    assert!(conversations(&app, &health_token, "view=all").await.is_empty(), "out of the health agents' view");

    // A traffic agent comes online and gets it, with its history.
    let (traffic_token, traffic_agent) = agent(&app, &admin, "move.traffic", &["traffic"], 4).await;
    let (status, conv) = send(&app, "GET", &format!("/v1/conversations/{id}"), Some(&traffic_token), None).await;
    assert_eq!(status, 200, "{conv}");
    assert_eq!(conv["agent_id"].as_str(), Some(traffic_agent.as_str()), "{conv}");
    let citizen = conv["messages"].as_array().unwrap().iter().filter(|m| m["from"] == "citizen").count();
    assert_eq!(citizen, 2, "the history moved with it: {conv}");
    let mut found = Vec::new();
    nulls(&conv, "$", &mut found);
    assert!(found.is_empty(), "no null in a conversation's JSON: {found:?}");

    // The traffic agent answers; WeChat gets it from the health commission's account, the one
    // the citizen wrote to (the follower's window is open there, not at traffic's).
    let (status, m) = send(
        &app,
        "POST",
        &format!("/v1/conversations/{id}/messages"),
        Some(&traffic_token),
        Some(json!({"text": "您好，驾驶证体检可在各区交警队指定医院办理。"})),
    )
    .await;
    assert_eq!((status, m["delivery"].as_str()), (201, Some("sent")), "{m}");
    assert_eq!(delivered_from(&app, openid, &appid_of(&app, "health")).await.len(), 1);
    assert!(delivered_from(&app, openid, &appid_of(&app, "traffic")).await.is_empty());
    assert!(delivered_from(&app, openid, &appid_of(&app, "city")).await.is_empty());

    // The citizen writes again to the health account: the same conversation, still with traffic.
    say(&app, Some("health"), openid, "谢谢，周末可以去吗？").await;
    let (_, conv) = send(&app, "GET", &format!("/v1/conversations/{id}"), Some(&traffic_token), None).await;
    assert_eq!(conv["messages"].as_array().unwrap().iter().filter(|m| m["from"] == "citizen").count(), 3, "{conv}");
    app.stop().await;
}

/// A push in safe mode sealed with `crypt`, posted to `path`; the HTTP status.
async fn sealed_push(app: &TestApp, path: &str, crypt: &city_channel::accounts::MessageCrypt) -> u16 {
    let ts = now_ms() / 1000;
    let nonce = "20261204";
    let xml = format!(
        "<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[oCrossSigned0000000000000001]]></FromUserName>\
         <CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content>\
         <MsgId>{}</MsgId></xml>",
        now_ms()
    );
    let sealed = crypt.encrypt_reply(&xml, ts, nonce).expect("encrypted");
    let envelope = format!(
        "<xml><ToUserName><![CDATA[gh_x]]></ToUserName><Encrypt><![CDATA[{}]]></Encrypt></xml>",
        sealed.encrypt
    );
    app.http
        .post(app.url(path))
        .query(&[
            ("timestamp", ts.to_string().as_str()),
            ("nonce", nonce),
            ("encrypt_type", "aes"),
            ("msg_signature", sealed.msg_signature.as_str()),
        ])
        .header("content-type", "text/xml")
        .body(envelope)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn each_accounts_callback_checks_its_own_signature_and_an_unknown_account_is_404() {
    let app = app().await;
    let accounts = city_platform::config::service_accounts(&app.settings);
    let crypt = |key: &str| city_channel::accounts::crypt_of(accounts.iter().find(|a| a.key == key).unwrap()).unwrap();
    // Sealed for the city's account, sent to the health commission's callback: refused.
    assert_eq!(sealed_push(&app, "/wechat/callback/health", &crypt("city")).await, 403);
    assert_eq!(sealed_push(&app, "/wechat/callback", &crypt("health")).await, 403);
    // Each at its own URL: taken.
    assert_eq!(sealed_push(&app, "/wechat/callback/health", &crypt("health")).await, 200);
    assert_eq!(sealed_push(&app, "/wechat/callback", &crypt("city")).await, 200);
    assert_eq!(sealed_push(&app, "/wechat/callback/nowhere", &crypt("health")).await, 404);
    let resp = app.http.get(app.url("/wechat/callback/nowhere?signature=a&timestamp=1&nonce=n&echostr=e")).send().await;
    assert_eq!(resp.unwrap().status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn the_city_account_links_ten_mini_programs_and_the_eleventh_is_refused_naming_appid() {
    let app = app().await;
    let admin = staff(&app, "links.admin", &["admin"]).await;
    let path = "/v1/channel/accounts/city/miniprograms";

    // Wrong callers: nobody, a citizen, a clerk, an agent.
    let (status, _) = send(&app, "GET", path, None, None).await;
    assert_eq!(status, 401);
    let citizen = app.citizen_token("oUnionLinksCitizen0000000001").await;
    let clerk = staff(&app, "links.clerk", &["clerk"]).await;
    let agent = staff(&app, "links.agent", &["agent"]).await;
    for token in [&citizen, &clerk, &agent] {
        let (status, problem) = send(&app, "GET", path, Some(token), None).await;
        assert_eq!(status, 403, "{problem}");
        let (status, problem) =
            send(&app, "POST", path, Some(token), Some(json!({"appid": "wxlinkwrong000001"}))).await;
        assert_eq!(status, 403, "{problem}");
    }
    let (status, problem) = send(&app, "GET", "/v1/channel/accounts/nowhere/miniprograms", Some(&admin), None).await;
    assert_eq!((status, problem["errors"][0]["field"].as_str()), (404, Some("account")), "{problem}");

    for n in 0..10 {
        let (status, list) = send(
            &app,
            "POST",
            path,
            Some(&admin),
            Some(json!({"appid": format!("wxlinkmp{n:09}"), "show_profile": true})),
        )
        .await;
        assert_eq!(status, 201, "{list}");
        assert_eq!(list["items"].as_array().unwrap().len(), n + 1);
    }
    let (status, problem) = send(&app, "POST", path, Some(&admin), Some(json!({"appid": "wxlinkmp000000010"}))).await;
    assert_eq!(
        (status, problem["type"].as_str(), problem["errors"][0]["field"].as_str()),
        (409, Some("/problems/miniprogram-links-full"), Some("appid")),
        "{problem}"
    );
    let (status, problem) = send(&app, "POST", path, Some(&admin), Some(json!({"appid": "wxlinkmp000000003"}))).await;
    assert_eq!((status, problem["type"].as_str()), (409, Some("/problems/miniprogram-already-linked")), "{problem}");
    let (status, list) = send(&app, "GET", path, Some(&admin), None).await;
    assert_eq!((status, list["items"].as_array().unwrap().len(), list["max"].as_i64()), (200, 10, Some(10)), "{list}");
    assert_eq!(list["items"][0]["show_profile"], true, "{list}");

    // Unlinking makes room again.
    let (status, list) = send(&app, "DELETE", &format!("{path}/wxlinkmp000000003"), Some(&admin), None).await;
    assert_eq!((status, list["items"].as_array().unwrap().len()), (200, 9), "{list}");
    let (status, problem) = send(&app, "DELETE", &format!("{path}/wxlinkmp000000003"), Some(&admin), None).await;
    assert_eq!((status, problem["type"].as_str()), (404, Some("/problems/miniprogram-not-linked")), "{problem}");
    let (status, _) = send(&app, "POST", path, Some(&admin), Some(json!({"appid": "wxlinkmp000000010"}))).await;
    assert_eq!(status, 201);

    // WeChat's own refusal (its limit lower than ours here) is answered the same way.
    let resp = app
        .http
        .post(app.url("/sandbox/wechat/_test/oa/miniprogram-links/limit"))
        .json(&json!({"max": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let health = "/v1/channel/accounts/health/miniprograms";
    let (status, _) = send(&app, "POST", health, Some(&admin), Some(json!({"appid": "wxhealthmp0000001"}))).await;
    assert_eq!(status, 201);
    let (status, problem) = send(&app, "POST", health, Some(&admin), Some(json!({"appid": "wxhealthmp0000002"}))).await;
    assert_eq!(
        (status, problem["type"].as_str(), problem["errors"][0]["field"].as_str()),
        (409, Some("/problems/miniprogram-links-full"), Some("appid")),
        "{problem}"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_agent_configured_with_an_unknown_account_is_refused_naming_accounts() {
    let app = app().await;
    let admin = staff(&app, "acct.admin", &["admin"]).await;
    let token = staff(&app, "acct.agent", &["agent"]).await;
    let (_, me) = send(&app, "GET", "/v1/agents/me", Some(&token), None).await;
    let id = me["staff_id"].as_str().unwrap();
    let body = json!({"groups": ["general"], "languages": ["zh"], "max_concurrent": 2, "accounts": ["nowhere"]});
    let (status, problem) = send(&app, "PUT", &format!("/v1/agents/{id}"), Some(&admin), Some(body)).await;
    assert_eq!((status, problem["errors"][0]["field"].as_str()), (422, Some("accounts")), "{problem}");
    app.stop().await;
}

/// One view of a follower across every account: a citizen signed in through the Mini Program
/// (with a unionid) writes to the health commission's account, whose openid identity never saw;
/// the channel asks WeChat's `user/info` for the unionid and identity for its citizen, so the
/// agent sees them signed in with their open report. A follower without a unionid stays not
/// signed in, and identity's unionid lookup answers only services with the internal token.
#[tokio::test]
async fn a_citizen_is_known_by_unionid_whichever_account_they_write_to() {
    const INTERNAL: &str = "conv-accounts-internal-token";
    let app = spawn_app_with(|s| {
        let c = &mut s.channel.conversations;
        c.opens = "00:00".into();
        c.closes = "23:59".into();
        c.days = vec![1, 2, 3, 4, 5, 6, 7];
        s.internal_token = Some(city_platform::config::Secret::new(INTERNAL));
    })
    .await;
    let admin = staff(&app, "union.admin", &["admin"]).await;
    agent(&app, &admin, "union.health", &["health"], 4).await;
    let citizen = app.citizen_token("conv-union-citizen").await;
    let (status, me) = send(&app, "GET", "/v1/me", Some(&citizen), None).await;
    assert_eq!(status, 200, "{me}");
    let citizen_id = me["id"].as_str().unwrap().to_owned();
    let report = json!({
        "category": "pothole",
        "description": "Deep pothole in the cycle lane",
        "location": {"lat": 30.657, "lon": 104.066, "crs": "gcj02"},
        "address": "Chunxi Road 12",
        "answers": {"size": "large"},
    });
    let (status, ticket) = send(&app, "POST", "/v1/incidents", Some(&citizen), Some(report)).await;
    assert_eq!(status, 201, "{ticket}");

    // The same person writes to the health account (the sandbox gives their openid there).
    let body = json!({"unionid": "conv-union-citizen", "account": "health", "text": "转人工 坑洞报告"});
    let said: Value =
        app.http.post(app.url("/sandbox/wechat/_test/oa/say")).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(said["callback_status"], 200, "{said}");
    let openid = said["openid"].as_str().unwrap().to_owned();
    // Someone WeChat knows no unionid of.
    say(&app, Some("health"), "oUnionNobody0000000000000001", "转人工 无名").await;

    // WeChat's user/info, as the channel asks it with the health account's token.
    let health =
        city_platform::config::service_accounts(&app.settings).into_iter().find(|a| a.key == "health").unwrap();
    let token: Value = app
        .http
        .post(app.url("/sandbox/wechat/cgi-bin/stable_token"))
        .json(&json!({"grant_type": "client_credential", "appid": health.appid, "secret": health.secret.expose()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let info = |openid: String| {
        let url = format!(
            "/sandbox/wechat/cgi-bin/user/info?access_token={}&openid={openid}&lang=zh_CN",
            token["access_token"].as_str().unwrap()
        );
        let req = app.http.get(app.url(&url));
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let known = info(openid.clone()).await;
    assert_eq!((known["subscribe"].as_i64(), known["unionid"].as_str()), (Some(1), Some("conv-union-citizen")));
    let nobody = info("oUnionNobody0000000000000001".into()).await;
    assert_eq!(nobody["subscribe"], 1, "{nobody}");
    assert!(nobody.get("unionid").is_none(), "{nobody}");

    // The citizen's open report also routes their conversation (to incidents, which this
    // general agent does not serve); the admin sees both.
    let all = conversations(&app, &admin, "view=all").await;
    assert_eq!(all.len(), 2, "{all:?}");
    for summary in all {
        let id = summary["id"].as_str().unwrap();
        let (status, conv) = send(&app, "GET", &format!("/v1/conversations/{id}"), Some(&admin), None).await;
        assert_eq!(status, 200, "{conv}");
        let ctx = &conv["context"];
        if conv["preview"].as_str().unwrap().contains("坑洞") {
            assert_eq!(
                (conv["follower"]["signed_in"].as_bool(), conv["group"].as_str()),
                (Some(true), Some("incidents"))
            );
            assert_eq!(ctx["signed_in"], true, "{ctx}");
            let tickets: Vec<&str> =
                ctx["open_tickets"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
            assert_eq!(tickets, vec![ticket["id"].as_str().unwrap()], "{ctx}");
        } else {
            assert_eq!(conv["follower"]["signed_in"], false, "{conv}");
            assert_eq!(ctx["signed_in"], false, "{ctx}");
            assert!(ctx["open_tickets"].as_array().is_none_or(|t| t.is_empty()), "{ctx}");
        }
    }

    // Identity's lookup: the citizen for the token; 404 for a unionid nobody signed in with;
    // no token, a wrong one, or a citizen's bearer token: 401.
    let lookup = |unionid: &str, internal: Option<&str>, bearer: Option<&str>| {
        let mut req = app.http.get(app.url(&format!("/v1/internal/identity/unionids/{unionid}")));
        if let Some(t) = internal {
            req = req.header(city_platform::auth::INTERNAL_TOKEN_HEADER, t);
        }
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(lookup("conv-union-citizen", Some(INTERNAL), None).await, (200, json!({"citizen_id": citizen_id})));
    assert_eq!(lookup("conv-union-nobody", Some(INTERNAL), None).await.0, 404);
    assert_eq!(lookup("conv-union-citizen", None, None).await.0, 401);
    assert_eq!(lookup("conv-union-citizen", Some("guessed"), None).await.0, 401);
    assert_eq!(lookup("conv-union-citizen", None, Some(&citizen)).await.0, 401);
    let (status, problem) = lookup("bad%20id", Some(INTERNAL), None).await;
    assert_eq!((status, problem["errors"][0]["field"].as_str()), (422, Some("unionid")), "{problem}");
    app.stop().await;
}

/// A conversation idle past `idle_close_minutes` closes itself on the next sweep (every 30 s)
/// and the citizen is told, once, then asked the satisfaction question; one idle for less
/// stays open. The store's clock is the real one, so the test dates the last message back.
#[tokio::test]
async fn a_conversation_idle_past_the_setting_closes_itself_and_the_citizen_is_told_once() {
    let app = spawn_app_with(|s| {
        let c = &mut s.channel.conversations;
        c.opens = "00:00".into();
        c.closes = "23:59".into();
        c.days = vec![1, 2, 3, 4, 5, 6, 7];
        c.idle_close_minutes = 5;
    })
    .await;
    let admin = staff(&app, "idle.admin", &["admin"]).await;
    let (_, agent_id) = agent(&app, &admin, "idle.agent", &[], 4).await;
    let (idle, recent) = ("oIdleFollower00000000000001", "oIdleFollower00000000000002");
    say(&app, None, idle, "转人工").await;
    say(&app, None, recent, "转人工").await;
    let db = city_platform::Db::open(&app.settings, "wechat", &city_channel::MIGRATOR).await.expect("channel's store");
    for (openid, minutes) in [(idle, 6), (recent, 4)] {
        let back = now_ms() - minutes * 60_000;
        sqlx::query("UPDATE conversations SET last_message_at = $1, last_citizen_at = $1 WHERE openid = $2")
            .bind(back)
            .bind(openid)
            .execute(&db.pool)
            .await
            .unwrap();
    }
    let all = conversations(&app, &admin, "view=all").await;
    let id_of = |openid: &str| {
        let masked = format!("{}…{}", &openid[..4], &openid[openid.len() - 3..]);
        all.iter().find(|c| c["follower"]["openid_masked"] == masked.as_str()).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (idle_id, recent_id) = (id_of(idle), id_of(recent));

    let city = appid_of(&app, "city");
    let told = |texts: &[Value]| {
        texts
            .iter()
            .filter(|m| m["body"]["text"]["content"].as_str().unwrap_or_default().contains("长时间没有新消息"))
            .count()
    };
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(45);
    let closed = loop {
        let (status, conv) = send(&app, "GET", &format!("/v1/conversations/{idle_id}"), Some(&admin), None).await;
        assert_eq!(status, 200, "{conv}");
        if conv["state"] == "closed" {
            break conv;
        }
        assert!(tokio::time::Instant::now() < deadline, "not closed within a sweep: {conv}");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    assert_eq!(closed["outcome"], "no-reply", "{closed}");
    let sent = delivered_from(&app, idle, &city).await;
    assert_eq!(told(&sent), 1, "{sent:?}");
    assert!(sent.iter().any(|m| m["body"]["text"]["content"].as_str().unwrap_or_default().contains("1–5")), "{sent:?}");

    // Another sweep later: still told once; the other conversation, idle 4 of 5 minutes, open;
    // the agent holds only it.
    tokio::time::sleep(std::time::Duration::from_secs(31)).await;
    assert_eq!(told(&delivered_from(&app, idle, &city).await), 1);
    let (_, other) = send(&app, "GET", &format!("/v1/conversations/{recent_id}"), Some(&admin), None).await;
    assert_eq!(other["state"], "assigned", "{other}");
    assert_eq!(told(&delivered_from(&app, recent, &city).await), 0);
    let (_, agents) = send(&app, "GET", "/v1/agents", Some(&admin), None).await;
    let me = agents["items"].as_array().unwrap().iter().find(|a| a["staff_id"] == agent_id.as_str()).unwrap().clone();
    assert_eq!(me["active"], 1, "{me}");
    app.stop().await;
}

/// Agents' actions are in the audit trail (service `channel`): who accepted, replied,
/// transferred and closed which conversation, without the words said or the transfer's note.
#[tokio::test]
async fn agents_accepting_replying_transferring_and_closing_are_audited_without_the_words() {
    let app = app().await;
    let admin = staff(&app, "audit.admin", &["admin"]).await;
    let (first, first_id) = agent(&app, &admin, "audit.first", &["health"], 4).await;
    let openid = "oAuditFollower0000000000001";
    say(&app, Some("health"), openid, "转人工").await;
    let id = conversations(&app, &first, "view=mine").await[0]["id"].as_str().unwrap().to_owned();
    let (second, second_id) = agent(&app, &admin, "audit.second", &["health"], 4).await;
    let path = |what: &str| format!("/v1/conversations/{id}/{what}");
    assert_eq!(send(&app, "POST", &path("accept"), Some(&first), None).await.0, 200);
    let (status, m) =
        send(&app, "POST", &path("messages"), Some(&first), Some(json!({"text": "李先生您好，秘密内容"}))).await;
    assert_eq!(status, 201, "{m}");
    let moved = json!({"to_agent_id": second_id, "note": "转给同事 私人备注"});
    assert_eq!(send(&app, "POST", &path("transfer"), Some(&first), Some(moved)).await.0, 200);
    let (status, closed) =
        send(&app, "POST", &path("close"), Some(&second), Some(json!({"outcome": "resolved"}))).await;
    assert_eq!(status, 200, "{closed}");

    let target = format!("conversation:{id}");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, entries) =
            send(&app, "GET", "/v1/staff/audit?service=channel&limit=500", Some(&admin), None).await;
        assert_eq!(status, 200, "{entries}");
        let ours: Vec<&Value> = entries.as_array().unwrap().iter().filter(|e| e["target"] == target.as_str()).collect();
        let by = |action: &str| ours.iter().find(|e| e["action"] == action).map(|e| (*e).clone());
        let found = (
            by("accept_conversation"),
            by("reply_conversation"),
            by("transfer_conversation"),
            by("close_conversation"),
        );
        if let (Some(accepted), Some(replied), Some(transferred), Some(closed)) = found {
            assert_eq!(accepted["actor_name"], "audit.first");
            assert_eq!(
                (replied["actor_name"].as_str(), replied["after"]["delivery"].as_str()),
                (Some("audit.first"), Some("sent"))
            );
            assert_eq!(transferred["actor_name"], "audit.first");
            assert_eq!(transferred["before"]["agent_id"], first_id.as_str(), "{transferred}");
            assert_eq!(transferred["after"]["agent_id"], second_id.as_str(), "{transferred}");
            assert_eq!(
                (closed["actor_name"].as_str(), closed["after"]["outcome"].as_str()),
                (Some("audit.second"), Some("resolved"))
            );
            let all = serde_json::to_string(&ours).unwrap();
            assert!(!all.contains("秘密") && !all.contains("私人备注") && !all.contains(openid), "{all}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not audited: {ours:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    app.stop().await;
}

/// A closed account takes with it the conversations the unionid found to be the citizen's in
/// a departmental account, and the unionid kept for that follower; others' stay.
#[tokio::test]
async fn closing_an_account_erases_its_conversations_found_by_unionid_in_other_accounts() {
    let app = app().await;
    let citizen = app.citizen_token("conv-union-erased").await;
    let body = json!({"unionid": "conv-union-erased", "account": "health", "text": "转人工 请删除"});
    let said: Value =
        app.http.post(app.url("/sandbox/wechat/_test/oa/say")).json(&body).send().await.unwrap().json().await.unwrap();
    assert_eq!(said["callback_status"], 200, "{said}");
    let openid = said["openid"].as_str().unwrap().to_owned();
    let other = "oUnionStays000000000000001";
    say(&app, Some("health"), other, "转人工 留下").await;
    let db = city_platform::Db::open(&app.settings, "wechat", &city_channel::MIGRATOR).await.expect("channel's store");
    let count = |table: &'static str, openid: String| {
        let pool = db.pool.clone();
        async move {
            let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE openid = $1"))
                .bind(openid)
                .fetch_one(&pool)
                .await
                .unwrap();
            n
        }
    };
    assert_eq!(count("conversations", openid.clone()).await, 1);
    assert_eq!(count("follower_unionids", openid.clone()).await, 1);

    let (status, body) = send(&app, "DELETE", "/v1/me", Some(&citizen), None).await;
    assert_eq!(status, 204, "{body}");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while count("conversations", openid.clone()).await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the conversation outlived the account");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(count("follower_unionids", openid.clone()).await, 0);
    assert_eq!(count("wechat_conversations", openid.clone()).await, 0);
    assert_eq!(count("conversations", other.to_owned()).await, 1, "another follower's stays");
    app.stop().await;
}
