//! The citizen's own data (issue #23): `GET /v1/me/export` gathers what every service holds
//! about the caller, only the caller's, and is audited.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use city_platform::auth::INTERNAL_TOKEN_HEADER;
use city_platform::config::Secret;

use crate::harness::{expect_problem, spawn_app, spawn_app_with, TestApp};

const INTERNAL_TOKEN: &str = "e2e-account-data-internal-token";

async fn send(app: &TestApp, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut req = app.http.request(method.parse().unwrap(), app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(body) = body {
        req = req.header("Idempotency-Key", format!("e2e-data-{path}-{}", body.to_string().len())).json(&body);
    }
    let resp = req.send().await.expect("the portal answers");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A valid GB 11643 number.
fn id_number(first17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17.bytes().zip(W).map(|(d, w)| u32::from(d - b'0') * w).sum();
    format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

async fn staff(app: &TestApp, username: &str, role: &str) -> String {
    let password = "correct horse battery";
    app.city(&["staff", "create", "--username", username, "--password", password, "--role", role]);
    let (status, session) =
        send(app, "POST", "/v1/staff/sessions", None, Some(json!({"username": username, "password": password}))).await;
    assert_eq!(status, 200, "{session}");
    session["token"].as_str().expect("a staff token").to_owned()
}

/// Books the first free slot of the nearest doctor in the released days for `person_id`.
async fn book(app: &TestApp, token: &str, person_id: &str) -> Value {
    use city_platform::time::{city_date, from_ms, now_ms};
    let now = now_ms();
    // From the day after tomorrow: tomorrow's visits are past their cancellation deadline (D-1
    // 15:00) every afternoon, and closing the account cancels this one.
    let (first, last) =
        (city_date(from_ms(now + 2 * 86_400_000)).to_string(), city_date(from_ms(now + 6 * 86_400_000)).to_string());
    let (_, doctors) = app.get_json("/v1/booking/doctors?lat=30.6530&lon=104.0836&coord=gcj02&limit=5").await;
    let doctor_id = doctors[0]["id"].as_str().unwrap().to_owned();
    let (_, sessions) = app.get_json(&format!("/v1/booking/doctors/{doctor_id}/sessions")).await;
    let date = sessions
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["date"].as_str().unwrap().to_owned())
        .find(|d| d.as_str() >= first.as_str() && d.as_str() <= last.as_str())
        .expect("a released day");
    let (_, slots) = app.get_json(&format!("/v1/booking/doctors/{doctor_id}/slots?date={date}")).await;
    let slot = slots["slots"].as_array().unwrap().iter().find(|s| s["free"] == true).unwrap()["id"].clone();
    let body = json!({"slot_id": slot, "person_id": person_id});
    let (status, appt) = send(app, "POST", "/v1/booking/appointments", Some(token), Some(body)).await;
    assert_eq!(status, 201, "{appt}");
    appt
}

/// The ids of the objects in `list`.
fn ids(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn the_export_holds_every_services_records_of_the_caller_and_only_theirs() {
    let app = spawn_app().await;
    let alice = app.citizen_token("e2e-data-alice").await;
    let bob = app.citizen_token("e2e-data-bob").await;

    // Alice has something in every service.
    let body = json!({"name": "陈小红", "id_number": id_number("51010419850612003"), "relation": "parent"});
    let (status, person) = send(&app, "POST", "/v1/me/people", Some(&alice), Some(body)).await;
    assert_eq!(status, 201, "{person}");
    let appt = book(&app, &alice, person["id"].as_str().unwrap()).await;
    let body = json!({ "biller_id": "cd-power", "account_no": "3100123456", "label": "home" });
    let (status, account) = send(&app, "POST", "/v1/payments/accounts", Some(&alice), Some(body)).await;
    assert_eq!(status, 200, "{account}");
    let body = json!({ "plate": "川A12345", "plate_type": "02", "engine_last6": "123456", "label": "家里的车" });
    let (status, vehicle) = send(&app, "POST", "/v1/payments/vehicles", Some(&alice), Some(body)).await;
    assert_eq!(status, 200, "{vehicle}");
    let (_, bills) = send(
        &app,
        "GET",
        &format!("/v1/payments/accounts/{}/bills", account["id"].as_str().unwrap()),
        Some(&alice),
        None,
    )
    .await;
    let bill = bills.as_array().unwrap().iter().find(|b| b["status"] == "unpaid").unwrap().clone();
    let body = json!({ "kind": "bill", "bill_id": bill["id"], "payer_openid": "oE2EDataAlice" });
    let (status, order) = send(&app, "POST", "/v1/payments/orders", Some(&alice), Some(body)).await;
    assert_eq!(status, 200, "{order}");
    let body = json!({
        "category": "pothole",
        "description": "Deep pothole in the cycle lane",
        "location": {"lat": 30.652_794, "lon": 104.083_630, "crs": "gcj02"},
        "address": "Chunxi Road 12",
        "answers": {"size": "large"},
    });
    let (status, report) = send(&app, "POST", "/v1/incidents", Some(&alice), Some(body)).await;
    assert_eq!(status, 201, "{report}");

    let body = json!({"district_code": "510104", "threshold_level": 3});
    let (status, alert) = send(&app, "POST", "/v1/air/alerts", Some(&alice), Some(body)).await;
    assert_eq!(status, 201, "{alert}");

    let (status, doc) = send(&app, "GET", "/v1/me/export", Some(&alice), None).await;
    assert_eq!(status, 200, "{doc}");
    let (_, me) = send(&app, "GET", "/v1/me", Some(&alice), None).await;
    assert_eq!(doc["citizen_id"], me["id"]);
    assert_eq!(doc["profile"]["id"], me["id"]);
    assert_eq!(ids(&doc["people"]), [person["id"].as_str().unwrap()]);
    assert_eq!(doc["people"][0]["name_masked"], "陈*红", "family members masked as shown");
    assert!(!doc.to_string().contains("陈小红"), "no real name in the export: {doc}");
    assert!(doc["preferences"].is_object(), "{doc}");
    assert_eq!(doc["appointments"]["upcoming"][0]["id"], appt["id"]);
    assert_eq!(ids(&doc["payment_accounts"]), [account["id"].as_str().unwrap()]);
    assert_eq!(ids(&doc["vehicles"]), [vehicle["id"].as_str().unwrap()]);
    assert_eq!(ids(&doc["orders"]), [order["id"].as_str().unwrap()]);
    assert_eq!(ids(&doc["incidents"]), [report["id"].as_str().unwrap()]);
    assert_eq!(ids(&doc["air_alerts"]), [alert["id"].as_str().unwrap()]);
    assert!(doc["waitlist"].as_array().is_some_and(Vec::is_empty), "{doc}");

    // Bob's token gets Bob's (empty) document, nothing of Alice's.
    let (status, bobs) = send(&app, "GET", "/v1/me/export", Some(&bob), None).await;
    assert_eq!(status, 200, "{bobs}");
    assert_ne!(bobs["citizen_id"], doc["citizen_id"]);
    for part in ["people", "payment_accounts", "vehicles", "orders", "incidents", "air_alerts"] {
        assert!(bobs[part].as_array().is_some_and(Vec::is_empty), "{part}: {bobs}");
    }
    assert!(bobs["appointments"]["upcoming"].as_array().is_some_and(Vec::is_empty), "{bobs}");

    // No credential, or a staff member's: refused.
    let (status, problem) = send(&app, "GET", "/v1/me/export", None, None).await;
    assert_eq!(status, 401, "{problem}");
    let admin = staff(&app, "data.admin", "admin").await;
    let (status, problem) = send(&app, "GET", "/v1/me/export", Some(&admin), None).await;
    assert_eq!(status, 403, "{problem}");

    // Audited: Alice's one export and Bob's, naming the citizen and nothing of the data.
    let deadline = Instant::now() + Duration::from_secs(10);
    let exports = loop {
        let (_, entries) = send(&app, "GET", "/v1/staff/audit?service=identity", Some(&admin), None).await;
        let exports: Vec<Value> =
            entries.as_array().unwrap().iter().filter(|e| e["action"] == "export_citizen_data").cloned().collect();
        if exports.len() >= 2 || Instant::now() > deadline {
            break exports;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let alice_target = format!("citizen:{}", me["id"].as_str().unwrap());
    assert_eq!(exports.iter().filter(|e| e["target"] == alice_target.as_str()).count(), 1, "{exports:?}");
    assert_eq!(exports.len(), 2, "{exports:?}");
    assert!(!Value::Array(exports).to_string().contains("Chunxi"), "the audit holds no data");
    app.stop().await;
}

/// A text push from `openid` to the Service Account callback, encrypted and signed in safe mode
/// as WeChat sends it.
async fn push_text(app: &TestApp, openid: &str, text: &str) {
    let crypt = city_channel::message_crypt(&app.settings).expect("the account's crypto");
    let ts = city_platform::time::now_ms() / 1000;
    let nonce = "1714036505";
    let xml = format!(
        "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>{ts}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{text}]]></Content>\
         <MsgId>{ts}001</MsgId></xml>"
    );
    // A push is signed exactly as a reply is, so the reply encryptor seals the push too.
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
        .header("content-type", "text/xml")
        .body(envelope)
        .send()
        .await
        .expect("the portal answers");
    assert_eq!(resp.status(), 200);
}

/// Signs `openid` in through the Service Account web OAuth in the sandbox; the bearer token.
async fn oa_sign_in(app: &TestApp, openid: &str, unionid: &str) -> String {
    let resp = app.http.get(app.url("/v1/auth/oa/authorize?redirect=/h5/me")).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let state = location.split("state=").nth(1).unwrap().trim_end_matches("#wechat_redirect").to_owned();
    let body = json!({"openid": openid, "unionid": unionid});
    let (_, code) = send(app, "POST", "/sandbox/wechat/_test/oa/oauth-codes", None, Some(body)).await;
    let path = format!("/v1/auth/oa/callback?code={}&state={state}", code["code"].as_str().unwrap());
    let resp = app.http.get(app.url(&path)).header("cookie", cookie).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap();
    set_cookie.split(';').next().unwrap().strip_prefix("city_session=").expect("a session cookie").to_owned()
}

#[tokio::test]
async fn the_export_holds_the_callers_service_account_conversations_and_subscribe_grants() {
    let app = spawn_app_with(|s| s.internal_token = Some(Secret::new(INTERNAL_TOKEN))).await;
    let openid = "oE2EDataFollower0000000001";
    let carol = oa_sign_in(&app, openid, "e2e-data-carol").await;
    let dave = app.citizen_token("e2e-data-dave").await;
    let text = "The lamp outside No. 7 Wenshu Lane has been dark for a week";
    push_text(&app, openid, text).await;
    let body = json!({"template_ids": ["tmplDataExport01"]});
    let (status, grants) = send(&app, "POST", "/wechat/subscriptions", Some(&carol), Some(body)).await;
    assert_eq!(status, 200, "{grants}");

    let (status, doc) = send(&app, "GET", "/v1/me/export", Some(&carol), None).await;
    assert_eq!(status, 200, "{doc}");
    let conversations = doc["channel"]["conversations"].as_array().expect("conversations").clone();
    assert_eq!(conversations.len(), 1, "{doc}");
    assert_eq!(conversations[0]["content"], text);
    assert_eq!(doc["channel"]["subscribe_grants"][0]["template_id"], "tmplDataExport01", "{doc}");

    // Another citizen gets none of it.
    let (status, doc) = send(&app, "GET", "/v1/me/export", Some(&dave), None).await;
    assert_eq!(status, 200, "{doc}");
    assert!(doc["channel"]["conversations"].as_array().is_some_and(Vec::is_empty), "{doc}");
    assert!(doc["channel"]["subscribe_grants"].as_array().is_some_and(Vec::is_empty), "{doc}");
    assert!(!doc.to_string().contains("Wenshu"), "{doc}");

    // The channel's part is for identity only; a bad id is refused by name.
    let (_, me) = send(&app, "GET", "/v1/me", Some(&carol), None).await;
    let path = format!("/v1/internal/channel/citizens/{}/export", me["id"].as_str().unwrap());
    let (status, _) = send(&app, "GET", &path, None, None).await;
    assert_eq!(status, 401);
    let (status, _) = send(&app, "GET", &path, Some(&carol), None).await;
    assert_eq!(status, 401, "a citizen's token is not the internal one");
    let resp = app
        .http
        .get(app.url("/v1/internal/channel/citizens/not%20an%20id/export"))
        .header(INTERNAL_TOKEN_HEADER, INTERNAL_TOKEN)
        .send()
        .await
        .unwrap();
    let problem = expect_problem(resp, 422).await;
    assert_eq!(problem["errors"][0]["field"], "citizen_id", "{problem}");
    app.stop().await;
}

/// The payments store's kept row of an order: (citizen_id, payer_openid).
async fn kept_order(app: &TestApp, order_id: &str) -> (String, String) {
    let db =
        city_platform::Db::open(&app.settings, "payments", &city_payments::MIGRATOR).await.expect("payments' store");
    sqlx::query_as("SELECT citizen_id, payer_openid FROM orders WHERE id = $1")
        .bind(order_id)
        .fetch_one(&db.pool)
        .await
        .expect("the order is kept")
}

#[tokio::test]
async fn closing_an_account_waits_for_payments_in_flight_then_erases_the_citizen_everywhere() {
    let app = spawn_app_with(|s| s.payments.job_interval_secs = 1).await;
    let alice = app.citizen_token("e2e-close-alice").await;
    let bob = app.citizen_token("e2e-close-bob").await;
    let (_, alice_me) = send(&app, "GET", "/v1/me", Some(&alice), None).await;
    let alice_id = alice_me["id"].as_str().unwrap().to_owned();

    // Alice has something in every service; Bob an alert of his own.
    let body = json!({"name": "陈小红", "id_number": id_number("51010419850612003"), "relation": "parent"});
    let (status, person) = send(&app, "POST", "/v1/me/people", Some(&alice), Some(body)).await;
    assert_eq!(status, 201, "{person}");
    let appt = book(&app, &alice, person["id"].as_str().unwrap()).await;
    let body = json!({ "biller_id": "cd-power", "account_no": "3100123456", "label": "home" });
    let (status, account) = send(&app, "POST", "/v1/payments/accounts", Some(&alice), Some(body)).await;
    assert_eq!(status, 200, "{account}");
    let path = format!("/v1/payments/accounts/{}/bills", account["id"].as_str().unwrap());
    let (_, bills) = send(&app, "GET", &path, Some(&alice), None).await;
    let bill = bills.as_array().unwrap().iter().find(|b| b["status"] == "unpaid").unwrap().clone();
    let body = json!({ "kind": "bill", "bill_id": bill["id"], "payer_openid": "oE2ECloseAlice" });
    let (status, order) = send(&app, "POST", "/v1/payments/orders", Some(&alice), Some(body)).await;
    assert_eq!(status, 200, "{order}");
    let order_id = order["id"].as_str().unwrap().to_owned();
    let body = json!({
        "category": "pothole",
        "description": "Deep pothole in the cycle lane",
        "location": {"lat": 30.652_794, "lon": 104.083_630, "crs": "gcj02"},
        "address": "Chunxi Road 12",
        "answers": {"size": "large"},
    });
    let (status, report) = send(&app, "POST", "/v1/incidents", Some(&alice), Some(body)).await;
    assert_eq!(status, 201, "{report}");
    let body = json!({"district_code": "510104", "threshold_level": 3});
    let (status, alert) = send(&app, "POST", "/v1/air/alerts", Some(&alice), Some(body.clone())).await;
    assert_eq!(status, 201, "{alert}");
    let (status, bobs_alert) = send(&app, "POST", "/v1/air/alerts", Some(&bob), Some(body)).await;
    assert_eq!(status, 201, "{bobs_alert}");

    // Wrong callers: none, a staff member.
    let (status, problem) = send(&app, "DELETE", "/v1/me", None, None).await;
    assert_eq!(status, 401, "{problem}");
    let admin = staff(&app, "close.admin", "admin").await;
    let (status, problem) = send(&app, "DELETE", "/v1/me", Some(&admin), None).await;
    assert_eq!(status, 403, "{problem}");

    // The order is in flight: refused, naming it, and nothing changed.
    let (status, problem) = send(&app, "DELETE", "/v1/me", Some(&alice), None).await;
    assert_eq!(status, 409, "{problem}");
    assert!(problem["type"].as_str().unwrap().ends_with("/problems/account-close-pending"), "{problem}");
    assert_eq!(problem["errors"][0]["field"], "orders", "{problem}");
    assert!(problem["errors"][0]["message"].as_str().unwrap().contains(&order_id), "{problem}");
    let (status, doc) = send(&app, "GET", "/v1/me/export", Some(&alice), None).await;
    assert_eq!(status, 200, "still signed in: {doc}");
    assert_eq!(ids(&doc["people"]), [person["id"].as_str().unwrap()]);
    assert_eq!(doc["appointments"]["upcoming"][0]["id"], appt["id"], "not cancelled: {doc}");

    // Paid, it is no longer in flight: the account closes.
    let path = format!("/sandbox/wechat/pay/_test/transactions/{}/pay", order["out_trade_no"].as_str().unwrap());
    let (status, _) = send(&app, "POST", &path, None, Some(json!({ "notify": true }))).await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, o) = send(&app, "GET", &format!("/v1/payments/orders/{order_id}"), Some(&alice), None).await;
        if o["state"] == "paid" {
            break;
        }
        assert!(Instant::now() < deadline, "never paid: {o}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Her export above is in the audit log, under her id, before she closes: the closing rewrites
    // what the log holds (an entry still in the outbox would land with the id).
    let alice_export = audit_entries(&app, &admin, |e| e["action"] == "export_citizen_data").await;
    assert_eq!(alice_export[0]["actor_id"], alice_id.as_str(), "{alice_export:?}");
    let (status, body) = send(&app, "DELETE", "/v1/me", Some(&alice), None).await;
    assert_eq!(status, 204, "{body}");

    // Her session is gone: a second call (and any other) is 401, even with an Idempotency-Key.
    let resp = app.http.delete(app.url("/v1/me")).bearer_auth(&alice).header("Idempotency-Key", "close-1").send();
    assert_eq!(resp.await.unwrap().status().as_u16(), 401);
    for path in ["/v1/me", "/v1/booking/appointments", "/v1/payments/orders", "/v1/incidents/mine", "/v1/air/alerts"] {
        let (status, body) = send(&app, "GET", path, Some(&alice), None).await;
        assert_eq!(status, 401, "{path}: {body}");
    }

    // Signing in again with the same WeChat account makes a new citizen with nothing, once
    // every service has taken the erasure event.
    let again = app.citizen_token("e2e-close-alice").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let doc = loop {
        let (status, doc) = send(&app, "GET", "/v1/me/export", Some(&again), None).await;
        assert_eq!(status, 200, "{doc}");
        let (kept_citizen, _) = kept_order(&app, &order_id).await;
        if kept_citizen != alice_id || Instant::now() > deadline {
            break doc;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_ne!(doc["citizen_id"].as_str().unwrap(), alice_id);
    for part in ["people", "payment_accounts", "vehicles", "orders", "incidents", "air_alerts", "waitlist"] {
        assert!(doc[part].as_array().is_some_and(Vec::is_empty), "{part}: {doc}");
    }
    for part in ["upcoming", "past", "cancelled"] {
        assert!(doc["appointments"][part].as_array().is_some_and(Vec::is_empty), "{part}: {doc}");
    }

    // Payments keeps the paid order, naming nobody.
    assert_eq!(kept_order(&app, &order_id).await, ("erased".to_owned(), String::new()));
    // The event delivered again (the consumer runs just this) changes nothing.
    let payments = city_platform::Db::open(&app.settings, "payments", &city_payments::MIGRATOR).await.unwrap();
    city_payments::store::erasure::erase_citizen(&payments, &alice_id).await.expect("a repeat is harmless");
    assert_eq!(kept_order(&app, &order_id).await, ("erased".to_owned(), String::new()));
    // The report stays public, without its reporter.
    let (status, public) = app.get_json(&format!("/v1/incidents/{}", report["id"].as_str().unwrap())).await;
    assert_eq!(status, 200, "{public}");
    assert_eq!(public["id"], report["id"]);

    // Bob is untouched.
    let (status, bobs) = send(&app, "GET", "/v1/air/alerts", Some(&bob), None).await;
    assert_eq!(status, 200, "{bobs}");
    assert_eq!(ids(&bobs), [bobs_alert["id"].as_str().unwrap()]);

    // Audited, naming nobody: the closing itself, and her export before it, are kept with
    // `erased` for her id; no entry of the log names her any more.
    let closings = audit_entries(&app, &admin, |e| e["action"] == "close_citizen_account").await;
    assert_eq!(closings.len(), 1, "{closings:?}");
    assert_eq!(
        (closings[0]["actor_id"].as_str(), closings[0]["actor_name"].as_str()),
        (Some("erased"), Some("citizen"))
    );
    assert_eq!(closings[0]["target"], "citizen:erased");
    // Hers (the new citizen's export above names its own, living, citizen).
    let exports = audit_entries(&app, &admin, |e| e["action"] == "export_citizen_data").await;
    let erased: Vec<&Value> = exports.iter().filter(|e| e["actor_id"] == "erased").collect();
    assert_eq!(erased.len(), 1, "{exports:?}");
    assert_eq!(erased[0]["target"], "citizen:erased", "{exports:?}");
    let (_, everything) = send(&app, "GET", "/v1/staff/audit?limit=500", Some(&admin), None).await;
    let everything = everything.to_string();
    assert!(!everything.contains(&alice_id), "the audit still names her: {everything}");
    assert!(!everything.contains("陈"), "the audit holds no personal data");
    app.stop().await;
}

/// Books a place at Chengdu Second People's Hospital, which charges its fee online (seeds/booking),
/// two to six days ahead: released, and before the cancellation deadline.
async fn book_with_fee(app: &TestApp, token: &str, person_id: &str) -> Value {
    use city_platform::time::{city_date, from_ms, now_ms};
    let day = |n: i64| city_date(from_ms(now_ms() + n * 86_400_000)).to_string();
    let (first, last) = (day(2), day(6));
    let (_, doctors) = app.get_json("/v1/booking/doctors?hospital_id=h-cd2&limit=50").await;
    for doctor in doctors.as_array().unwrap() {
        let id = doctor["id"].as_str().unwrap();
        let (_, sessions) = app.get_json(&format!("/v1/booking/doctors/{id}/sessions")).await;
        for session in sessions.as_array().unwrap() {
            let d = session["date"].as_str().unwrap();
            if d < first.as_str() || d > last.as_str() || session["n_free"].as_i64() == Some(0) {
                continue;
            }
            let (_, slots) = app.get_json(&format!("/v1/booking/doctors/{id}/slots?date={d}")).await;
            if let Some(slot) = slots["slots"].as_array().unwrap().iter().find(|s| s["free"] == true) {
                let body = json!({"slot_id": slot["id"], "person_id": person_id});
                let (status, appt) = send(app, "POST", "/v1/booking/appointments", Some(token), Some(body)).await;
                assert_eq!(status, 201, "{appt}");
                return appt;
            }
        }
    }
    panic!("no free slot at h-cd2 in the coming days");
}

/// The kept rows after a closing: booking's appointment (status, refund_state) and payments'
/// order (refunded_fen) with its refunds (state, the sandbox's refund id).
async fn kept_refund(
    app: &TestApp,
    appt_id: &str,
    order_id: &str,
) -> (String, Option<String>, i64, Vec<(String, Option<String>)>) {
    let booking = city_platform::Db::open(&app.settings, "booking", &city_booking::MIGRATOR).await.unwrap();
    let (status, refund_state): (String, Option<String>) =
        sqlx::query_as("SELECT status, refund_state FROM appointments WHERE id = $1")
            .bind(appt_id)
            .fetch_one(&booking.pool)
            .await
            .expect("the appointment is kept");
    let payments = city_platform::Db::open(&app.settings, "payments", &city_payments::MIGRATOR).await.unwrap();
    let refunded: i64 = sqlx::query_scalar("SELECT refunded_fen FROM orders WHERE id = $1")
        .bind(order_id)
        .fetch_one(&payments.pool)
        .await
        .expect("the order is kept");
    let refunds: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT state, refund_id FROM refunds WHERE order_id = $1")
            .bind(order_id)
            .fetch_all(&payments.pool)
            .await
            .unwrap();
    (status, refund_state, refunded, refunds)
}

#[tokio::test]
async fn closing_an_account_cancels_a_paid_future_appointment_and_refunds_its_fee_in_the_sandbox() {
    let app = spawn_app_with(|s| s.payments.job_interval_secs = 1).await;
    let alice = app.citizen_token("e2e-close-refund-alice").await;
    let body = json!({"name": "王小明", "id_number": id_number("51010719880721005"), "relation": "self"});
    let (status, person) = send(&app, "POST", "/v1/me/people", Some(&alice), Some(body)).await;
    assert_eq!(status, 201, "{person}");
    let appt = book_with_fee(&app, &alice, person["id"].as_str().unwrap()).await;
    assert_eq!(appt["status"], "pending_payment", "{appt}");
    let appt_id = appt["id"].as_str().unwrap().to_owned();
    let fee = appt["fee_fen"].as_i64().unwrap();
    assert!(fee > 0, "{appt}");

    // The fee becomes payable once booking.fee_due reached payments; paid in the sandbox.
    let body = json!({ "kind": "booking", "booking_id": appt_id });
    let deadline = Instant::now() + Duration::from_secs(20);
    let order = loop {
        // Without an Idempotency-Key (`send` sets one per body): a replay would repeat the 404.
        let resp = app.http.post(app.url("/v1/payments/orders")).bearer_auth(&alice).json(&body).send().await.unwrap();
        let (status, order) = (resp.status().as_u16(), resp.json::<Value>().await.unwrap());
        if status == 200 {
            break order;
        }
        assert_eq!(status, 404, "{order}");
        assert!(Instant::now() < deadline, "the booking fee never became payable");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let order_id = order["id"].as_str().unwrap().to_owned();
    let path = format!("/sandbox/wechat/pay/_test/transactions/{}/pay", order["out_trade_no"].as_str().unwrap());
    let (status, _) = send(&app, "POST", &path, None, Some(json!({ "notify": true }))).await;
    assert_eq!(status, 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, a) = send(&app, "GET", "/v1/booking/appointments", Some(&alice), None).await;
        let upcoming = a["upcoming"].as_array().cloned().unwrap_or_default();
        if upcoming.iter().any(|x| x["id"] == appt_id.as_str() && x["status"] == "booked" && x["paid"] == true) {
            break;
        }
        assert!(Instant::now() < deadline, "never booked: {a}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(kept_refund(&app, &appt_id, &order_id).await, ("booked".to_owned(), None, 0, vec![]));

    // Closing: the paid appointment is cancelled and its whole fee refunded through the sandbox,
    // although the citizen is gone by the time the refund comes back.
    let (status, body) = send(&app, "DELETE", "/v1/me", Some(&alice), None).await;
    assert_eq!(status, 204, "{body}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let kept = loop {
        let kept = kept_refund(&app, &appt_id, &order_id).await;
        if kept.1.as_deref() == Some("refunded") || Instant::now() > deadline {
            break kept;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (status, refund_state, refunded, refunds) = kept;
    assert_eq!((status.as_str(), refund_state.as_deref(), refunded), ("cancelled", Some("refunded"), fee));
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0].0, "success", "{refunds:?}");
    assert!(refunds[0].1.as_deref().is_some_and(|id| !id.is_empty()), "the sandbox's refund id: {refunds:?}");
    app.stop().await;
}

/// Identity's audit entries matching `pick`, waiting (up to 10 s) until there is at least one:
/// entries reach the log through the outbox.
async fn audit_entries(app: &TestApp, admin: &str, pick: impl Fn(&Value) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, entries) = send(app, "GET", "/v1/staff/audit?service=identity", Some(admin), None).await;
        let picked: Vec<Value> = entries.as_array().unwrap().iter().filter(|e| pick(e)).cloned().collect();
        if !picked.is_empty() || Instant::now() > deadline {
            return picked;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The channel's internal view of a citizen (by id and Service Account openid).
async fn channel_view(app: &TestApp, citizen_id: &str, openid: &str) -> Value {
    let path = format!("/v1/internal/channel/citizens/{citizen_id}/export?oa_openid={openid}");
    let resp = app.http.get(app.url(&path)).header(INTERNAL_TOKEN_HEADER, INTERNAL_TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn closing_an_account_erases_the_channels_conversations_grants_and_the_kept_rows_elsewhere() {
    let app = spawn_app_with(|s| s.internal_token = Some(Secret::new(INTERNAL_TOKEN))).await;
    let openid = "oE2ECloseFollower000000001";
    let carol = oa_sign_in(&app, openid, "e2e-close-carol").await;
    let other = "oE2ECloseFollower000000002";
    let erin = oa_sign_in(&app, other, "e2e-close-erin").await;
    push_text(&app, openid, "The bench in Renmin Park is broken").await;
    // The pushes' MsgId is the second they were sent in, and WeChat's MsgId is what dedupes.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    push_text(&app, other, "The fountain in Renmin Park is dry").await;
    for token in [&carol, &erin] {
        let body = json!({"template_ids": ["tmplCloseAccount1"]});
        let (status, grants) = send(&app, "POST", "/wechat/subscriptions", Some(token), Some(body)).await;
        assert_eq!(status, 200, "{grants}");
    }
    let (_, carol_me) = send(&app, "GET", "/v1/me", Some(&carol), None).await;
    let (_, erin_me) = send(&app, "GET", "/v1/me", Some(&erin), None).await;
    let (carol_id, erin_id) = (carol_me["id"].as_str().unwrap(), erin_me["id"].as_str().unwrap());
    let before = channel_view(&app, carol_id, openid).await;
    assert_eq!(before["conversations"].as_array().unwrap().len(), 1, "{before}");
    let erins = channel_view(&app, erin_id, other).await;
    assert_eq!(erins["conversations"].as_array().unwrap().len(), 1, "{erins}");

    // An upcoming appointment is cancelled by the closing; a report loses its reporter.
    let body = json!({"name": "陈小红", "id_number": id_number("51010419850612003"), "relation": "parent"});
    let (_, person) = send(&app, "POST", "/v1/me/people", Some(&carol), Some(body)).await;
    let appt = book(&app, &carol, person["id"].as_str().unwrap()).await;
    let body = json!({
        "category": "pothole",
        "description": "Deep pothole by the park gate",
        "location": {"lat": 30.652_794, "lon": 104.083_630, "crs": "gcj02"},
        "address": "Renmin Park",
        "answers": {"size": "large"},
    });
    let (status, report) = send(&app, "POST", "/v1/incidents", Some(&carol), Some(body)).await;
    assert_eq!(status, 201, "{report}");

    let (status, body) = send(&app, "DELETE", "/v1/me", Some(&carol), None).await;
    assert_eq!(status, 204, "{body}");

    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        let after = channel_view(&app, carol_id, openid).await;
        if after["conversations"].as_array().unwrap().is_empty() || Instant::now() > deadline {
            break after;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(after["conversations"].as_array().unwrap().is_empty(), "{after}");
    assert!(after["subscribe_grants"].as_array().unwrap().is_empty(), "{after}");
    assert!(after.get("follower").is_none(), "{after}");
    // Erin's are untouched.
    let erins = channel_view(&app, erin_id, other).await;
    assert_eq!(erins["conversations"].as_array().unwrap().len(), 1, "{erins}");
    assert_eq!(erins["subscribe_grants"].as_array().unwrap().len(), 1, "{erins}");

    // Booking cancelled the appointment and keeps it naming nobody; the report names nobody.
    let booking = city_platform::Db::open(&app.settings, "booking", &city_booking::MIGRATOR).await.unwrap();
    let incidents = city_platform::Db::open(&app.settings, "incidents", &city_incidents::MIGRATOR).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, citizen): (String, String) =
            sqlx::query_as("SELECT status, citizen_id FROM appointments WHERE id = $1")
                .bind(appt["id"].as_str().unwrap())
                .fetch_one(&booking.pool)
                .await
                .unwrap();
        let reporter: Option<String> = sqlx::query_scalar("SELECT citizen_id FROM incident_reports WHERE id = $1")
            .bind(report["id"].as_str().unwrap())
            .fetch_one(&incidents.pool)
            .await
            .unwrap();
        assert_eq!(status, "cancelled");
        if (citizen == "erased" && reporter.is_none()) || Instant::now() > deadline {
            assert_eq!((citizen.as_str(), reporter), ("erased", None));
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.stop().await;
}

/// An 8×8 red PNG (the photo a citizen uploads; incidents re-encodes it as JPEG).
const PNG: &[u8] = &[
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 8, 0, 0, 0, 8, 8, 2, 0, 0, 0, 75, 109, 41,
    220, 0, 0, 0, 17, 73, 68, 65, 84, 120, 156, 99, 56, 33, 39, 135, 21, 49, 12, 45, 9, 0, 144, 191, 65, 1, 178, 159,
    62, 34, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
];

/// A photo uploaded by `token`'s citizen; its id.
async fn upload_photo(app: &TestApp, token: &str) -> String {
    let boundary = "----city-e2e-export-zip";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"p.png\"\r\nContent-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(PNG);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let resp = app
        .http
        .post(app.url("/v1/incidents/photos"))
        .bearer_auth(token)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

/// `GET /v1/me/export.zip` for `token`: the status and, on 200, the archive's files by name.
async fn export_zip(app: &TestApp, token: Option<&str>) -> (u16, Vec<(String, Vec<u8>)>) {
    use std::io::Read as _;
    let mut req = app.http.get(app.url("/v1/me/export.zip"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    if status != 200 {
        return (status, Vec::new());
    }
    assert_eq!(resp.headers()["content-type"], "application/zip");
    assert!(resp.headers()["content-disposition"].to_str().unwrap().starts_with("attachment;"));
    let bytes = resp.bytes().await.unwrap().to_vec();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("the archive opens");
    let mut files = Vec::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let mut content = Vec::new();
        file.read_to_end(&mut content).unwrap();
        files.push((file.name().to_owned(), content));
    }
    (status, files)
}

#[tokio::test]
async fn the_export_zip_holds_the_document_and_the_callers_report_photos() {
    let app = spawn_app().await;
    let erin = app.citizen_token("e2e-data-zip-erin").await;
    let frank = app.citizen_token("e2e-data-zip-frank").await;
    let photos = [upload_photo(&app, &erin).await, upload_photo(&app, &erin).await];
    let body = json!({
        "category": "pothole",
        "description": "Two potholes by the bus stop",
        "location": {"lat": 30.652_794, "lon": 104.083_630, "crs": "gcj02"},
        "address": "Chunxi Road 14",
        "answers": {"size": "large"},
        "photo_ids": photos,
    });
    let (status, report) = send(&app, "POST", "/v1/incidents", Some(&erin), Some(body)).await;
    assert_eq!(status, 201, "{report}");
    let report_id = report["id"].as_str().unwrap();

    let (status, files) = export_zip(&app, Some(&erin)).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert_eq!(names[0], "export.json");
    let doc: Value = serde_json::from_slice(&files[0].1).expect("export.json is JSON");
    let (_, me) = send(&app, "GET", "/v1/me", Some(&erin), None).await;
    assert_eq!(doc["citizen_id"], me["id"]);
    assert_eq!(ids(&doc["incidents"]), [report_id]);
    // Each photo as incidents serves it, byte for byte.
    for photo in &photos {
        let name = format!("photos/{report_id}/{photo}.jpg");
        let (_, bytes) = files.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("{name} in {names:?}"));
        let served = app.http.get(app.url(&format!("/v1/incidents/photos/{photo}"))).send().await.unwrap();
        assert_eq!(served.status(), 200);
        assert_eq!(bytes.as_slice(), served.bytes().await.unwrap().as_ref());
        assert_eq!(&bytes[..2], [0xFF, 0xD8], "a JPEG");
    }

    // Another citizen's archive holds their own (empty) document and none of Erin's photos.
    let (status, files) = export_zip(&app, Some(&frank)).await;
    assert_eq!(status, 200);
    assert_eq!(files.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["export.json"]);
    let doc: Value = serde_json::from_slice(&files[0].1).unwrap();
    assert!(doc["incidents"].as_array().is_some_and(Vec::is_empty), "{doc}");

    // No credential, or a staff member's: refused.
    assert_eq!(export_zip(&app, None).await.0, 401);
    let admin = staff(&app, "data.zip.admin", "admin").await;
    assert_eq!(export_zip(&app, Some(&admin)).await.0, 403);
    app.stop().await;
}
