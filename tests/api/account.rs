//! The citizen's account (issue #23): the menu's pages under `/h5`, the Service Account sign-in
//! that ends on the page it started from with the session in a cookie.

use serde_json::{json, Value};

use crate::harness::{spawn_app, TestApp};

/// Every page the shipped menu opens (a `view` button's url, a `miniprogram` button's fallback).
fn menu_pages() -> Vec<(String, Option<String>)> {
    let menu: Value = serde_json::from_str(city_channel::MENU_SEED).unwrap();
    let mut pages = Vec::new();
    for top in menu["button"].as_array().unwrap() {
        let subs = top["sub_button"].as_array().cloned().unwrap_or_else(|| vec![top.clone()]);
        for b in subs {
            if let Some(url) = b["url"].as_str() {
                let path = url.split_once("://").unwrap().1;
                let path = &path[path.find('/').unwrap()..];
                pages.push((path.to_owned(), b["pagepath"].as_str().map(str::to_owned)));
            }
        }
    }
    pages
}

#[tokio::test]
async fn every_page_of_the_menu_opens_with_200_and_links_to_its_mini_program_page() {
    let app = spawn_app().await;
    // The menu as shipped is one WeChat (the sandbox) accepts, miniprogram buttons included.
    let api = city_channel::menu_ops::oa_api(&app.settings);
    city_channel::menu_ops::push(&api, None).await.expect("the sandbox takes the shipped menu");
    let pages = menu_pages();
    assert!(pages.iter().any(|(_, mp)| mp.is_some()), "the menu has a miniprogram button: {pages:?}");
    for (path, pagepath) in pages {
        assert!(path.starts_with("/h5/"), "{path}");
        let resp = app.http.get(app.url(&path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        let html = resp.text().await.unwrap();
        assert!(html.contains("城市服务") && html.contains("City Services"), "{html}");
        if let Some(pagepath) = pagepath {
            // Which service this is, what to do next, and the Mini Program page that does it.
            assert!(html.contains("预约挂号") && html.contains("Doctor appointments"), "{html}");
            let encoded = pagepath.replace('/', "%2F");
            assert!(html.contains(&format!("appid={}&amp;path={encoded}", app.settings.wechat.mp_appid)), "{html}");
        }
    }
    let resp = app.http.get(app.url("/h5/no-such-page")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn the_sandbox_refuses_a_miniprogram_button_without_its_linked_appid_or_page() {
    let app = spawn_app().await;
    let api = city_channel::menu_ops::oa_api(&app.settings);
    let mp_appid = app.settings.wechat.mp_appid.clone();
    let fallback = app.url("/h5/booking");
    let cases = [
        (json!({"url": fallback, "appid": "wxsomeoneelse00001", "pagepath": "pages/booking/index"}), Some(40166)),
        (json!({"url": fallback, "appid": mp_appid}), Some(40165)),
        (json!({"appid": mp_appid, "pagepath": "pages/booking/index"}), Some(40055)),
        (json!({"url": fallback, "appid": mp_appid, "pagepath": "pages/booking/index"}), None),
    ];
    for (fields, errcode) in cases {
        let mut button = json!({"type": "miniprogram", "name": "Book"});
        button.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
        let answer = api.menu_create(&json!({ "button": [button] })).await;
        assert_eq!(answer.as_ref().err().and_then(|e| e.errcode()), errcode, "{button}");
    }
    app.stop().await;
}

/// The Service Account sign-in as a browser goes through it, starting at `start`; the callback's
/// answer.
async fn oauth_from(app: &TestApp, start: &str, unionid: &str) -> reqwest::Response {
    let resp = app.http.get(app.url(start)).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let browser = resp.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    // What WeChat's consent page sends the browser back with: a code, and the state.
    let code: Value = app
        .http
        .post(app.url("/sandbox/wechat/_test/oa/oauth-codes"))
        .json(&json!({ "unionid": unionid }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let state = location.split("state=").nth(1).unwrap().trim_end_matches("#wechat_redirect").to_owned();
    let code = code["code"].as_str().unwrap();
    app.http
        .get(app.url(&format!("/v1/auth/oa/callback?code={code}&state={state}")))
        .header("cookie", browser)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_oauth_flow_ends_on_the_page_it_started_from_with_the_session_in_a_cookie_only() {
    let app = spawn_app().await;
    // Before: the account page invites to sign in.
    let before = app.http.get(app.url("/h5/me")).send().await.unwrap().text().await.unwrap();
    assert!(before.contains("You are not signed in"), "{before}");

    let resp = oauth_from(&app, "/v1/auth/oa/authorize?redirect=/h5/booking", "account-oauth").await;
    assert_eq!(resp.status(), 302);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, "/h5/booking");
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.starts_with("city_session="), "{set_cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.split("; ").any(|a| a == attribute), "{attribute} in {set_cookie}");
    }
    // Plain http here: a Secure cookie would never come back.
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    let token = set_cookie.split(';').next().unwrap().strip_prefix("city_session=").unwrap().to_owned();
    assert!(!location.contains(&token));

    // The page it asked for opens, and the account page sees the session.
    let page = app.http.get(app.url(&location)).header("cookie", format!("city_session={token}")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let me = app.http.get(app.url("/h5/me")).header("cookie", format!("city_session={token}")).send().await.unwrap();
    assert!(me.text().await.unwrap().contains("You are signed in"));
    // The cookie's session is the citizen's bearer session too.
    let profile = app.http.get(app.url("/v1/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(profile.status(), 200);

    // Another site cannot be the destination (the check at the start refuses it).
    for evil in ["//evil.example/x", "https://evil.example/", "/\\evil.example"] {
        let resp = app.http.get(app.url("/v1/auth/oa/authorize")).query(&[("redirect", evil)]).send().await.unwrap();
        assert_eq!(resp.status(), 422, "{evil}");
    }
    // Without a page asked for, the sign-in ends on the account page.
    let resp = oauth_from(&app, "/v1/auth/oa/authorize", "account-oauth").await;
    assert_eq!(resp.headers()["location"], "/h5/me");
    app.stop().await;
}

#[tokio::test]
async fn behind_https_the_session_cookie_is_secure() {
    let app = crate::harness::spawn_app_with(|s| {
        s.identity.public_base_url = Some("https://city.example.cn".into());
    })
    .await;
    let resp = oauth_from(&app, "/v1/auth/oa/authorize?redirect=/h5/me", "account-secure").await;
    assert_eq!(resp.status(), 302);
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(set_cookie.split("; ").any(|a| a == "Secure"), "{set_cookie}");
    app.stop().await;
}
