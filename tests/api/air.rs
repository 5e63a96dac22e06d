//! Air quality end to end, as a person with curl would do it: an ingest key from `city apikey
//! create`, a batch of readings for the demo stations, the nearest station from a WeChat (GCJ-02)
//! pin, and an alert that a citizen signed in through the WeChat sandbox sees open.

use city_platform::coords::LatLon;
use serde_json::{json, Value};

use crate::harness::{spawn_app, TestApp};

fn ingest_key(app: &TestApp) -> String {
    app.city(&["apikey", "create", "--name", "air feed", "--scope", "air-ingest:CNEMC"])
}

fn hour(code: &str, at: &str, pm25: f64) -> Vec<Value> {
    [
        ("pm25", pm25, "ug/m3"),
        ("pm10", 40.0, "ug/m3"),
        ("so2", 5.0, "ug/m3"),
        ("no2", 20.0, "ug/m3"),
        ("co", 0.6, "mg/m3"),
        ("o3", 60.0, "ug/m3"),
    ]
    .into_iter()
    .map(|(p, v, u)| json!({"station_code": code, "observed_at": at, "pollutant": p, "value": v, "unit": u}))
    .collect()
}

#[tokio::test]
async fn a_feed_posts_readings_and_a_citizen_sees_the_nearest_index_and_an_open_alert() {
    let app = spawn_app().await;
    let key = ingest_key(&app);
    let token = app.citizen_token("air-e2e").await;

    // People's Park station (1437A, demo seed), as WeChat would report a pin beside it.
    let pin = LatLon::new(30.6581, 104.0591).unwrap().to_gcj02();
    let sub = app
        .http
        .post(app.url("/v1/air/alerts"))
        .bearer_auth(&token)
        .json(&json!({"lat": pin.lat(), "lon": pin.lon(), "coord": "gcj02", "threshold_level": 3}))
        .send()
        .await
        .unwrap();
    assert_eq!(sub.status(), 201);

    let now = city_platform::time::now_ms();
    let at = city_platform::time::rfc3339(city_platform::time::from_ms(now / 3_600_000 * 3_600_000));
    let mut rows = hour("1437A", &at, 80.0);
    rows.extend(hour("1436A", &at, 20.0));
    let resp = app
        .http
        .post(app.url("/v1/air/readings"))
        .header("X-API-Key", &key)
        .json(&json!({ "readings": rows }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let report: Value = resp.json().await.unwrap();
    assert_eq!(report["stored"], 12, "{report}");
    assert_eq!(report["alerts"], 1, "{report}");

    let (status, near) =
        app.get_json(&format!("/v1/air/nearest?lat={}&lon={}&coord=gcj02", pin.lat(), pin.lon())).await;
    assert_eq!(status, 200, "{near}");
    assert_eq!(near["station"]["code"], "1437A");
    assert_eq!(near["aqi"], 119);
    assert_eq!(near["colour"]["hex"], "#FF7E00");
    assert_eq!(near["category"]["name_en"], "Lightly polluted");

    let mine: Value =
        app.http.get(app.url("/v1/air/alerts")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(mine[0]["alerting"], true);
    assert_eq!(mine[0]["last_aqi"], 119);
    app.stop().await;
}
