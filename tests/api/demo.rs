//! The README's "Then try it" against a freshly started demo (issue #25): `city serve` as
//! `cargo run` starts it, on a fresh store, and every curl of the section answers with data at
//! once, within a second of `/readyz` saying ready.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{city_command, test_settings};

struct Portal(Child);

impl Drop for Portal {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn get(http: &reqwest::Client, url: String, token: Option<&str>) -> (u16, Value) {
    let mut req = http.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("the portal answers");
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

async fn post(http: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = http.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("the portal answers");
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_fresh_demo_answers_every_then_try_it_line_with_data_within_a_second_of_ready() {
    let (mut settings, _dir) = test_settings();
    settings.demo_activity = true;
    settings.air.demo_feed = true;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    settings.listen = format!("127.0.0.1:{port}").parse().unwrap();
    let started = Instant::now();
    let mut cmd = city_command(&settings, &["serve"]);
    cmd.env("CITY_LOG", "warn").stdout(Stdio::null());
    let portal = Portal(cmd.spawn().expect("the city binary starts"));
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                break;
            }
        }
        assert!(Instant::now() < deadline, "the demo did not become ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ready = Instant::now();
    eprintln!("demo ready {} ms after the start", (ready - started).as_millis());

    // Air near a point, the city's summary and the districts.
    let air = async {
        let (status, near) = get(&http, format!("{base}/v1/air/nearest?lat=30.6552&lon=104.0811"), None).await;
        assert_eq!(status, 200, "{near}");
        assert!(near["aqi"].as_u64().is_some_and(|a| a > 0), "{near}");
        let (status, summary) = get(&http, format!("{base}/v1/air/summary"), None).await;
        assert_eq!(status, 200, "{summary}");
        let (_, districts) = get(&http, format!("{base}/v1/air/districts"), None).await;
        let reported =
            districts["districts"].as_array().map_or(0, |d| d.iter().filter(|d| d["report"].is_object()).count());
        assert!(reported >= 5, "districts with an index: {districts}");
    };
    // The map, city-wide (clusters) and at street zoom (pins).
    let map = async {
        let (status, city) =
            get(&http, format!("{base}/v1/incidents/map?bbox=103.85,30.47,104.28,30.84&zoom=10"), None).await;
        assert_eq!(status, 200, "{city}");
        let features = city["features"].as_array().map_or(0, Vec::len);
        assert!(features > 0, "{city}");
        let total: u64 = city["features"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| f["properties"]["count"].as_u64().unwrap_or(1))
            .sum();
        assert!(total >= 200, "reports on the city map: {total}");
    };
    // A doctor's free places this week, and some nearly full day somewhere.
    let booking = async {
        let (status, sessions) = get(&http, format!("{base}/v1/booking/doctors/doc-001/sessions?days=7"), None).await;
        assert_eq!(status, 200, "{sessions}");
        let sessions = sessions.as_array().cloned().unwrap_or_default();
        assert!(sessions.iter().any(|s| s["n_free"].as_i64().is_some_and(|n| n > 0)), "{sessions:?}");
        let mut nearly_full = 0;
        for doctor in ["doc-001", "doc-002", "doc-003", "doc-026", "doc-027", "doc-028"] {
            let (_, list) = get(&http, format!("{base}/v1/booking/doctors/{doctor}/sessions?days=8"), None).await;
            nearly_full += list
                .as_array()
                .into_iter()
                .flatten()
                .filter(|s| s["n_free"].as_i64().is_some_and(|n| (1..=3).contains(&n)))
                .count();
        }
        assert!(nearly_full > 0, "no nearly full session among six doctors");
    };
    // A demo account's bills, as the README signs in through the sandbox.
    let bills = async {
        let (_, code) =
            post(&http, format!("{base}/sandbox/wechat/_test/mp/codes"), None, json!({"unionid": "demo-zhang"})).await;
        let (_, session) =
            post(&http, format!("{base}/v1/auth/miniprogram/login"), None, json!({"code": code["code"]})).await;
        let token = session["token"].as_str().expect("a citizen token").to_owned();
        let (status, account) = post(
            &http,
            format!("{base}/v1/payments/accounts"),
            Some(&token),
            json!({"biller_id": "cd-power", "account_no": "3100123456"}),
        )
        .await;
        assert_eq!(status, 200, "{account}");
        let id = account["id"].as_str().unwrap();
        let (status, bills) = get(&http, format!("{base}/v1/payments/accounts/{id}/bills"), Some(&token)).await;
        assert_eq!(status, 200, "{bills}");
        assert!(bills.as_array().is_some_and(|b| b.iter().any(|b| b["status"] == "unpaid")), "{bills}");
        // Each demo plate: a fine on time, on its last day, late, and capped at the fine itself.
        for (plate, plate_type, last6) in [("%E5%B7%9DA12345", "02", "123456"), ("%E5%B7%9DAD12345", "52", "654321")] {
            let url = format!("{base}/v1/payments/fines?plate={plate}&plate_type={plate_type}&engine_last6={last6}");
            let (status, fines) = get(&http, url, Some(&token)).await;
            assert_eq!(status, 200, "{fines}");
            let fines = fines.as_array().cloned().unwrap_or_default();
            let n = |f: &Value, k: &str| f[k].as_i64().unwrap_or(-1);
            assert!(fines.iter().any(|f| n(f, "late_days") == 0), "on time: {fines:?}");
            assert!(
                fines.iter().any(|f| n(f, "late_days") > 0 && n(f, "surcharge_fen") < n(f, "fine_fen")),
                "late: {fines:?}"
            );
            assert!(fines.iter().any(|f| n(f, "surcharge_fen") == n(f, "fine_fen")), "capped: {fines:?}");
        }
    };
    tokio::join!(air, map, booking, bills);
    let answered = ready.elapsed();
    eprintln!("every line answered {} ms after ready", answered.as_millis());
    assert!(answered < Duration::from_secs(1), "answered {answered:?} after ready");

    drop(portal);
    if let Some(url) = &settings.database_url {
        for service in ["gateway", "air", "identity", "booking", "payments", "incidents", "notify", "wechat"] {
            let _ = city_platform::db::drop_schema(url.expose(), &format!("{}{service}", settings.schema_prefix)).await;
        }
    }
}
