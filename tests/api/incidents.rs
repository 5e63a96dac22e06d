//! Incident reports end to end, as a person with curl would do it: sandbox sign-in, a GCJ-02
//! pin and a photo, the district clerk's queue and workflow, the citizen's history, the map,
//! and the same report through Open311.

use serde_json::{json, Value};

use crate::harness::{expect_problem, spawn_app, TestApp};

/// An 8×8 red PNG.
const PNG: &[u8] = &[
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 8, 0, 0, 0, 8, 8, 2, 0, 0, 0, 75, 109, 41,
    220, 0, 0, 0, 17, 73, 68, 65, 84, 120, 156, 99, 56, 33, 39, 135, 21, 49, 12, 45, 9, 0, 144, 191, 65, 1, 178, 159,
    62, 34, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
];

/// Chunxi Road (Jinjiang District) as WeChat's map reports it (GCJ-02).
const CHUNXI_GCJ02: (f64, f64) = (30.652_794, 104.083_630);

async fn clerk(app: &TestApp, username: &str, district: &str) -> String {
    let password = "correct horse battery";
    app.city(&[
        "staff",
        "create",
        "--username",
        username,
        "--password",
        password,
        "--role",
        "clerk",
        "--district",
        district,
    ]);
    let session: Value = app
        .http
        .post(app.url("/v1/staff/sessions"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    session["token"].as_str().expect("a staff token").to_owned()
}

fn multipart(field: &str, filename: &str, content_type: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----city-e2e-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn a_citizen_reports_with_a_gcj02_pin_and_a_photo_and_the_district_clerk_resolves_it() {
    let app = spawn_app().await;
    let alice = app.citizen_token("e2e-incidents-alice").await;
    let jinjiang = clerk(&app, "jj.clerk", "510104").await;
    let shuangliu = clerk(&app, "sl.clerk", "510116").await;

    // A photo, then the report.
    let (ct, body) = multipart("photo", "pothole.png", "image/png", PNG);
    let resp = app
        .http
        .post(app.url("/v1/incidents/photos"))
        .bearer_auth(&alice)
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let photo: Value = resp.json().await.unwrap();
    let resp = app
        .http
        .post(app.url("/v1/incidents"))
        .bearer_auth(&alice)
        .json(&json!({
            "category": "pothole",
            "description": "Deep pothole in the cycle lane",
            "location": {"lat": CHUNXI_GCJ02.0, "lon": CHUNXI_GCJ02.1, "crs": "gcj02"},
            "address": "Chunxi Road 12",
            "answers": {"size": "large"},
            "photo_ids": [photo["id"]],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let report: Value = resp.json().await.unwrap();
    let id = report["id"].as_str().unwrap().to_owned();
    assert_eq!(report["district"], "510104");
    let img = app.http.get(app.url(report["photos"][0]["url"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(img.headers()["content-type"], "image/jpeg");

    // The text passed the sandbox's msg_sec_check, so the public sees it.
    let (status, public) = app.get_json(&format!("/v1/incidents/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(public["description"], "Deep pothole in the cycle lane", "{public}");
    assert!((public["location"]["lat"].as_f64().unwrap() - 30.6552).abs() < 1e-3, "stored in WGS-84: {public}");

    // The Jinjiang clerk sees it; the Shuangliu clerk does not.
    let queue = |token: String| {
        let app = &app;
        async move {
            let v: Value = app
                .http
                .get(app.url("/v1/incidents/queue"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            v
        }
    };
    assert_eq!(queue(jinjiang.clone()).await.as_array().unwrap().len(), 1);
    assert_eq!(queue(shuangliu.clone()).await.as_array().unwrap().len(), 0);

    // Through the states with public updates, each with If-Match.
    let mut etag = "\"v1\"".to_owned();
    for (state, template) in [("confirmed", "received"), ("in_progress", "in-progress"), ("fixed", "fixed")] {
        let mut body = json!({"state": state, "template": template});
        if state == "confirmed" {
            body = json!({"state": state, "public_update": "Confirmed by an inspector."});
        }
        let resp = app
            .http
            .post(app.url(&format!("/v1/incidents/queue/{id}/state")))
            .bearer_auth(&jinjiang)
            .header("If-Match", &etag)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{state}");
        etag = resp.headers()["etag"].to_str().unwrap().to_owned();
    }
    // A stale version is refused, not silently applied.
    let stale = app
        .http
        .post(app.url(&format!("/v1/incidents/queue/{id}/notes")))
        .bearer_auth(&jinjiang)
        .header("If-Match", "\"v1\"")
        .json(&json!({"text": "late note"}))
        .send()
        .await
        .unwrap();
    expect_problem(stale, 412).await;

    // The citizen sees the full public history.
    let mine: Value =
        app.http.get(app.url("/v1/incidents/mine")).bearer_auth(&alice).send().await.unwrap().json().await.unwrap();
    assert_eq!(mine[0]["state"], "fixed");
    let texts: Vec<&str> =
        mine[0]["history"].as_array().unwrap().iter().map(|h| h["text_en"].as_str().unwrap()).collect();
    assert!(texts.contains(&"Confirmed by an inspector."), "{texts:?}");
    assert!(texts.contains(&"The problem has been fixed. Thank you for reporting it."), "{texts:?}");

    // The same report through Open311, and a new one filed there.
    let (status, o) = app.get_json(&format!("/open311/v2/requests/{id}.json")).await;
    assert_eq!(status, 200);
    assert_eq!(o[0]["status"], "closed");
    let key = app.city(&["apikey", "create", "--name", "open311 client", "--scope", "open311"]);
    let resp = app
        .http
        .post(app.url(&format!("/open311/v2/requests.json?api_key={key}")))
        .form(&[
            ("service_code", "dumping"),
            ("lat", "30.6552"),
            ("long", "104.0811"),
            ("description", "Sofa left on the pavement"),
            ("attribute[waste_type]", "bulky"),
            ("email", "someone@example.com"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let created: Value = resp.json().await.unwrap();
    let oid = created[0]["service_request_id"].as_str().unwrap().to_owned();
    let (_, list) = app.get_json("/open311/v2/requests.json?service_code=dumping").await;
    assert_eq!(list[0]["service_request_id"], oid.as_str());
    assert!(!list.to_string().contains("someone@example.com"));
    assert_eq!(queue(jinjiang.clone()).await.as_array().unwrap().len(), 2);
    let forbidden =
        app.http.post(app.url("/open311/v2/requests.xml")).form(&[("service_code", "dumping")]).send().await.unwrap();
    assert_eq!(forbidden.status(), 403);
    assert!(forbidden.text().await.unwrap().contains("<errors><error><code>403</code>"));

    // The public map shows both as pins.
    let map_url = "/v1/incidents/map?bbox=104.07,30.64,104.09,30.66&zoom=16";
    let (status, map) = app.get_json(map_url).await;
    assert_eq!(status, 200);
    assert_eq!(map["type"], "FeatureCollection");
    let pins = map["features"].as_array().unwrap().len();

    // Text the sandbox's msg_sec_check holds for review is not public, nor on the map, until
    // the district clerk approves it.
    let bob = app.citizen_token("e2e-incidents-bob").await;
    let resp = app
        .http
        .post(app.url("/v1/incidents"))
        .bearer_auth(&bob)
        .json(&json!({"category": "noise", "description": "review-demo: loudspeaker van",
                      "location": {"lat": 30.652_794, "lon": 104.083_630, "crs": "gcj02"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let held: Value = resp.json().await.unwrap();
    let held_id = held["id"].as_str().unwrap().to_owned();
    let (_, public) = app.get_json(&format!("/v1/incidents/{held_id}")).await;
    assert!(public["description"].is_null());
    assert_eq!(app.get_json(map_url).await.1["features"].as_array().unwrap().len(), pins);
    let resp = app
        .http
        .post(app.url(&format!("/v1/incidents/queue/{held_id}/moderation")))
        .bearer_auth(&jinjiang)
        .json(&json!({"approve": true, "note": "an ordinary complaint"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (_, public) = app.get_json(&format!("/v1/incidents/{held_id}")).await;
    assert_eq!(public["description"], "review-demo: loudspeaker van");
    assert_eq!(app.get_json(map_url).await.1["features"].as_array().unwrap().len(), pins + 1);
    app.stop().await;
}

#[tokio::test]
async fn a_datum_is_one_of_the_three_the_document_names_and_bd09_is_one() {
    let app = spawn_app().await;
    let alice = app.citizen_token("e2e-incidents-datum").await;
    let near = "/v1/incidents/nearby?lat=30.6587&lon=104.0898&category=pothole";
    let (status, list) = app.get_json(&format!("{near}&coord=bd09")).await;
    assert_eq!(status, 200, "{list}");
    // Outside the pattern: refused before the handler, naming the parameter (alias included).
    for (query, field) in [("coord=utm", "coord"), ("coord=WGS-84", "coord"), ("crs=mercator", "crs")] {
        let resp = app.http.get(app.url(&format!("{near}&{query}"))).send().await.unwrap();
        let problem = expect_problem(resp, 400).await;
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
    }
    let report = |location: Value| {
        let (app, alice) = (&app, &alice);
        async move {
            app.http
                .post(app.url("/v1/incidents"))
                .bearer_auth(alice)
                .json(&json!({"category": "pothole", "description": "Pothole", "location": location,
                    "answers": {"size": "large"}}))
                .send()
                .await
                .unwrap()
        }
    };
    // In the body: 422 naming the field's whole path and the three datums.
    let problem = expect_problem(report(json!({"lat": 30.6587, "lon": 104.0898, "coord": "utm"})).await, 422).await;
    assert_eq!(problem["errors"][0]["field"], "location.coord", "{problem}");
    assert!(problem["errors"][0]["message"].as_str().unwrap().contains("bd09"), "{problem}");
    // Neither given: the refusal names all three.
    let problem = expect_problem(report(json!({"lat": 30.6587, "lon": 104.0898})).await, 422).await;
    assert_eq!(problem["errors"][0]["field"], "location.coord", "{problem}");
    assert!(problem["errors"][0]["message"].as_str().unwrap().contains("bd09"), "{problem}");
    let resp = report(json!({"lat": 30.6587, "lon": 104.0898, "coord": "bd09"})).await;
    let status = resp.status();
    assert_eq!(status, 201, "{}", resp.text().await.unwrap());
    app.stop().await;
}
