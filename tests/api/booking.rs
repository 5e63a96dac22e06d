//! Booking end to end, as a person with curl would do it: sandbox sign-in, a family member in
//! identity, a doctor near a GCJ-02 pin, free slots for a date, a booking, "my appointments",
//! cancelling, and the slot coming back; and the Service Account channel asking booking for a
//! citizen's next appointment over the internal API.

use serde_json::{json, Value};

use city_platform::auth::INTERNAL_TOKEN_HEADER;
use city_platform::config::Secret;

use crate::harness::{expect_problem, spawn_app_with, TestApp};

const INTERNAL_TOKEN: &str = "e2e-booking-internal-token";

/// POST with an `Idempotency-Key` made from the request (escaped: a key is visible ASCII).
async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut req = app
        .http
        .post(app.url(path))
        .json(&body)
        .header("Idempotency-Key", format!("e2e-{path}-{}", body.to_string().escape_default()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("the portal answers")
}

async fn get(app: &TestApp, path: &str, token: &str) -> Value {
    app.http.get(app.url(path)).bearer_auth(token).send().await.unwrap().json().await.unwrap()
}

/// A valid GB 11643 number.
fn id_number(first17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17.bytes().zip(W).map(|(d, w)| u32::from(d - b'0') * w).sum();
    format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

#[tokio::test]
async fn a_citizen_finds_a_doctor_nearby_books_for_family_sees_it_cancels_and_the_slot_returns() {
    let app = spawn_app_with(|s| s.internal_token = Some(Secret::new(INTERNAL_TOKEN))).await;
    // Near Chunxi Road (GCJ-02, as WeChat reports it).
    let (status, doctors) = app.get_json("/v1/booking/doctors?lat=30.6530&lon=104.0836&coord=gcj02&limit=5").await;
    assert_eq!(status, 200, "{doctors}");
    let nearest = &doctors[0];
    assert_eq!(nearest["hospital_id"], "h-cd2");
    let doctor_id = nearest["id"].as_str().unwrap();

    // A day that is released and not yet past its cut-off: tomorrow to six days ahead.
    let (_, sessions) = app.get_json(&format!("/v1/booking/doctors/{doctor_id}/sessions")).await;
    let (today, last) = released_days();
    let session = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            let d = s["date"].as_str().unwrap();
            d > today.as_str() && d <= last.as_str() && s["n_free"].as_i64().unwrap() > 0
        })
        .expect("the demo schedule has a session in the coming days");
    let date = session["date"].as_str().unwrap().to_owned();
    let (status, slots) = app.get_json(&format!("/v1/booking/doctors/{doctor_id}/slots?date={date}")).await;
    assert_eq!(status, 200, "{slots}");
    let free_before = slots["n_free"].as_i64().unwrap();
    let slot_id = slots["slots"].as_array().unwrap().iter().find(|s| s["free"] == true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let anonymous = post(&app, "/v1/booking/appointments", None, json!({"slot_id": slot_id, "person_id": "x"})).await;
    expect_problem(anonymous, 401).await;

    let code: Value = post(&app, "/sandbox/wechat/_test/mp/codes", None, json!({"unionid": "e2e-booking"}))
        .await
        .json()
        .await
        .unwrap();
    let session: Value =
        post(&app, "/v1/auth/miniprogram/login", None, json!({"code": code["code"]})).await.json().await.unwrap();
    let token = session["token"].as_str().unwrap().to_owned();
    let resp = post(
        &app,
        "/v1/me/people",
        Some(&token),
        json!({"name": "陈小红", "id_number": id_number("51010419850612003"), "relation": "parent"}),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let person: Value = resp.json().await.unwrap();

    let resp =
        post(&app, "/v1/booking/appointments", Some(&token), json!({"slot_id": slot_id, "person_id": person["id"]}))
            .await;
    assert_eq!(resp.status(), 201);
    let appt: Value = resp.json().await.unwrap();
    assert_eq!(appt["patient_name_masked"], person["name_masked"]);
    let (_, slots) = app.get_json(&format!("/v1/booking/doctors/{doctor_id}/slots?date={date}")).await;
    assert_eq!(slots["n_free"].as_i64().unwrap(), free_before - 1);

    let mine = get(&app, "/v1/booking/appointments", &token).await;
    assert_eq!(mine["upcoming"][0]["id"], appt["id"]);

    // The Service Account's "my next appointment", as the channel service asks for it.
    let me = get(&app, "/v1/me", &token).await;
    let next_path = format!("/v1/internal/booking/citizens/{}/next-appointment", me["id"].as_str().unwrap());
    let next = |token: Option<&'static str>| {
        let mut req = app.http.get(app.url(&next_path));
        if let Some(t) = token {
            req = req.header(INTERNAL_TOKEN_HEADER, t);
        }
        req.send()
    };
    let resp = next(Some(INTERNAL_TOKEN)).await.unwrap();
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["appointment_id"], appt["id"]);
    assert_eq!(answer["patient"], person["name_masked"]);
    let place = format!(
        "{} {} {}",
        nearest["hospital_name_zh"].as_str().unwrap(),
        nearest["department_name_zh"].as_str().unwrap(),
        nearest["name"].as_str().unwrap()
    );
    assert_eq!(answer["place"], place.as_str());
    let when = answer["when"].as_str().unwrap();
    assert!(when.starts_with(&format!("{date} ")) && when.ends_with("(Beijing time)"), "{when}");
    expect_problem(next(None).await.unwrap(), 401).await;
    expect_problem(next(Some("not-the-token")).await.unwrap(), 401).await;
    // A citizen's bearer token is not an internal credential.
    let as_citizen = app.http.get(app.url(&next_path)).bearer_auth(&token).send().await.unwrap();
    expect_problem(as_citizen, 401).await;

    let id = appt["id"].as_str().unwrap();
    let resp = post(&app, &format!("/v1/booking/appointments/{id}/cancel"), Some(&token), json!({})).await;
    assert_eq!(resp.status(), 200);
    let (_, slots) = app.get_json(&format!("/v1/booking/doctors/{doctor_id}/slots?date={date}")).await;
    assert_eq!(slots["n_free"].as_i64().unwrap(), free_before);
    let mine = get(&app, "/v1/booking/appointments", &token).await;
    assert_eq!(mine["cancelled"][0]["id"], appt["id"]);
    // Nothing is booked any more.
    expect_problem(next(Some(INTERNAL_TOKEN)).await.unwrap(), 404).await;
    app.stop().await;
}

/// Today's and six days later's Beijing dates.
fn released_days() -> (String, String) {
    use city_platform::time::{city_date, from_ms, now_ms};
    let now = now_ms();
    (city_date(from_ms(now)).to_string(), city_date(from_ms(now + 6 * 86_400_000)).to_string())
}
