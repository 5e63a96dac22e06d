//! The clerks' console in a real browser: the whole portal on a random port (on whichever
//! backend the environment selects, as `tests/api`), headless Debian Chromium driven over
//! WebDriver, and the citizen's side checked through the public API and Open311.

mod announcements;
mod browser;
mod conversations;
#[allow(dead_code)]
#[path = "../api/harness.rs"]
mod harness;
mod queue;
mod split;

use serde_json::{json, Value};

use browser::Browser;
use harness::{spawn_app, TestApp};

const PASSWORD: &str = "correct horse battery";
/// An 8×8 red PNG: the crew's "fixed" photo.
const PNG: &[u8] = &[
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 8, 0, 0, 0, 8, 8, 2, 0, 0, 0, 75, 109, 41,
    220, 0, 0, 0, 17, 73, 68, 65, 84, 120, 156, 99, 56, 33, 39, 135, 21, 49, 12, 45, 9, 0, 144, 191, 65, 1, 178, 159,
    62, 34, 0, 0, 0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
];

/// Chunxi Road, Jinjiang District (WGS-84).
const CHUNXI: (f64, f64) = (30.6552, 104.0811);

fn clerk(app: &TestApp, username: &str, district: &str) {
    app.city(&[
        "staff",
        "create",
        "--username",
        username,
        "--password",
        PASSWORD,
        "--role",
        "clerk",
        "--district",
        district,
    ]);
}

/// A citizen's report through the Mini Program API; its id.
async fn report(app: &TestApp, citizen: &str, description: &str, at: (f64, f64)) -> String {
    let token = app.citizen_token(citizen).await;
    let resp = app
        .http
        .post(app.url("/v1/incidents"))
        .bearer_auth(&token)
        .json(&json!({
            "category": "pothole", "description": description, "address": "Chunxi Road 12",
            "location": {"lat": at.0, "lon": at.1, "crs": "wgs84"}, "answers": {"size": "large"},
        }))
        .send()
        .await
        .expect("the portal answers");
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.expect("a report");
    body["id"].as_str().expect("an id").to_owned()
}

/// The `in_scope` mark of report `id`'s pin in the console's map around Chunxi Road, as the
/// signed-in browser fetches it (`None`: no such pin).
async fn pin_in_scope(b: &Browser, id: &str) -> Option<bool> {
    let script = "var done = arguments[arguments.length - 1];
        fetch('/console/map.json?coord=wgs84&zoom=16&bbox=104.0711,30.6452,104.0911,30.6652', { credentials: 'same-origin' })
          .then(function (r) { return r.json(); }).then(done, function (e) { done(String(e)); });";
    let map = b.client.execute_async(script, vec![]).await.expect("the map answers");
    let features = map["features"].as_array().cloned().unwrap_or_default();
    features.iter().find(|f| f["id"] == id).and_then(|f| f["properties"]["in_scope"].as_bool())
}

#[tokio::test]
async fn a_clerk_filters_to_their_district_opens_a_ticket_from_the_map_and_closes_it_with_a_template() {
    if !browser::available() {
        return;
    }
    let app = spawn_app().await;
    clerk(&app, "jj.clerk", "510104");
    let id = report(&app, "console-e2e-alice", "Deep pothole in the cycle lane", CHUNXI).await;
    let b = Browser::start(&app.base).await;

    // Signed out, the console sends the browser to sign in, and back afterwards.
    b.goto("/console/queue").await;
    assert!(b.path().await.starts_with("/console/login"), "{}", b.path().await);
    b.assert_accessible("sign-in").await;
    b.fill("#username", "jj.clerk").await;
    b.fill("#password", "wrong password").await;
    b.click("#sign-in").await;
    assert!(b.text("#signin-error").await.contains("请联系管理员"));
    b.sign_in("jj.clerk", PASSWORD).await;
    assert!(b.text("#who").await.contains("510104"), "name, role and scope shown");

    // The queue, filtered to the district.
    b.choose("#f-district", "510104").await;
    b.click("#apply").await;
    b.find(&format!("a.ticket-link[data-id=\"{id}\"]")).await;
    assert!(b.path().await.contains("district=510104"));
    b.assert_accessible("queue").await;
    b.screenshot("queue").await;

    // The map draws the districts and the ticket's pin; the pin opens the ticket.
    let pin = format!("path[class~=\"pin-{id}\"]");
    b.find(&pin).await;
    b.screenshot("map").await;
    b.click(&pin).await;
    b.find("#ticket-id").await;
    assert_eq!(b.text("#ticket-id").await, id);
    b.assert_accessible("ticket").await;

    // A public update from the template (edited before sending), closing it as fixed.
    b.choose("#template", "fixed").await;
    b.until("the template filled the text", "document.getElementById('public-update').value.length > 0").await;
    let text: String = b
        .client
        .execute("return document.getElementById('public-update').value;", vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap_or_default()
        .to_owned();
    b.fill("#public-update", &format!("{text} (Chunxi Road crew)")).await;
    // With the crew's photo of the repair.
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("fixed.png");
    std::fs::write(&photo, PNG).unwrap();
    b.find("#state-photo").await.send_keys(photo.to_str().unwrap()).await.expect("the file is chosen");
    b.choose("#new-state", "fixed").await;
    b.click("#save-state").await;
    b.until("the saved banner", "document.querySelector('.banner.done')").await;
    assert_eq!(b.find("#ticket-state").await.attr("data-state").await.unwrap().as_deref(), Some("fixed"));
    b.find("#history .update-photo img").await;
    b.screenshot("ticket").await;

    // The citizen sees it closed, with the update, in the API and in Open311.
    let (status, public) = app.get_json(&format!("/v1/incidents/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(public["state"], "fixed", "{public}");
    assert_eq!(public["status"], "closed");
    let history = public["history"].as_array().cloned().unwrap_or_default();
    assert!(
        history.iter().any(|u| u["text_zh"].as_str().is_some_and(|t| t.contains("(Chunxi Road crew)"))
            || u["text_en"].as_str().is_some_and(|t| t.contains("(Chunxi Road crew)"))),
        "the edited public update is in the public history: {public}"
    );
    let with_photo = history.iter().find(|u| u.get("photo").is_some()).expect("the update carries the photo");
    assert!(with_photo["text_en"].as_str().is_some_and(|t| t.contains("(Chunxi Road crew)")), "{public}");
    let resp = app.http.get(app.url(with_photo["photo"]["url"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(resp.status(), 200, "the citizen can open the photo");
    let (status, open311) = app.get_json(&format!("/open311/v2/requests/{id}.json")).await;
    assert_eq!(status, 200);
    assert_eq!(open311[0]["status"], "closed", "{open311}");

    // The English switch, and sign-out ends the session.
    b.click("a.lang").await;
    b.until("the English page", "document.documentElement.lang === 'en'").await;
    b.find("#ticket-id").await;
    b.assert_accessible("ticket in English").await;
    b.click(".top form button").await;
    b.find("#username").await;
    b.goto("/console/queue").await;
    assert!(b.path().await.starts_with("/console/login"), "signed out: {}", b.path().await);
    b.close().await;
    app.stop().await;
}

#[tokio::test]
async fn the_second_of_two_clerks_to_change_a_ticket_sees_the_conflict_and_changes_nothing() {
    if !browser::available() {
        return;
    }
    let app = spawn_app().await;
    clerk(&app, "jj.one", "510104");
    clerk(&app, "jj.two", "510104");
    let id = report(&app, "console-e2e-bob", "Streetlight out on Chunxi Road", CHUNXI).await;
    let (one, two) = tokio::join!(Browser::start(&app.base), Browser::start(&app.base));
    one.sign_in("jj.one", PASSWORD).await;
    two.sign_in("jj.two", PASSWORD).await;
    one.goto(&format!("/console/tickets/{id}")).await;
    two.goto(&format!("/console/tickets/{id}")).await;
    two.find("#save-state").await;

    one.choose("#assignee-select", "me").await;
    one.click("#save-assign").await;
    one.until("the first change saved", "document.querySelector('.banner.done')").await;

    two.choose("#new-state", "in_progress").await;
    two.fill("#state-note", "second clerk's change").await;
    two.click("#save-state").await;
    two.until("the conflict banner", "document.querySelector('.banner.conflict')").await;
    assert!(two.text("#banner").await.contains("其他人已修改此工单"));
    two.find("#reload").await;
    assert_eq!(two.find("#ticket-state").await.attr("data-state").await.unwrap().as_deref(), Some("open"));

    let (_, public) = app.get_json(&format!("/v1/incidents/{id}")).await;
    assert_eq!(public["state"], "open", "the second change changed nothing: {public}");
    one.close().await;
    two.close().await;
    app.stop().await;
}

#[tokio::test]
async fn another_districts_clerk_cannot_see_or_open_the_ticket_and_a_form_without_its_csrf_token_is_refused() {
    if !browser::available() {
        return;
    }
    let app = spawn_app().await;
    clerk(&app, "sl.clerk", "510116");
    clerk(&app, "jj.csrf", "510104");
    let id = report(&app, "console-e2e-carol", "Blocked drain at Chunxi Road", CHUNXI).await;
    let b = Browser::start(&app.base).await;
    b.sign_in("sl.clerk", PASSWORD).await;
    b.find("#queue-results").await;
    let links = b.client.find_all(fantoccini::Locator::Css("a.ticket-link")).await.unwrap();
    assert!(links.is_empty(), "the Shuangliu clerk's queue holds no Jinjiang ticket");
    assert_eq!(pin_in_scope(&b, &id).await, Some(false), "its pin is grey and opens nothing");

    // Not by URL either.
    b.goto(&format!("/console/tickets/{id}")).await;
    assert!(b.text("main").await.contains("不在您的范围内"));
    assert!(b.client.find(fantoccini::Locator::Css("#form-state")).await.is_err());
    b.assert_accessible("out-of-scope message").await;

    // A clerk who may act: the same request is refused without the session's CSRF token and
    // accepted with it (so the refusal is the token's doing).
    b.click(".top form button").await;
    b.find("#username").await;
    b.sign_in("jj.csrf", PASSWORD).await;
    b.goto(&format!("/console/tickets/{id}")).await;
    b.find("#form-note").await;
    // The console asks the API about the view's pins (issue #19: any queue size).
    assert_eq!(pin_in_scope(&b, &id).await, Some(true), "its pin opens the ticket");
    let (_, before) = app.get_json(&format!("/v1/incidents/{id}")).await;
    let n_before = before["history"].as_array().map(Vec::len).unwrap_or_default();
    let post = |with_token: bool| {
        format!(
            "const done = arguments[arguments.length - 1];
             const form = new URLSearchParams({{text: 'posted by script', public: '1',
               version: document.querySelector('#form-note input[name=version]').value}});
             if ({with_token}) form.set('csrf', document.querySelector('#form-note input[name=csrf]').value);
             fetch('/console/tickets/{id}/note', {{method: 'POST', body: form, redirect: 'manual'}})
               .then(r => done(r.status)).catch(e => done(String(e)));"
        )
    };
    let refused = b.client.execute_async(&post(false), vec![]).await.unwrap();
    assert_eq!(refused, json!(403));
    let (_, after) = app.get_json(&format!("/v1/incidents/{id}")).await;
    assert_eq!(after["history"].as_array().map(Vec::len), Some(n_before), "nothing was added: {after}");
    let accepted = b.client.execute_async(&post(true), vec![]).await.unwrap();
    assert_ne!(accepted, json!(403));
    let (_, after) = app.get_json(&format!("/v1/incidents/{id}")).await;
    assert_eq!(
        after["history"].as_array().map(Vec::len),
        Some(n_before + 1),
        "with the token it went through: {after}"
    );
    // The same form sent by the browser without its token: the 403 page, itself accessible.
    b.client
        .execute("document.querySelector('#form-note input[name=csrf]').remove(); return null;", vec![])
        .await
        .unwrap();
    b.fill("#note-text", "sent without the token").await;
    b.click("#save-note").await;
    b.until("the refusal page", "!document.getElementById('form-note')").await;
    assert!(b.text("main").await.contains("表单已过期或无效"), "{}", b.text("main").await);
    b.assert_accessible("403").await;
    let (_, after) = app.get_json(&format!("/v1/incidents/{id}")).await;
    assert_eq!(after["history"].as_array().map(Vec::len), Some(n_before + 1), "the refused form added nothing");
    b.close().await;
    app.stop().await;
}

#[tokio::test]
async fn held_text_approved_in_the_console_is_public_and_rejected_text_never_is() {
    if !browser::available() {
        return;
    }
    let app = spawn_app().await;
    clerk(&app, "jj.mod", "510104");
    let kept = report(&app, "console-e2e-dan", "review-demo: loudspeaker van", CHUNXI).await;
    let dropped = report(&app, "console-e2e-erin", "review-demo: flyers everywhere", (30.6560, 104.0820)).await;
    for id in [&kept, &dropped] {
        let (_, public) = app.get_json(&format!("/v1/incidents/{id}")).await;
        assert!(public["description"].is_null(), "held text is not public: {public}");
    }
    let b = Browser::start(&app.base).await;
    b.sign_in("jj.mod", PASSWORD).await;
    b.goto("/console/queue?held=1").await;
    b.find(&format!("a.ticket-link[data-id=\"{kept}\"]")).await;
    b.find(&format!("a.ticket-link[data-id=\"{dropped}\"]")).await;

    b.goto(&format!("/console/tickets/{kept}")).await;
    b.click("#approve").await;
    b.until("the approval saved", "document.querySelector('.banner.done')").await;
    b.goto(&format!("/console/tickets/{dropped}")).await;
    b.fill("#mod-note", "advertising").await;
    b.click("#reject").await;
    b.until("the rejection saved", "document.querySelector('.banner.done')").await;

    let (_, public) = app.get_json(&format!("/v1/incidents/{kept}")).await;
    assert_eq!(public["description"], "review-demo: loudspeaker van");
    let (_, public) = app.get_json(&format!("/v1/incidents/{dropped}")).await;
    assert!(public["description"].is_null(), "rejected text stays hidden: {public}");
    let (_, open311) = app.get_json(&format!("/open311/v2/requests/{dropped}.json")).await;
    assert!(!open311.to_string().contains("flyers"), "nor in Open311: {open311}");
    b.close().await;
    app.stop().await;
}

#[tokio::test]
async fn a_clerk_given_a_temporary_password_must_choose_their_own_before_anything_else() {
    if !browser::available() {
        return;
    }
    let app = spawn_app().await;
    app.city(&["staff", "create", "--username", "admin", "--password", PASSWORD, "--role", "admin"]);
    let session: Value = app
        .http
        .post(app.url("/v1/staff/sessions"))
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = session["token"].as_str().expect("an admin token").to_owned();
    let resp = app
        .http
        .post(app.url("/v1/staff/members"))
        .bearer_auth(&admin)
        .json(&json!({"username": "jj.temp", "password": "given by the admin", "roles": ["clerk"],
                      "scopes": {"districts": ["510104"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);

    let b = Browser::start(&app.base).await;
    b.sign_in("jj.temp", "given by the admin").await;
    b.find("#pw-forced").await;
    assert_eq!(b.path().await, "/console/password");
    b.goto("/console/queue").await;
    assert_eq!(b.path().await, "/console/password", "no other page before the change");
    b.assert_accessible("password").await;

    b.fill("#pw-current", "given by the admin").await;
    b.fill("#pw-new", "my very own password").await;
    b.fill("#pw-repeat", "my very own password").await;
    b.click("#pw-save").await;
    b.find("#queue-results").await;
    assert!(b.path().await.starts_with("/console/queue"));

    b.click(".top form button").await;
    b.sign_in("jj.temp", "my very own password").await;
    b.find("#queue-results").await;
    b.close().await;
    app.stop().await;
}
