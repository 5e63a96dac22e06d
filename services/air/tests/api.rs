//! The air service's API in-process, behind the real edge middleware, on both backends.

use city_air::AirService;
use city_platform::testing::{test_platform, StaticAuthenticator};

#[tokio::test]
async fn every_scheme_is_listed_and_hj_633_2026_is_the_default() {
    let t = test_platform().await;
    let (api, db) = AirService::start(t.platform.clone()).await.unwrap();
    let client = t.client(api, &db, StaticAuthenticator::new());
    let resp = client.get("/v1/air/schemes").send().await;
    resp.assert_status_is_ok();
    let body: serde_json::Value = resp.json().await.value().deserialize();
    let ids: Vec<&str> = body.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["cn-2026", "cn-2012", "us"]);
    assert_eq!(body[0]["default"], true);
    assert_eq!(body[0]["standard"], "HJ 633-2026");
    t.cleanup().await;
}
