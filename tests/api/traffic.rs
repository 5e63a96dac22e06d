//! Traffic cameras and coach stations (issue #22): public reference data served under
//! `/v1/traffic` by whichever process answers citizens, in the datum the client asks for.

use city::Mode;
use city_platform::coords::{Crs, LatLon};
use serde_json::{json, Value};

use crate::harness::{expect_problem, spawn_app, spawn_mode};

/// Tianfu Square, the centre of the demo city (WGS-84).
const SQUARE: (f64, f64) = (30.6574, 104.0658);

fn ids(answer: &Value) -> Vec<String> {
    answer["cameras"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
}

fn metres(answer: &Value, key: &str) -> Vec<i64> {
    answer["cameras"].as_array().unwrap().iter().map(|c| c[key].as_i64().unwrap()).collect()
}

fn gcj02(lat: f64, lon: f64) -> (f64, f64) {
    LatLon::new(lat, lon).unwrap().to_crs(Crs::Gcj02)
}

#[tokio::test]
async fn cameras_near_a_point_come_nearest_first_within_the_radius_in_the_datum_asked() {
    let app = spawn_app().await;
    let (status, near) =
        app.get_json(&format!("/v1/traffic/cameras?lat={}&lon={}&radius_m=1500", SQUARE.0, SQUARE.1)).await;
    assert_eq!(status, 200, "{near}");
    assert_eq!(near["coord"], "wgs84");
    assert_eq!(near["operator"]["id"], "cd-traffic-police");
    let found = ids(&near);
    let distances = metres(&near, "distance_m");
    assert!(found.len() >= 3, "{near}");
    assert!(distances.windows(2).all(|w| w[0] <= w[1]), "nearest first: {distances:?}");
    assert!(distances.iter().all(|d| *d <= 1500), "{distances:?}");
    assert_eq!(found[0], "CD-RMN-01", "the camera on the square's north side is nearest: {near}");
    assert!(!found.contains(&"CD-TFD-03".to_owned()), "Tianfu Avenue's camera is 9 km south: {near}");
    // Every camera the directory has within 1500 m, checked against an independent distance.
    let (_, wide) = app.get_json(&format!("/v1/traffic/cameras?lat={}&lon={}&radius_m=5000", SQUARE.0, SQUARE.1)).await;
    let square = LatLon::new(SQUARE.0, SQUARE.1).unwrap();
    for c in wide["cameras"].as_array().unwrap() {
        let d = square.distance_m(LatLon::new(c["lat"].as_f64().unwrap(), c["lon"].as_f64().unwrap()).unwrap());
        assert!((d - c["distance_m"].as_f64().unwrap()).abs() < 8.0, "{c} is {d} m away");
        assert_eq!(d <= 1495.0, found.contains(&c["id"].as_str().unwrap().to_owned()), "{c}: {d} m");
    }
    assert!(c_snapshot_urls(&near).all(|u| u.starts_with("https://")), "{near}");

    // The same place as WeChat reports it (GCJ-02): the same cameras, pinned in GCJ-02.
    let (glat, glon) = gcj02(SQUARE.0, SQUARE.1);
    let (status, in_gcj) =
        app.get_json(&format!("/v1/traffic/cameras?lat={glat}&lon={glon}&radius_m=1500&coord=gcj02")).await;
    assert_eq!(status, 200, "{in_gcj}");
    assert_eq!(in_gcj["coord"], "gcj02");
    assert_eq!(ids(&in_gcj), found);
    for (w, g) in near["cameras"].as_array().unwrap().iter().zip(in_gcj["cameras"].as_array().unwrap()) {
        let (lat, lon) = gcj02(w["lat"].as_f64().unwrap(), w["lon"].as_f64().unwrap());
        assert!((g["lat"].as_f64().unwrap() - lat).abs() < 2e-6 && (g["lon"].as_f64().unwrap() - lon).abs() < 2e-6);
        assert!((g["lon"].as_f64().unwrap() - w["lon"].as_f64().unwrap()).abs() > 1e-3, "GCJ-02 is shifted: {g}");
        assert!((g["distance_m"].as_i64().unwrap() - w["distance_m"].as_i64().unwrap()).abs() <= 1);
    }
    // Baidu's BD-09 too, with the same parameter name.
    let (blat, blon) = LatLon::new(SQUARE.0, SQUARE.1).unwrap().to_crs(Crs::Bd09);
    let (status, in_bd) =
        app.get_json(&format!("/v1/traffic/cameras?lat={blat}&lon={blon}&radius_m=1500&coord=bd09")).await;
    assert_eq!(status, 200, "{in_bd}");
    assert_eq!(in_bd["coord"], "bd09");
    assert_eq!(ids(&in_bd), found);
    app.stop().await;
}

fn c_snapshot_urls(answer: &Value) -> impl Iterator<Item = &str> {
    answer["cameras"].as_array().unwrap().iter().map(|c| c["snapshot_url"].as_str().unwrap())
}

#[tokio::test]
async fn cameras_along_a_route_come_in_the_order_passed_within_the_corridor_in_the_datum_asked() {
    let app = spawn_app().await;
    // Down Renmin South Road and Tianfu Avenue from just north of the square to 30.60.
    let route = [(30.6600, 104.0658), (30.6400, 104.0656), (30.6200, 104.0654), (30.6000, 104.0653)];
    let points: Vec<Value> = route.iter().map(|(lat, lon)| json!({"lat": lat, "lon": lon})).collect();
    let resp = app
        .http
        .post(app.url("/v1/traffic/cameras/along"))
        .json(&json!({"points": points, "within_m": 100}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let along: Value = resp.json().await.unwrap();
    assert_eq!(ids(&along), ["CD-RMN-01", "CD-RMN-02", "CD-RMN-03", "CD-RMN-04", "CD-RMN-05", "CD-TFD-01"], "{along}");
    let travelled = metres(&along, "along_m");
    assert!(travelled.windows(2).all(|w| w[0] < w[1]), "in the order passed: {travelled:?}");
    assert!(metres(&along, "distance_m").iter().all(|d| *d <= 100), "{along}");
    // RMN-01 sits 1 km down the road from 30.6600 (30.6590): ~111 m travelled.
    assert!((travelled[0] - 111).abs() <= 3, "{travelled:?}");

    // Driven the other way, the same cameras come in reverse; a 20 m corridor keeps only those on the line.
    let back: Vec<Value> = points.iter().rev().cloned().collect();
    let resp = app.http.post(app.url("/v1/traffic/cameras/along")).json(&json!({"points": back})).send().await.unwrap();
    let reversed: Value = resp.json().await.unwrap();
    let mut expected = ids(&along);
    expected.reverse();
    assert_eq!(ids(&reversed), expected);

    // The route as WeChat's map draws it (GCJ-02), answered in GCJ-02.
    let in_gcj: Vec<Value> = route
        .iter()
        .map(|(lat, lon)| {
            let (lat, lon) = gcj02(*lat, *lon);
            json!({"lat": lat, "lon": lon})
        })
        .collect();
    let resp = app
        .http
        .post(app.url("/v1/traffic/cameras/along"))
        .json(&json!({"points": in_gcj, "within_m": 100, "coord": "gcj02"}))
        .send()
        .await
        .unwrap();
    let gcj: Value = resp.json().await.unwrap();
    assert_eq!(gcj["coord"], "gcj02");
    assert_eq!(ids(&gcj), ids(&along));
    let first = &gcj["cameras"][0];
    let (lat, lon) = gcj02(30.6590, 104.0657);
    assert!((first["lat"].as_f64().unwrap() - lat).abs() < 2e-6 && (first["lon"].as_f64().unwrap() - lon).abs() < 2e-6);
    app.stop().await;
}

#[tokio::test]
async fn bad_points_radii_routes_and_datums_are_refused_naming_the_field() {
    let app = spawn_app().await;
    for (query, field) in [
        ("lat=95&lon=104.06", "lat"),
        ("lat=30.65&lon=190", "lon"),
        ("lat=0&lon=0", "lat"),
        ("lat=30.65&lon=104.06&radius_m=0", "radius_m"),
        ("lat=30.65&lon=104.06&radius_m=5001", "radius_m"),
        ("lat=30.65&lon=104.06&radius_m=-3", "radius_m"),
    ] {
        let resp = app.http.get(app.url(&format!("/v1/traffic/cameras?{query}"))).send().await.unwrap();
        let problem = expect_problem(resp, 422).await;
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
    }
    // A datum outside the document's pattern is refused before the handler: in a query, a 400
    // naming it (in a body, a 422 like every declared rule, below).
    for query in [
        "cameras?lat=30.65&lon=104.06&coord=utm",
        "cameras?lat=30.65&lon=104.06&coord=WGS-84",
        "coach-stations?lat=30.7&lon=104.07&coord=x",
    ] {
        let resp = app.http.get(app.url(&format!("/v1/traffic/{query}"))).send().await.unwrap();
        let problem = expect_problem(resp, 400).await;
        assert_eq!(problem["errors"][0]["field"], "coord", "{query}: {problem}");
    }
    let ok = [json!({"lat": 30.65, "lon": 104.06}), json!({"lat": 30.64, "lon": 104.06})];
    for (body, field) in [
        (json!({"points": [ok[0]]}), "points"),
        (json!({"points": [ok[0], {"lat": 200.0, "lon": 104.0}]}), "points[1].lat"),
        (json!({"points": [{"lat": 30.6, "lon": -500.0}, ok[1]]}), "points[0].lon"),
        (json!({"points": ok, "within_m": 0}), "within_m"),
        (json!({"points": ok, "within_m": 1001}), "within_m"),
        (json!({"points": vec![ok[0].clone(); 1001]}), "points"),
        (json!({"points": ok, "coord": "mercator"}), "coord"),
    ] {
        let resp = app.http.post(app.url("/v1/traffic/cameras/along")).json(&body).send().await.unwrap();
        let problem = expect_problem(resp, 422).await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    for (query, field) in [("lat=30.69", "lon"), ("lon=104.07", "lat"), ("limit=0", "limit")] {
        let resp = app.http.get(app.url(&format!("/v1/traffic/coach-stations?{query}"))).send().await.unwrap();
        let problem = expect_problem(resp, 422).await;
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
    }
    app.stop().await;
}

#[tokio::test]
async fn coach_stations_come_nearest_first_with_the_operators_ticket_link() {
    let app = spawn_app().await;
    // Outside North Railway Station, in GCJ-02 as WeChat gives it.
    let (lat, lon) = gcj02(30.6960, 104.0730);
    let (status, near) =
        app.get_json(&format!("/v1/traffic/coach-stations?lat={lat}&lon={lon}&coord=gcj02&limit=3")).await;
    assert_eq!(status, 200, "{near}");
    let stations = near["stations"].as_array().unwrap();
    assert_eq!(stations.len(), 3);
    assert_eq!(stations[0]["id"], "chengbei", "{near}");
    assert!(stations[0]["distance_m"].as_i64().unwrap() < 300, "{near}");
    let d: Vec<i64> = stations.iter().map(|s| s["distance_m"].as_i64().unwrap()).collect();
    assert!(d.windows(2).all(|w| w[0] <= w[1]), "{d:?}");
    assert!(stations.iter().all(|s| s["tickets_url"].as_str().unwrap().starts_with("https://")));
    // Without a point: every station (up to the limit), no distances.
    let (_, all) = app.get_json("/v1/traffic/coach-stations?limit=50").await;
    assert_eq!(all["stations"].as_array().unwrap().len(), 7);
    assert!(all["stations"][0].get("distance_m").is_none(), "{all}");
    // The catalogue points at the directory and says tickets are the operators'.
    let (_, catalogue) = app.get_json("/v1/services").await;
    let entries = catalogue["services"].as_array().unwrap();
    let cameras = entries.iter().find(|s| s["id"] == "traffic-cameras").unwrap();
    assert_eq!(cameras["provider"], "city");
    assert_eq!(cameras["openapi_tag"], "Traffic");
    let transport = entries.iter().find(|s| s["id"] == "transport-booking").unwrap();
    assert!(transport["description_en"].as_str().unwrap().contains("operator"), "{transport}");
    app.stop().await;
}

#[tokio::test]
async fn the_gateway_of_a_split_portal_answers_traffic_itself() {
    // No service runs behind this gateway: the answer can only come from the gateway.
    let app = spawn_mode(Mode::Gateway, |_| {}).await;
    let (status, near) = app.get_json(&format!("/v1/traffic/cameras?lat={}&lon={}", SQUARE.0, SQUARE.1)).await;
    assert_eq!(status, 200, "{near}");
    assert_eq!(ids(&near)[0], "CD-RMN-01");
    let (status, doc) = app.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["paths"]["/v1/traffic/cameras/along"]["post"].is_object(), "the document lists it");
    app.stop().await;
}
