//! Emergencies end to end (issue #22): an emergency category or keyword answers with 110, 119, 120
//! or 122 at once and files nothing, through the JSON API and Open311 alike.

use serde_json::{json, Value};

use crate::harness::{expect_problem, spawn_app};

#[tokio::test]
async fn an_emergency_answers_with_its_number_and_files_nothing() {
    let app = spawn_app().await;
    let alice = app.citizen_token("emergency-alice").await;
    let file = |category: &'static str, description: &'static str| {
        app.http.post(app.url("/v1/incidents")).bearer_auth(&alice).json(&json!({
            "category": category, "description": description,
            "location": {"lat": 30.652_794, "lon": 104.083_630, "crs": "gcj02"}, "answers": {}}))
    };
    for (category, description, number, field) in [
        ("fire", "Kitchen on the third floor", "119", "category"),
        ("noise", "楼下有人打架，还拿着刀", "110", "description"),
        ("pothole", "车祸，司机在流血", "120", "description"),
        ("traffic_accident", "two cars", "122", "category"),
        ("streetlight", "追尾了，车堵在路口", "122", "description"),
    ] {
        let body = expect_problem(file(category, description).send().await.unwrap(), 422).await;
        assert_eq!(body["type"], format!("/problems/emergency-{number}"), "{description}: {body}");
        assert_eq!(body["errors"][0]["field"], field, "{body}");
        assert!(body["detail"].as_str().unwrap().contains(number), "{body}");
    }
    let mine: Value =
        app.http.get(app.url("/v1/incidents/mine")).bearer_auth(&alice).send().await.unwrap().json().await.unwrap();
    assert_eq!(mine.as_array().map(Vec::len), Some(0), "nothing was filed: {mine}");

    // An ordinary noise complaint is still the environment bureau's report.
    let resp = file("noise", "Loud music after midnight").send().await.unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    app.stop().await;
}
