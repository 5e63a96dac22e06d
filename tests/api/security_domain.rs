//! Issue #15, part 2: the domain attacks replayed against the whole portal on a random port
//! (real names, scopes, photos, and a walk over every id path of the served OpenAPI document).
//! Each test names the attack it replays and asserts the answer it now gets.

use serde_json::{json, Value};

use crate::harness::{expect_problem, spawn_app, TestApp};

/// A valid GB 11643 number from its first 17 digits.
fn id_number(first17: &str) -> String {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17.bytes().zip(W).map(|(d, w)| u32::from(d - b'0') * w).sum();
    format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
    let mut req = app.http.post(app.url(path)).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("the portal answers")
}

/// A Mini Program phone-number code for `phone`, minted by the sandbox.
async fn phone_code(app: &TestApp, phone: &str) -> String {
    let v: Value = post(app, "/sandbox/wechat/_test/mp/phone-codes", None, json!({"phone": phone}))
        .await
        .json()
        .await
        .expect("a code");
    v["code"].as_str().expect("a phone code").to_owned()
}

#[tokio::test]
async fn a_strangers_id_number_cannot_be_borrowed_without_their_phone_and_sits_on_at_most_three_accounts() {
    let app = spawn_app().await;
    let victim_number = id_number("51010419850612003");
    let victim = app.citizen_token("rn-victim").await;
    let person = |phone_code: Option<&str>| {
        let mut body = json!({"name": "陈小红", "id_number": victim_number, "relation": "parent"});
        if let Some(code) = phone_code {
            body["phone_code"] = json!(code);
        }
        body
    };
    // The holder adds herself with her phone: the phone first recorded for the number.
    let mut own = person(None);
    own["relation"] = json!("self");
    own["phone"] = json!("13800138000");
    assert_eq!(post(&app, "/v1/me/people", Some(&victim), own).await.status(), 201);

    // Attack: a stranger adds her number with no proof → 409 naming phone_code.
    let stranger = app.citizen_token("rn-stranger").await;
    let p = expect_problem(post(&app, "/v1/me/people", Some(&stranger), person(None)).await, 409).await;
    assert_eq!(
        (p["type"].as_str(), p["errors"][0]["field"].as_str()),
        (Some("/problems/phone-proof-required"), Some("phone_code"))
    );
    // Attack: with a code for the stranger's own phone → 403.
    let theirs = phone_code(&app, "13900139000").await;
    let p = expect_problem(post(&app, "/v1/me/people", Some(&stranger), person(Some(&theirs))).await, 403).await;
    assert_eq!(p["type"], "/problems/phone-mismatch");
    let (_, list) = get(&app, "/v1/me/people", &stranger).await;
    assert_eq!(list.as_array().map(Vec::len), Some(0), "nothing was added");

    // Her family, with a code for her phone, may add her: up to three accounts in all.
    for n in 0..2 {
        let family = app.citizen_token(&format!("rn-family-{n}")).await;
        let code = phone_code(&app, "13800138000").await;
        assert_eq!(post(&app, "/v1/me/people", Some(&family), person(Some(&code))).await.status(), 201);
    }
    let fourth = app.citizen_token("rn-family-3").await;
    let code = phone_code(&app, "13800138000").await;
    let p = expect_problem(post(&app, "/v1/me/people", Some(&fourth), person(Some(&code))).await, 409).await;
    assert_eq!(p["type"], "/problems/id-number-accounts-limit");

    // A name that is no card name is refused by the (sandbox) real-name check, naming the field.
    let body = json!({"name": "admin123", "id_number": id_number("11010519900101001"), "relation": "self"});
    let p = expect_problem(post(&app, "/v1/me/people", Some(&stranger), body).await, 422).await;
    assert_eq!(
        (p["type"].as_str(), p["errors"][0]["field"].as_str()),
        (Some("/problems/real-name-mismatch"), Some("name"))
    );
    app.stop().await;
}

async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let resp = app.http.get(app.url(path)).bearer_auth(token).send().await.expect("the portal answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}
