//! Share cards end to end (issue #22): the share payload and the 5:4 PNG of a district's air,
//! whose ETag follows the index; 304 on revalidation; problems, never an image, for unknown ids.

use serde_json::{json, Value};

use crate::harness::{expect_problem, spawn_app, TestApp};

/// The PNG's size from its IHDR, after walking every chunk to IEND with its CRC checked: a broken
/// or truncated image fails here (the drawing itself is decoded pixel by pixel in the crate's tests).
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let (mut at, mut size, mut ended) = (8, None, false);
    while at + 12 <= png.len() {
        let len = be(&png[at..]) as usize;
        let kind = &png[at + 4..at + 8];
        let body = &png[at + 8..at + 8 + len];
        assert_eq!(be(&png[at + 8 + len..]), crc32(&png[at + 4..at + 8 + len]), "CRC of {:?}", kind);
        if kind == b"IHDR" {
            size = Some((be(body), be(&body[4..])));
        }
        ended = kind == b"IEND";
        at += 12 + len;
    }
    assert!(ended && at == png.len(), "the PNG ends with IEND");
    size.expect("an IHDR chunk")
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in bytes {
        crc ^= *b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

async fn post_hour(app: &TestApp, key: &str, station: &str, at: &str, pm25: f64) {
    let rows: Vec<Value> = [
        ("pm25", pm25, "ug/m3"),
        ("pm10", 40.0, "ug/m3"),
        ("so2", 5.0, "ug/m3"),
        ("no2", 20.0, "ug/m3"),
        ("co", 0.6, "mg/m3"),
        ("o3", 60.0, "ug/m3"),
    ]
    .into_iter()
    .map(|(p, v, u)| json!({"station_code": station, "observed_at": at, "pollutant": p, "value": v, "unit": u}))
    .collect();
    let resp = app
        .http
        .post(app.url("/v1/air/readings"))
        .header("X-API-Key", key)
        .json(&json!({"readings": rows}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

async fn card(app: &TestApp, path: &str, if_none_match: Option<&str>) -> reqwest::Response {
    let mut req = app.http.get(app.url(path));
    if let Some(tag) = if_none_match {
        req = req.header("If-None-Match", tag);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn a_districts_air_card_is_a_5_by_4_png_whose_tag_follows_the_index() {
    let app = spawn_app().await;
    let key = app.city(&["apikey", "create", "--name", "air feed", "--scope", "air-ingest:CNEMC"]);
    // People's Park station (1437A) and the district it lies in.
    let (_, located) = app.get_json("/v1/districts/locate?lat=30.6580&lon=104.0590").await;
    let code = located["code"].as_str().expect("a district").to_owned();

    let hour_ms = city_platform::time::now_ms() / 3_600_000 * 3_600_000;
    let at = |h: i64| city_platform::time::rfc3339(city_platform::time::from_ms(hour_ms - h * 3_600_000));
    post_hour(&app, &key, "1437A", &at(1), 30.0).await;

    let (status, share) = app.get_json(&format!("/v1/air/districts/{code}/share")).await;
    assert_eq!(status, 200, "{share}");
    let (_, districts) = app.get_json("/v1/air/districts").await;
    let shown = districts["districts"].as_array().unwrap().iter().find(|d| d["code"] == code.as_str()).unwrap().clone();
    let aqi = shown["report"]["aqi"].as_u64().expect("the district has an index");
    assert!(share["title"].as_str().unwrap().contains(&format!("AQI {aqi}")), "{share}");
    assert!(share["title"].as_str().unwrap().starts_with(shown["name_zh"].as_str().unwrap()), "{share}");
    assert_eq!(share["path"], format!("pages/air/district?code={code}&scheme=cn-2026"));
    let image_url = share["image_url"].as_str().unwrap().to_owned();
    assert_eq!(image_url, format!("/v1/air/districts/{code}/share.png?scheme=cn-2026"));

    let resp = card(&app, &image_url, None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    let tag = resp.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(tag, share["image_etag"].as_str().unwrap(), "the payload names the image's tag");
    let png = resp.bytes().await.unwrap();
    let (w, h) = png_size(&png);
    assert_eq!(w * 4, h * 5, "5:4, was {w}×{h}");

    // Unchanged: revalidation answers 304 with the same tag.
    let resp = card(&app, &image_url, Some(&tag)).await;
    assert_eq!(resp.status(), 304);
    assert_eq!(resp.headers()["etag"].to_str().unwrap(), tag);

    // A new hour with much more PM2.5 changes the index, and so the image and its tag.
    post_hour(&app, &key, "1437A", &at(0), 160.0).await;
    let (_, districts) = app.get_json("/v1/air/districts").await;
    let shown = districts["districts"].as_array().unwrap().iter().find(|d| d["code"] == code.as_str()).unwrap().clone();
    assert_ne!(shown["report"]["aqi"].as_u64(), Some(aqi), "the reading changed the index");
    let resp = card(&app, &image_url, Some(&tag)).await;
    assert_eq!(resp.status(), 200, "the old tag no longer matches");
    let new_tag = resp.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_tag, tag);
    assert_eq!(png_size(&resp.bytes().await.unwrap()), (w, h));

    // The city's card too.
    let (status, summary) = app.get_json("/v1/air/summary/share").await;
    assert_eq!(status, 200, "{summary}");
    let resp = card(&app, summary["image_url"].as_str().unwrap(), None).await;
    assert_eq!(resp.status(), 200);
    let (w, h) = png_size(&resp.bytes().await.unwrap());
    assert_eq!(w * 4, h * 5);
    app.stop().await;
}

#[tokio::test]
async fn unknown_districts_and_bad_schemes_get_problems_not_images() {
    let app = spawn_app().await;
    for path in ["/v1/air/districts/999999/share", "/v1/air/districts/999999/share.png"] {
        let body = expect_problem(card(&app, path, None).await, 404).await;
        assert_eq!(body["type"], "/problems/not-found", "{path}: {body}");
    }
    let (_, located) = app.get_json("/v1/districts/locate?lat=30.6580&lon=104.0590").await;
    let code = located["code"].as_str().unwrap();
    let body =
        expect_problem(card(&app, &format!("/v1/air/districts/{code}/share.png?scheme=nope"), None).await, 422).await;
    assert!(body.to_string().contains("scheme"), "{body}");
    expect_problem(card(&app, "/v1/air/summary/share.png?scheme=nope", None).await, 422).await;
    app.stop().await;
}

#[tokio::test]
async fn a_reports_card_and_a_doctors_card_draw_their_public_pages() {
    let app = spawn_app().await;
    let alice = app.citizen_token("share-alice").await;
    let resp = app
        .http
        .post(app.url("/v1/incidents"))
        .bearer_auth(&alice)
        .json(&json!({"category": "streetlight", "description": "Streetlight out at the corner",
                      "location": {"lat": 30.652_794, "lon": 104.083_630, "crs": "gcj02"},
                      "address": "Chunxi Road 3", "answers": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let id = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();

    let (status, share) = app.get_json(&format!("/v1/incidents/{id}/share")).await;
    assert_eq!(status, 200, "{share}");
    assert_eq!(share["path"], format!("pages/incidents/detail?id={id}"));
    let resp = card(&app, share["image_url"].as_str().unwrap(), None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["etag"].to_str().unwrap(), share["image_etag"].as_str().unwrap());
    let (w, h) = png_size(&resp.bytes().await.unwrap());
    assert_eq!(w * 4, h * 5);
    for path in [format!("/v1/incidents/{}/share", uuid::Uuid::now_v7()), "/v1/incidents/nope/share.png".into()] {
        expect_problem(card(&app, &path, None).await, 404).await;
    }

    let (_, doctors) = app.get_json("/v1/booking/doctors").await;
    let doctor = &doctors.as_array().expect("the demo doctors")[0];
    let (status, share) = app.get_json(&format!("/v1/booking/doctors/{}/share", doctor["id"].as_str().unwrap())).await;
    assert_eq!(status, 200, "{share}");
    assert!(share["title"].as_str().unwrap().starts_with(doctor["name"].as_str().unwrap()), "{share}");
    let resp = card(&app, share["image_url"].as_str().unwrap(), None).await;
    assert_eq!(resp.status(), 200);
    let tag = resp.headers()["etag"].to_str().unwrap().to_owned();
    let (w, h) = png_size(&resp.bytes().await.unwrap());
    assert_eq!(w * 4, h * 5);
    assert_eq!(card(&app, share["image_url"].as_str().unwrap(), Some(&tag)).await.status(), 304);
    expect_problem(card(&app, "/v1/booking/doctors/no-such-doctor/share.png", None).await, 404).await;
    app.stop().await;
}
