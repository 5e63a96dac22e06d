//! The queue's live parts and the session's end, in Chromium: a new report shows in an open
//! queue without a reload, the export holds exactly the filtered rows, sign-out revokes the
//! staff token at identity, and with street tiles the ticket's pin is drawn in GCJ-02.

use city_platform::cache::{Cache, RedisCache};
use city_platform::coords::{Crs, LatLon};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::browser::{self, Browser};
use crate::harness::{spawn_app_with, TestApp};
use crate::{clerk, report, CHUNXI, PASSWORD};

/// `path` fetched by the signed-in browser (its session cookie, nothing else): status,
/// content type and body.
async fn fetch_text(b: &Browser, path: &str) -> (u16, String, String) {
    let script = format!(
        "const done = arguments[arguments.length - 1];
         fetch({path:?}, {{credentials: 'same-origin', redirect: 'manual'}})
           .then(r => r.text().then(t => done([r.status, r.headers.get('content-type') || '', t])))
           .catch(e => done([0, '', String(e)]));"
    );
    let v = b.client.execute_async(&script, vec![]).await.expect("the fetch runs");
    (
        v[0].as_u64().unwrap_or_default() as u16,
        v[1].as_str().unwrap_or_default().to_owned(),
        v[2].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn a_new_report_shows_in_the_open_queue_without_a_reload_and_the_export_holds_the_filtered_rows() {
    if !browser::available() {
        return;
    }
    // The page polls every 2 s (the least the settings allow) instead of 15.
    let app = spawn_app_with(|s| s.console.poll_secs = 2).await;
    clerk(&app, "jj.live", "510104");
    let first = report(&app, "console-live-fay", "Cracked kerb stone by the bus stop", CHUNXI).await;
    let b = Browser::start(&app.base).await;
    b.sign_in("jj.live", PASSWORD).await;
    b.goto("/console/queue").await;
    b.find(&format!("a.ticket-link[data-id=\"{first}\"]")).await;
    assert_eq!(b.find("#new-tickets").await.attr("hidden").await.unwrap().as_deref(), Some("true"));
    // A mark on this document: a reload would lose it.
    b.client.execute("window.sameDocument = true; return null;", vec![]).await.unwrap();

    let second = report(&app, "console-live-gus", "Fallen plane tree blocks the pavement", (30.6560, 104.0820)).await;
    b.find(&format!("a.ticket-link[data-id=\"{second}\"]")).await;
    b.until("the new-tickets note", "!document.getElementById('new-tickets').hidden").await;
    b.until("no reload happened", "window.sameDocument === true").await;
    b.assert_accessible("queue with new tickets").await;

    // The export, with the session cookie only: the search's one row, then both.
    let (status, ctype, csv) = fetch_text(&b, "/console/queue/export.csv?q=plane+tree").await;
    assert_eq!(status, 200, "{csv}");
    assert!(ctype.starts_with("text/csv"), "{ctype}");
    let lines: Vec<&str> = csv.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 2, "a header and the one matching row: {csv}");
    assert!(lines[1].contains(&second) && !csv.contains(&first), "{csv}");
    let (status, _, csv) = fetch_text(&b, "/console/queue/export.csv").await;
    assert_eq!(status, 200);
    assert!(csv.contains(&first) && csv.contains(&second), "unfiltered, both: {csv}");
    // Without the cookie there is no CSV, only the way to sign in.
    let resp = app.http.get(app.url("/console/queue/export.csv")).send().await.unwrap();
    assert!(resp.status().is_redirection(), "{}", resp.status());
    assert!(!resp.text().await.unwrap().contains(&first));
    b.close().await;
    app.stop().await;
}

/// The token hashes of identity's live staff sessions (its own store, on either backend).
async fn live_staff_sessions(app: &TestApp) -> Vec<String> {
    let db = city_platform::Db::connect(&app.settings, "identity").await.expect("identity's store");
    let live = sqlx::query_scalar::<_, String>(
        "SELECT token_hash FROM sessions WHERE kind = 'staff' AND revoked_at_ms IS NULL ORDER BY created_at_ms",
    )
    .fetch_all(&db.pool)
    .await
    .expect("identity's sessions");
    db.pool.close().await;
    live
}

#[tokio::test]
async fn after_sign_out_the_consoles_staff_token_is_refused_by_the_api() {
    if !browser::available() {
        return;
    }
    let app = spawn_app_with(|_| {}).await;
    clerk(&app, "jj.out", "510104");
    let b = Browser::start(&app.base).await;
    b.sign_in("jj.out", PASSWORD).await;
    let live = live_staff_sessions(&app).await;
    assert_eq!(live.len(), 1, "the console's sign-in is identity's one staff session");

    // The token itself is only in the console's session store: readable from here when that
    // is Redis (the in-process store of the embedded backend is not).
    let cookie = b.client.get_named_cookie("city_console").await.expect("the session cookie");
    let token = match &app.settings.redis_url {
        Some(url) => {
            let cache = RedisCache::connect(url.expose(), &app.settings.redis_prefix).await.expect("Redis");
            let key = format!("console:session:{}", hex::encode(Sha256::digest(cookie.value().as_bytes())));
            let raw = cache.get(&key).await.unwrap().expect("the console session is stored");
            let session: Value = serde_json::from_slice(&raw).unwrap();
            let token = session["token"].as_str().expect("a staff token").to_owned();
            assert_eq!(hex::encode(Sha256::digest(token.as_bytes())), live[0], "it is that session's token");
            let resp = app.http.get(app.url("/v1/staff/me")).bearer_auth(&token).send().await.unwrap();
            assert_eq!(resp.status(), 200, "the token works while signed in");
            Some(token)
        }
        None => {
            eprintln!("the staff token is checked at identity's store only: the embedded session store is in-process");
            None
        }
    };

    b.click(".top form button").await;
    b.find("#username").await;
    assert!(live_staff_sessions(&app).await.is_empty(), "identity revoked the console's session");
    if let Some(token) = token {
        let resp = app.http.get(app.url("/v1/staff/me")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(resp.status(), 401, "the old token is refused");
    }
    // The old cookie opens nothing either.
    let resp = app
        .http
        .get(app.url("/console/queue"))
        .header("cookie", format!("city_console={}", cookie.value()))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_redirection(), "{}", resp.status());
    assert!(resp.headers()["location"].to_str().unwrap().starts_with("/console/login"));
    b.close().await;
    app.stop().await;
}

#[tokio::test]
async fn with_street_tiles_the_tickets_pin_and_the_outlines_are_in_gcj02() {
    if !browser::available() {
        return;
    }
    // Nothing listens on the discard port: tiles fail at once, as on a machine offline.
    let app = spawn_app_with(|s| s.console.tile_url = Some("http://127.0.0.1:9/tiles/{z}/{x}/{y}.png".into())).await;
    clerk(&app, "jj.tiles", "510104");
    let id = report(&app, "console-tiles-hal", "Manhole cover missing", CHUNXI).await;
    let b = Browser::start(&app.base).await;
    b.sign_in("jj.tiles", PASSWORD).await;
    b.goto(&format!("/console/tickets/{id}")).await;
    b.until("the pin on the small map", "document.getElementById('ticket-map').dataset.pin").await;
    let pin = b.find("#ticket-map").await.attr("data-pin").await.unwrap().expect("the pin's position");
    let (lat, lon) = pin.split_once(',').map(|(a, o)| (a.parse::<f64>().unwrap(), o.parse::<f64>().unwrap())).unwrap();
    let wgs = LatLon::new(CHUNXI.0, CHUNXI.1).unwrap();
    let (elat, elon) = wgs.to_crs(Crs::Gcj02);
    assert!((lat - elat).abs() < 1e-6 && (lon - elon).abs() < 1e-6, "pin at {lat},{lon}; GCJ-02 is {elat},{elon}");
    assert!(wgs.distance_m(LatLon::new(lat, lon).unwrap()) > 100.0, "not the WGS-84 point");

    // The outlines under it come in the same datum.
    let (status, _, body) = fetch_text(&b, "/console/districts.json").await;
    assert_eq!(status, 200);
    let outlines: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(outlines["coordinate_system"], json!("gcj02"));
    b.close().await;
    app.stop().await;
}
