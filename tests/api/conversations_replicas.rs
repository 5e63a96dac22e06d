//! Conversations with two channel replicas (issue #20), PostgreSQL + Redis only: two portals on
//! the same schemas and Redis prefix, as two replicas behind a load balancer would be. WeChat
//! may deliver a push (or its retry) to either, and a follower's two quick messages may land on
//! different replicas at the same moment: one conversation, each message once, one assignment.

use city_platform::time::now_ms;
use serde_json::{json, Value};

use crate::harness::{city_command, spawn_app_with, TestApp};

const PASSWORD: &str = "correct horse battery";
const GH: &str = "gh_0123456789ab";

/// A replica with agents on duty around the clock; `like` makes it share the other's stores
/// and credentials (the data directory holds the generated WeChat keys both must sign with).
async fn replica(like: Option<&TestApp>) -> TestApp {
    let shared = like.map(|a| a.settings.clone());
    spawn_app_with(move |s| {
        let c = &mut s.channel.conversations;
        c.opens = "00:00".into();
        c.closes = "23:59".into();
        c.days = vec![1, 2, 3, 4, 5, 6, 7];
        if let Some(other) = shared {
            s.data_dir = other.data_dir;
            s.schema_prefix = other.schema_prefix;
            s.redis_prefix = other.redis_prefix;
        }
    })
    .await
}

async fn send(app: &TestApp, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
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

/// A staff member with `role`, created with the `city` command and signed in on `app`.
async fn staff(app: &TestApp, username: &str, role: &str) -> String {
    let settings = app.settings.clone();
    let args: Vec<String> =
        ["staff", "create", "--username", username, "--password", PASSWORD, "--district", "510104", "--role", role]
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

fn element<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = xml.find(&open).unwrap_or_else(|| panic!("no <{tag}> in {xml}")) + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>")).expect("a closing tag");
    let inner = &xml[start..end];
    inner.strip_prefix("<![CDATA[").and_then(|s| s.strip_suffix("]]>")).unwrap_or(inner)
}

/// A text message as WeChat pushes it; a retry carries the same MsgId.
fn text(openid: &str, msg_id: i64, content: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[{GH}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>{}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>\
         <MsgId>{msg_id}</MsgId></xml>",
        now_ms() / 1000
    )
}

/// Posts a push in safe mode to `app`; the decrypted passive reply, or `None` for `success`.
async fn push(app: &TestApp, xml: &str) -> Option<String> {
    let crypt = city_channel::message_crypt(&app.settings).expect("the account's crypto");
    let ts = now_ms() / 1000;
    let nonce = "20261203";
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
        .expect("the replica answers");
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
        .expect("a reply sealed with the account's keys");
    Some(element(&plain, "Content").to_owned())
}

/// The conversation of the follower whose masked openid is `masked`, in full, as `app` sees it.
async fn conversation_of(app: &TestApp, token: &str, all: &[Value], masked: &str) -> Value {
    let mine: Vec<&Value> = all.iter().filter(|c| c["follower"]["openid_masked"] == masked).collect();
    assert_eq!(mine.len(), 1, "one conversation for {masked}: {all:?}");
    let (status, full) =
        send(app, "GET", &format!("/v1/conversations/{}", mine[0]["id"].as_str().unwrap()), Some(token), None).await;
    assert_eq!(status, 200, "{full}");
    full
}

#[tokio::test]
async fn a_message_arriving_while_two_replicas_run_is_handled_once_and_lands_in_one_conversation() {
    let a = replica(None).await;
    if a.settings.database_url.is_none() || a.settings.redis_url.is_none() {
        println!("skipped: two replicas need CITY_TEST_DATABASE_URL and CITY_TEST_REDIS_URL (embedded stores are per process)");
        a.stop().await;
        return;
    }
    let b = replica(Some(&a)).await;
    let admin = staff(&a, "replica.admin", "admin").await;
    let agent = staff(&a, "replica.agent", "agent").await;
    let (_, me) = send(&b, "GET", "/v1/agents/me", Some(&agent), None).await;
    let agent_id = me["staff_id"].as_str().expect("a session from one replica is good on the other").to_owned();
    let body = json!({"groups": ["general"], "languages": ["zh", "en"], "max_concurrent": 4});
    let (status, set) = send(&a, "PUT", &format!("/v1/agents/{agent_id}"), Some(&admin), Some(body)).await;
    assert_eq!(status, 200, "{set}");
    let (status, on) = send(&b, "PUT", "/v1/agents/me/status", Some(&agent), Some(json!({"status": "online"}))).await;
    assert_eq!((status, on["status"].as_str()), (200, Some("online")), "{on}");

    // The same push (same MsgId) reaches both replicas at once, as a retry racing the original.
    let first = "oReplicaFollower00000000001";
    let xml = text(first, 6_001, "请问社保卡补办需要带什么材料？");
    let (ra, rb) = tokio::join!(push(&a, &xml), push(&b, &xml));
    assert!(ra.is_some() || rb.is_some(), "at least one replica answers the follower");
    // One follower's two different messages, one to each replica at the same moment.
    let second = "oReplicaFollower00000000002";
    let (one, two) = (text(second, 6_101, "居住证怎么办理？"), text(second, 6_102, "需要社区证明吗？"));
    let (r1, r2) = tokio::join!(push(&a, &one), push(&b, &two));
    assert!(r1.is_some() || r2.is_some(), "the follower hears back");

    for (viewer, name) in [(&a, "a"), (&b, "b")] {
        let (status, page) = send(viewer, "GET", "/v1/conversations?view=all&limit=200", Some(&admin), None).await;
        assert_eq!(status, 200, "{page}");
        let all = page["items"].as_array().unwrap().clone();
        assert_eq!(all.len(), 2, "replica {name}: one conversation per follower: {all:?}");
        let once = conversation_of(viewer, &admin, &all, "oRep…001").await;
        let texts: Vec<&str> =
            once["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
        assert_eq!(texts, ["请问社保卡补办需要带什么材料？"], "replica {name}: the retried push is stored once");
        let both = conversation_of(viewer, &admin, &all, "oRep…002").await;
        let mut texts: Vec<&str> =
            both["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
        texts.sort_unstable();
        assert_eq!(texts, ["居住证怎么办理？", "需要社区证明吗？"], "replica {name}: each message once, together");
        for c in [&once, &both] {
            assert_eq!((c["state"].as_str(), c["agent_id"].as_str()), (Some("assigned"), Some(agent_id.as_str())));
        }
    }
    // Assigned at most once: the agent carries exactly the two conversations.
    let (status, list) = send(&b, "GET", "/v1/agents", Some(&admin), None).await;
    assert_eq!(status, 200, "{list}");
    let row = list["items"].as_array().unwrap().iter().find(|r| r["staff_id"] == agent_id.as_str()).unwrap();
    assert_eq!(row["active"], 2, "{row}");

    // Who may call, on either replica: no credential; an agent configuring agents (admins only).
    assert_eq!(send(&b, "GET", "/v1/conversations?view=all", None, None).await.0, 401);
    let raise = json!({"groups": ["general"], "languages": ["zh"], "max_concurrent": 9});
    assert_eq!(send(&a, "PUT", &format!("/v1/agents/{agent_id}"), Some(&agent), Some(raise)).await.0, 403);
    b.stop().await;
    a.stop().await;
}
