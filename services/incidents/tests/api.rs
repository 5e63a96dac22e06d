//! The incidents service in-process, behind the real edge middleware, on both backends:
//! reporting with GCJ-02 pins and photos, routing, the clerks' workflow with versions,
//! duplicates, the map, and Open311 GeoReport v2.

use std::sync::Arc;

use async_trait::async_trait;
use city_incidents::safety::{ContentSafety, SafetyError, Verdict};
use city_incidents::IncidentsService;
use city_platform::auth::{Citizen, Integrator, Principal, Role, Scopes, Staff};
use city_platform::coords::LatLon;
use city_platform::testing::{test_platform, StaticAuthenticator, TestPlatform};
use city_platform::Db;
use poem::endpoint::BoxEndpoint;
use poem::test::{TestClient, TestForm, TestFormField};
use poem::EndpointExt;
use serde_json::{json, Value};
use sqlx::Row;

/// Flags text the way the sandbox does, without a server.
struct KeywordSafety;

#[async_trait]
impl ContentSafety for KeywordSafety {
    async fn check(&self, content: &str, _openid: &str) -> Result<Verdict, SafetyError> {
        Ok(if content.contains("risky-demo") {
            Verdict::Risky
        } else if content.contains("review-demo") {
            Verdict::Review
        } else {
            Verdict::Pass
        })
    }
}

struct World {
    t: TestPlatform,
    api: TestClient<BoxEndpoint<'static>>,
    open311: TestClient<BoxEndpoint<'static>>,
    db: Db,
}

fn citizen(id: &str) -> Principal {
    Principal::Citizen(Citizen { citizen_id: id.into(), session_id: format!("s-{id}") })
}

fn clerk(id: &str, districts: &[&str]) -> Principal {
    Principal::Staff(Staff {
        staff_id: id.into(),
        username: id.into(),
        roles: vec![Role::Clerk],
        scopes: Scopes { districts: districts.iter().map(|d| d.to_string()).collect(), ..Default::default() },
        session_id: format!("s-{id}"),
    })
}

async fn world() -> World {
    let t = test_platform().await;
    let (api, db) = IncidentsService::start_with(t.platform.clone(), Arc::new(KeywordSafety)).await.unwrap();
    let auth = StaticAuthenticator::new();
    auth.with_token("alice", citizen("c-alice"));
    auth.with_token("bob", citizen("c-bob"));
    auth.with_token("carol", citizen("c-carol"));
    auth.with_token("jinjiang-clerk", clerk("st-jj", &["510104"]));
    auth.with_token("jinjiang-clerk-2", clerk("st-jj2", &["510104"]));
    auth.with_token("shuangliu-clerk", clerk("st-sl", &["510116"]));
    auth.with_key(
        "open311-key",
        Integrator { key_id: "k1".into(), name: "three".into(), scopes: vec!["open311".into()] },
    );
    auth.with_key("air-key", Integrator { key_id: "k2".into(), name: "air".into(), scopes: vec!["air-ingest".into()] });
    let routes = api.open311_routes();
    let shared: city_platform::auth::SharedAuthenticator = auth.clone();
    let open311 = TestClient::new(routes.data(shared.clone()).boxed());
    let api = t.client(api, &db, shared);
    World { t, api, open311, db }
}

/// Chunxi Road, Jinjiang District, in WGS-84.
const CHUNXI: (f64, f64) = (30.6552, 104.0811);

/// A point inside a district, found on a grid.
fn point_in(t: &TestPlatform, code: &str) -> (f64, f64) {
    for i in 0..200 {
        for j in 0..200 {
            let (lat, lon) = (30.45 + f64::from(i) * 0.002, 103.85 + f64::from(j) * 0.002);
            let p = LatLon::new(lat, lon).unwrap();
            if t.platform.districts.locate(p).is_some_and(|d| d.code == code) {
                return (lat, lon);
            }
        }
    }
    panic!("no point in {code}");
}

fn gcj(p: (f64, f64)) -> (f64, f64) {
    let g = LatLon::new(p.0, p.1).unwrap().to_gcj02();
    (g.lat(), g.lon())
}

fn pothole(lat: f64, lon: f64, crs: &str) -> Value {
    json!({
        "category": "pothole",
        "description": "Deep pothole in the cycle lane",
        "location": {"lat": lat, "lon": lon, "crs": crs},
        "address": "Chunxi Road 12",
        "answers": {"size": "large", "lane": ["cycle"]},
    })
}

async fn report(w: &World, token: &str, body: &Value) -> Value {
    let resp =
        w.api.post("/v1/incidents").header("Authorization", format!("Bearer {token}")).body_json(body).send().await;
    resp.assert_status(poem::http::StatusCode::CREATED);
    resp.json().await.value().deserialize()
}

async fn json_of(resp: poem::test::TestResponse) -> Value {
    resp.json().await.value().deserialize()
}

async fn outbox(db: &Db, topic: &str) -> Vec<Value> {
    let rows = sqlx::query("SELECT payload FROM platform_outbox WHERE topic = $1 ORDER BY created_at, id")
        .bind(topic)
        .fetch_all(&db.pool)
        .await
        .unwrap();
    rows.iter().map(|r| serde_json::from_str(&r.get::<String, _>("payload")).unwrap()).collect()
}

#[tokio::test]
async fn a_gcj02_pin_is_stored_in_wgs84_with_the_original_kept_and_routed_by_district() {
    let w = world().await;
    let (glat, glon) = gcj(CHUNXI);
    let body = report(&w, "alice", &pothole(glat, glon, "gcj02")).await;
    assert_eq!(body["district"], "510104");
    assert_eq!(body["agency"]["id"], "roads");
    // The answer speaks the client's datum; the stored pin is WGS-84.
    assert_eq!(body["location"]["crs"], "gcj02");
    assert!((body["location"]["lat"].as_f64().unwrap() - glat).abs() < 1e-5, "{body}");
    let id = body["id"].as_str().unwrap();
    let public = json_of(w.api.get(format!("/v1/incidents/{id}")).send().await).await;
    assert_eq!(public["location"]["crs"], "wgs84");
    assert!((public["location"]["lat"].as_f64().unwrap() - CHUNXI.0).abs() < 1e-5, "{public}");
    assert!((public["location"]["lon"].as_f64().unwrap() - CHUNXI.1).abs() < 1e-5);
    assert_eq!(body["answers"]["lane"], json!(["cycle"]));
    assert!(body.get("reporter_name").is_none(), "anonymous by default");
    // Clerks see what the citizen sent.
    let staff = json_of(
        w.api.get(format!("/v1/incidents/queue/{id}")).header("Authorization", "Bearer jinjiang-clerk").send().await,
    )
    .await;
    assert_eq!(staff["original_location"]["crs"], "gcj02");
    assert!((staff["original_location"]["lat"].as_f64().unwrap() - glat).abs() < 1e-12);
    w.t.cleanup().await;
}

#[tokio::test]
async fn bad_pins_categories_and_answers_are_clear_4xx_and_nothing_is_written() {
    let w = world().await;
    let cases = [
        (
            json!({"category": "pothole", "description": "x", "location": {"lat": 31.2304, "lon": 121.4737, "crs": "wgs84"}, "answers": {"size": "small"}}),
            422,
            "location.lat",
            "/problems/outside-city",
        ),
        (
            json!({"category": "pothole", "description": "x", "location": {"lat": 104.0811, "lon": 30.6552, "crs": "wgs84"}, "answers": {"size": "small"}}),
            422,
            "location.lat",
            "/problems/validation",
        ),
        (
            json!({"category": "volcano", "description": "x", "location": {"lat": CHUNXI.0, "lon": CHUNXI.1, "crs": "wgs84"}}),
            422,
            "category",
            "/problems/validation",
        ),
        (
            json!({"category": "pothole", "description": "x", "location": {"lat": CHUNXI.0, "lon": CHUNXI.1, "crs": "wgs84"}}),
            422,
            "answers.size",
            "/problems/validation",
        ),
        (
            json!({"category": "pothole", "description": "x", "location": {"lat": CHUNXI.0, "lon": CHUNXI.1, "crs": "wgs84"}, "answers": {"size": "huge"}}),
            422,
            "answers.size",
            "/problems/validation",
        ),
        (
            json!({"category": "pothole", "description": "x", "location": {"lat": CHUNXI.0, "lon": CHUNXI.1, "crs": "mars"}, "answers": {"size": "small"}}),
            422,
            "location.crs",
            "/problems/validation",
        ),
        (
            json!({"category": "pothole", "description": "risky-demo text", "location": {"lat": CHUNXI.0, "lon": CHUNXI.1, "crs": "wgs84"}, "answers": {"size": "small"}}),
            422,
            "description",
            "/problems/content-rejected",
        ),
        (
            json!({"category": "pothole", "location": {"lat": CHUNXI.0, "lon": CHUNXI.1, "crs": "wgs84"}}),
            400,
            "description",
            "/problems/malformed-request",
        ),
    ];
    for (body, status, field, kind) in cases {
        let resp = w.api.post("/v1/incidents").header("Authorization", "Bearer alice").body_json(&body).send().await;
        resp.assert_status(poem::http::StatusCode::from_u16(status).unwrap());
        let p = json_of(resp).await;
        assert_eq!(p["type"], kind, "{body} → {p}");
        assert_eq!(p["errors"][0]["field"], field, "{body} → {p}");
    }
    let mine = json_of(w.api.get("/v1/incidents/mine").header("Authorization", "Bearer alice").send().await).await;
    assert_eq!(mine.as_array().unwrap().len(), 0);
    // Swapped coordinates are named as such.
    let resp = w
        .api
        .post("/v1/incidents")
        .header("Authorization", "Bearer alice")
        .body_json(&json!({"category": "pothole", "description": "x", "location": {"lat": 104.0811, "lon": 30.6552, "crs": "wgs84"}, "answers": {"size": "small"}}))
        .send()
        .await;
    assert!(json_of(resp).await["detail"].as_str().unwrap().contains("swapped"));
    w.t.cleanup().await;
}

#[tokio::test]
async fn a_second_report_within_seconds_is_429_and_not_stored() {
    let w = world().await;
    report(&w, "alice", &pothole(CHUNXI.0, CHUNXI.1, "wgs84")).await;
    let resp = w
        .api
        .post("/v1/incidents")
        .header("Authorization", "Bearer alice")
        .body_json(&pothole(CHUNXI.0, CHUNXI.1, "wgs84"))
        .send()
        .await;
    resp.assert_status(poem::http::StatusCode::TOO_MANY_REQUESTS);
    resp.assert_header_exist("retry-after");
    let mine = json_of(w.api.get("/v1/incidents/mine").header("Authorization", "Bearer alice").send().await).await;
    assert_eq!(mine.as_array().unwrap().len(), 1);
    // Someone else is not held back.
    report(&w, "bob", &pothole(CHUNXI.0, CHUNXI.1, "wgs84")).await;
    w.t.cleanup().await;
}

#[tokio::test]
async fn only_clerks_of_the_district_see_it_and_move_it_through_the_states_with_public_updates() {
    let w = world().await;
    let r = report(&w, "alice", &pothole(CHUNXI.0, CHUNXI.1, "wgs84")).await;
    let id = r["id"].as_str().unwrap().to_owned();
    let queue = |token: &'static str| {
        let api = &w.api;
        async move {
            json_of(api.get("/v1/incidents/queue").header("Authorization", format!("Bearer {token}")).send().await)
                .await
        }
    };
    assert_eq!(queue("jinjiang-clerk").await.as_array().unwrap().len(), 1);
    assert_eq!(queue("shuangliu-clerk").await.as_array().unwrap().len(), 0);
    w.api
        .get(format!("/v1/incidents/queue/{id}"))
        .header("Authorization", "Bearer shuangliu-clerk")
        .send()
        .await
        .assert_status(poem::http::StatusCode::NOT_FOUND);
    w.api
        .get("/v1/incidents/queue")
        .header("Authorization", "Bearer alice")
        .send()
        .await
        .assert_status(poem::http::StatusCode::FORBIDDEN);

    let mut etag = "\"v1\"".to_owned();
    for (state, template) in
        [("confirmed", None), ("action_scheduled", Some("pothole-scheduled")), ("fixed", Some("fixed"))]
    {
        let mut body = json!({"state": state, "internal_note": "checked"});
        if let Some(t) = template {
            body["template"] = json!(t);
        } else {
            body["public_update"] = json!("We have confirmed the problem.");
        }
        let resp = w
            .api
            .post(format!("/v1/incidents/queue/{id}/state"))
            .header("Authorization", "Bearer jinjiang-clerk")
            .header("If-Match", etag.clone())
            .body_json(&body)
            .send()
            .await;
        resp.assert_status_is_ok();
        etag = resp.0.headers().get("etag").unwrap().to_str().unwrap().to_owned();
        let v = json_of(resp).await;
        assert_eq!(v["report"]["state"], state);
    }
    assert_eq!(etag, "\"v4\"");
    // Fixed is closed: only a reopen is allowed.
    let resp = w
        .api
        .post(format!("/v1/incidents/queue/{id}/state"))
        .header("Authorization", "Bearer jinjiang-clerk")
        .body_json(&json!({"state": "in_progress"}))
        .send()
        .await;
    resp.assert_status(poem::http::StatusCode::CONFLICT);

    // The citizen sees the public history, never the internal notes or clerks' names.
    let mine = json_of(w.api.get("/v1/incidents/mine").header("Authorization", "Bearer alice").send().await).await;
    let history = mine[0]["history"].as_array().unwrap();
    let texts: Vec<&str> = history.iter().map(|h| h["text_en"].as_str().unwrap()).collect();
    assert!(texts.contains(&"We have confirmed the problem."), "{texts:?}");
    assert!(texts.contains(&"A repair crew has been scheduled for this pothole."), "{texts:?}");
    assert!(history.iter().all(|h| h["kind"] != "internal" && h.get("staff_name").is_none()));
    assert_eq!(mine[0]["status"], "closed");

    // Every public update (the auto-response and the three changes) asked notify to tell Alice,
    // each with its own stable id; every clerk action was audited.
    let notes = outbox(&w.db, "notify.requested").await;
    assert_eq!(notes.len(), 4);
    assert!(notes.iter().all(|n| n["citizen_id"] == "c-alice" && n["kind"] == "incidents.report_updated"));
    let ids: std::collections::HashSet<&str> = notes.iter().map(|n| n["notification_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 4);
    let audit = outbox(&w.db, "audit.recorded").await;
    assert_eq!(audit.len(), 3);
    assert_eq!(audit[0]["action"], "change_report_state");
    assert_eq!(audit[0]["before"]["state"], "open");
    assert_eq!(audit[0]["after"]["state"], "confirmed");
    w.t.cleanup().await;
}

#[tokio::test]
async fn a_stale_if_match_is_412_and_of_two_concurrent_clerks_exactly_one_wins() {
    let w = world().await;
    let r = report(&w, "alice", &pothole(CHUNXI.0, CHUNXI.1, "wgs84")).await;
    let id = r["id"].as_str().unwrap().to_owned();
    let send = |token: &'static str, state: &'static str| {
        let api = &w.api;
        let id = id.clone();
        async move {
            api.post(format!("/v1/incidents/queue/{id}/state"))
                .header("Authorization", format!("Bearer {token}"))
                .header("If-Match", "\"v1\"")
                .body_json(&json!({"state": state, "public_update": format!("{token} says {state}")}))
                .send()
                .await
                .0
                .status()
        }
    };
    let (a, b) = tokio::join!(send("jinjiang-clerk", "confirmed"), send("jinjiang-clerk-2", "investigating"));
    let statuses = [a.as_u16(), b.as_u16()];
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().any(|s| *s == 412 || *s == 409), "{statuses:?}");
    let staff = json_of(
        w.api.get(format!("/v1/incidents/queue/{id}")).header("Authorization", "Bearer jinjiang-clerk").send().await,
    )
    .await;
    assert_eq!(staff["version"], 2);
    w.t.cleanup().await;
}

#[tokio::test]
async fn nearby_open_reports_of_the_category_are_offered_and_a_citizen_can_follow_one() {
    let w = world().await;
    let r = report(&w, "alice", &pothole(CHUNXI.0, CHUNXI.1, "wgs84")).await;
    let id = r["id"].as_str().unwrap();
    // 30 m north, asked in GCJ-02 as the Mini Program would.
    let (glat, glon) = gcj((CHUNXI.0 + 0.00027, CHUNXI.1));
    let near = json_of(
        w.api
            .get("/v1/incidents/nearby")
            .query("lat", &glat)
            .query("lon", &glon)
            .query("crs", &"gcj02")
            .query("category", &"pothole")
            .send()
            .await,
    )
    .await;
    assert_eq!(near.as_array().unwrap().len(), 1, "{near}");
    assert_eq!(near[0]["report"]["id"], id);
    let d = near[0]["distance_m"].as_f64().unwrap();
    assert!((25.0..35.0).contains(&d), "{d}");
    let other = json_of(
        w.api
            .get("/v1/incidents/nearby")
            .query("lat", &glat)
            .query("lon", &glon)
            .query("crs", &"gcj02")
            .query("category", &"dumping")
            .send()
            .await,
    )
    .await;
    assert_eq!(other.as_array().unwrap().len(), 0);

    let f =
        json_of(w.api.post(format!("/v1/incidents/{id}/followers")).header("Authorization", "Bearer bob").send().await)
            .await;
    assert_eq!(f["followers"], 1);
    let again =
        json_of(w.api.post(format!("/v1/incidents/{id}/followers")).header("Authorization", "Bearer bob").send().await)
            .await;
    assert_eq!(again["added"], false);
    let bobs = json_of(w.api.get("/v1/incidents/mine").header("Authorization", "Bearer bob").send().await).await;
    assert_eq!(bobs[0]["id"], id);
    // Bob hears about the next public update too.
    w.api
        .post(format!("/v1/incidents/queue/{id}/notes"))
        .header("Authorization", "Bearer jinjiang-clerk")
        .body_json(&json!({"text": "Crew on the way", "public": true}))
        .send()
        .await
        .assert_status_is_ok();
    let notes = outbox(&w.db, "notify.requested").await;
    assert!(notes.iter().any(|n| n["citizen_id"] == "c-bob" && n["body_en"] == "Crew on the way"));
    w.t.cleanup().await;
}

#[tokio::test]
async fn merging_closes_the_duplicate_and_its_reporter_follows_the_original() {
    let w = world().await;
    let a = report(&w, "alice", &pothole(CHUNXI.0, CHUNXI.1, "wgs84")).await;
    let b = report(&w, "bob", &pothole(CHUNXI.0 + 0.0001, CHUNXI.1, "wgs84")).await;
    let resp = w
        .api
        .post(format!("/v1/incidents/queue/{}/merge", b["id"].as_str().unwrap()))
        .header("Authorization", "Bearer jinjiang-clerk")
        .body_json(&json!({"into": a["id"]}))
        .send()
        .await;
    resp.assert_status_is_ok();
    let v = json_of(resp).await;
    assert_eq!(v["report"]["state"], "duplicate");
    assert_eq!(v["report"]["duplicate_of"], a["id"]);
    let bobs = json_of(w.api.get("/v1/incidents/mine").header("Authorization", "Bearer bob").send().await).await;
    assert_eq!(bobs.as_array().unwrap().len(), 2);
    w.t.cleanup().await;
}

#[tokio::test]
async fn the_csv_export_is_the_filtered_queue_and_never_names_an_anonymous_reporter() {
    let w = world().await;
    let mut named = pothole(CHUNXI.0, CHUNXI.1, "wgs84");
    named["anonymous"] = json!(false);
    named["display_name"] = json!("Ms Li");
    let shown = report(&w, "alice", &named).await;
    assert_eq!(shown["reporter_name"], "Ms Li");
    let mut hidden = pothole(CHUNXI.0, CHUNXI.1 + 0.001, "wgs84");
    hidden["display_name"] = json!("Mr Secret");
    hidden["description"] = json!("=HYPERLINK(\"http://evil\")");
    let anon = report(&w, "bob", &hidden).await;
    assert!(anon.get("reporter_name").is_none());
    let resp = w.api.get("/v1/incidents/queue/export").header("Authorization", "Bearer jinjiang-clerk").send().await;
    resp.assert_status_is_ok();
    let csv = resp.0.into_body().into_string().await.unwrap();
    assert!(csv.contains("Ms Li"));
    assert!(csv.contains("(anonymous)"));
    assert!(!csv.contains("Mr Secret"));
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert_eq!(csv.lines().count(), 3);
    let none = w
        .api
        .get("/v1/incidents/queue/export")
        .query("state", &"fixed")
        .header("Authorization", "Bearer jinjiang-clerk")
        .send()
        .await;
    assert_eq!(none.0.into_body().into_string().await.unwrap().lines().count(), 1);
    let q =
        json_of(w.api.get("/v1/incidents/queue").header("Authorization", "Bearer jinjiang-clerk").send().await).await;
    assert!(!q.to_string().contains("Mr Secret"));
    w.t.cleanup().await;
}

#[tokio::test]
async fn the_map_gives_pins_when_few_clusters_when_many_and_refuses_huge_boxes() {
    let w = world().await;
    let sl = point_in(&w.t, "510116");
    // 320 reports; the repeat guard is cleared in between, as if time had passed.
    for i in 0..320u32 {
        let body = json!({"category": "noise", "description": format!("noise {i}"), "location": {"lat": sl.0 + f64::from(i % 20) * 0.0005, "lon": sl.1 + f64::from(i / 20) * 0.0005, "crs": "wgs84"}});
        sqlx::query("DELETE FROM incident_reporters").execute(&w.db.pool).await.unwrap();
        w.api
            .post("/v1/incidents")
            .header("Authorization", "Bearer carol")
            .body_json(&body)
            .send()
            .await
            .assert_status(poem::http::StatusCode::CREATED);
    }
    let bbox = format!("{},{},{},{}", sl.1 - 0.01, sl.0 - 0.01, sl.1 + 0.02, sl.0 + 0.02);
    let clustered = w.api.get("/v1/incidents/map").query("bbox", &bbox).query("zoom", &12).send().await;
    clustered.assert_status_is_ok();
    clustered.assert_content_type("application/geo+json");
    let fc = json_of(clustered).await;
    assert_eq!(fc["type"], "FeatureCollection");
    let features = fc["features"].as_array().unwrap();
    assert!(features.iter().all(|f| f["properties"]["kind"] == "cluster"));
    let total: i64 = features.iter().map(|f| f["properties"]["count"].as_i64().unwrap()).sum();
    assert_eq!(total, 320);
    assert_eq!(features.iter().map(|f| f["properties"]["states"]["open"].as_i64().unwrap()).sum::<i64>(), 320);
    // A small box holds few: single pins, in GCJ-02 when asked.
    let small = format!("{},{},{},{}", sl.1 - 0.0001, sl.0 - 0.0001, sl.1 + 0.0011, sl.0 + 0.0011);
    let fc = json_of(w.api.get("/v1/incidents/map").query("bbox", &small).query("zoom", &18).send().await).await;
    let pins = fc["features"].as_array().unwrap();
    assert!(!pins.is_empty() && pins.len() < 20, "{}", pins.len());
    assert!(pins.iter().all(|f| f["properties"]["kind"] == "report"));
    let (glat, glon) = gcj((sl.0 - 0.0001, sl.1 - 0.0001));
    let (glat2, glon2) = gcj((sl.0 + 0.0011, sl.1 + 0.0011));
    let g = json_of(
        w.api
            .get("/v1/incidents/map")
            .query("bbox", &format!("{glon},{glat},{glon2},{glat2}"))
            .query("zoom", &18)
            .query("crs", &"gcj02")
            .send()
            .await,
    )
    .await;
    assert_eq!(g["coordinate_system"], "gcj02");
    assert_eq!(g["features"].as_array().unwrap().len(), pins.len());
    // Bad boxes.
    for (bbox, zoom) in
        [("103,30,106,33", 10), ("30.6,104.0,30.7,104.1", 10), ("1,2,3", 10), ("104.0,30.6,104.1,30.7", 30)]
    {
        let resp = w.api.get("/v1/incidents/map").query("bbox", &bbox).query("zoom", &zoom).send().await;
        assert!(resp.0.status().is_client_error(), "{bbox}");
    }
    w.t.cleanup().await;
}

fn jpeg_with_gps() -> Vec<u8> {
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(40, 30, image::Rgb([10, 200, 10])));
    let mut plain = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut plain), image::ImageFormat::Jpeg).unwrap();
    let payload = b"Exif\0\0MM\0*\0\0\0\x08GPSLatitude30.6552";
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&plain[2..]);
    out
}

#[tokio::test]
async fn photos_lose_their_gps_and_fake_images_are_refused() {
    let w = world().await;
    let upload = |bytes: Vec<u8>, token: &'static str| {
        let api = &w.api;
        async move {
            api.post("/v1/incidents/photos")
                .header("Authorization", format!("Bearer {token}"))
                .multipart(
                    TestForm::new()
                        .field(TestFormField::bytes(bytes).name("photo").filename("p.jpg").content_type("image/jpeg")),
                )
                .send()
                .await
        }
    };
    let fake = upload(b"<?php echo 1; ?>".to_vec(), "alice").await;
    fake.assert_status(poem::http::StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json_of(fake).await["errors"][0]["field"], "photo");

    let ok = upload(jpeg_with_gps(), "alice").await;
    ok.assert_status_is_ok();
    let photo = json_of(ok).await;
    let pid = photo["id"].as_str().unwrap().to_owned();
    // Not visible before the report is filed; not usable by someone else.
    w.api.get(format!("/v1/incidents/photos/{pid}")).send().await.assert_status(poem::http::StatusCode::NOT_FOUND);
    let mut body = pothole(CHUNXI.0, CHUNXI.1, "wgs84");
    body["photo_ids"] = json!([pid]);
    let resp = w.api.post("/v1/incidents").header("Authorization", "Bearer bob").body_json(&body).send().await;
    resp.assert_status(poem::http::StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json_of(resp).await["errors"][0]["field"], "photo_ids");
    let r = report(&w, "alice", &body).await;
    assert_eq!(r["photos"].as_array().unwrap().len(), 1);
    let img = w.api.get(format!("/v1/incidents/photos/{pid}")).send().await;
    img.assert_status_is_ok();
    img.assert_content_type("image/jpeg");
    let bytes = img.0.into_body().into_vec().await.unwrap();
    assert!(!bytes.windows(4).any(|x| x == b"Exif"));
    assert!(!bytes.windows(11).any(|x| x == b"GPSLatitude"));
    w.api.get(format!("/v1/incidents/photos/{pid}/thumbnail")).send().await.assert_status_is_ok();
    w.t.cleanup().await;
}

#[tokio::test]
async fn text_held_for_review_is_not_public_but_its_reporter_and_clerks_see_it() {
    let w = world().await;
    let mut body = pothole(CHUNXI.0, CHUNXI.1, "wgs84");
    body["description"] = json!("review-demo: pothole");
    let r = report(&w, "alice", &body).await;
    let id = r["id"].as_str().unwrap();
    assert_eq!(r["description"], "review-demo: pothole");
    let public = json_of(w.api.get(format!("/v1/incidents/{id}")).send().await).await;
    assert!(public["description"].is_null());
    let o = json_of(w.open311.get(format!("/open311/v2/requests/{id}.json")).send().await).await;
    assert!(o[0]["description"].is_null());
    // Held text is not on the map either, until a clerk of the district approves it.
    let bbox = format!("{},{},{},{}", CHUNXI.1 - 0.001, CHUNXI.0 - 0.001, CHUNXI.1 + 0.001, CHUNXI.0 + 0.001);
    let on_map = || {
        let api = &w.api;
        let bbox = bbox.clone();
        async move {
            let fc = json_of(api.get("/v1/incidents/map").query("bbox", &bbox).query("zoom", &17).send().await).await;
            fc["features"].as_array().unwrap().len()
        }
    };
    assert_eq!(on_map().await, 0);
    let moderate = |token: &'static str, body: Value| {
        let api = &w.api;
        async move {
            api.post(format!("/v1/incidents/queue/{id}/moderation"))
                .header("Authorization", format!("Bearer {token}"))
                .body_json(&body)
                .send()
                .await
        }
    };
    moderate("shuangliu-clerk", json!({"approve": true})).await.assert_status(poem::http::StatusCode::NOT_FOUND);
    moderate("alice", json!({"approve": true})).await.assert_status(poem::http::StatusCode::FORBIDDEN);
    moderate("jinjiang-clerk", json!({"approve": "yes"})).await.assert_status(poem::http::StatusCode::BAD_REQUEST);
    let resp = moderate("jinjiang-clerk", json!({"approve": true, "note": "harmless"})).await;
    resp.assert_status_is_ok();
    assert_eq!(json_of(resp).await["moderation"], "pass");
    let public = json_of(w.api.get(format!("/v1/incidents/{id}")).send().await).await;
    assert_eq!(public["description"], "review-demo: pothole");
    assert_eq!(on_map().await, 1);
    // A second decision finds nothing held; the first is in the audit trail.
    moderate("jinjiang-clerk", json!({"approve": false})).await.assert_status(poem::http::StatusCode::CONFLICT);
    let audit = outbox(&w.db, "audit.recorded").await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0]["action"], "approve_report_text");
    assert_eq!(audit[0]["before"]["moderation"], "review");
    assert_eq!(audit[0]["after"]["moderation"], "pass");

    // Rejected text stays hidden, and off the map.
    let mut body = pothole(CHUNXI.0 + 0.0003, CHUNXI.1, "wgs84");
    body["description"] = json!("review-demo: second");
    sqlx::query("DELETE FROM incident_reporters").execute(&w.db.pool).await.unwrap();
    let r2 = report(&w, "bob", &body).await;
    let id2 = r2["id"].as_str().unwrap();
    let resp = w
        .api
        .post(format!("/v1/incidents/queue/{id2}/moderation"))
        .header("Authorization", "Bearer jinjiang-clerk")
        .body_json(&json!({"approve": false}))
        .send()
        .await;
    resp.assert_status_is_ok();
    let public = json_of(w.api.get(format!("/v1/incidents/{id2}")).send().await).await;
    assert!(public["description"].is_null());
    assert_eq!(on_map().await, 1);
    w.t.cleanup().await;
}

#[tokio::test]
async fn open311_discovery_services_and_definitions_follow_the_spec_in_json_and_xml() {
    let w = world().await;
    let d = w.open311.get("/open311/v2/discovery.json").send().await;
    d.assert_status_is_ok();
    d.assert_content_type("application/json; charset=utf-8");
    let d = json_of(d).await;
    assert_eq!(d["endpoints"][0]["specification"], "http://wiki.open311.org/GeoReport_v2");
    assert_eq!(d["endpoints"][0]["formats"], json!(["text/xml", "application/json"]));

    let s = json_of(w.open311.get("/open311/v2/services.json").send().await).await;
    let list = s.as_array().expect("a bare array");
    let pothole = list.iter().find(|x| x["service_code"] == "pothole").unwrap();
    assert_eq!(pothole["metadata"], true);
    assert_eq!(pothole["type"], "realtime");
    assert_eq!(list.iter().find(|x| x["service_code"] == "streetlight").unwrap()["type"], "batch");

    let xml = w.open311.get("/open311/v2/services.xml").query("jurisdiction_id", &"city.example.cn").send().await;
    xml.assert_status_is_ok();
    xml.assert_content_type("text/xml; charset=utf-8");
    let text = xml.0.into_body().into_string().await.unwrap();
    assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?><services><service><service_code>"), "{text}");

    let def = json_of(w.open311.get("/open311/v2/services/pothole.json").send().await).await;
    assert_eq!(def["service_code"], "pothole");
    let attrs = def["attributes"].as_array().unwrap();
    assert_eq!(attrs[0]["code"], "size");
    assert_eq!(attrs[0]["datatype"], "singlevaluelist");
    assert_eq!(attrs[0]["values"][0]["key"], "small");
    assert_eq!(attrs[2]["variable"], false);
    let def_xml =
        w.open311.get("/open311/v2/services/pothole.xml").send().await.0.into_body().into_string().await.unwrap();
    assert!(def_xml.contains(
        "<service_definition><service_code>pothole</service_code><attributes><attribute><variable>true</variable>"
    ));

    let missing = w.open311.get("/open311/v2/services/volcano.xml").send().await;
    missing.assert_status(poem::http::StatusCode::NOT_FOUND);
    let body = missing.0.into_body().into_string().await.unwrap();
    assert!(body.contains("<errors><error><code>404</code><description>"), "{body}");
    w.t.cleanup().await;
}

#[tokio::test]
async fn open311_post_needs_a_key_and_then_shows_up_in_searches_without_personal_data() {
    let w = world().await;
    let form = [
        ("service_code", "pothole"),
        ("lat", "30.6552"),
        ("long", "104.0811"),
        ("address_string", "Chunxi Road 12, Jinjiang"),
        ("description", "Pothole reported through three"),
        ("attribute[size]", "medium"),
        ("attribute[lane][]", "cycle"),
        ("attribute[lane][]", "footway"),
        ("email", "reporter@example.com"),
        ("first_name", "Wei"),
        ("last_name", "Zhang"),
        ("phone", "13800138000"),
        ("jurisdiction_id", "city.example.cn"),
    ];
    let no_key = w.open311.post("/open311/v2/requests.json").form(&form).send().await;
    no_key.assert_status(poem::http::StatusCode::FORBIDDEN);
    assert_eq!(json_of(no_key).await[0]["code"], "403");
    let wrong_scope = w.open311.post("/open311/v2/requests.json").query("api_key", &"air-key").form(&form).send().await;
    wrong_scope.assert_status(poem::http::StatusCode::FORBIDDEN);

    // The `open311` client puts api_key in the query.
    let created = w.open311.post("/open311/v2/requests.json").query("api_key", &"open311-key").form(&form).send().await;
    created.assert_status_is_ok();
    let created = json_of(created).await;
    let id = created[0]["service_request_id"].as_str().expect("an id for a realtime service").to_owned();
    assert!(created[0].get("token").is_none());

    let one = json_of(w.open311.get(format!("/open311/v2/requests/{id}.json")).send().await).await;
    assert_eq!(one[0]["status"], "open");
    assert_eq!(one[0]["service_code"], "pothole");
    assert_eq!(one[0]["lat"], 30.6552);
    assert_eq!(one[0]["agency_responsible"], "Roads Maintenance Centre");
    let text = one.to_string();
    for secret in ["reporter@example.com", "Zhang", "13800138000", "Wei"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    let xml =
        w.open311.get(format!("/open311/v2/requests/{id}.xml")).send().await.0.into_body().into_string().await.unwrap();
    assert!(xml.contains(&format!(
        "<service_requests><request><service_request_id>{id}</service_request_id><status>open</status>"
    )));

    // Search: every parameter, empty ones ignored.
    let all = json_of(w.open311.get("/open311/v2/requests.json").query("service_code", &"").send().await).await;
    assert_eq!(all.as_array().unwrap().len(), 1);
    let closed = json_of(w.open311.get("/open311/v2/requests.json").query("status", &"closed").send().await).await;
    assert_eq!(closed.as_array().unwrap().len(), 0);
    let other =
        json_of(w.open311.get("/open311/v2/requests.json").query("service_code", &"noise,dumping").send().await).await;
    assert_eq!(other.as_array().unwrap().len(), 0);
    let by_id = json_of(
        w.open311
            .get("/open311/v2/requests.json")
            .query("service_request_id", &id)
            .query("status", &"closed")
            .send()
            .await,
    )
    .await;
    assert_eq!(by_id.as_array().unwrap().len(), 1, "service_request_id overrides every other filter");
    let old = json_of(
        w.open311
            .get("/open311/v2/requests.json")
            .query("start_date", &"2010-01-01T00:00:00Z")
            .query("end_date", &"2010-02-01T00:00:00Z")
            .send()
            .await,
    )
    .await;
    assert_eq!(old.as_array().unwrap().len(), 0);
    let too_long = w
        .open311
        .get("/open311/v2/requests.xml")
        .query("start_date", &"2010-01-01T00:00:00Z")
        .query("end_date", &"2010-06-01T00:00:00Z")
        .send()
        .await;
    too_long.assert_status(poem::http::StatusCode::BAD_REQUEST);
    assert!(too_long.0.into_body().into_string().await.unwrap().contains("<errors><error><code>400</code>"));
    let empty_xml = w
        .open311
        .get("/open311/v2/requests.xml")
        .query("status", &"closed")
        .send()
        .await
        .0
        .into_body()
        .into_string()
        .await
        .unwrap();
    assert!(empty_xml.ends_with("<service_requests></service_requests>"), "{empty_xml}");
    let paged =
        json_of(w.open311.get("/open311/v2/requests.json").query("page", &2).query("page_size", &1).send().await).await;
    assert_eq!(paged.as_array().unwrap().len(), 0);

    // Clerks see the contact; the public native view does not.
    let public = json_of(w.api.get(format!("/v1/incidents/{id}")).send().await).await;
    assert!(!public.to_string().contains("reporter@example.com"));
    w.open311.get("/open311/v2/requests/nope.json").send().await.assert_status(poem::http::StatusCode::NOT_FOUND);
    w.t.cleanup().await;
}

#[tokio::test]
async fn open311_batch_services_return_a_token_that_resolves_and_multipart_media_is_stored() {
    let w = world().await;
    let form = TestForm::new()
        .text("api_key", "open311-key")
        .text("service_code", "streetlight")
        .text("lat", "30.6552")
        .text("long", "104.0811")
        .text("description", "Lamp out")
        .field(TestFormField::bytes(jpeg_with_gps()).name("media").filename("lamp.jpg").content_type("image/jpeg"));
    let resp = w.open311.post("/open311/v2/requests.xml").multipart(form).send().await;
    resp.assert_status_is_ok();
    let xml = resp.0.into_body().into_string().await.unwrap();
    let token = xml.split("<token>").nth(1).and_then(|s| s.split("</token>").next()).expect("a token").to_owned();
    assert!(!xml.contains("<service_request_id>"));
    let t = json_of(w.open311.get(format!("/open311/v2/tokens/{token}.json")).send().await).await;
    let id = t[0]["service_request_id"].as_str().unwrap();
    assert_eq!(t[0]["token"], token.as_str());
    let one = json_of(w.open311.get(format!("/open311/v2/requests/{id}.json")).send().await).await;
    assert!(one[0]["media_url"].as_str().unwrap().contains("/v1/incidents/photos/"));
    w.open311.get("/open311/v2/tokens/unknown.json").send().await.assert_status(poem::http::StatusCode::NOT_FOUND);
    // Unknown service: 404 in Open311's error format.
    let bad = w
        .open311
        .post("/open311/v2/requests.json")
        .form(&[("api_key", "open311-key"), ("service_code", "volcano"), ("lat", "30.6"), ("long", "104.0")])
        .send()
        .await;
    bad.assert_status(poem::http::StatusCode::NOT_FOUND);
    // A pin outside the city: 400 with the reason.
    let outside = w
        .open311
        .post("/open311/v2/requests.json")
        .form(&[("api_key", "open311-key"), ("service_code", "noise"), ("lat", "31.23"), ("long", "121.47")])
        .send()
        .await;
    outside.assert_status(poem::http::StatusCode::BAD_REQUEST);
    assert!(json_of(outside).await[0]["description"].as_str().unwrap().contains("outside"));
    w.t.cleanup().await;
}

/// Count rows: (zoom, category, row, col, state) → (n, Σlat, Σlon).
type Counts = std::collections::BTreeMap<(i64, String, i64, i64, String), (i64, f64, f64)>;

/// The count table, rows with reports only.
async fn count_table(db: &Db) -> Counts {
    let rows = sqlx::query(
        "SELECT zoom, category, cell_row, cell_col, state, n, sum_lat, sum_lon FROM incident_map_cells WHERE n <> 0",
    )
    .fetch_all(&db.pool)
    .await
    .unwrap();
    rows.iter()
        .map(|r| {
            (
                (r.get("zoom"), r.get("category"), r.get("cell_row"), r.get("cell_col"), r.get("state")),
                (r.get("n"), r.get("sum_lat"), r.get("sum_lon")),
            )
        })
        .collect()
}

/// The same, recomputed by grouping the reports whose text is public.
async fn grouped_reports(db: &Db) -> Counts {
    let mut out = std::collections::BTreeMap::new();
    for zoom in city_incidents::domain::grid::COUNT_ZOOMS {
        let k = city_incidents::domain::grid::FINE_ZOOM - zoom;
        for category in ["category", "'*'"] {
            let sql = format!(
                "SELECT {category} AS category, cell_row >> {k} AS r, cell_col >> {k} AS c, state,
                 CAST(COUNT(*) AS BIGINT) AS n, SUM(lat) AS sum_lat, SUM(lon) AS sum_lon
                 FROM incident_reports WHERE moderation = 'pass' GROUP BY 1, 2, 3, 4"
            );
            for r in sqlx::query(&sql).fetch_all(&db.pool).await.unwrap() {
                out.insert(
                    (i64::from(zoom), r.get("category"), r.get("r"), r.get("c"), r.get("state")),
                    (r.get("n"), r.get("sum_lat"), r.get("sum_lon")),
                );
            }
        }
    }
    out
}

fn assert_same_counts(kept: &Counts, grouped: &Counts) {
    assert_eq!(kept.len(), grouped.len(), "count rows");
    for (key, (n, slat, slon)) in grouped {
        let (kn, klat, klon) = kept.get(key).unwrap_or_else(|| panic!("no count row {key:?}"));
        assert_eq!(kn, n, "{key:?}");
        // Sums drift by rounding as reports come and go; a centroid needs far less.
        assert!((klat - slat).abs() < 1e-6 * (*n as f64 + 1.0), "{key:?}: {klat} vs {slat}");
        assert!((klon - slon).abs() < 1e-6 * (*n as f64 + 1.0), "{key:?}: {klon} vs {slon}");
    }
}

async fn report_indexes(w: &World) -> Vec<String> {
    let sql = match w.db.backend {
        city_platform::db::Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'incident_reports' ORDER BY name"
        }
        city_platform::db::Backend::Postgres => {
            "SELECT CAST(indexname AS TEXT) FROM pg_indexes
             WHERE schemaname = current_schema() AND tablename = 'incident_reports' ORDER BY 1"
        }
    };
    sqlx::query_scalar(sql).fetch_all(&w.db.pool).await.unwrap()
}

#[tokio::test]
async fn the_map_counts_equal_a_grouping_of_the_reports_after_writes_of_every_kind_and_a_bulk_seed() {
    let w = world().await;
    let clerk_post = |path: String, body: Value| {
        let api = &w.api;
        async move {
            let resp = api.post(&path).header("Authorization", "Bearer jinjiang-clerk").body_json(&body).send().await;
            assert_eq!(resp.0.status(), poem::http::StatusCode::OK, "{path}: {}", json_of(resp).await);
        }
    };
    // Online writes: reports in Jinjiang of two categories, one held for review.
    let mut ids = Vec::new();
    for i in 0..8u32 {
        sqlx::query("DELETE FROM incident_reporters").execute(&w.db.pool).await.unwrap();
        let (lat, lon) = (CHUNXI.0 - f64::from(i) * 0.0007, CHUNXI.1 + f64::from(i) * 0.0009);
        let mut body = pothole(lat, lon, "wgs84");
        if i % 3 == 1 {
            body = json!({"category": "noise", "description": "Drilling at night", "location": {"lat": lat, "lon": lon, "crs": "wgs84"}});
        }
        if i == 7 {
            body["description"] = json!("review-demo text");
        }
        ids.push(report(&w, "alice", &body).await["id"].as_str().unwrap().to_owned());
    }
    // State changes (and a reopening), a merge, a reroute to another category.
    for (id, state) in [(&ids[0], "confirmed"), (&ids[0], "fixed"), (&ids[0], "confirmed"), (&ids[2], "in_progress")] {
        clerk_post(format!("/v1/incidents/queue/{id}/state"), json!({"state": state, "internal_note": "n"})).await;
    }
    clerk_post(format!("/v1/incidents/queue/{}/merge", ids[3]), json!({"into": ids[4]})).await;
    clerk_post(format!("/v1/incidents/queue/{}/routing", ids[5]), json!({"category": "dumping"})).await;
    clerk_post(format!("/v1/incidents/queue/{}/state", ids[7]), json!({"state": "investigating"})).await;
    let kept = count_table(&w.db).await;
    assert_same_counts(&kept, &grouped_reports(&w.db).await);
    // The held report is the only one missing; rerouted and merged ones moved rows.
    let all_zoom_16: i64 = kept.iter().filter(|(k, _)| k.0 == 16 && k.1 == "*").map(|(_, v)| v.0).sum();
    assert_eq!(all_zoom_16, 7);
    assert!(kept.keys().any(|k| k.1 == "dumping") && kept.keys().any(|k| k.4 == "duplicate"));

    // A bulk seed large enough to rebuild the indexes adds to the same table.
    let indexes = report_indexes(&w).await;
    for name in ["incident_reports_map_pins", "incident_reports_pending"] {
        assert!(indexes.iter().any(|i| i == name), "{name} in {indexes:?}");
    }
    assert!(!indexes.iter().any(|i| i == "incident_reports_lat_lon" || i == "incident_reports_moderation"));
    let catalogue = city_incidents::domain::Catalogue::demo().unwrap();
    city_incidents::seed::seed_reports(&w.db, &w.t.platform.districts, &catalogue, 20_000, 11).await.unwrap();
    assert_eq!(report_indexes(&w).await, indexes, "the seeder builds every index again");
    let kept = count_table(&w.db).await;
    assert_same_counts(&kept, &grouped_reports(&w.db).await);
    let all: i64 = kept.iter().filter(|(k, _)| k.0 == 10 && k.1 == "*").map(|(_, v)| v.0).sum();
    let public: i64 =
        sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM incident_reports WHERE moderation = 'pass'")
            .fetch_one(&w.db.pool)
            .await
            .unwrap();
    assert_eq!(all, public);
    assert!(public > 19_000 && public < 20_007, "about 1 in 100 seeded reports is held: {public}");

    // The migration's backfill finds the cells the service wrote (same division, same floor).
    let migration = include_str!("../../../migrations/incidents/20261201111500_map_cells.sql");
    let start = migration.find("UPDATE incident_reports SET").unwrap();
    let backfill = &migration[start..start + migration[start..].find(';').unwrap()];
    let cells = |db: &Db| {
        let pool = db.pool.clone();
        async move {
            sqlx::query("SELECT id, cell_row, cell_col FROM incident_reports ORDER BY id")
                .fetch_all(&pool)
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get::<String, _>("id"), r.get::<i64, _>("cell_row"), r.get::<i64, _>("cell_col")))
                .collect::<Vec<_>>()
        }
    };
    let before = cells(&w.db).await;
    sqlx::query(backfill).execute(&w.db.pool).await.unwrap();
    assert_eq!(cells(&w.db).await, before);
    // Its count-table backfill rebuilds the very rows the writes kept.
    let kept = count_table(&w.db).await;
    sqlx::query("DELETE FROM incident_map_cells").execute(&w.db.pool).await.unwrap();
    let inserts: Vec<&str> =
        migration.split(';').map(str::trim).filter(|s| s.contains("INSERT INTO incident_map_cells")).collect();
    assert_eq!(inserts.len(), 2 * city_incidents::domain::grid::COUNT_ZOOMS.len());
    for insert in inserts {
        sqlx::query(insert).execute(&w.db.pool).await.unwrap();
    }
    assert_same_counts(&count_table(&w.db).await, &kept);

    // And the map reads the same numbers: a city-wide view adds up to every public report.
    let fc =
        json_of(w.api.get("/v1/incidents/map").query("bbox", &"103.8,30.4,104.4,30.9").query("zoom", &11).send().await)
            .await;
    let total: i64 =
        fc["features"].as_array().unwrap().iter().map(|f| f["properties"]["count"].as_i64().unwrap()).sum();
    assert_eq!(total, public);
    w.t.cleanup().await;
}

/// A content-safety check that is down until told otherwise.
struct FlakySafety(std::sync::atomic::AtomicBool);

#[async_trait]
impl ContentSafety for FlakySafety {
    async fn check(&self, content: &str, _openid: &str) -> Result<Verdict, SafetyError> {
        if self.0.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(SafetyError::Unavailable("connection refused".into()));
        }
        Ok(if content.contains("review-demo") { Verdict::Review } else { Verdict::Pass })
    }
}

#[tokio::test]
async fn text_held_while_the_check_was_down_is_checked_again_and_then_shown() {
    let t = test_platform().await;
    let safety = Arc::new(FlakySafety(std::sync::atomic::AtomicBool::new(true)));
    let (api, db) = IncidentsService::start_with(t.platform.clone(), safety.clone()).await.unwrap();
    let auth = StaticAuthenticator::new();
    auth.with_token("alice", citizen("c-alice"));
    auth.with_token("bob", citizen("c-bob"));
    let client = t.client(api.clone(), &db, auth);
    let mut ids = Vec::new();
    for (token, text) in [("alice", "Broken lamp"), ("bob", "review-demo lamp")] {
        let body = json!({"category": "noise", "description": text, "location": {"lat": CHUNXI.0, "lon": CHUNXI.1, "crs": "wgs84"}});
        let resp = client
            .post("/v1/incidents")
            .header("Authorization", format!("Bearer {token}"))
            .body_json(&body)
            .send()
            .await;
        resp.assert_status(poem::http::StatusCode::CREATED);
        ids.push(json_of(resp).await["id"].as_str().unwrap().to_owned());
    }
    let moderation = |id: String| {
        let pool = db.pool.clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT moderation FROM incident_reports WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(moderation(ids[0].clone()).await, "pending");
    // Still down: nothing changes.
    assert_eq!(api.recheck_held_text().await.unwrap(), 0);
    assert_eq!(moderation(ids[0].clone()).await, "pending");
    safety.0.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(api.recheck_held_text().await.unwrap(), 2);
    assert_eq!(moderation(ids[0].clone()).await, "pass");
    assert_eq!(moderation(ids[1].clone()).await, "review");
    let public = json_of(client.get(format!("/v1/incidents/{}", ids[0])).send().await).await;
    assert_eq!(public["description"], "Broken lamp");
    let bbox = format!("{},{},{},{}", CHUNXI.1 - 0.001, CHUNXI.0 - 0.001, CHUNXI.1 + 0.001, CHUNXI.0 + 0.001);
    let fc = json_of(client.get("/v1/incidents/map").query("bbox", &bbox).query("zoom", &17).send().await).await;
    assert_eq!(fc["features"].as_array().unwrap().len(), 1, "only the passed text is on the map");
    assert_eq!(api.recheck_held_text().await.unwrap(), 0, "nothing is pending any more");
    t.cleanup().await;
}

#[tokio::test]
async fn a_merge_target_outside_the_clerks_scope_is_answered_as_missing_and_nothing_changes() {
    let w = world().await;
    let here = report(&w, "alice", &pothole(CHUNXI.0, CHUNXI.1, "wgs84")).await;
    let (lat, lon) = point_in(&w.t, "510116");
    let there = report(&w, "bob", &pothole(lat, lon, "wgs84")).await;
    // Attack (issue #15): a Jinjiang clerk merges a Shuangliu report into... or closes theirs
    // into a report they may not see. The target is answered as no such report.
    let resp = w
        .api
        .post(format!("/v1/incidents/queue/{}/merge", here["id"].as_str().unwrap()))
        .header("Authorization", "Bearer jinjiang-clerk")
        .body_json(&json!({"into": there["id"]}))
        .send()
        .await;
    resp.assert_status(poem::http::StatusCode::UNPROCESSABLE_ENTITY);
    let p = json_of(resp).await;
    assert_eq!(p["errors"][0]["field"], "into", "{p}");
    let after = json_of(
        w.api
            .get(format!("/v1/incidents/queue/{}", here["id"].as_str().unwrap()))
            .header("Authorization", "Bearer jinjiang-clerk")
            .send()
            .await,
    )
    .await;
    assert_eq!(after["report"]["state"], "open", "{after}");
    w.t.cleanup().await;
}

#[tokio::test]
async fn public_words_of_clerks_and_reporters_names_go_through_the_content_check() {
    let w = world().await;
    let r = report(&w, "alice", &pothole(CHUNXI.0, CHUNXI.1, "wgs84")).await;
    let id = r["id"].as_str().unwrap();
    // Attack (issue #15): public text that skipped the check. A public update is refused, naming
    // the field; an internal note is not public and is not checked.
    let resp = w
        .api
        .post(format!("/v1/incidents/queue/{id}/notes"))
        .header("Authorization", "Bearer jinjiang-clerk")
        .body_json(&json!({"text": "risky-demo words", "public": true}))
        .send()
        .await;
    resp.assert_status(poem::http::StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json_of(resp).await["errors"][0]["field"], "text");
    let resp = w
        .api
        .post(format!("/v1/incidents/queue/{id}/state"))
        .header("Authorization", "Bearer jinjiang-clerk")
        .body_json(&json!({"state": "in_progress", "public_update": "review-demo words"}))
        .send()
        .await;
    resp.assert_status(poem::http::StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json_of(resp).await["errors"][0]["field"], "public_update");
    let public = json_of(w.api.get(format!("/v1/incidents/{id}")).send().await).await;
    assert!(!public.to_string().contains("-demo words"), "{public}");

    // A display name is public text: a risky one refuses the report, one held for review is
    // not shown until a clerk passes it.
    let mut named = pothole(CHUNXI.0, CHUNXI.1, "wgs84");
    named["anonymous"] = json!(false);
    named["display_name"] = json!("risky-demo name");
    let resp = w.api.post("/v1/incidents").header("Authorization", "Bearer bob").body_json(&named).send().await;
    resp.assert_status(poem::http::StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json_of(resp).await["type"], "/problems/content-rejected");
    named["display_name"] = json!("review-demo name");
    let held = report(&w, "carol", &named).await;
    let public = json_of(w.api.get(format!("/v1/incidents/{}", held["id"].as_str().unwrap())).send().await).await;
    assert!(!public.to_string().contains("review-demo"), "{public}");
    w.t.cleanup().await;
}

fn png(side: u32) -> Vec<u8> {
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(side, side, image::Rgb([120, 20, 200])));
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

async fn upload_photo(api: &TestClient<BoxEndpoint<'static>>, bytes: Vec<u8>) -> poem::test::TestResponse {
    api.post("/v1/incidents/photos")
        .header("Authorization", "Bearer alice")
        .multipart(
            TestForm::new()
                .field(TestFormField::bytes(bytes).name("photo").filename("p.png").content_type("image/png")),
        )
        .send()
        .await
}

#[tokio::test]
async fn an_upload_never_attached_is_collected_after_a_day_and_an_attached_one_is_kept() {
    let t = test_platform().await;
    let (api, db) = IncidentsService::start_with(t.platform.clone(), Arc::new(KeywordSafety)).await.unwrap();
    let auth = StaticAuthenticator::new();
    auth.with_token("alice", citizen("c-alice"));
    let client = t.client(api.clone(), &db, auth);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let resp = upload_photo(&client, png(64)).await;
        resp.assert_status_is_ok();
        ids.push(json_of(resp).await["id"].as_str().unwrap().to_owned());
    }
    let mut body = pothole(CHUNXI.0, CHUNXI.1, "wgs84");
    body["photo_ids"] = json!([ids[0]]);
    client
        .post("/v1/incidents")
        .header("Authorization", "Bearer alice")
        .body_json(&body)
        .send()
        .await
        .assert_status(poem::http::StatusCode::CREATED);
    let data_dir = &t.platform.settings.data_dir;
    let file = |id: &str| city_incidents::photos::file(data_dir, id, false);
    assert!(file(&ids[1]).exists());
    // The injected clock: 23 hours on, nothing goes; 25 hours on, the unattached upload goes.
    let now = city_platform::time::now_ms();
    assert_eq!(api.sweep_unattached_photos(now + 23 * 3_600_000).await.unwrap(), 0);
    assert_eq!(api.sweep_unattached_photos(now + 25 * 3_600_000).await.unwrap(), 1);
    assert!(!file(&ids[1]).exists() && !city_incidents::photos::file(data_dir, &ids[1], true).exists());
    assert!(file(&ids[0]).exists(), "the attached photo stays");
    let left: i64 =
        sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM incident_photos").fetch_one(&db.pool).await.unwrap();
    assert_eq!(left, 1);
    client.get(format!("/v1/incidents/photos/{}", ids[0])).send().await.assert_status_is_ok();
    t.cleanup().await;
}

#[tokio::test]
async fn a_burst_of_uploads_decodes_at_most_as_many_at_once_as_there_are_decoders_and_a_pixel_bomb_is_413() {
    let w = world().await;
    // Attack (issue #15): a dozen uploads at once, and a small all-zero PNG claiming 12000².
    let results = futures::future::join_all((0..12).map(|_| upload_photo(&w.api, png(900)))).await;
    for r in results {
        r.assert_status_is_ok();
    }
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let most = city_incidents::photos::most_decoding_at_once();
    assert!((1..=cores).contains(&most), "{most} photos decoded at once with {cores} decoders");

    let mut bomb = Vec::new();
    let enc = image::codecs::png::PngEncoder::new_with_quality(
        &mut bomb,
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::NoFilter,
    );
    let zeros = vec![0u8; 12_000 * 12_000];
    image::ImageEncoder::write_image(enc, &zeros, 12_000, 12_000, image::ExtendedColorType::L8).unwrap();
    drop(zeros);
    let resp = upload_photo(&w.api, bomb).await;
    resp.assert_status(poem::http::StatusCode::PAYLOAD_TOO_LARGE);
    let p = json_of(resp).await;
    assert_eq!(
        (p["type"].as_str(), p["errors"][0]["field"].as_str()),
        (Some("/problems/photo-too-large"), Some("photo"))
    );
    w.t.cleanup().await;
}

#[tokio::test]
async fn an_assignee_must_be_a_clerk_who_may_handle_the_report() {
    let w = world().await;
    let r = report(&w, "alice", &pothole(CHUNXI.0, CHUNXI.1, "wgs84")).await;
    let id = r["id"].as_str().unwrap();
    let (lat, lon) = point_in(&w.t, "510116");
    let theirs = report(&w, "bob", &pothole(lat, lon, "wgs84")).await;
    let assign = |token: &'static str, report: String, body: Value| {
        let api = &w.api;
        async move {
            let resp = api
                .post(format!("/v1/incidents/queue/{report}/assignment"))
                .header("Authorization", format!("Bearer {token}"))
                .body_json(&body)
                .send()
                .await;
            (resp.0.status().as_u16(), json_of(resp).await)
        }
    };
    // Both clerks have worked the queue (each takes a report of their own district).
    assert_eq!(assign("shuangliu-clerk", theirs["id"].as_str().unwrap().into(), json!({})).await.0, 200);
    assert_eq!(assign("jinjiang-clerk-2", id.into(), json!({})).await.0, 200);
    // Attack (issue #15): assigning a Jinjiang report to a Shuangliu clerk, or to a made-up id.
    let (status, p) = assign("jinjiang-clerk", id.into(), json!({"staff_id": "st-sl", "staff_name": "Boss"})).await;
    assert_eq!((status, p["errors"][0]["field"].as_str()), (422, Some("staff_id")), "{p}");
    let (status, p) = assign("jinjiang-clerk", id.into(), json!({"staff_id": "st-nobody"})).await;
    assert_eq!((status, p["errors"][0]["field"].as_str()), (422, Some("staff_id")), "{p}");
    // A colleague of the district is fine, shown by the name they signed in with.
    let (status, v) = assign("jinjiang-clerk", id.into(), json!({"staff_id": "st-jj2", "staff_name": "Spoofed"})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["assignee_id"].as_str(), v["assignee_name"].as_str()), (Some("st-jj2"), Some("st-jj2")), "{v}");
    w.t.cleanup().await;
}
