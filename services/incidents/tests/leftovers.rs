//! Leftovers of issues #19 and #22, on whichever backend the environment selects: Open311 shows
//! the crew's "fixed" photo of a public update; a map asks which of its pins are in the
//! clerk's queue (any queue size); `coord` is the datum's name, `crs` its deprecated alias.

use std::sync::Arc;

use async_trait::async_trait;
use city_incidents::safety::{ContentSafety, SafetyError, Verdict};
use city_incidents::IncidentsService;
use city_platform::auth::{Citizen, Principal, Role, Scopes, Staff};
use city_platform::coords::LatLon;
use city_platform::testing::{test_platform, StaticAuthenticator, TestPlatform};
use poem::endpoint::BoxEndpoint;
use poem::test::{TestClient, TestForm, TestFormField};
use poem::EndpointExt;
use serde_json::{json, Value};

struct Pass;

#[async_trait]
impl ContentSafety for Pass {
    async fn check(&self, _content: &str, _openid: &str) -> Result<Verdict, SafetyError> {
        Ok(Verdict::Pass)
    }
}

fn clerk(id: &str, roles: Vec<Role>, districts: &[&str]) -> Principal {
    Principal::Staff(Staff {
        staff_id: id.into(),
        username: id.into(),
        roles,
        scopes: Scopes { districts: districts.iter().map(|d| d.to_string()).collect(), ..Default::default() },
        session_id: format!("s-{id}"),
    })
}

struct World {
    t: TestPlatform,
    api: TestClient<BoxEndpoint<'static>>,
    open311: TestClient<BoxEndpoint<'static>>,
    db: city_platform::Db,
}

async fn world() -> World {
    let t = test_platform().await;
    let (api, db) = IncidentsService::start_with(t.platform.clone(), Arc::new(Pass)).await.unwrap();
    let auth = StaticAuthenticator::new();
    auth.with_token("alice", Principal::Citizen(Citizen { citizen_id: "c-alice".into(), session_id: "s-a".into() }));
    auth.with_token("jj", clerk("st-jj", vec![Role::Clerk], &["510104"]));
    auth.with_token("sl", clerk("st-sl", vec![Role::Clerk], &["510116"]));
    auth.with_token("admin", clerk("st-admin", vec![Role::Clerk, Role::Admin], &[]));
    let routes = api.open311_routes();
    let shared: city_platform::auth::SharedAuthenticator = auth.clone();
    let open311 = TestClient::new(routes.data(shared.clone()).boxed());
    let api = t.client(api, &db, shared);
    World { t, api, open311, db }
}

/// A point inside a district, found on a grid.
fn point_in(t: &TestPlatform, code: &str) -> (f64, f64) {
    for i in 0..200 {
        for j in 0..200 {
            let (lat, lon) = (30.45 + f64::from(i) * 0.002, 103.85 + f64::from(j) * 0.002);
            if t.platform.districts.locate(LatLon::new(lat, lon).unwrap()).is_some_and(|d| d.code == code) {
                return (lat, lon);
            }
        }
    }
    panic!("no point in {code}");
}

async fn send(req: poem::test::TestRequestBuilder<'_, BoxEndpoint<'static>>, token: Option<&str>) -> (u16, Value) {
    let req = match token {
        Some(t) => req.header("Authorization", format!("Bearer {t}")),
        None => req,
    };
    let resp = req.send().await;
    let status = resp.0.status().as_u16();
    (status, serde_json::from_slice(&resp.0.into_body().into_vec().await.unwrap()).unwrap_or(Value::Null))
}

async fn file(w: &World, location: Value) -> (u16, Value) {
    // The repeat guard is cleared, as if time had passed between reports.
    sqlx::query("DELETE FROM incident_reporters").execute(&w.db.pool).await.unwrap();
    let body = json!({"category": "pothole", "description": "Deep pothole", "location": location,
        "answers": {"size": "small"}});
    send(w.api.post("/v1/incidents").body_json(&body), Some("alice")).await
}

fn field(p: &Value) -> &str {
    p["errors"][0]["field"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn open311_shows_the_crews_fixed_photo_of_the_latest_public_update() {
    let w = world().await;
    let (lat, lon) = point_in(&w.t, "510104");
    let (status, r) = file(&w, json!({"lat": lat, "lon": lon, "coord": "wgs84"})).await;
    assert_eq!(status, 201, "{r}");
    let id = r["id"].as_str().unwrap().to_owned();

    // Before any update: no notes, no update photo.
    let (_, before) = send(w.open311.get(format!("/open311/v2/requests/{id}.json?extensions=true")), None).await;
    assert_eq!(before[0]["extended_attributes"], json!({}), "{before}");

    let png = {
        let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(64, 48, image::Rgb([20, 160, 60])));
        let mut out = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
        out
    };
    let form = TestForm::new().field(TestFormField::bytes(png).name("photo").filename("fixed.png"));
    let (status, photo) = send(w.api.post("/v1/incidents/queue/photos").multipart(form), Some("jj")).await;
    assert_eq!(status, 200, "{photo}");
    let photo_id = photo["id"].as_str().unwrap().to_owned();
    let body = json!({"state": "fixed", "public_update": "Resurfaced this morning.", "photo_id": photo_id});
    let (status, v) = send(w.api.post(format!("/v1/incidents/queue/{id}/state")).body_json(&body), Some("jj")).await;
    assert_eq!(status, 200, "{v}");

    // Plain Open311 (no foreign tags unless asked): the notes, no photo.
    let (status, plain) = send(w.open311.get(format!("/open311/v2/requests/{id}.json")), None).await;
    assert_eq!(status, 200, "{plain}");
    assert_eq!(plain[0]["status_notes"], "Resurfaced this morning.", "{plain}");
    assert!(plain[0].get("extended_attributes").is_none(), "{plain}");
    // With the extensions: the crew's photo.
    let (status, after) = send(w.open311.get(format!("/open311/v2/requests/{id}.json?extensions=true")), None).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after[0]["status_notes"], "Resurfaced this morning.", "{after}");
    let url = after[0]["extended_attributes"]["status_notes_media_url"].as_str().expect("the photo").to_owned();
    assert!(url.ends_with(&format!("/v1/incidents/photos/{photo_id}")), "{url}");
    // The citizen's own photo field is not the crew's.
    assert!(after[0].get("media_url").is_none(), "{after}");
    // It loads, without a credential.
    let path = &url[url.find("/v1/").unwrap()..];
    let resp = w.api.get(path).send().await;
    resp.assert_status_is_ok();
    resp.assert_content_type("image/jpeg");

    let xml = w.open311.get(format!("/open311/v2/requests/{id}.xml?extensions=true")).send().await;
    xml.assert_status_is_ok();
    let xml = xml.0.into_body().into_string().await.unwrap();
    let tag =
        format!("<extended_attributes><status_notes_media_url>{url}</status_notes_media_url></extended_attributes>");
    assert!(xml.contains(&tag), "{xml}");
    let plain = w.open311.get(format!("/open311/v2/requests/{id}.xml")).send().await;
    let plain = plain.0.into_body().into_string().await.unwrap();
    assert!(!plain.contains("extended_attributes") && plain.contains("<status_notes>Resurfaced"), "{plain}");

    // A later public update without a photo: the notes are its words, and no photo.
    let note = json!({"text": "Checked again, all fine.", "public": true});
    let (status, v) = send(w.api.post(format!("/v1/incidents/queue/{id}/notes")).body_json(&note), Some("jj")).await;
    assert_eq!(status, 200, "{v}");
    let (_, later) = send(w.open311.get(format!("/open311/v2/requests/{id}.json?extensions=true")), None).await;
    assert_eq!(later[0]["status_notes"], "Checked again, all fine.", "{later}");
    assert_eq!(later[0]["extended_attributes"], json!({}), "{later}");
}

#[tokio::test]
async fn the_map_learns_which_pins_are_in_the_clerks_queue() {
    let w = world().await;
    let (jlat, jlon) = point_in(&w.t, "510104");
    let (slat, slon) = point_in(&w.t, "510116");
    let (_, a) = file(&w, json!({"lat": jlat, "lon": jlon, "coord": "wgs84"})).await;
    let (_, b) = file(&w, json!({"lat": slat, "lon": slon, "coord": "wgs84"})).await;
    let (a, b) = (a["id"].as_str().unwrap().to_owned(), b["id"].as_str().unwrap().to_owned());
    let ids = format!("{a},{b},R-NOPE-0001,{a}");
    let ask = |token: Option<&'static str>| {
        let req = w.api.get("/v1/incidents/queue/in-scope").query("ids", &ids);
        send(req, token)
    };
    assert_eq!(ask(Some("jj")).await, (200, json!([a])));
    assert_eq!(ask(Some("sl")).await, (200, json!([b])));
    assert_eq!(ask(Some("admin")).await, (200, json!([a, b])));
    // Not for citizens, nor without a credential.
    assert_eq!(ask(Some("alice")).await.0, 403);
    assert_eq!(ask(None).await.0, 401);
    // A bounded question.
    let many = vec!["R-X"; 501].join(",");
    let (status, p) = send(w.api.get("/v1/incidents/queue/in-scope").query("ids", &many), Some("jj")).await;
    assert_eq!((status, field(&p)), (422, "ids"), "{p}");
}

#[tokio::test]
async fn coord_names_the_datum_and_crs_is_a_deprecated_alias() {
    let w = world().await;
    let (lat, lon) = point_in(&w.t, "510104");
    let g = LatLon::new(lat, lon).unwrap().to_gcj02();

    // A body with `coord`, with `crs`, with both agreeing: the same place.
    for location in [
        json!({"lat": g.lat(), "lon": g.lon(), "coord": "gcj02"}),
        json!({"lat": g.lat(), "lon": g.lon(), "crs": "gcj02"}),
        json!({"lat": g.lat(), "lon": g.lon(), "coord": "gcj02", "crs": "gcj02"}),
    ] {
        let (status, r) = file(&w, location.clone()).await;
        assert_eq!(status, 201, "{location}: {r}");
        // The answer is unchanged: its datum is still named `crs`.
        assert_eq!(r["location"]["crs"], "gcj02", "{r}");
        assert!((r["location"]["lat"].as_f64().unwrap() - g.lat()).abs() < 1e-5, "{r}");
    }
    // Disagreeing, missing, or unknown: 422 naming the field.
    let (status, p) = file(&w, json!({"lat": g.lat(), "lon": g.lon(), "coord": "gcj02", "crs": "wgs84"})).await;
    assert_eq!((status, field(&p)), (422, "location.coord"), "{p}");
    let (status, p) = file(&w, json!({"lat": g.lat(), "lon": g.lon()})).await;
    assert_eq!((status, field(&p)), (422, "location.coord"), "{p}");
    let (status, p) = file(&w, json!({"lat": g.lat(), "lon": g.lon(), "coord": "mars"})).await;
    assert_eq!((status, field(&p)), (422, "location.coord"), "{p}");

    // Query parameters: `coord` and `crs` give the same answer; different ones are refused.
    let (_, r) = file(&w, json!({"lat": lat, "lon": lon, "coord": "wgs84"})).await;
    let id = r["id"].as_str().unwrap().to_owned();
    let one = |q: &'static [(&'static str, &'static str)]| {
        let mut req = w.api.get(format!("/v1/incidents/{id}"));
        for (k, v) in q {
            req = req.query(*k, v);
        }
        send(req, None)
    };
    let (s1, by_coord) = one(&[("coord", "gcj02")]).await;
    let (s2, by_crs) = one(&[("crs", "gcj02")]).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(by_coord["location"], by_crs["location"]);
    assert_eq!(by_coord["location"]["crs"], "gcj02");
    let (_, plain) = one(&[]).await;
    assert_eq!(plain["location"]["crs"], "wgs84", "the default is unchanged");
    let (status, p) = one(&[("coord", "gcj02"), ("crs", "wgs84")]).await;
    assert_eq!((status, field(&p)), (422, "coord"), "{p}");
    let (status, _) = one(&[("coord", "wgs84"), ("crs", "wgs84")]).await;
    assert_eq!(status, 200);

    // The map and nearby take `coord` too.
    let bbox = format!("{},{},{},{}", g.lon() - 0.01, g.lat() - 0.01, g.lon() + 0.01, g.lat() + 0.01);
    let (status, map) =
        send(w.api.get("/v1/incidents/map").query("bbox", &bbox).query("zoom", &15).query("coord", &"gcj02"), None)
            .await;
    assert_eq!(status, 200, "{map}");
    assert_eq!(map["coordinate_system"], "gcj02", "{map}");
    let (status, p) = send(
        w.api
            .get("/v1/incidents/map")
            .query("bbox", &bbox)
            .query("zoom", &15)
            .query("coord", &"gcj02")
            .query("crs", &"wgs84"),
        None,
    )
    .await;
    assert_eq!((status, field(&p)), (422, "coord"), "{p}");
    let (status, near) = send(
        w.api
            .get("/v1/incidents/nearby")
            .query("lat", &g.lat())
            .query("lon", &g.lon())
            .query("coord", &"gcj02")
            .query("category", &"pothole"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{near}");
    assert!(!near.as_array().unwrap().is_empty(), "{near}");
    let (status, mine) = send(w.api.get("/v1/incidents/mine").query("coord", &"gcj02"), Some("alice")).await;
    assert_eq!(status, 200, "{mine}");
    assert!(mine.as_array().unwrap().iter().all(|r| r["location"]["crs"] == "gcj02"), "{mine}");
}
