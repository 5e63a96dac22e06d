//! The Service Account channel end to end through the portal: safe-mode pushes to
//! `/wechat/callback`, encrypted and signed as WeChat does it, and menu answers that come from
//! the other services over their internal APIs (identity, booking, payments) or the public air
//! API. A follower signs in through the Service Account OAuth in the sandbox; another never does.

use std::sync::atomic::{AtomicI64, Ordering};

use city_platform::coords::LatLon;
use city_platform::time::{city_date, from_ms, now_ms};
use serde_json::{json, Value};

use crate::harness::{spawn_app, TestApp};

const GH: &str = "gh_0123456789ab";
const FOLLOWER: &str = "oE2EChannelFollower000000001";
const STRANGER: &str = "oE2EChannelStranger000000001";

/// The text between `<tag>` and `</tag>`, CDATA unwrapped.
fn element<'a>(xml: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}>");
    let start = xml.find(&open).unwrap_or_else(|| panic!("no <{tag}> in {xml}")) + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>")).expect("a closing tag");
    let inner = &xml[start..end];
    inner.strip_prefix("<![CDATA[").and_then(|s| s.strip_suffix("]]>")).unwrap_or(inner)
}

/// A push from `openid` as WeChat writes it: `body` holds the type-specific elements. Each
/// gets its own CreateTime, as a person's taps do: WeChat tells an event's retries apart from a
/// new tap by sender and CreateTime only.
fn push_xml(openid: &str, msg_type: &str, body: &str) -> String {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = now_ms() / 1000;
    let create_time = LAST.fetch_max(now, Ordering::SeqCst).max(now - 1) + 1;
    LAST.fetch_max(create_time, Ordering::SeqCst);
    format!(
        "<xml><ToUserName><![CDATA[{GH}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>{create_time}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>{body}</xml>"
    )
}

fn click(openid: &str, key: &str) -> String {
    push_xml(openid, "event", &format!("<Event><![CDATA[CLICK]]></Event><EventKey><![CDATA[{key}]]></EventKey>"))
}

fn location(openid: &str, lat: f64, lon: f64) -> String {
    push_xml(
        openid,
        "event",
        &format!("<Event><![CDATA[LOCATION]]></Event><Latitude>{lat}</Latitude><Longitude>{lon}</Longitude><Precision>30.0</Precision>"),
    )
}

/// Posts `xml` to the callback in safe mode; the decrypted text reply (its signature checked),
/// or `None` for `success`.
async fn ask(app: &TestApp, xml: &str) -> Option<String> {
    let crypt = city_channel::message_crypt(&app.settings).expect("the account's crypto");
    let ts = now_ms() / 1000;
    let nonce = "1714036504";
    // A push's msg_signature is computed exactly as a reply's: SHA-1 over the sorted token,
    // timestamp, nonce and ciphertext, so the reply encryptor signs the push too.
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
        .expect("a reply signed with the account's token and encrypted with its key");
    assert_eq!(element(&plain, "ToUserName"), element(xml, "FromUserName"));
    assert_eq!(element(&plain, "MsgType"), "text");
    Some(element(&plain, "Content").to_owned())
}

/// Signs `openid` in through the Service Account web OAuth in the sandbox; the bearer token.
async fn oa_sign_in(app: &TestApp, openid: &str) -> String {
    let resp = app.http.get(app.url("/v1/auth/oa/authorize?redirect=/h5/me")).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let state = location.split("state=").nth(1).unwrap().trim_end_matches("#wechat_redirect").to_owned();
    let code: Value = app
        .http
        .post(app.url("/sandbox/wechat/_test/oa/oauth-codes"))
        .json(&json!({"openid": openid, "unionid": "e2e-channel-follower"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = code["code"].as_str().unwrap();
    let resp = app
        .http
        .get(app.url(&format!("/v1/auth/oa/callback?code={code}&state={state}")))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    // The callback sends the browser on with the session in a cookie (issue #23).
    assert_eq!(resp.status(), 302);
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap();
    set_cookie.split(';').next().unwrap().strip_prefix("city_session=").expect("a citizen session cookie").to_owned()
}

async fn send(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = app
        .http
        .request(method.parse().unwrap(), app.url(path))
        .bearer_auth(token)
        .header("Idempotency-Key", format!("e2e-channel-{path}"));
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("the portal answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A GB 11643 number with its check character.
fn id_number(first17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17.bytes().zip(W).map(|(d, w)| u32::from(d - b'0') * w).sum();
    format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

/// Books the first free slot, tomorrow to six days ahead, of the doctor nearest Chunxi Road for a
/// family member; returns (the doctor as listed, the appointment).
async fn book_a_slot(app: &TestApp, token: &str) -> (Value, Value) {
    let (_, doctors) = app.get_json("/v1/booking/doctors?lat=30.6530&lon=104.0836&coord=gcj02&limit=5").await;
    let doctor = doctors[0].clone();
    let doctor_id = doctor["id"].as_str().unwrap();
    let (_, sessions) = app.get_json(&format!("/v1/booking/doctors/{doctor_id}/sessions")).await;
    let today = city_date(from_ms(now_ms())).to_string();
    let last = city_date(from_ms(now_ms() + 6 * 86_400_000)).to_string();
    let session = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            let d = s["date"].as_str().unwrap();
            d > today.as_str() && d <= last.as_str() && s["n_free"].as_i64().unwrap() > 0
        })
        .expect("the demo schedule has a session in the coming days");
    let date = session["date"].as_str().unwrap();
    let (_, slots) = app.get_json(&format!("/v1/booking/doctors/{doctor_id}/slots?date={date}")).await;
    let slot = slots["slots"].as_array().unwrap().iter().find(|s| s["free"] == true).unwrap().clone();
    let person = json!({"name": "王小明", "id_number": id_number("51010419800101001"), "relation": "parent"});
    let (status, person) = send(app, "POST", "/v1/me/people", token, Some(person)).await;
    assert_eq!(status, 201, "{person}");
    let body = json!({"slot_id": slot["id"], "person_id": person["id"]});
    let (status, appointment) = send(app, "POST", "/v1/booking/appointments", token, Some(body)).await;
    assert_eq!(status, 201, "{appointment}");
    (doctor, appointment)
}

/// The one template message the sandbox recorded for `openid`, waiting for the notifier's pass.
async fn sent_template(app: &TestApp, openid: &str) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (_, sent) = app.get_json(&format!("/sandbox/wechat/_test/messages?touser={openid}&kind=template")).await;
        if let Some(first) = sent.as_array().and_then(|s| s.first()) {
            assert_eq!(sent.as_array().unwrap().len(), 1, "sent once: {sent}");
            return first.clone();
        }
        assert!(std::time::Instant::now() < deadline, "no template message to {openid}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// An air-ingest key from `city apikey create`, run against this test's stores.
fn ingest_key(app: &TestApp) -> String {
    app.city(&["apikey", "create", "--name", "channel e2e feed", "--scope", "air-ingest:CNEMC"])
}

/// This hour's six pollutants for station 1437A (People's Park), PM2.5 at 80 µg/m³: AQI 119.
async fn post_readings(app: &TestApp) {
    let key = ingest_key(app);
    let at = city_platform::time::rfc3339(from_ms(now_ms() / 3_600_000 * 3_600_000));
    let rows: Vec<Value> = [
        ("pm25", 80.0, "ug/m3"),
        ("pm10", 40.0, "ug/m3"),
        ("so2", 5.0, "ug/m3"),
        ("no2", 20.0, "ug/m3"),
        ("co", 0.6, "mg/m3"),
        ("o3", 60.0, "ug/m3"),
    ]
    .into_iter()
    .map(|(p, v, u)| json!({"station_code": "1437A", "observed_at": at, "pollutant": p, "value": v, "unit": u}))
    .collect();
    let resp = app
        .http
        .post(app.url("/v1/air/readings"))
        .header("X-API-Key", key)
        .json(&json!({ "readings": rows }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn menu_clicks_answer_from_booking_payments_and_air_and_a_stranger_is_invited_to_sign_in() {
    let app = spawn_app().await;

    // Someone who follows the account but never signed in: an invitation, not an error.
    let invitation = ask(&app, &click(STRANGER, "MY_NEXT_APPOINTMENT")).await.unwrap();
    assert!(invitation.contains("sign in once"), "{invitation}");
    assert!(ask(&app, &click(STRANGER, "MY_UNPAID")).await.unwrap().contains("sign in once"));

    let token = oa_sign_in(&app, FOLLOWER).await;
    let welcome = ask(&app, &push_xml(FOLLOWER, "event", "<Event><![CDATA[subscribe]]></Event>")).await.unwrap();
    assert!(welcome.contains("欢迎关注城市服务"), "{welcome}");
    let none_yet = ask(&app, &click(FOLLOWER, "MY_NEXT_APPOINTMENT")).await.unwrap();
    assert!(none_yet.contains("no upcoming appointment"), "{none_yet}");

    // Booked in the Mini Program; the Service Account names it.
    let (doctor, appointment) = book_a_slot(&app, &token).await;
    let next = ask(&app, &click(FOLLOWER, "MY_NEXT_APPOINTMENT")).await.unwrap();
    for part in ["hospital_name_zh", "department_name_zh", "name"] {
        assert!(next.contains(doctor[part].as_str().unwrap()), "{part} missing from {next}");
    }
    assert!(next.contains(appointment["patient_name_masked"].as_str().unwrap()), "{next}");
    assert!(next.contains("(Beijing time)"), "{next}");
    // Booking also asked for a notification: identity's contacts lookup gives the follower's
    // openid, and the Service Account template message reaches them once.
    let template = sent_template(&app, FOLLOWER).await;
    assert!(template["body"].to_string().contains(doctor["name"].as_str().unwrap()), "{template}");

    // A utility account bound; its unpaid bill is listed with its amount.
    let body = json!({ "biller_id": "cd-power", "account_no": "3100123456", "label": "home" });
    let (status, account) = send(&app, "POST", "/v1/payments/accounts", &token, Some(body)).await;
    assert_eq!(status, 200, "{account}");
    let (_, bills) =
        send(&app, "GET", &format!("/v1/payments/accounts/{}/bills", account["id"].as_str().unwrap()), &token, None)
            .await;
    let bill = bills.as_array().unwrap().iter().find(|b| b["status"] == "unpaid").expect("an unpaid bill").clone();
    let fen = bill["amount_fen"].as_i64().unwrap();
    let unpaid = ask(&app, &click(FOLLOWER, "MY_UNPAID")).await.unwrap();
    assert!(unpaid.contains(&format!("¥{}.{:02}", fen / 100, fen % 100)), "{fen} fen missing from {unpaid}");

    // Air near me: first a request for a location, then, after a LOCATION event beside
    // People's Park, the index of station 1437A from the air service.
    let ask_location = ask(&app, &click(FOLLOWER, "AIR_NEAR_ME")).await.unwrap();
    assert!(ask_location.contains("send your location"), "{ask_location}");
    post_readings(&app).await;
    let pin = LatLon::new(30.6581, 104.0591).unwrap().to_gcj02();
    assert_eq!(ask(&app, &location(FOLLOWER, pin.lat(), pin.lon())).await, None, "location reports are silent");
    let air = ask(&app, &click(FOLLOWER, "AIR_NEAR_ME")).await.unwrap();
    assert!(air.contains("AQI 119"), "{air}");
    app.stop().await;
}
