//! Urgent announcements (issue #21): template messages to the citizens concerned (an appointment
//! at a hospital in the district in the coming days, or a report still open there), never a
//! broadcast; and the internal questions the channel asks booking and incidents for them.

use city_platform::auth::INTERNAL_TOKEN_HEADER;
use city_platform::config::Secret;
use serde_json::{json, Value};

use crate::announcements::send;
use crate::harness::{expect_problem, spawn_app_with, TestApp};

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
