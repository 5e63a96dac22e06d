//! Emergencies and police reports end to end (issue #22): an emergency category or keyword
//! answers with 110, 119, 120 or 122 at once and files nothing, through the JSON API and Open311
//! alike; a non-emergency police report reaches the police clerks only and is public nowhere.

use serde_json::{json, Value};

use crate::harness::{expect_problem, spawn_app, TestApp};

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

    // Open311 goes through the same check: a keyword in a public service's description is
    // answered in Open311's own error list (400, the problem's name as the code, the number in
    // the description), and nothing is filed.
    let key = app.city(&["apikey", "create", "--name", "open311 client", "--scope", "open311"]);
    let resp = app
        .http
        .post(app.url(&format!("/open311/v2/requests.json?api_key={key}")))
        .form(&[
            ("service_code", "noise"),
            ("lat", "30.6552"),
            ("long", "104.0811"),
            ("description", "Smoke and fire from the flat next door"),
            ("device_id", "open311-emergency"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let errors: Value = resp.json().await.unwrap();
    assert_eq!(errors[0]["code"], "emergency-119", "{errors}");
    let said = errors[0]["description"].as_str().unwrap();
    assert!(said.starts_with("description: ") && said.contains("119"), "{errors}");
    let (status, listed) = app.get_json("/open311/v2/requests.json?service_code=noise").await;
    assert_eq!(status, 200);
    assert!(!listed.to_string().contains("Smoke and fire"), "filed after all: {listed}");
    // The same form in XML answers the same error in XML.
    let resp = app
        .http
        .post(app.url(&format!("/open311/v2/requests.xml?api_key={key}")))
        .form(&[
            ("service_code", "pothole"),
            ("lat", "30.6552"),
            ("long", "104.0811"),
            ("description", "两车相撞，堵在路口"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let xml = resp.text().await.unwrap();
    assert!(xml.contains("<errors><error><code>emergency-122</code>"), "{xml}");

    // An ordinary noise complaint is still the environment bureau's report.
    let resp = file("noise", "Loud music after midnight").send().await.unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    app.stop().await;
}

/// A clerk with the given scopes, signed in.
async fn clerk(app: &TestApp, username: &str, scopes: &[(&str, &str)]) -> String {
    let password = "correct horse battery";
    let mut args = vec!["staff", "create", "--username", username, "--password", password, "--role", "clerk"];
    for (flag, value) in scopes {
        args.extend([*flag, *value]);
    }
    app.city(&args);
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

/// Everything the public can see around Chunxi Road: map pins and clusters, nearby lists of
/// every category, Open311's services and requests.
async fn public_surfaces(app: &TestApp) -> Vec<(String, u16, String)> {
    let mut urls = vec![
        "/v1/incidents/map?bbox=104.07,30.64,104.09,30.66&zoom=16".to_owned(),
        "/v1/incidents/map?bbox=103.9,30.5,104.3,30.8&zoom=10".to_owned(),
        "/open311/v2/services.json".to_owned(),
        "/open311/v2/requests.json".to_owned(),
        "/open311/v2/requests.xml".to_owned(),
    ];
    for category in ["pothole", "noise", "night_noise", "illegal_parking", "lost_item", "traffic_light_fault"] {
        urls.push(format!("/v1/incidents/nearby?category={category}&lat=30.6552&lon=104.0811&radius_m=1000"));
    }
    let mut out = Vec::new();
    for url in urls {
        let resp = app.http.get(app.url(&url)).send().await.unwrap();
        out.push((url, resp.status().as_u16(), resp.text().await.unwrap()));
    }
    out
}

#[tokio::test]
async fn a_police_report_reaches_the_police_clerks_only_and_is_public_nowhere() {
    let app = spawn_app().await;
    let alice = app.citizen_token("police-alice").await;
    let bob = app.citizen_token("police-bob").await;
    let police = clerk(&app, "police.clerk", &[("--agency", "police")]).await;
    // The environment bureau's clerk, also holding Jinjiang district, where the report is.
    let env = clerk(&app, "env.clerk", &[("--agency", "env"), ("--district", "510104")]).await;
    // One report per citizen here: a citizen may file once per 10 seconds.
    let carol = app.citizen_token("police-carol").await;
    let dave = app.citizen_token("police-dave").await;
    let file = |who: &String, category: &'static str, description: &'static str, answers: Value| {
        app.http.post(app.url("/v1/incidents")).bearer_auth(who).json(&json!({
            "category": category, "description": description, "answers": answers,
            "location": {"lat": 30.652_794, "lon": 104.083_630, "crs": "gcj02"}}))
    };

    // The form offers the police categories; Open311 does not.
    let (_, categories) = app.get_json("/v1/incidents/categories").await;
    let codes: Vec<&str> = categories.as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap()).collect();
    for code in ["night_noise", "illegal_parking", "lost_item", "traffic_light_fault", "noise"] {
        assert!(codes.contains(&code), "{code} on the form: {codes:?}");
    }
    let before = public_surfaces(&app).await;
    for (url, status, body) in &before {
        assert_eq!(*status, 200, "{url}: {body}");
        for code in ["night_noise", "illegal_parking", "lost_item", "traffic_light_fault"] {
            assert!(!url.contains("open311") || !body.contains(code), "{url} lists {code}: {body}");
        }
    }

    let resp = file(&alice, "night_noise", "Neighbours upstairs playing music at 1 am", json!({"ongoing": "yes"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let filed: Value = resp.json().await.unwrap();
    let id = filed["id"].as_str().unwrap().to_owned();
    assert_eq!(filed["district"], "510104");
    let resp = file(&carol, "lost_item", "Black leather wallet, lost on Chunxi Road", json!({})).send().await.unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    let lost = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();

    // Public nowhere: every public surface answers exactly as before, by id or not.
    assert_eq!(public_surfaces(&app).await, before, "a police report changed a public answer");
    for path in [
        format!("/v1/incidents/{id}"),
        format!("/v1/incidents/{id}/share"),
        format!("/v1/incidents/{id}/share.png"),
        format!("/v1/incidents/{lost}/share"),
    ] {
        let resp = app.http.get(app.url(&path)).send().await.unwrap();
        expect_problem(resp, 404).await;
    }
    let (status, o) = app.get_json(&format!("/open311/v2/requests/{id}.json")).await;
    assert!(status == 404 || o.as_array().is_some_and(Vec::is_empty), "{status} {o}");
    let resp = app.http.get(app.url("/open311/v2/services/night_noise.json")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let resp = app.http.get(app.url("/open311/v2/requests.json?service_code=lost_item")).send().await.unwrap();
    assert_eq!(resp.status(), 400, "not a public service_code");

    // Another citizen, the environment clerk (same district) and anyone else: 404.
    let resp = app.http.get(app.url(&format!("/v1/incidents/{id}"))).bearer_auth(&bob).send().await.unwrap();
    expect_problem(resp, 404).await;
    let resp = app.http.post(app.url(&format!("/v1/incidents/{id}/followers"))).bearer_auth(&bob).send().await.unwrap();
    expect_problem(resp, 404).await;
    let resp = app.http.get(app.url(&format!("/v1/incidents/queue/{id}"))).bearer_auth(&env).send().await.unwrap();
    expect_problem(resp, 404).await;
    let resp = app
        .http
        .post(app.url(&format!("/v1/incidents/queue/{id}/notes")))
        .bearer_auth(&env)
        .json(&json!({"text": "looking"}))
        .send()
        .await
        .unwrap();
    expect_problem(resp, 404).await;
    let queue = |token: &str| app.http.get(app.url("/v1/incidents/queue")).bearer_auth(token.to_owned()).send();
    let env_queue: Value = queue(&env).await.unwrap().json().await.unwrap();
    assert_eq!(env_queue.as_array().map(Vec::len), Some(0), "{env_queue}");

    // The police clerks: in their queue, with the text.
    let police_queue: Value = queue(&police).await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = police_queue.as_array().unwrap().iter().map(|r| r["report"]["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2, "{police_queue}");
    assert!(ids.contains(&id.as_str()) && ids.contains(&lost.as_str()));
    let resp = app.http.get(app.url(&format!("/v1/incidents/queue/{id}"))).bearer_auth(&police).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let seen: Value = resp.json().await.unwrap();
    assert_eq!(seen["report"]["description"], "Neighbours upstairs playing music at 1 am", "{seen}");
    assert_eq!(filed["agency"]["id"], "police", "{filed}");

    // The reporter sees their own report.
    let mine: Value =
        app.http.get(app.url("/v1/incidents/mine")).bearer_auth(&alice).send().await.unwrap().json().await.unwrap();
    let own = mine.as_array().unwrap().iter().find(|r| r["id"] == id.as_str()).expect("in the reporter's list");
    assert_eq!(own["description"], "Neighbours upstairs playing music at 1 am", "{own}");

    // A public report filed the same way does show up: the surfaces above can see a change.
    let resp = file(&dave, "noise", "Construction drilling after 11 pm", json!({})).send().await.unwrap();
    assert_eq!(resp.status(), 201);
    let noise = resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let after = public_surfaces(&app).await;
    let changed: Vec<&str> = after.iter().zip(&before).filter(|(a, b)| a != b).map(|(a, _)| a.0.as_str()).collect();
    assert!(changed.iter().any(|u| u.contains("zoom=16")), "{changed:?}");
    assert!(changed.iter().any(|u| u.contains("requests.json")), "{changed:?}");
    assert!(changed.iter().any(|u| u.contains("category=noise")), "{changed:?}");
    assert!(after.iter().any(|(_, _, body)| body.contains(&noise)));
    app.stop().await;
}
