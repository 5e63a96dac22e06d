//! Sign-in end to end, as a person with curl would do it: the portal and its WeChat sandbox on
//! one port, over real HTTP.

use serde_json::{json, Value};

use crate::harness::{city_command, expect_problem, spawn_app, TestApp};

async fn post_json(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut req = app.http.post(app.url(path)).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("the portal answers")
}

async fn code(app: &TestApp, path: &str, body: Value) -> String {
    let v: Value = post_json(app, path, None, body).await.json().await.unwrap();
    v["code"].as_str().expect("a code").to_owned()
}

/// A valid GB 11643 number.
fn id_number(first17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17.bytes().zip(W).map(|(d, w)| u32::from(d - b'0') * w).sum();
    format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

#[tokio::test]
async fn a_person_signs_in_with_the_sandbox_adds_family_logs_out_and_comes_back_through_the_service_account() {
    let app = spawn_app().await;
    let mp = code(&app, "/sandbox/wechat/_test/mp/codes", json!({"unionid": "e2e-union"})).await;
    let resp = post_json(&app, "/v1/auth/miniprogram/login", None, json!({"code": mp})).await;
    assert_eq!(resp.status(), 200);
    let session: Value = resp.json().await.unwrap();
    let token = session["token"].as_str().unwrap().to_owned();
    let citizen = session["citizen"]["id"].as_str().unwrap().to_owned();

    let reused = post_json(&app, "/v1/auth/miniprogram/login", None, json!({"code": mp})).await;
    assert_eq!(expect_problem(reused, 400).await["type"], "/problems/wechat-code-used");

    let id = id_number("51010419850612003");
    let resp = post_json(
        &app,
        "/v1/me/people",
        Some(&token),
        json!({"name": "陈小红", "id_number": id, "relation": "spouse"}),
    )
    .await;
    assert_eq!(resp.status(), 201);
    let people: Value =
        app.http.get(app.url("/v1/me/people")).bearer_auth(&token).send().await.unwrap().json().await.unwrap();
    assert_eq!(people[0]["id_number_masked"], format!("510***********{}", &id[14..]));
    assert_eq!(people[0]["name_masked"], "陈*红");
    assert!(!people.to_string().contains(&id));

    let resp = app.http.delete(app.url("/v1/auth/session")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    let refused = app.http.get(app.url("/v1/me")).bearer_auth(&token).send().await.unwrap();
    expect_problem(refused, 401).await;

    // The Service Account's web OAuth: our redirect to WeChat, then WeChat's back to us.
    let resp = app.http.get(app.url("/v1/auth/oa/authorize?redirect=/h5/me")).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    assert!(location.starts_with(&app.url("/sandbox/wechat/connect/oauth2/authorize?")), "{location}");
    let state = location.split("state=").nth(1).unwrap().trim_end_matches("#wechat_redirect").to_owned();
    // WeChat's consent page sends the browser back to our callback with a code and the state.
    let consent = app.http.get(location.trim_end_matches("#wechat_redirect")).send().await.unwrap();
    assert_eq!(consent.status(), 302);
    let back = consent.headers()["location"].to_str().unwrap().to_owned();
    assert!(back.starts_with(&app.url("/v1/auth/oa/callback?code=")), "{back}");
    assert!(back.ends_with(&format!("state={state}")));

    // The same person (same unionid) through the Service Account is the same citizen.
    let oa = code(&app, "/sandbox/wechat/_test/oa/oauth-codes", json!({"unionid": "e2e-union"})).await;
    let resp = app
        .http
        .get(app.url(&format!("/v1/auth/oa/callback?code={oa}&state={state}")))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    // Back to the page the sign-in started from, the session in a cookie (issue #23).
    assert_eq!(resp.status(), 302);
    assert_eq!(resp.headers()["location"], "/h5/me");
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap();
    let token = set_cookie.split(';').next().unwrap().strip_prefix("city_session=").unwrap().to_owned();
    let token = token.as_str();
    let again: Value = app.http.get(app.url("/v1/me")).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    assert_eq!(again["id"], citizen.as_str());
    let people: Value =
        app.http.get(app.url("/v1/me/people")).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    assert_eq!(people.as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn city_apikey_create_prints_a_key_the_running_portal_accepts() {
    let app = spawn_app().await;
    let out = city_command(&app.settings, &["apikey", "create", "--name", "air feed", "--scope", "air-ingest"])
        .output()
        .expect("the city binary runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let key = stdout.trim();
    assert_eq!(stdout.lines().count(), 1, "the key alone: {stdout:?}");
    let v: Value = post_json(&app, "/v1/auth/introspect", None, json!({"api_key": key})).await.json().await.unwrap();
    assert_eq!(v["active"], true);
    assert_eq!(v["integrator"]["scopes"][0], "air-ingest");
    app.stop().await;
}

#[tokio::test]
async fn the_internal_lookups_answer_services_that_present_the_internal_token_and_refuse_everyone_else() {
    const INTERNAL: &str = "e2e-identity-internal-token";
    let app = crate::harness::spawn_app_with(|s| {
        s.internal_token = Some(city_platform::config::Secret::new(INTERNAL));
    })
    .await;
    let openid = "oE2EIdentityFollower00000001";
    let mp = code(&app, "/sandbox/wechat/_test/mp/codes", json!({"unionid": "e2e-internal"})).await;
    let session: Value =
        post_json(&app, "/v1/auth/miniprogram/login", None, json!({"code": mp})).await.json().await.unwrap();
    let citizen = session["citizen"]["id"].as_str().unwrap().to_owned();
    let token = session["token"].as_str().unwrap().to_owned();
    // Linked to the Service Account with an OAuth code for the openid the account's pushes carry.
    let oa = code(&app, "/sandbox/wechat/_test/oa/oauth-codes", json!({"openid": openid})).await;
    let resp = post_json(&app, "/v1/me/links/service-account", Some(&token), json!({"code": oa})).await;
    assert_eq!(resp.status(), 200);

    let follower = format!("/v1/internal/identity/oa-followers/{openid}");
    let contacts = format!("/v1/internal/identity/citizens/{citizen}/contacts");
    let get = |path: String, presented: Option<&'static str>| {
        let mut req = app.http.get(app.url(&path));
        if let Some(t) = presented {
            req = req.header(city_platform::auth::INTERNAL_TOKEN_HEADER, t);
        }
        req.send()
    };
    let found: Value = get(follower.clone(), Some(INTERNAL)).await.unwrap().json().await.unwrap();
    assert_eq!(found, json!({"citizen_id": citizen}));
    let reach: Value = get(contacts.clone(), Some(INTERNAL)).await.unwrap().json().await.unwrap();
    assert_eq!(reach["oa_openid"], openid);
    assert!(reach["mp_openid"].is_string() && reach["email"].is_null(), "{reach}");
    for path in [follower, contacts] {
        expect_problem(get(path.clone(), None).await.unwrap(), 401).await;
        expect_problem(get(path.clone(), Some("guessed")).await.unwrap(), 401).await;
        // A citizen's own bearer token is no internal credential.
        let as_citizen = app.http.get(app.url(&path)).bearer_auth(&token).send().await.unwrap();
        expect_problem(as_citizen, 401).await;
    }
    app.stop().await;
}
