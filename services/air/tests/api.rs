//! The air service's API in-process, behind the real edge middleware, on both backends.

use std::sync::Arc;

use city_air::engine::{hour_floor, AirState, HOUR_MS};
use city_air::{AirApi, AirService};
use city_platform::auth::{Citizen, Integrator, Principal, Role, Scopes, Staff};
use city_platform::testing::{test_platform, StaticAuthenticator, TestPlatform};
use city_platform::time::{from_ms, now_ms, rfc3339};
use city_platform::Db;
use poem::endpoint::BoxEndpoint;
use poem::test::TestClient;
use serde_json::{json, Value};
use sqlx::Row;

struct World {
    t: TestPlatform,
    api: Arc<TestClient<BoxEndpoint<'static>>>,
    db: Db,
}

/// Every credential the tests use: an admin, a clerk, two citizens, an air-ingest key and a key
/// without that scope.
fn credentials() -> Arc<StaticAuthenticator> {
    let auth = StaticAuthenticator::new();
    auth.with_token(
        "admin",
        Principal::Staff(Staff {
            staff_id: "a1".into(),
            username: "admin".into(),
            roles: vec![Role::Admin],
            scopes: Scopes::default(),
            session_id: "s-a1".into(),
        }),
    );
    auth.with_token(
        "clerk",
        Principal::Staff(Staff {
            staff_id: "c1".into(),
            username: "clerk".into(),
            roles: vec![Role::Clerk],
            scopes: Scopes::default(),
            session_id: "s-c1".into(),
        }),
    );
    for who in ["alice", "bob"] {
        auth.with_token(who, Principal::Citizen(Citizen { citizen_id: who.into(), session_id: format!("s-{who}") }));
    }
    // Test stations are run by the network `test` (issue #15: a feed is bound to what it feeds).
    let scopes = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    auth.with_key(
        "feed",
        Integrator { key_id: "k1".into(), name: "feed".into(), scopes: scopes(&["air-ingest:test"]) },
    );
    auth.with_key("t1-only", Integrator { key_id: "k3".into(), name: "t1".into(), scopes: scopes(&["air-ingest:T1"]) });
    auth.with_key("unbound", Integrator { key_id: "k4".into(), name: "any".into(), scopes: scopes(&["air-ingest"]) });
    auth.with_key("other", Integrator { key_id: "k2".into(), name: "other".into(), scopes: vec!["open311".into()] });
    auth
}

async fn world() -> World {
    let t = test_platform().await;
    let (api, db) = AirService::start(t.platform.clone()).await.unwrap();
    let auth = credentials();
    let api = Arc::new(t.client(api, &db, auth));
    World { t, api, db }
}

async fn json_of(resp: poem::test::TestResponse) -> Value {
    resp.json().await.value().deserialize()
}

impl World {
    async fn put_station(&self, code: &str, lat: f64, lon: f64) {
        let resp = self
            .api
            .put(format!("/v1/air/stations/{code}"))
            .header("Authorization", "Bearer admin")
            .body_json(&json!({"name": format!("Station {code}"), "lat": lat, "lon": lon, "operator": "test"}))
            .send()
            .await;
        let status = resp.0.status();
        assert!(status.is_success(), "{status}: {}", json_of(resp).await);
    }

    async fn post_readings(&self, readings: Value) -> (u16, Value) {
        let resp = self
            .api
            .post("/v1/air/readings")
            .header("X-API-Key", "feed")
            .body_json(&json!({ "readings": readings }))
            .send()
            .await;
        let status = resp.0.status().as_u16();
        (status, json_of(resp).await)
    }

    async fn notifications(&self) -> Vec<Value> {
        let rows =
            sqlx::query("SELECT payload FROM platform_outbox WHERE topic = 'notify.requested' ORDER BY created_at, id")
                .fetch_all(&self.db.pool)
                .await
                .unwrap();
        rows.iter().map(|r| serde_json::from_str(&r.get::<String, _>("payload")).unwrap()).collect()
    }
}

/// Six pollutants for one station and hour, PM2.5 as given, the rest low.
fn hour_of(code: &str, hour_end: i64, pm25: &str) -> Vec<Value> {
    let at = rfc3339(from_ms(hour_end));
    [("pm25", pm25, "ug/m3"), ("pm10", "40", "ug/m3"), ("so2", "5", "ug/m3"), ("no2", "20", "ug/m3"), ("co", "0.6", "mg/m3"), ("o3", "60", "ug/m3")]
        .into_iter()
        .map(|(p, v, u)| json!({"station_code": code, "observed_at": at, "pollutant": p, "value": v.parse::<f64>().unwrap(), "unit": u}))
        .collect()
}

fn current_hour() -> i64 {
    hour_floor(now_ms())
}

/// The nearest answer is written from pre-rendered bytes; it must be exactly the documented
/// `NearestView`: read as one and written back by poem-openapi, nothing is lost, added or changed.
fn assert_documented_nearest(body: &Value) {
    use poem_openapi::types::ToJSON;
    let view: city_air::NearestView = serde_json::from_value(body.clone()).expect("a NearestView");
    assert_eq!(view.to_json().as_ref(), Some(body));
}

/// A station, its answers and an API over one state, for tests that reach under the handlers.
async fn bare_state(t: &TestPlatform) -> (Arc<AirState>, Db) {
    let db = Db::open(&t.platform.settings, city_air::NAME, &city_air::MIGRATOR).await.unwrap();
    t.track(&db);
    let state = Arc::new(AirState::new(db.clone(), t.platform.clone()));
    let now = now_ms();
    let mut conn = db.pool.acquire().await.unwrap();
    let row = city_air::store::StationRow {
        code: "S2".into(),
        name: "Station S2".into(),
        district_code: None,
        lat: A2.0,
        lon: A2.1,
        operator: "test".into(),
        active: true,
        created_at: now,
        updated_at: now,
    };
    city_air::store::upsert_station(&mut conn, &row).await.unwrap();
    (state, db)
}

fn checked(rows: &[Value], correction: bool) -> Vec<(city_air::ingest::CheckedReading, bool)> {
    let now = now_ms();
    rows.iter()
        .map(|r| {
            let value = r["value"].as_f64().unwrap().to_string();
            let raw = city_air::ingest::RawReading {
                station_code: r["station_code"].as_str().unwrap(),
                observed_at: r["observed_at"].as_str().unwrap(),
                pollutant: r["pollutant"].as_str().unwrap(),
                value: &value,
                unit: r["unit"].as_str().unwrap(),
            };
            (city_air::ingest::check(&raw, now).unwrap(), correction)
        })
        .collect()
}

async fn nearest_aqi(api: &TestClient<BoxEndpoint<'static>>) -> Value {
    let resp = api.get("/v1/air/nearest").query("lat", &PIN_GCJ02.0).query("lon", &PIN_GCJ02.1).send().await;
    json_of(resp).await["aqi"].clone()
}

// Synthetic stations around the reference's nearest-station vector (Beijing), far from the demo city's seeds.
const S1: (f64, f64) = (39.9000, 116.4000);
const S2: (f64, f64) = (39.9130, 116.3920);
const S3: (f64, f64) = (39.9080, 116.4080);
/// The reference's pin, GCJ-02.
const PIN_GCJ02: (f64, f64) = (39.910126, 116.403743);
/// A station inside the demo city (alerts are only for places in the city), WGS-84.
const A2: (f64, f64) = (30.6560, 104.0650);

/// A pin on [`A2`] as WeChat reports it (GCJ-02).
fn alert_pin() -> (f64, f64) {
    let at = city_platform::coords::LatLon::new(A2.0, A2.1).unwrap().to_gcj02();
    (at.lat(), at.lon())
}

async fn nearest_aqi_at(api: &TestClient<BoxEndpoint<'static>>, pin: (f64, f64)) -> Value {
    let resp = api.get("/v1/air/nearest").query("lat", &pin.0).query("lon", &pin.1).send().await;
    json_of(resp).await["aqi"].clone()
}

#[tokio::test]
async fn every_scheme_is_listed_and_hj_633_2026_is_the_default() {
    let w = world().await;
    let resp = w.api.get("/v1/air/schemes").send().await;
    resp.assert_status_is_ok();
    let body = json_of(resp).await;
    let ids: Vec<&str> = body.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["cn-2026", "cn-2012", "us"]);
    assert_eq!(body[0]["default"], true);
    assert_eq!(body[0]["standard"], "HJ 633-2026");
    w.t.cleanup().await;
}

#[tokio::test]
async fn a_batch_stores_good_rows_and_names_each_bad_one() {
    let w = world().await;
    w.put_station("T1", S1.0, S1.1).await;
    let h = current_hour();
    let mut rows = hour_of("T1", h, "35");
    rows.push(json!({"station_code": "T1", "observed_at": rfc3339(from_ms(h + 2 * HOUR_MS)), "pollutant": "pm25", "value": 10.0, "unit": "ug/m3"}));
    rows.push(json!({"station_code": "T1", "observed_at": rfc3339(from_ms(h)), "pollutant": "co", "value": 2200.0, "unit": "ug/m3"}));
    rows.push(json!({"station_code": "NOPE", "observed_at": rfc3339(from_ms(h)), "pollutant": "pm25", "value": 10.0, "unit": "ug/m3"}));
    rows.push(json!({"station_code": "T1", "observed_at": rfc3339(from_ms(h - HOUR_MS)), "pollutant": "pm10", "value": -99.0, "unit": "ug/m3"}));
    let (status, body) = w.post_readings(Value::Array(rows)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["received"], 10);
    assert_eq!(body["stored"], 6);
    let fields: Vec<&str> = body["rejected"].as_array().unwrap().iter().map(|r| r["field"].as_str().unwrap()).collect();
    assert_eq!(
        fields,
        ["readings[6].observed_at", "readings[7].unit", "readings[9].value", "readings[8].station_code"]
    );

    // The same hour again changes nothing; as a correction with a new value it replaces the stored one.
    let (_, again) = w.post_readings(Value::Array(hour_of("T1", h, "35"))).await;
    assert_eq!((again["stored"].as_u64(), again["unchanged"].as_u64()), (Some(0), Some(6)));
    let fix = json!([{"station_code": "T1", "observed_at": rfc3339(from_ms(h)), "pollutant": "pm25", "value": 80.0, "unit": "ug/m3", "correction": true}]);
    let (_, corrected) = w.post_readings(fix).await;
    assert_eq!(corrected["stored"], 1);
    let stored: String = sqlx::query("SELECT value FROM readings WHERE station_code = 'T1' AND pollutant = 'pm25'")
        .fetch_one(&w.db.pool)
        .await
        .unwrap()
        .get("value");
    assert_eq!(stored, "80");
    w.t.cleanup().await;
}

#[tokio::test]
async fn a_batch_without_a_good_row_is_a_422_naming_the_rows() {
    let w = world().await;
    let (status, body) = w
        .post_readings(json!([{"station_code": "T1", "observed_at": "yesterday", "pollutant": "pm25", "value": 1.0, "unit": "ug/m3"}]))
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "readings[0].observed_at");
    w.t.cleanup().await;
}

#[tokio::test]
async fn ingestion_needs_a_key_with_the_air_ingest_scope() {
    let w = world().await;
    let body = json!({"readings": []});
    let none = w.api.post("/v1/air/readings").body_json(&body).send().await;
    none.assert_status(poem::http::StatusCode::UNAUTHORIZED);
    let wrong = w.api.post("/v1/air/readings").header("X-API-Key", "other").body_json(&body).send().await;
    wrong.assert_status(poem::http::StatusCode::FORBIDDEN);
    w.t.cleanup().await;
}

#[tokio::test]
async fn an_ingest_key_writes_only_the_stations_or_network_it_is_bound_to() {
    let w = world().await;
    w.put_station("T1", S1.0, S1.1).await;
    w.put_station("T2", S2.0, S2.1).await;
    let h = current_hour();
    let post = |key: &'static str, readings: Vec<Value>| {
        let api = w.api.clone();
        async move {
            let resp = api
                .post("/v1/air/readings")
                .header("X-API-Key", key)
                .body_json(&json!({ "readings": readings }))
                .send()
                .await;
            (resp.0.status().as_u16(), json_of(resp).await)
        }
    };
    // Attack: a key with the bare scope writes any station (issue #15) → 403, nothing stored.
    let (status, body) = post("unbound", hour_of("T1", h, "80")).await;
    assert_eq!((status, body["type"].as_str()), (403, Some("/problems/forbidden")), "{body}");
    // A key bound to T1 writes T1; a batch that also names T2 is refused whole.
    let (status, body) = post("t1-only", hour_of("T1", h - HOUR_MS, "30")).await;
    assert_eq!((status, body["stored"].as_u64()), (200, Some(6)), "{body}");
    let mut both = hour_of("T1", h, "80");
    both.extend(hour_of("T2", h, "80"));
    let (status, body) = post("t1-only", both).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("T2"), "{body}");
    let stored: i64 = sqlx::query_scalar("SELECT CAST(COUNT(*) AS BIGINT) FROM readings WHERE hour_end = $1")
        .bind(h)
        .fetch_one(&w.db.pool)
        .await
        .unwrap();
    assert_eq!(stored, 0, "nothing of the refused batch was stored");
    // A key bound to the network `test` writes both.
    let mut both = hour_of("T1", h, "80");
    both.extend(hour_of("T2", h, "80"));
    let (status, body) = post("feed", both).await;
    assert_eq!((status, body["stored"].as_u64()), (200, Some(12)), "{body}");
    w.t.cleanup().await;
}

#[tokio::test]
async fn an_alert_outside_the_city_is_refused_naming_the_field() {
    let w = world().await;
    // Attack: an alert for a point far outside the city's districts (Beijing, and the open sea).
    for (lat, lon) in [PIN_GCJ02, (10.0, 150.0)] {
        let resp = w
            .api
            .post("/v1/air/alerts")
            .header("Authorization", "Bearer alice")
            .body_json(&json!({"lat": lat, "lon": lon, "coord": "gcj02"}))
            .send()
            .await;
        let (status, body) = (resp.0.status().as_u16(), json_of(resp).await);
        assert_eq!((status, body["errors"][0]["field"].as_str()), (422, Some("lat")), "{body}");
    }
    let pin = alert_pin();
    let resp = w
        .api
        .post("/v1/air/alerts")
        .header("Authorization", "Bearer alice")
        .body_json(&json!({"lat": pin.0, "lon": pin.1, "coord": "gcj02"}))
        .send()
        .await;
    resp.assert_status(poem::http::StatusCode::CREATED);
    w.t.cleanup().await;
}

#[tokio::test]
async fn csv_backfill_reports_per_line() {
    let w = world().await;
    w.put_station("T1", S1.0, S1.1).await;
    let h = current_hour();
    let (a, b) = (rfc3339(from_ms(h - HOUR_MS)), rfc3339(from_ms(h)));
    let csv = format!(
        "station_code,observed_at,pollutant,value,unit\nT1,{a},pm25,35,ug/m3\nT1,{b},pm25,36.5,ug/m3\nT1,{b},co,2.2,ppm\n"
    );
    let resp =
        w.api.post("/v1/air/readings").header("X-API-Key", "feed").content_type("text/csv").body(csv).send().await;
    resp.assert_status_is_ok();
    let body = json_of(resp).await;
    assert_eq!(body["stored"], 2);
    assert_eq!(body["rejected"][0]["row"], "line 4");
    assert_eq!(body["rejected"][0]["field"], "line 4: unit");
    w.t.cleanup().await;
}

#[tokio::test]
async fn the_nearest_station_to_a_gcj02_pin_gives_the_standards_index_level_colour_and_advice() {
    let w = world().await;
    for (code, at) in [("S1", S1), ("S2", S2), ("S3", S3)] {
        w.put_station(code, at.0, at.1).await;
    }
    let h = current_hour();
    let mut rows = Vec::new();
    for code in ["S1", "S2", "S3"] {
        rows.extend(hour_of(code, h, if code == "S2" { "80" } else { "10" }));
    }
    w.post_readings(Value::Array(rows)).await;
    let resp = w
        .api
        .get("/v1/air/nearest")
        .query("lat", &PIN_GCJ02.0)
        .query("lon", &PIN_GCJ02.1)
        .query("coord", &"gcj02")
        .send()
        .await;
    resp.assert_status_is_ok();
    let body = json_of(resp).await;
    assert_eq!(body["scheme"], "cn-2026");
    assert_eq!(body["station"]["code"], "S2");
    assert!((body["station"]["distance_m"].as_f64().unwrap() - 668.0).abs() < 1.0, "{body}");
    assert_eq!(body["aqi"], 119);
    assert_eq!(body["level"], 3);
    assert_eq!(body["category"]["name_zh"], "轻度污染");
    assert_eq!(body["colour"]["hex"], "#FF7E00");
    assert_eq!(body["primary_pollutants"][0]["code"], "pm25");
    assert!(body["advice"]["zh"].as_str().unwrap().len() > 10);
    assert_eq!(body["observed_at"], rfc3339(from_ms(h)));
    assert_eq!(body["fell_back"], false);

    // Another scheme on request, named in the answer.
    let us = w
        .api
        .get("/v1/air/nearest")
        .query("lat", &PIN_GCJ02.0)
        .query("lon", &PIN_GCJ02.1)
        .query("scheme", &"us")
        .send()
        .await;
    let us = json_of(us).await;
    assert_eq!(us["scheme"], "us");
    assert!(us["colour"]["hex"].is_string(), "{us}");
    assert_documented_nearest(&body);
    assert_documented_nearest(&us);
    w.t.cleanup().await;
}

#[tokio::test]
async fn a_stale_nearest_station_is_skipped_for_the_next_one() {
    let w = world().await;
    w.put_station("S2", S2.0, S2.1).await;
    w.put_station("S3", S3.0, S3.1).await;
    let h = current_hour();
    let mut rows = hour_of("S2", h - 5 * HOUR_MS, "10");
    rows.extend(hour_of("S3", h, "10"));
    w.post_readings(Value::Array(rows)).await;
    let resp = w.api.get("/v1/air/nearest").query("lat", &PIN_GCJ02.0).query("lon", &PIN_GCJ02.1).send().await;
    resp.assert_status_is_ok();
    let body = json_of(resp).await;
    assert_eq!(body["station"]["code"], "S3");
    assert_eq!(body["fell_back"], true);
    assert_eq!(body["skipped"][0]["code"], "S2");
    assert_eq!(body["skipped"][0]["reason"], "stale");
    assert_documented_nearest(&body);
    w.t.cleanup().await;
}

#[tokio::test]
async fn no_fresh_station_within_20_km_is_a_404_and_bad_points_name_the_field() {
    let w = world().await;
    let resp = w.api.get("/v1/air/nearest").query("lat", &PIN_GCJ02.0).query("lon", &PIN_GCJ02.1).send().await;
    resp.assert_status(poem::http::StatusCode::NOT_FOUND);
    assert_eq!(json_of(resp).await["type"], "/problems/no-station-nearby");
    let bad = w.api.get("/v1/air/nearest").query("lat", &95.0).query("lon", &116.0).send().await;
    bad.assert_status(poem::http::StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json_of(bad).await["errors"][0]["field"], "lat");
    let scheme =
        w.api.get("/v1/air/nearest").query("lat", &30.0).query("lon", &104.0).query("scheme", &"eu").send().await;
    assert_eq!(json_of(scheme).await["errors"][0]["field"], "scheme");
    w.t.cleanup().await;
}

#[tokio::test]
async fn a_station_shows_24_hours_and_30_days_and_the_2012_scheme_on_request() {
    let w = world().await;
    w.put_station("T1", S1.0, S1.1).await;
    let h = current_hour();
    let mut rows = Vec::new();
    for back in 0..30 {
        rows.extend(hour_of("T1", h - back * HOUR_MS, "80"));
    }
    w.post_readings(Value::Array(rows)).await;
    let resp = w.api.get("/v1/air/stations/T1").query("scheme", &"cn-2012").send().await;
    resp.assert_status_is_ok();
    let body = json_of(resp).await;
    assert_eq!(body["fresh"], true);
    assert_eq!(body["current"]["report"]["scheme"], "cn-2012");
    // HJ 633-2012 real-time: the 24-hour moving mean of PM2.5 80 → 106.25, rounded up.
    assert_eq!(body["current"]["report"]["aqi"], 107);
    assert_eq!(body["last_24_hours"].as_array().unwrap().len(), 24);
    assert_eq!(body["last_24_hours"][23]["report"]["aqi"], 107);
    assert_eq!(body["last_30_days"].as_array().unwrap().len(), 30);
    let missing = w.api.get("/v1/air/stations/NOPE").send().await;
    missing.assert_status(poem::http::StatusCode::NOT_FOUND);
    w.t.cleanup().await;
}

#[tokio::test]
async fn only_admins_manage_stations_and_the_district_comes_from_the_location() {
    let w = world().await;
    let body = json!({"name": "Chunxi Road", "lat": 30.6570, "lon": 104.0800});
    let clerk = w.api.put("/v1/air/stations/X1").header("Authorization", "Bearer clerk").body_json(&body).send().await;
    clerk.assert_status(poem::http::StatusCode::FORBIDDEN);
    let admin = w.api.put("/v1/air/stations/X1").header("Authorization", "Bearer admin").body_json(&body).send().await;
    admin.assert_status_is_ok();
    assert_eq!(json_of(admin).await["district_code"], "510104");
    let audits: i64 =
        sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM platform_outbox WHERE topic = 'audit.recorded'")
            .fetch_one(&w.db.pool)
            .await
            .unwrap()
            .get("n");
    assert_eq!(audits, 1);
    w.t.cleanup().await;
}

#[tokio::test]
async fn districts_are_computed_from_mean_concentrations_of_their_stations() {
    let w = world().await;
    // Two stations in Jinjiang District (510104).
    w.put_station("J1", 30.6570, 104.0800).await;
    w.put_station("J2", 30.6500, 104.0850).await;
    let h = current_hour();
    let mut rows = hour_of("J1", h, "50");
    rows.extend(hour_of("J2", h, "110"));
    w.post_readings(Value::Array(rows)).await;
    let resp = w.api.get("/v1/air/districts").send().await;
    resp.assert_status_is_ok();
    let body = json_of(resp).await;
    assert!(body["method"].as_str().unwrap().contains("mean concentration"));
    let jinjiang = body["districts"].as_array().unwrap().iter().find(|d| d["code"] == "510104").unwrap().clone();
    // Mean PM2.5 80 → 119, not the mean (or max) of the stations' indices.
    assert_eq!(jinjiang["report"]["aqi"], 119, "{jinjiang}");
    assert_eq!(jinjiang["stations_contributing"], json!(["J1", "J2"]));
    let summary = json_of(w.api.get("/v1/air/summary").send().await).await;
    assert_eq!(summary["report"]["aqi"], 119);
    assert!(summary["text_zh"].as_str().unwrap().contains("119"));
    w.t.cleanup().await;
}

#[tokio::test]
async fn an_alert_fires_once_when_the_threshold_is_crossed_and_clears_when_it_falls_back() {
    let w = world().await;
    w.put_station("S2", A2.0, A2.1).await;
    let pin = alert_pin();
    let resp = w
        .api
        .post("/v1/air/alerts")
        .header("Authorization", "Bearer alice")
        .body_json(&json!({"lat": pin.0, "lon": pin.1, "coord": "gcj02", "label": "home", "threshold_level": 3}))
        .send()
        .await;
    resp.assert_status(poem::http::StatusCode::CREATED);
    let sub = json_of(resp).await;
    assert_eq!((sub["alert_at_aqi"].as_u64(), sub["clear_at_aqi"].as_u64()), (Some(101), Some(80)));
    let h = current_hour();
    w.post_readings(Value::Array(hour_of("S2", h - 3 * HOUR_MS, "50"))).await;
    assert!(w.notifications().await.is_empty());

    // Ten feeds racing to deliver the crossing hour: one alert.
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let api = w.api.clone();
        let rows = hour_of("S2", h - 2 * HOUR_MS, "80");
        tasks.push(tokio::spawn(async move {
            api.post("/v1/air/readings")
                .header("X-API-Key", "feed")
                .body_json(&json!({"readings": rows}))
                .send()
                .await
                .0
                .status()
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap().is_success());
    }
    // Wobbling just under the level and back does not alert again.
    w.post_readings(Value::Array(hour_of("S2", h - HOUR_MS, "58"))).await;
    let sent = w.notifications().await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["kind"], "air.alert_raised");
    assert_eq!(sent[0]["citizen_id"], "alice");
    assert_eq!(sent[0]["data"]["aqi"], 119);
    let id = sub["id"].as_str().unwrap();
    assert_eq!(sent[0]["notification_id"], format!("air:alert:{id}:1:raised"));

    // Falling well below: the all-clear.
    w.post_readings(Value::Array(hour_of("S2", h, "20"))).await;
    let sent = w.notifications().await;
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1]["kind"], "air.alert_cleared");
    assert_eq!(sent[1]["notification_id"], format!("air:alert:{id}:1:cleared"));

    let mine = json_of(w.api.get("/v1/air/alerts").header("Authorization", "Bearer alice").send().await).await;
    assert_eq!(mine[0]["alerting"], false);
    let theirs = json_of(w.api.get("/v1/air/alerts").header("Authorization", "Bearer bob").send().await).await;
    assert_eq!(theirs, json!([]));
    let steal = w.api.delete(format!("/v1/air/alerts/{id}")).header("Authorization", "Bearer bob").send().await;
    steal.assert_status(poem::http::StatusCode::NOT_FOUND);
    let gone = w.api.delete(format!("/v1/air/alerts/{id}")).header("Authorization", "Bearer alice").send().await;
    gone.assert_status(poem::http::StatusCode::NO_CONTENT);
    w.t.cleanup().await;
}

#[tokio::test]
async fn a_subscription_names_a_district_or_a_place() {
    let w = world().await;
    let post = |body: Value| {
        let api = w.api.clone();
        async move {
            let resp = api.post("/v1/air/alerts").header("Authorization", "Bearer alice").body_json(&body).send().await;
            (resp.0.status().as_u16(), json_of(resp).await)
        }
    };
    let (status, body) = post(json!({"threshold_level": 3})).await;
    assert_eq!((status, body["errors"][0]["field"].as_str()), (422, Some("lat")));
    let (status, body) = post(json!({"district_code": "999999"})).await;
    assert_eq!((status, body["errors"][0]["field"].as_str()), (422, Some("district_code")));
    let (status, body) = post(json!({"district_code": "510104", "threshold_level": 9})).await;
    assert_eq!((status, body["errors"][0]["field"].as_str()), (422, Some("threshold_level")));
    let (status, _) = post(json!({"district_code": "510104"})).await;
    assert_eq!(status, 201);
    w.t.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_answer_computed_before_an_ingestion_is_served_after_it() {
    let w = world().await;
    w.put_station("S2", S2.0, S2.1).await;
    let h = current_hour();
    w.post_readings(Value::Array(hour_of("S2", h, "10"))).await;
    // Readers keep missing and refilling the cache while corrections land; after each correction
    // returns, the very next answer must show it (a reader that read the store before the commit
    // and cached after the invalidation would leave the old value behind).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..6)
        .map(|_| {
            let (api, stop) = (w.api.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    nearest_aqi(&api).await;
                    // A cached answer never waits, so give the test's own task its turn.
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    // A backfill feed keeps invalidating the station with hours too old to change its current
    // index, so readers are forever recomputing, some of them across each correction's commit.
    let backfill = {
        let (api, stop) = (w.api.clone(), stop.clone());
        tokio::spawn(async move {
            let mut back = 30;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let at = rfc3339(from_ms(h - back * HOUR_MS));
                let row =
                    json!({"station_code": "S2", "observed_at": at, "pollutant": "so2", "value": 5, "unit": "ug/m3"});
                let resp = api
                    .post("/v1/air/readings")
                    .header("X-API-Key", "feed")
                    .body_json(&json!({"readings": [row]}))
                    .send()
                    .await;
                resp.assert_status_is_ok();
                back += 1;
            }
        })
    };
    let mut last = Value::Null;
    for (i, pm25) in ["80", "40", "120", "55", "160", "65", "200", "95"].iter().cycle().take(40).enumerate() {
        let mut rows = hour_of("S2", h, pm25);
        for r in &mut rows {
            r["correction"] = json!(true);
        }
        let (status, report) = w.post_readings(Value::Array(rows)).await;
        assert_eq!(status, 200, "{report}");
        // The station's history is computed from the store on every request: the truth.
        let history = json_of(w.api.get("/v1/air/stations/S2").send().await).await;
        let want = history["last_24_hours"][23]["report"]["aqi"].clone();
        assert_ne!(want, last, "each correction changes the index");
        assert_eq!(nearest_aqi(&w.api).await, want, "after correction {i} to PM2.5 {pm25}");
        last = want;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    backfill.await.unwrap();
    w.t.cleanup().await;
}

#[tokio::test]
async fn a_crossing_committed_by_a_process_that_stopped_before_its_alerts_is_alerted_by_the_event_consumer() {
    let t = test_platform().await;
    let (state, db) = bare_state(&t).await;
    let auth = StaticAuthenticator::new();
    auth.with_token("alice", Principal::Citizen(Citizen { citizen_id: "alice".into(), session_id: "s-alice".into() }));
    let api = t.client(AirApi::new(state.clone()), &db, auth);
    let pin = alert_pin();
    let resp = api
        .post("/v1/air/alerts")
        .header("Authorization", "Bearer alice")
        .body_json(&json!({"lat": pin.0, "lon": pin.1, "coord": "gcj02", "threshold_level": 3}))
        .send()
        .await;
    resp.assert_status(poem::http::StatusCode::CREATED);
    let h = current_hour();
    state.ingest(&checked(&hour_of("S2", h - HOUR_MS, "20"), false), now_ms()).await.unwrap();
    let before = nearest_aqi_at(&api, pin).await;
    assert!(before.as_u64().is_some_and(|aqi| aqi <= 100), "{before}");

    // The transactional half only, as if the process stopped right after the commit.
    let stored = state.store_readings(&checked(&hour_of("S2", h, "80"), false), now_ms()).await.unwrap();
    assert_eq!(stored.stored, 6);
    let notifications = |db: Db| async move {
        sqlx::query("SELECT payload FROM platform_outbox WHERE topic = 'notify.requested'")
            .fetch_all(&db.pool)
            .await
            .unwrap()
            .len()
    };
    assert_eq!(notifications(db.clone()).await, 0);
    let row = sqlx::query(
        "SELECT id, payload, created_at FROM platform_outbox WHERE topic = 'air.readings_stored' AND id = $1",
    )
    .bind(stored.event_id.as_deref().unwrap())
    .fetch_one(&db.pool)
    .await
    .unwrap();
    let event = city_platform::bus::Event {
        id: row.get("id"),
        topic: "air.readings_stored".into(),
        payload: serde_json::from_str(&row.get::<String, _>("payload")).unwrap(),
        occurred_at_ms: row.get("created_at"),
    };
    assert_eq!(event.payload["stations"], json!(["S2"]));
    assert_eq!(
        nearest_aqi_at(&api, pin).await,
        before,
        "nothing invalidated yet: the stopped process did not get that far"
    );

    // The consumer (after its grace period) invalidates and evaluates; delivered twice, one alert.
    state.on_readings_stored(&event).await.unwrap();
    state.on_readings_stored(&event).await.unwrap();
    assert_eq!(notifications(db.clone()).await, 1);
    assert_eq!(nearest_aqi_at(&api, pin).await, 119);
    t.cleanup().await;
}

#[tokio::test]
async fn a_replica_rebuilds_its_index_on_another_replicas_station_change_event() {
    let t = test_platform().await;
    let (api_a, db_a) = AirService::start(t.platform.clone()).await.unwrap();
    let (api_b, db_b) = AirService::start(t.platform.clone()).await.unwrap();
    let auth = credentials();
    let a = t.client(api_a, &db_a, auth.clone());
    let b = t.client(api_b, &db_b, auth);
    // B builds its index now (no station here yet) and would not look again for a minute.
    let resp = b.get("/v1/air/nearest").query("lat", &PIN_GCJ02.0).query("lon", &PIN_GCJ02.1).send().await;
    resp.assert_status(poem::http::StatusCode::NOT_FOUND);

    let resp = a
        .put("/v1/air/stations/S2")
        .header("Authorization", "Bearer admin")
        .body_json(&json!({"name": "Station S2", "lat": S2.0, "lon": S2.1, "operator": "test"}))
        .send()
        .await;
    resp.assert_status_is_ok();
    let resp = a
        .post("/v1/air/readings")
        .header("X-API-Key", "feed")
        .body_json(&json!({ "readings": hour_of("S2", current_hour(), "80") }))
        .send()
        .await;
    resp.assert_status_is_ok();
    // The relay publishes A's committed events; B's consumer rebuilds.
    let relay = city_platform::outbox::Relay::new(db_a.clone(), t.platform.bus.clone());
    assert!(relay.publish_pending().await.unwrap() >= 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if nearest_aqi(&b).await == 119 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "replica B never saw the new station");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    t.cleanup().await;
}

#[tokio::test]
async fn a_rollup_is_not_stored_over_an_hour_that_arrived_while_it_was_computed() {
    let t = test_platform().await;
    let (state, db) = bare_state(&t).await;
    let day_end = city_air::engine::city_day_start(now_ms()) - 2 * 86_400_000;
    let range = (day_end - 86_400_000, day_end);
    let fingerprint = city_air::store::readings_fingerprint(&db, "S2", range.0, range.1).await.unwrap();
    // A late hour of that day commits after the reader took its fingerprint (and read its rows).
    state.ingest(&checked(&hour_of("S2", day_end - 5 * HOUR_MS, "80"), false), now_ms()).await.unwrap();
    let day = city_air::engine::city_day_label(range.0);
    city_air::store::put_rollup(&db, "S2", &day, "{}", now_ms(), range, fingerprint).await.unwrap();
    let stored =
        |db: Db| async move { city_air::store::rollups(&db, "S2", "2000-01-01", "2999-12-31").await.unwrap().len() };
    assert_eq!(stored(db.clone()).await, 0, "a rollup without the late hour was kept");
    let fresh = city_air::store::readings_fingerprint(&db, "S2", range.0, range.1).await.unwrap();
    city_air::store::put_rollup(&db, "S2", &day, "{}", now_ms(), range, fresh).await.unwrap();
    assert_eq!(stored(db.clone()).await, 1);
    t.cleanup().await;
}

#[tokio::test]
async fn a_crossing_stored_before_a_restart_is_alerted_when_the_service_starts() {
    let t = test_platform().await;
    let (state, db) = bare_state(&t).await;
    let at = city_platform::coords::LatLon::new(A2.0, A2.1).unwrap();
    let sub = city_air::store::SubscriptionRow {
        id: city_platform::ids::new_id(),
        citizen_id: "alice".into(),
        district_code: None,
        lat: Some(at.lat()),
        lon: Some(at.lon()),
        label: "home".into(),
        scheme: "cn-2026".into(),
        threshold_level: 3,
        alerting: false,
        episode: 0,
        last_aqi: None,
        last_hour_end: None,
        raised_at: None,
        cleared_at: None,
        created_at: now_ms(),
    };
    city_air::store::insert_subscription(&db, &sub).await.unwrap();
    // Stored, then the process stopped (and the in-process bus forgot the event).
    state.store_readings(&checked(&hour_of("S2", current_hour(), "80"), false), now_ms()).await.unwrap();
    drop(state);
    let count = || async {
        sqlx::query("SELECT id FROM platform_outbox WHERE topic = 'notify.requested'")
            .fetch_all(&db.pool)
            .await
            .unwrap()
            .len()
    };
    assert_eq!(count().await, 0);
    let (_api, restarted) = AirService::start(t.platform.clone()).await.unwrap();
    t.track(&restarted);
    assert_eq!(count().await, 1);
    t.cleanup().await;
}
