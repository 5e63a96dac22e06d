//! Urgent announcements (issue #21): template messages to the citizens concerned (an appointment
//! at a hospital in the district in the coming days, or a report still open there), never a
//! broadcast; and the internal questions the channel asks booking and incidents for them.

use city_platform::auth::INTERNAL_TOKEN_HEADER;
use city_platform::config::Secret;
use serde_json::{json, Value};

use std::time::{Duration, Instant};

use city_platform::time::{city_date, from_ms, now_ms};

use crate::announcements::{broadcasts_to, cover, follower, send, staff, JINJIANG};
use crate::harness::{expect_problem, spawn_app_with, TestApp};

const TEMPLATE: &str = "TPL_OA_ANNOUNCEMENT_0001";

const INTERNAL_TOKEN: &str = "e2e-urgent-internal-token";

/// A GET of an internal route with `token` as `X-Internal-Token` (or none).
async fn internal(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = app.http.get(app.url(path));
    if let Some(t) = token {
        req = req.header(INTERNAL_TOKEN_HEADER, t);
    }
    req.send().await.unwrap()
}

/// A pothole report by `citizen` at a GCJ-02 point; its id.
async fn report(app: &TestApp, citizen: &str, gcj: (f64, f64)) -> String {
    let body = json!({
        "category": "pothole",
        "description": "Deep pothole in the cycle lane",
        "location": {"lat": gcj.0, "lon": gcj.1, "crs": "gcj02"},
        "address": "Chunxi Road 12",
        "answers": {"size": "large"},
    });
    let (status, r) = send(app, "POST", "/v1/incidents", Some(citizen), Some(body)).await;
    assert_eq!(status, 201, "{r}");
    r["id"].as_str().unwrap().to_owned()
}

/// The citizen id behind a citizen's token.
async fn citizen_id(app: &TestApp, token: &str) -> String {
    let (_, me) = send(app, "GET", "/v1/me", Some(token), None).await;
    me["id"].as_str().unwrap().to_owned()
}

/// Chunxi Road (Jinjiang, 510104) as WeChat's map reports it.
const CHUNXI_GCJ02: (f64, f64) = (30.652_794, 104.083_630);

#[tokio::test]
async fn incidents_tells_the_channel_a_citizens_open_reports_and_a_districts_reporters_behind_the_internal_token() {
    let app = spawn_app_with(|s| s.internal_token = Some(Secret::new(INTERNAL_TOKEN))).await;
    let alice = app.citizen_token("e2e-urgent-open-alice").await;
    let bob = app.citizen_token("e2e-urgent-open-bob").await;
    let alice_id = citizen_id(&app, &alice).await;
    let bob_id = citizen_id(&app, &bob).await;
    let id = report(&app, &alice, CHUNXI_GCJ02).await;

    let open = format!("/v1/internal/incidents/citizens/{alice_id}/open");
    let resp = internal(&app, &open, Some(INTERNAL_TOKEN)).await;
    assert_eq!(resp.status(), 200);
    let tickets: Value = resp.json().await.unwrap();
    assert_eq!(tickets.as_array().map(Vec::len), Some(1), "{tickets}");
    assert_eq!((tickets[0]["id"].as_str(), tickets[0]["category"].as_str()), (Some(id.as_str()), Some("pothole")));
    assert_eq!(tickets[0]["status"], "open");
    assert!(tickets[0]["created_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{tickets}");
    let none: Value = internal(&app, &format!("/v1/internal/incidents/citizens/{bob_id}/open"), Some(INTERNAL_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none, json!([]), "bob filed nothing");

    let district = "/v1/internal/incidents/districts/510104/citizens";
    let resp = internal(&app, district, Some(INTERNAL_TOKEN)).await;
    assert_eq!(resp.status(), 200);
    let who: Value = resp.json().await.unwrap();
    assert_eq!(who["citizen_ids"], json!([alice_id]), "{who}");
    let other: Value = internal(&app, "/v1/internal/incidents/districts/510116/citizens", Some(INTERNAL_TOKEN))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(other["citizen_ids"], json!([]), "nothing open in Shuangliu: {other}");
    let p = expect_problem(
        internal(&app, "/v1/internal/incidents/districts/999999/citizens", Some(INTERNAL_TOKEN)).await,
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "code", "{p}");

    // Wrong callers: nobody, a wrong token, a citizen's bearer token.
    for path in [open.as_str(), district] {
        expect_problem(internal(&app, path, None).await, 401).await;
        expect_problem(internal(&app, path, Some("not-the-token")).await, 401).await;
        let as_citizen = app.http.get(app.url(path)).bearer_auth(&alice).send().await.unwrap();
        expect_problem(as_citizen, 401).await;
    }

    // Closed by the district's clerk: no longer open.
    let clerk = crate::announcements::staff(&app, "urgent.clerk", "clerk").await;
    let resp = app
        .http
        .post(app.url(&format!("/v1/incidents/queue/{id}/state")))
        .bearer_auth(&clerk)
        .header("If-Match", "\"v1\"")
        .json(&json!({"state": "closed", "public_update": "Duplicate of a repair already planned."}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let after: Value = internal(&app, &open, Some(INTERNAL_TOKEN)).await.json().await.unwrap();
    assert_eq!(after, json!([]), "{after}");
    let who: Value = internal(&app, district, Some(INTERNAL_TOKEN)).await.json().await.unwrap();
    assert_eq!(who["citizen_ids"], json!([]), "{who}");
    app.stop().await;
}

/// Signs `openid` in through the Service Account web OAuth in the sandbox (which gives identity
/// the citizen's Service Account openid) and follows; the bearer token.
async fn oa_citizen(app: &TestApp, openid: &str) -> String {
    let resp = app.http.get(app.url("/v1/auth/oa/authorize?redirect=/h5/me")).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let state = location.split("state=").nth(1).unwrap().trim_end_matches("#wechat_redirect").to_owned();
    let body = json!({"openid": openid, "unionid": format!("u-{openid}")});
    let (_, code) = send(app, "POST", "/sandbox/wechat/_test/oa/oauth-codes", None, Some(body)).await;
    let code = code["code"].as_str().unwrap();
    let resp = app
        .http
        .get(app.url(&format!("/v1/auth/oa/callback?code={code}&state={state}")))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    let token = set_cookie.split(';').next().unwrap().strip_prefix("city_session=").unwrap().to_owned();
    follower(app, openid, None).await;
    token
}

/// A valid GB 11643 number.
fn id_number(first17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17.bytes().zip(W).map(|(d, w)| u32::from(d - b'0') * w).sum();
    format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

/// Books, for a family member of `token`'s citizen, a free number at `hospital` (its doctors
/// listed near `near`, GCJ-02 as the Mini Program sends it) from tomorrow to 3 days ahead.
async fn book_at(app: &TestApp, token: &str, hospital: &str, near: (f64, f64), id17: &str) {
    let (_, doctors) =
        app.get_json(&format!("/v1/booking/doctors?lat={}&lon={}&coord=gcj02&limit=20", near.0, near.1)).await;
    let today = city_date(from_ms(now_ms())).to_string();
    let last = city_date(from_ms(now_ms() + 3 * 86_400_000)).to_string();
    for doctor in doctors.as_array().unwrap().iter().filter(|d| d["hospital_id"] == hospital) {
        let doctor_id = doctor["id"].as_str().unwrap();
        let (_, sessions) = app.get_json(&format!("/v1/booking/doctors/{doctor_id}/sessions")).await;
        let Some(session) = sessions.as_array().unwrap().iter().find(|s| {
            let d = s["date"].as_str().unwrap();
            d > today.as_str() && d <= last.as_str() && s["n_free"].as_i64().unwrap() > 0
        }) else {
            continue;
        };
        let date = session["date"].as_str().unwrap();
        let (_, slots) = app.get_json(&format!("/v1/booking/doctors/{doctor_id}/slots?date={date}")).await;
        let slot = slots["slots"].as_array().unwrap().iter().find(|s| s["free"] == true).unwrap().clone();
        let person = json!({"name": "王小明", "id_number": id_number(id17), "relation": "parent"});
        let (status, person) = post_once(app, "/v1/me/people", token, person).await;
        assert_eq!(status, 201, "{person}");
        let body = json!({"slot_id": slot["id"], "person_id": person["id"]});
        let (status, appointment) = post_once(app, "/v1/booking/appointments", token, body).await;
        assert_eq!(status, 201, "{appointment}");
        return;
    }
    panic!("no free number at {hospital} in the next 3 days: {doctors}");
}

/// POST with an `Idempotency-Key` (booking's writes require one).
async fn post_once(app: &TestApp, path: &str, token: &str, body: Value) -> (u16, Value) {
    let key = format!("e2e-urgent-{}", city_platform::ids::new_id());
    let resp = app
        .http
        .post(app.url(path))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// The urgent announcement's template messages the sandbox recorded for `openid`.
async fn urgent_templates(app: &TestApp, openid: &str) -> Vec<Value> {
    let (_, sent) = app.get_json(&format!("/sandbox/wechat/_test/messages?touser={openid}&kind=template")).await;
    sent.as_array().unwrap().iter().filter(|m| m["body"]["template_id"] == TEMPLATE).cloned().collect()
}

#[tokio::test]
async fn an_urgent_announcement_reaches_each_citizen_with_a_booking_or_an_open_report_in_the_district_once_as_a_template_message(
) {
    let app = spawn_app_with(|s| s.internal_token = Some(Secret::new(INTERNAL_TOKEN))).await;
    let author = staff(&app, "urg.author", "editor").await;
    let approver = staff(&app, "urg.approver", "editor").await;
    let clerk = staff(&app, "urg.clerk", "clerk").await;
    // Hospitals h-cd2 (Jinjiang, 510104) and h-cd6 (Chenghua, 510108), as their pins give them.
    let (cd2, cd6) = ((30.653, 104.0825), (30.6615, 104.0996));
    let (a, b, c, e, f) = (
        "oUrgentA00000000000000000001",
        "oUrgentB00000000000000000001",
        "oUrgentC00000000000000000001",
        "oUrgentE00000000000000000001",
        "oUrgentF00000000000000000001",
    );
    let a_token = oa_citizen(&app, a).await;
    book_at(&app, &a_token, "h-cd2", cd2, "51010419800101001").await;
    let b_token = oa_citizen(&app, b).await;
    report(&app, &b_token, CHUNXI_GCJ02).await;
    let c_token = oa_citizen(&app, c).await;
    book_at(&app, &c_token, "h-cd2", cd2, "51010419800101002").await;
    report(&app, &c_token, CHUNXI_GCJ02).await;
    let e_token = oa_citizen(&app, e).await;
    book_at(&app, &e_token, "h-cd6", cd6, "51010419800101003").await;
    // A follower located in Jinjiang with nothing there: a broadcast would reach them, this not.
    follower(&app, f, Some(JINJIANG)).await;

    // Booking's internal answer: A and C, not E (another district); the token is required.
    let path = "/v1/internal/booking/districts/510104/citizens?days=3";
    let resp = internal(&app, path, Some(INTERNAL_TOKEN)).await;
    assert_eq!(resp.status(), 200);
    let patients: Value = resp.json().await.unwrap();
    let mut want = vec![citizen_id(&app, &a_token).await, citizen_id(&app, &c_token).await];
    want.sort();
    assert_eq!(patients["citizen_ids"], json!(want), "{patients}");
    expect_problem(internal(&app, path, None).await, 401).await;
    expect_problem(internal(&app, path, Some("not-the-token")).await, 401).await;
    let p = expect_problem(
        internal(&app, "/v1/internal/booking/districts/510104/citizens?days=15", Some(INTERNAL_TOKEN)).await,
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "days", "{p}");

    // Urgent needs a district.
    let media = cover(&app, &author).await;
    let article = json!({"title": "Gas leak near Chunxi Road", "digest": "Keep away from Chunxi Road until 18:00",
        "body": "A gas main leaks.\nFollow the police's directions.", "cover_media_id": media});
    let (status, p) = send(
        &app,
        "POST",
        "/v1/announcements",
        Some(&author),
        Some(json!({"articles": [article.clone()], "urgent": true})),
    )
    .await;
    assert_eq!((status, p["errors"][0]["field"].as_str()), (422, Some("district")), "{p}");
    let (status, created) = send(
        &app,
        "POST",
        "/v1/announcements",
        Some(&author),
        Some(json!({"articles": [article], "district": "510104", "urgent": true})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["urgent"], true);
    let id = created["id"].as_str().unwrap().to_owned();
    let send_path = format!("/v1/announcements/{id}/send");

    // Unapproved: refused like any other. Wrong callers: refused.
    let (status, p) = send(&app, "POST", &send_path, Some(&author), None).await;
    assert_eq!((status, p["type"].as_str()), (409, Some("/problems/announcement-not-approved")), "{p}");
    let (status, _) = send(&app, "POST", &send_path, None, None).await;
    assert_eq!(status, 401);
    for token in [&a_token, &clerk] {
        let (status, p) = send(&app, "POST", &send_path, Some(token), None).await;
        assert_eq!(status, 403, "{p}");
        let (status, p) = send(&app, "POST", &format!("/v1/announcements/{id}/approve"), Some(token), None).await;
        assert_eq!(status, 403, "{p}");
    }
    let (status, a_) = send(&app, "POST", &format!("/v1/announcements/{id}/approve"), Some(&approver), None).await;
    assert_eq!(status, 200, "{a_}");

    // A double click: one set of messages.
    let (first, second) = tokio::join!(
        send(&app, "POST", &send_path, Some(&approver), None),
        send(&app, "POST", &send_path, Some(&author), None)
    );
    assert_eq!((first.0, second.0), (200, 200), "{first:?} {second:?}");
    let (_, sent) = send(&app, "GET", &format!("/v1/announcements/{id}"), Some(&author), None).await;
    assert_eq!((sent["status"].as_str(), sent["recipients"].as_i64()), (Some("sent"), Some(3)), "{sent}");
    assert!(sent.get("msg_id").is_none(), "no broadcast job: {sent}");

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut got = Vec::new();
        for openid in [a, b, c] {
            got.push(urgent_templates(&app, openid).await.len());
        }
        if got == [1, 1, 1] {
            break;
        }
        assert!(got.iter().all(|n| *n <= 1), "one each, never more: {got:?}");
        assert!(Instant::now() < deadline, "template messages to A, B, C: {got:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let message = &urgent_templates(&app, c).await[0];
    assert_eq!(message["body"]["data"]["thing1"]["value"], "Gas leak near Chunxi", "20 characters: {message}");
    assert_eq!(message["body"]["data"]["thing2"]["value"], "Keep away from Chunx", "20 characters: {message}");

    // Sent again (a retry): nothing more. The notifier runs every 2 s: give it two rounds.
    let (status, again) = send(&app, "POST", &send_path, Some(&author), None).await;
    assert_eq!((status, again["recipients"].as_i64()), (200, Some(3)), "{again}");
    tokio::time::sleep(Duration::from_millis(4500)).await;
    for openid in [a, b, c] {
        assert_eq!(urgent_templates(&app, openid).await.len(), 1, "{openid} once");
    }
    for openid in [e, f] {
        assert!(urgent_templates(&app, openid).await.is_empty(), "{openid} is not concerned");
    }
    for openid in [a, b, c, e, f] {
        assert!(broadcasts_to(&app, openid).await.is_empty(), "no broadcast to {openid}");
    }
    let (_, history) = send(&app, "GET", "/v1/announcements", Some(&approver), None).await;
    assert_eq!(history[0]["recipients"], 3, "{history}");
    app.stop().await;
}
