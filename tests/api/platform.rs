//! The platform through the gateway: catalogue, districts, errors as problem+json, request ids,
//! idempotency, rate limits, readiness and metrics.

use serde_json::json;

use crate::harness::{expect_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn the_catalogue_lists_city_services_and_linked_outside_ones() {
    let app = spawn_app().await;
    let (status, body) = app.get_json("/v1/services").await;
    assert_eq!(status, 200);
    let services = body["services"].as_array().unwrap();
    let ids: Vec<&str> = services.iter().map(|s| s["id"].as_str().unwrap()).collect();
    for id in ["booking", "bills", "fines", "incidents", "air", "traffic-cameras", "transport-booking"] {
        assert!(ids.contains(&id), "{id} missing from {ids:?}");
    }
    let air = services.iter().find(|s| s["id"] == "air").unwrap();
    assert_eq!(air["name_zh"], "空气质量");
    assert_eq!(air["provider"], "city");
    assert_eq!(air["openapi_tag"], "Air");
    let outside = services.iter().find(|s| s["id"] == "transport-booking").unwrap();
    assert_eq!(outside["provider"], "external");
    assert!(outside["url"].as_str().unwrap().starts_with("https://"));
    app.stop().await;
}

#[tokio::test]
async fn districts_are_a_geojson_feature_collection_and_points_are_located() {
    let app = spawn_app().await;
    let resp = app.http.get(app.url("/v1/districts")).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "application/geo+json");
    let fc: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(fc["type"], "FeatureCollection");
    let n = fc["features"].as_array().unwrap().len();
    assert!((6..=10).contains(&n), "{n} districts");

    let (status, d) = app.get_json("/v1/districts/locate?lat=30.6552&lon=104.0811").await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["code"], "510104");
    assert_eq!(d["name_zh"], "锦江区");

    let resp = app.http.get(app.url("/v1/districts/locate?lat=31.2304&lon=121.4737")).send().await.unwrap();
    expect_problem(resp, 404).await;
    let resp = app.http.get(app.url("/v1/districts/locate?lat=95&lon=104")).send().await.unwrap();
    let p = expect_problem(resp, 422).await;
    assert_eq!(p["errors"][0]["field"], "lat");
    app.stop().await;
}

/// The first `[lon, lat]` position of a GeoJSON geometry's coordinates, at whatever depth.
fn first_position(coords: &serde_json::Value) -> (f64, f64) {
    let mut at = coords;
    while at[0].is_array() {
        at = &at[0];
    }
    (at[0].as_f64().expect("a longitude"), at[1].as_f64().expect("a latitude"))
}

#[tokio::test]
async fn districts_in_gcj02_say_so_and_every_outline_is_shifted_as_street_tiles_are() {
    use city_platform::coords::{Crs, LatLon};
    let app = spawn_app().await;
    let (status, wgs) = app.get_json("/v1/districts?coord=wgs84").await;
    assert_eq!(status, 200);
    assert!(wgs.get("coordinate_system").is_none(), "WGS-84 is GeoJSON's own datum, not named: {}", wgs["type"]);
    let resp = app.http.get(app.url("/v1/districts?coord=gcj02")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/geo+json");
    let gcj: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(gcj["type"], "FeatureCollection");
    assert_eq!(gcj["coordinate_system"], "gcj02");
    let (w, g) = (wgs["features"].as_array().unwrap(), gcj["features"].as_array().unwrap());
    assert_eq!(w.len(), g.len(), "the same districts");
    for (w, g) in w.iter().zip(g) {
        assert_eq!(w["properties"]["code"], g["properties"]["code"]);
        assert_eq!(w["geometry"]["type"], g["geometry"]["type"]);
        let (lon, lat) = first_position(&w["geometry"]["coordinates"]);
        let (glon, glat) = first_position(&g["geometry"]["coordinates"]);
        // Each point is the WGS-84 one moved as Chinese providers' tiles are (some hundred metres
        // in Chengdu), not left in place nor moved twice.
        let (elat, elon) = LatLon::new(lat, lon).unwrap().to_crs(Crs::Gcj02);
        assert!((glat - elat).abs() < 1e-6 && (glon - elon).abs() < 1e-6, "{}: {glat},{glon}", w["properties"]["code"]);
        let moved = LatLon::new(lat, lon).unwrap().distance_m(LatLon::new(glat, glon).unwrap());
        assert!((100.0..1000.0).contains(&moved), "{}: moved {moved} m", w["properties"]["code"]);
    }
    let resp = app.http.get(app.url("/v1/districts?coord=bd09")).send().await.unwrap();
    assert!(resp.status().is_client_error(), "an unknown datum is refused: {}", resp.status());
    app.stop().await;
}

#[tokio::test]
async fn bad_input_of_every_kind_is_a_4xx_problem_naming_the_field() {
    let app = spawn_app().await;
    let post = |body: &'static str| {
        app.http.post(app.url("/v1/districts/locate")).header("content-type", "application/json").body(body).send()
    };

    // Malformed JSON.
    let p = expect_problem(post("{\"points\": [").await.unwrap(), 400).await;
    assert_eq!(p["type"], "/problems/malformed-request");

    // A missing required field.
    let p = expect_problem(post("{}").await.unwrap(), 400).await;
    assert_eq!(p["errors"][0]["field"], "points", "{p}");

    // A field of the wrong type.
    let p = expect_problem(post("{\"points\": [{\"lat\": \"north\", \"lon\": 104}]}").await.unwrap(), 400).await;
    assert!(p["errors"][0]["field"].is_string(), "{p}");

    // A value out of range names its place in the array.
    let p = expect_problem(
        post("{\"points\": [{\"lat\": 30.6, \"lon\": 104.0}, {\"lat\": 91, \"lon\": 104}]}").await.unwrap(),
        422,
    )
    .await;
    assert_eq!(p["errors"][0]["field"], "points[1].lat", "{p}");

    // A wrong content type.
    let resp = app
        .http
        .post(app.url("/v1/districts/locate"))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    let p = expect_problem(resp, 415).await;
    assert_eq!(p["type"], "/problems/unsupported-media-type");

    // A query parameter of the wrong type.
    let resp = app.http.get(app.url("/v1/districts/locate?lat=abc&lon=104")).send().await.unwrap();
    let p = expect_problem(resp, 400).await;
    assert_eq!(p["errors"][0]["field"], "lat");

    // An unknown route and a wrong method.
    let p = expect_problem(app.http.get(app.url("/v1/nowhere")).send().await.unwrap(), 404).await;
    assert_eq!(p["type"], "/problems/not-found");
    let p = expect_problem(app.http.delete(app.url("/v1/services")).send().await.unwrap(), 405).await;
    assert_eq!(p["type"], "/problems/method-not-allowed");
    app.stop().await;
}

#[tokio::test]
async fn an_oversized_body_is_refused_with_413_whether_declared_or_streamed() {
    let app = spawn_app_with(|s| s.max_body_bytes = 4096).await;
    let big = format!("{{\"points\": [{}]}}", vec!["{\"lat\": 30.6, \"lon\": 104.0}"; 400].join(","));
    assert!(big.len() > 4096);
    let resp = app
        .http
        .post(app.url("/v1/districts/locate"))
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    let p = expect_problem(resp, 413).await;
    assert_eq!(p["type"], "/problems/payload-too-large");

    // Chunked, with no Content-Length to trust.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big.into_bytes().chunks(1000).map(|c| Ok(c.to_vec())).collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let resp = app
        .http
        .post(app.url("/v1/districts/locate"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    expect_problem(resp, 413).await;
    app.stop().await;
}

#[tokio::test]
async fn a_request_id_is_accepted_echoed_and_becomes_the_problem_instance() {
    let app = spawn_app().await;
    let resp = app.http.get(app.url("/v1/services")).header("x-request-id", "trace-abc-123").send().await.unwrap();
    assert_eq!(resp.headers()["x-request-id"], "trace-abc-123");
    let resp = app.http.get(app.url("/v1/services")).header("x-request-id", "bad id with spaces").send().await.unwrap();
    let generated = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(generated, "bad id with spaces");
    assert_eq!(generated.len(), 32);
    let resp = app.http.get(app.url("/missing")).header("x-request-id", "trace-404").send().await.unwrap();
    let p = expect_problem(resp, 404).await;
    assert_eq!(p["instance"], "trace-404");
    app.stop().await;
}

#[tokio::test]
async fn an_idempotency_key_replays_the_same_request_and_refuses_a_different_one() {
    let app = spawn_app().await;
    let send = |key: &'static str, body: serde_json::Value| {
        app.http.post(app.url("/v1/districts/locate")).header("idempotency-key", key).json(&body).send()
    };
    let first_body = json!({"points": [{"lat": 30.6552, "lon": 104.0811}]});
    let first = send("k-1", first_body.clone()).await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["idempotent-replayed"], "false");
    let first_json: serde_json::Value = first.json().await.unwrap();

    let again = send("k-1", first_body.clone()).await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<serde_json::Value>().await.unwrap(), first_json);

    let other = send("k-1", json!({"points": []})).await.unwrap();
    let p = expect_problem(other, 422).await;
    assert_eq!(p["type"], "/problems/idempotency-key-reused");
    assert_eq!(p["errors"][0]["field"], "Idempotency-Key");

    // The same key from another identity is another key.
    let resp = app
        .http
        .post(app.url("/v1/districts/locate"))
        .header("idempotency-key", "k-1")
        .header("authorization", "Bearer someone-else")
        .json(&json!({"points": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["idempotent-replayed"], "false");

    let bad = send("", first_body).await.unwrap();
    expect_problem(bad, 400).await;
    app.stop().await;
}

#[tokio::test]
async fn concurrent_requests_with_one_idempotency_key_have_one_effect() {
    let app = spawn_app().await;
    let body = json!({"points": [{"lat": 30.6552, "lon": 104.0811}]});
    let sends = (0..8)
        .map(|_| app.http.post(app.url("/v1/districts/locate")).header("idempotency-key", "same").json(&body).send());
    let results = futures::future::join_all(sends).await;
    let mut fresh = 0;
    for r in results {
        let r = r.unwrap();
        match r.status().as_u16() {
            200 if r.headers()["idempotent-replayed"] == "false" => fresh += 1,
            200 => {}
            409 => {
                let p = expect_problem(r, 409).await;
                assert_eq!(p["type"], "/problems/idempotency-in-progress");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(fresh, 1, "exactly one request ran");
    app.stop().await;
}

#[tokio::test]
async fn too_many_requests_from_one_address_or_identity_get_429_with_retry_after() {
    // Loopback is a trusted proxy here, so the test's own address is the forwarded one and the
    // portal's calls to its own WeChat sandbox do not spend it.
    let app = spawn_app_with(|s| {
        s.rate_limit.per_ip = 5;
        s.rate_limit.per_identity = 3;
        s.rate_limit.window_secs = 60;
        s.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    let citizen = app.citizen_token("rate-limited-citizen").await;
    let get = |token: Option<&str>| {
        let req = app.http.get(app.url("/v1/services")).header("x-forwarded-for", "198.51.100.20");
        match token {
            Some(t) => req.bearer_auth(t).send(),
            None => req.send(),
        }
    };
    for _ in 0..3 {
        assert_eq!(get(Some(&citizen)).await.unwrap().status(), 200);
    }
    let r = get(Some(&citizen)).await.unwrap();
    assert!(r.headers().contains_key("retry-after"));
    let p = expect_problem(r, 429).await;
    assert_eq!(p["type"], "/problems/rate-limited");

    // The address has used 4 of its 5; one more passes, the next is refused.
    assert_eq!(get(None).await.unwrap().status(), 200);
    expect_problem(get(None).await.unwrap(), 429).await;
    // Probes are never limited.
    assert_eq!(
        app.http.get(app.url("/healthz")).header("x-forwarded-for", "198.51.100.20").send().await.unwrap().status(),
        200
    );
    app.stop().await;
}

#[tokio::test]
async fn calls_between_services_carry_the_internal_token_and_are_not_rate_limited() {
    let app = spawn_app_with(|s| {
        s.rate_limit.per_ip = 2;
        s.internal_token = Some(city_platform::config::Secret::new("internal-test-token"));
    })
    .await;
    let get = |token: &'static str| {
        app.http.get(app.url("/v1/services")).header(city_platform::auth::INTERNAL_TOKEN_HEADER, token).send()
    };
    // Far past the per-address limit, a service asking on many citizens' behalf is never refused.
    for _ in 0..6 {
        assert_eq!(get("internal-test-token").await.unwrap().status(), 200);
    }
    // A guessed token counts like any other request from the address.
    assert_eq!(get("guess").await.unwrap().status(), 200);
    assert_eq!(get("guess").await.unwrap().status(), 200);
    expect_problem(get("guess").await.unwrap(), 429).await;
    app.stop().await;
}

#[tokio::test]
async fn readiness_checks_every_store_and_metrics_count_by_route_template() {
    let app = spawn_app().await;
    let (status, ready) = app.get_json("/readyz").await;
    assert_eq!(status, 200, "{ready}");
    let names: Vec<&str> = ready["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"db:gateway") && names.contains(&"db:air"), "{names:?}");
    let expected_cache = if app.settings.redis_url.is_some() { "cache:redis" } else { "cache:memory" };
    assert!(names.contains(&expected_cache), "{names:?}");

    let _ = app.get_json("/v1/districts/locate?lat=30.6552&lon=104.0811").await;
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("http_request_duration_seconds_bucket"), "histogram present");
    assert!(metrics.contains("route=\"/v1/districts/locate\""), "labelled by template");
    app.stop().await;
}

#[tokio::test]
async fn the_committed_openapi_document_matches_the_code() {
    let (generated, _) = city::whole_document().await.unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi/city.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "openapi/city.json is out of date; regenerate it with: cargo run -q -- openapi > openapi/city.json"
    );
    let doc: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for tag in ["Catalogue", "Operations", "Air"] {
        assert!(doc["tags"].as_array().unwrap().iter().any(|t| t["name"] == tag), "tag {tag}");
    }
}

#[tokio::test]
async fn the_docs_page_and_the_document_are_served() {
    let app = spawn_app().await;
    let resp = app.http.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("swagger"));
    let (status, doc) = app.get_json("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["paths"]["/v1/services"].is_object());
    app.stop().await;
}

/// Every `null` in a JSON value, by its path (the portal's rule: absent, never null).
fn nulls(v: &serde_json::Value, at: &str, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Null => out.push(at.to_owned()),
        serde_json::Value::Array(items) => {
            items.iter().enumerate().for_each(|(i, x)| nulls(x, &format!("{at}[{i}]"), out))
        }
        serde_json::Value::Object(m) => m.iter().for_each(|(k, x)| nulls(x, &format!("{at}.{k}"), out)),
        _ => {}
    }
}

#[tokio::test]
async fn catalogue_and_district_answers_leave_out_what_they_lack_instead_of_sending_null() {
    let app = spawn_app().await;
    let (status, catalogue) = app.get_json("/v1/services").await;
    assert_eq!(status, 200);
    let mut found = Vec::new();
    nulls(&catalogue, "$", &mut found);
    assert!(found.is_empty(), "nulls in the catalogue: {found:?}");
    // An outside service has no Mini Program page: the field is absent, not null.
    let outside = catalogue["services"].as_array().unwrap().iter().find(|s| s["provider"] == "external").unwrap();
    assert!(outside.get("miniprogram_path").is_none() || outside["miniprogram_path"].is_string(), "{outside}");

    let resp = app
        .http
        .post(app.url("/v1/districts/locate"))
        .json(&json!({"points": [{"lat": 30.6552, "lon": 104.0811}, {"lat": 31.2304, "lon": 121.4737}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let located: serde_json::Value = resp.json().await.unwrap();
    let mut found = Vec::new();
    nulls(&located, "$", &mut found);
    assert!(found.is_empty(), "nulls in the located points: {found:?}");
    assert_eq!(located["districts"][0]["inside"], true);
    assert_eq!(located["districts"][0]["district"]["code"], "510104");
    assert_eq!(located["districts"][1], json!({"inside": false}), "Shanghai is outside the city");

    // A `coord` that is neither value is a 400 naming it, and the document says so.
    let p = expect_problem(app.http.get(app.url("/v1/districts?coord=bd09x")).send().await.unwrap(), 400).await;
    assert_eq!(p["errors"][0]["field"], "coord", "{p}");
    let (_, doc) = app.get_json("/openapi.json").await;
    assert!(doc["paths"]["/v1/districts"]["get"]["responses"].get("400").is_some());
    app.stop().await;
}

#[tokio::test]
async fn the_callback_is_mounted_alone_so_the_channels_json_operations_under_wechat_answer() {
    let app = spawn_app().await;
    let token = app.citizen_token("h6-subscriber").await;
    // It used to be a 404: the callback's routes were nested over all of /wechat.
    let resp = app
        .http
        .post(app.url("/wechat/subscriptions"))
        .bearer_auth(&token)
        .json(&json!({"template_ids": []}))
        .send()
        .await
        .unwrap();
    assert_ne!(resp.status(), 404, "POST /wechat/subscriptions is routed to its operation");
    assert!(resp.status().is_success() || resp.status() == 422, "{}", resp.status());
    // Without a credential it is the operation's 401, not a route's 404.
    let resp = app.http.post(app.url("/wechat/subscriptions")).json(&json!({"template_ids": []})).send().await.unwrap();
    expect_problem(resp, 401).await;
    // The callback still answers at its own path: an unsigned check is refused in plain text.
    let resp = app.http.get(app.url("/wechat/callback?echostr=x")).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    app.stop().await;
}

#[tokio::test]
async fn open311_and_the_callback_are_tagged_operations_of_the_served_document_and_answer_as_described() {
    let app = spawn_app().await;
    let (_, doc) = app.get_json("/openapi.json").await;
    let ops = [
        ("/open311/v2/discovery.json", "get", "Open311"),
        ("/open311/v2/discovery.xml", "get", "Open311"),
        ("/open311/v2/services.json", "get", "Open311"),
        ("/open311/v2/services.xml", "get", "Open311"),
        ("/open311/v2/services/{file}", "get", "Open311"),
        ("/open311/v2/requests.json", "get", "Open311"),
        ("/open311/v2/requests.json", "post", "Open311"),
        ("/open311/v2/requests.xml", "post", "Open311"),
        ("/open311/v2/requests/{file}", "get", "Open311"),
        ("/open311/v2/tokens/{file}", "get", "Open311"),
        ("/wechat/callback", "get", "WechatCallback"),
        ("/wechat/callback", "post", "WechatCallback"),
    ];
    for (path, method, tag) in ops {
        let op = &doc["paths"][path][method];
        assert_eq!(op["tags"][0], tag, "{method} {path}: {op}");
        assert!(op["operationId"].is_string(), "{method} {path} has an operation id");
    }
    let post = &doc["paths"]["/open311/v2/requests.json"]["post"];
    assert!(post["requestBody"]["content"].get("application/x-www-form-urlencoded").is_some(), "{post}");
    assert!(post["responses"].get("403").is_some());
    let xml = &doc["paths"]["/open311/v2/services.xml"]["get"]["responses"]["200"]["content"];
    assert!(xml.get("text/xml").is_some(), "{xml}");

    // What the document describes is what answers: JSON by `.json`, XML by `.xml`.
    let resp = app.http.get(app.url("/open311/v2/services.json")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let services: serde_json::Value = resp.json().await.unwrap();
    let code = services[0]["service_code"].as_str().unwrap().to_owned();
    let resp = app.http.get(app.url(&format!("/open311/v2/services/{code}.xml"))).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/xml"));
    // A service definition's `order` is an integer, as the document says.
    let (_, def) = app.get_json(&format!("/open311/v2/services/{code}.json")).await;
    for a in def["attributes"].as_array().unwrap() {
        assert!(a["order"].is_i64(), "{a}");
    }
    // A file the document does not describe is still Open311's own 404, not a problem.
    let resp = app.http.get(app.url("/open311/v2/nothing.json")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let errors: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(errors[0]["code"], "404", "{errors}");
    // Filing without a key is Open311's 403, as documented.
    let resp = app
        .http
        .post(app.url("/open311/v2/requests.json"))
        .form(&[("service_code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    app.stop().await;
}
