//! The attacks of issue #15 (the edge, staff sign-in, robustness), replayed against the whole
//! portal over real HTTP on either backend; each test names the attack and the answer it gets.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{city_command, expect_problem, spawn_app, spawn_app_with, TestApp};

const PASSWORD: &str = "correct horse battery";

/// A body of `total` bytes in 64 KiB chunks, made only as the server pulls it; `pulled`
/// counts what was made.
fn streamed(total: usize, pulled: Arc<AtomicUsize>) -> reqwest::Body {
    let chunk = vec![b' '; 64 * 1024];
    let stream = futures::stream::unfold(0usize, move |sent| {
        let chunk = chunk.clone();
        let pulled = pulled.clone();
        async move {
            (sent < total).then(|| {
                pulled.fetch_add(chunk.len(), Ordering::SeqCst);
                (Ok::<_, std::io::Error>(chunk), sent + 64 * 1024)
            })
        }
    });
    reqwest::Body::wrap_stream(stream)
}

#[tokio::test]
async fn a_20_mb_body_streamed_without_a_length_over_h2c_or_chunked_gets_413_unread() {
    let app = spawn_app().await;
    const TOTAL: usize = 20 * 1024 * 1024;

    // HTTP/2 with prior knowledge (h2c), as poem serves it: no Content-Length, no chunking.
    let pulled = Arc::new(AtomicUsize::new(0));
    let client: hyper_util::client::legacy::Client<_, reqwest::Body> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).http2_only(true).build_http();
    let req = http::Request::post(app.url("/v1/districts/locate"))
        .header("content-type", "application/json")
        .body(streamed(TOTAL, pulled.clone()))
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(30), client.request(req)).await.unwrap().unwrap();
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(resp.status().as_u16(), 413);
    let ct = resp.headers()["content-type"].to_str().unwrap();
    assert!(ct.starts_with("application/problem+json"), "{ct}");
    assert!(resp.headers().contains_key("x-request-id"));
    let sent = pulled.load(Ordering::SeqCst);
    assert!(sent < 8 * 1024 * 1024, "the portal read {sent} bytes of a 20 MB body before refusing it");

    // HTTP/1.1 chunked.
    let pulled = Arc::new(AtomicUsize::new(0));
    let resp = app
        .http
        .post(app.url("/v1/districts/locate"))
        .header("content-type", "application/json")
        .body(streamed(TOTAL, pulled.clone()))
        .send()
        .await;
    // The portal answers before the upload ends; the client may see its upload cut short.
    if let Ok(resp) = resp {
        let p = expect_problem(resp, 413).await;
        assert_eq!(p["type"], "/problems/payload-too-large");
    }
    assert!(pulled.load(Ordering::SeqCst) < TOTAL, "the whole chunked body was read");
    app.stop().await;
}

/// Sends raw bytes as one HTTP/1.1 request and returns the raw answer (empty: dropped).
async fn raw(app: &TestApp, request: &[u8]) -> String {
    let mut conn = tokio::net::TcpStream::connect(app.settings.listen).await.unwrap();
    conn.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn open311_paths_and_numbers_that_used_to_panic_or_leak_type_names_get_plain_answers() {
    let app = spawn_app().await;
    // A `%` before a multi-byte character: the decoder sliced inside it and the connection dropped.
    let answer =
        raw(&app, "GET /open311/v2/services/%aé.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".as_bytes())
            .await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(answer.to_ascii_lowercase().contains("x-request-id"), "{answer}");

    // A page number whose offset overflows.
    let resp = app
        .http
        .get(app.url("/open311/v2/requests.json?page=9223372036854775807&page_size=1000"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(body[0]["description"].as_str().unwrap().contains("page"), "{body}");

    // A coordinate that is not finite: the answer has words, not `NotFinite`.
    let key = city(&app, &["apikey", "create", "--name", "open311 client", "--scope", "open311"]).await.1;
    let (_, services) = app.get_json("/open311/v2/services.json").await;
    let code = services[0]["service_code"].as_str().unwrap().to_owned();
    for (lat, long) in [("NaN", "104.06"), ("30.66", "inf")] {
        let resp = app
            .http
            .post(app.url("/open311/v2/requests.json"))
            .form(&[("api_key", key.as_str()), ("service_code", &code), ("lat", lat), ("long", long)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400);
        let text = resp.text().await.unwrap();
        assert!(!text.contains("NotFinite") && text.contains("not a number"), "{text}");
    }
    app.stop().await;
}

async fn status_from(app: &TestApp, xff: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = app.http.get(app.url("/v1/services")).header("x-forwarded-for", xff);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn forwarded_for_counts_only_from_configured_proxies_and_only_its_right_most_untrusted_hop() {
    // No proxies trusted (the default): a client on loopback cannot pose as many addresses.
    let app = spawn_app_with(|s| s.rate_limit.per_ip = 3).await;
    for i in 0..3 {
        assert_eq!(status_from(&app, &format!("203.0.113.{i}"), None).await.0, 200);
    }
    let (status, p) = status_from(&app, "203.0.113.99", None).await;
    assert_eq!((status, p["type"].as_str()), (429, Some("/problems/rate-limited")), "{p}");
    app.stop().await;

    // Loopback trusted: the hop it appended counts, whatever the client wrote to its left.
    let app = spawn_app_with(|s| {
        s.rate_limit.per_ip = 3;
        s.trusted_proxies = vec!["127.0.0.1/32".into(), "::1".into()];
    })
    .await;
    for i in 0..3 {
        assert_eq!(status_from(&app, &format!("6.6.6.{i}, 198.51.100.7"), None).await.0, 200);
    }
    assert_eq!(status_from(&app, "6.6.6.200, 198.51.100.7", None).await.0, 429);
    // Another client behind the same proxy has its own budget.
    assert_eq!(status_from(&app, "198.51.100.8", None).await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn only_a_verified_credential_gets_a_per_identity_budget() {
    let app = spawn_app_with(|s| {
        s.rate_limit.per_ip = 1000;
        s.rate_limit.per_identity = 3;
    })
    .await;
    // A made-up bearer string is no identity: it spends only its address's budget.
    let made_up = "A".repeat(43);
    for _ in 0..5 {
        assert_eq!(status_from(&app, "", Some(&made_up)).await.0, 200);
    }
    // A real citizen's budget follows them across their tokens.
    let first = app.citizen_token("sec-rl-citizen").await;
    let second = app.citizen_token("sec-rl-citizen").await;
    assert_ne!(first, second);
    assert_eq!(status_from(&app, "", Some(&first)).await.0, 200);
    assert_eq!(status_from(&app, "", Some(&second)).await.0, 200);
    assert_eq!(status_from(&app, "", Some(&first)).await.0, 200);
    let (status, p) = status_from(&app, "", Some(&second)).await;
    assert_eq!(status, 429, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("these credentials"), "{p}");
    app.stop().await;
}

async fn send(app: &TestApp, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut req = app.http.request(method.parse().unwrap(), app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// `city ARGS` against this portal's stores: (success, standard output). Off the test's
/// runtime thread, which also serves the portal: a blocking wait here would stall the portal's
/// outbox relay mid-transaction while the command's migrations wait for its lock.
async fn city(app: &TestApp, args: &[&str]) -> (bool, String) {
    let settings = app.settings.clone();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        city_command(&settings, &args.iter().map(String::as_str).collect::<Vec<_>>()).output()
    })
    .await
    .unwrap()
    .expect("the city binary runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

async fn create_staff(app: &TestApp, username: &str, role: &str) {
    let (ok, _) = city(app, &["staff", "create", "--username", username, "--password", PASSWORD, "--role", role]).await;
    assert!(ok, "city staff create {username}");
}

async fn sign_in(app: &TestApp, username: &str, password: &str) -> (u16, Value) {
    send(app, "POST", "/v1/staff/sessions", None, Some(json!({"username": username, "password": password}))).await
}

async fn staff_token(app: &TestApp, username: &str) -> String {
    let (status, session) = sign_in(app, username, PASSWORD).await;
    assert_eq!(status, 200, "{session}");
    session["token"].as_str().unwrap().to_owned()
}

async fn member(app: &TestApp, admin: &str, username: &str) -> Value {
    let (_, list) = send(app, "GET", "/v1/staff/members", Some(admin), None).await;
    list.as_array().unwrap().iter().find(|m| m["username"] == username).cloned().expect("listed")
}

/// A problem without its request id, to compare two answers.
fn without_instance(mut p: Value) -> Value {
    p.as_object_mut().unwrap().remove("instance");
    p
}

#[tokio::test]
async fn parallel_password_guesses_get_five_tries_and_every_refusal_is_the_same_401() {
    let app = spawn_app().await;
    create_staff(&app, "sec.admin", "admin").await;
    create_staff(&app, "sec.clerk", "clerk").await;
    create_staff(&app, "sec.gone", "clerk").await;
    let admin = staff_token(&app, "sec.admin").await;

    // 20 guesses at once.
    let guesses = (0..20).map(|i| sign_in(&app, "sec.clerk", if i == 0 { "wrong" } else { "also wrong guess" }));
    let answers = futures::future::join_all(guesses).await;
    assert!(answers.iter().all(|(s, _)| *s == 401), "{answers:?}");
    let m = member(&app, &admin, "sec.clerk").await;
    assert_eq!(m["failed_logins"], 5, "passwords checked: {m}");
    assert!(m["locked_until"].is_string(), "admins see the lock: {m}");

    // Now the right password, an unknown user, a wrong password and a disabled account: one answer.
    let (_, locked) = sign_in(&app, "sec.clerk", PASSWORD).await;
    let (_, unknown) = sign_in(&app, "nobody.here", PASSWORD).await;
    let (_, wrong) = sign_in(&app, "sec.gone", "wrong password!").await;
    let gone = member(&app, &admin, "sec.gone").await["id"].as_str().unwrap().to_owned();
    let (status, _) = send(&app, "POST", &format!("/v1/staff/members/{gone}/disable"), Some(&admin), None).await;
    assert_eq!(status, 200);
    let (status, disabled) = sign_in(&app, "sec.gone", PASSWORD).await;
    assert_eq!(status, 401);
    let one = without_instance(unknown);
    assert_eq!(one["type"], "/problems/bad-credentials", "{one}");
    for other in [locked, wrong, disabled] {
        assert_eq!(without_instance(other), one);
    }

    // The audit log says what the answers do not.
    let deadline = Instant::now() + Duration::from_secs(10);
    let reasons = loop {
        let (_, entries) = send(&app, "GET", "/v1/staff/audit?service=identity", Some(&admin), None).await;
        let reasons: Vec<String> = entries
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "refuse_staff_sign_in")
            .map(|e| e["after"]["reason"].as_str().unwrap_or("").to_owned())
            .collect();
        if reasons.len() >= 7 || Instant::now() > deadline {
            break reasons;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(reasons.iter().filter(|r| *r == "wrong_password").count(), 6, "{reasons:?}");
    assert_eq!(reasons.iter().filter(|r| *r == "disabled").count(), 1, "{reasons:?}");

    // The lock ends with an admin's enable, from the API or the command line.
    assert!(city(&app, &["staff", "enable", "--username", "sec.clerk"]).await.0);
    assert_eq!(sign_in(&app, "sec.clerk", PASSWORD).await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn nobody_disables_themselves_or_the_last_admin() {
    let app = spawn_app().await;
    create_staff(&app, "sec.first", "admin").await;
    create_staff(&app, "sec.second", "admin").await;
    create_staff(&app, "sec.clerk2", "clerk").await;
    let first = staff_token(&app, "sec.first").await;
    let clerk = staff_token(&app, "sec.clerk2").await;
    let citizen = app.citizen_token("sec-not-staff").await;
    let me = member(&app, &first, "sec.first").await["id"].as_str().unwrap().to_owned();
    let second = member(&app, &first, "sec.second").await["id"].as_str().unwrap().to_owned();

    // The wrong callers.
    assert_eq!(send(&app, "POST", &format!("/v1/staff/members/{second}/disable"), Some(&clerk), None).await.0, 403);
    let (status, _) = send(&app, "POST", &format!("/v1/staff/members/{second}/disable"), Some(&citizen), None).await;
    assert!(status == 401 || status == 403, "{status}");
    assert_eq!(send(&app, "POST", &format!("/v1/staff/members/{second}/disable"), None, None).await.0, 401);

    let enable = format!("/v1/staff/members/{second}/enable");
    assert_eq!(send(&app, "POST", &enable, Some(&clerk), None).await.0, 403);
    assert_eq!(send(&app, "POST", &enable, None, None).await.0, 401);

    // Oneself.
    let (status, p) = send(&app, "POST", &format!("/v1/staff/members/{me}/disable"), Some(&first), None).await;
    assert_eq!((status, p["type"].as_str()), (409, Some("/problems/staff-change-refused")), "{p}");
    // Another admin, then the last one (from the command line, where there is no "self").
    assert_eq!(send(&app, "POST", &format!("/v1/staff/members/{second}/disable"), Some(&first), None).await.0, 200);
    let (disabled, _) = city(&app, &["staff", "disable", "--username", "sec.first"]).await;
    assert!(!disabled, "the last admin was disabled");
    assert!(!member(&app, &first, "sec.first").await["disabled"].as_bool().unwrap());
    // `city staff enable` brings the second back.
    assert!(city(&app, &["staff", "enable", "sec.second"]).await.0);
    assert_eq!(sign_in(&app, "sec.second", PASSWORD).await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn a_replayed_sign_in_gives_the_same_token() {
    let app = spawn_app().await;
    create_staff(&app, "sec.replay", "clerk").await;
    let login = || {
        app.http
            .post(app.url("/v1/staff/sessions"))
            .header("idempotency-key", "0f5c2a0e-sign-in")
            .json(&json!({"username": "sec.replay", "password": PASSWORD}))
            .send()
    };
    let first = login().await.unwrap();
    assert_eq!(first.headers()["idempotent-replayed"], "false");
    let first: Value = first.json().await.unwrap();
    let again = login().await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["token"], again["token"]);
    assert!(first["token"].is_string());
    app.stop().await;
}

#[tokio::test]
async fn wechat_codes_are_checked_before_wechat_and_its_unknown_errors_are_502() {
    // A WeChat that answers every call with an errcode nobody expects.
    let odd = poem::Route::new().at(
        "/*path",
        poem::endpoint::make_sync(|_| poem::web::Json(json!({"errcode": 61234, "errmsg": "something new"}))),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let odd_base = format!("http://{}", listener.local_addr().unwrap());
    let acceptor = poem::listener::TcpAcceptor::from_tokio(listener).unwrap();
    let server = tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(odd));

    let app = spawn_app().await;
    let citizen = app.citizen_token("sec-wechat").await;
    for (path, token) in [
        ("/v1/auth/miniprogram/login", None),
        ("/v1/me/phone", Some(citizen.as_str())),
        ("/v1/me/links/service-account", Some(citizen.as_str())),
    ] {
        for blank in ["   ", "\t", " abc def "] {
            let (status, p) = send(&app, "POST", path, token, Some(json!({"code": blank}))).await;
            assert!((400..500).contains(&status), "{path} {blank:?}: {status} {p}");
            assert_eq!(p["errors"][0]["field"], "code", "{path}: {p}");
        }
    }
    app.stop().await;

    let app = spawn_app_with(|s| s.wechat.api_base = Some(odd_base.clone())).await;
    let (status, p) = send(&app, "POST", "/v1/auth/miniprogram/login", None, Some(json!({"code": "0a1b2c3d"}))).await;
    assert_eq!((status, p["type"].as_str()), (502, Some("/problems/wechat-upstream-error")), "{p}");
    app.stop().await;
    server.abort();
}

#[tokio::test]
async fn sign_in_redirects_a_browser_would_read_as_another_host_are_refused() {
    let app = spawn_app().await;
    for evil in ["//evil.example/x", "/%09/evil.example/x", "/%5Cevil.example", "https:evil.example", "/%0A/evil"] {
        let resp = app.http.get(app.url(&format!("/v1/auth/oa/authorize?redirect={evil}"))).send().await.unwrap();
        let p = expect_problem(resp, 422).await;
        assert_eq!(p["errors"][0]["field"], "redirect", "{evil}: {p}");
    }
    let resp = app.http.get(app.url("/v1/auth/oa/authorize?redirect=/h5/bookings")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    app.stop().await;
}

#[tokio::test]
async fn api_keys_get_only_scopes_from_the_fixed_list() {
    let app = spawn_app().await;
    create_staff(&app, "sec.keys", "admin").await;
    let admin = staff_token(&app, "sec.keys").await;
    for scopes in [json!(["everything"]), json!(["open311", "admin"]), json!([]), json!(["open311:x"])] {
        let (status, p) =
            send(&app, "POST", "/v1/staff/api-keys", Some(&admin), Some(json!({"name": "feed", "scopes": scopes})))
                .await;
        assert_eq!((status, p["errors"][0]["field"].as_str()), (422, Some("scopes")), "{scopes}: {p}");
    }
    let (status, _) =
        send(&app, "POST", "/v1/staff/api-keys", Some(&admin), Some(json!({"name": "feed", "scopes": ["air-ingest"]})))
            .await;
    assert_eq!(status, 201);
    app.stop().await;
}

#[tokio::test]
async fn a_forged_x_forwarded_proto_gets_no_hsts_unless_the_peer_is_a_configured_proxy() {
    // Loopback is no proxy by default: a client on the same host forging https gets no HSTS.
    let app = spawn_app().await;
    let resp = app.http.get(app.url("/healthz")).header("x-forwarded-proto", "https").send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert!(resp.headers().get("strict-transport-security").is_none(), "HSTS from a forged header");
    app.stop().await;

    let app = spawn_app_with(|s| s.trusted_proxies = vec!["127.0.0.1/32".into(), "::1".into()]).await;
    let resp = app.http.get(app.url("/healthz")).header("x-forwarded-proto", "https").send().await.unwrap();
    assert_eq!(resp.headers()["strict-transport-security"], city::security::HSTS);
    // The proxy's own value is the right-most: a client's `https` before its `http` is not believed.
    let resp = app.http.get(app.url("/healthz")).header("x-forwarded-proto", "https, http").send().await.unwrap();
    assert!(resp.headers().get("strict-transport-security").is_none());
    let resp = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert!(resp.headers().get("strict-transport-security").is_none(), "plain http gets no HSTS");
    app.stop().await;
}

#[tokio::test]
async fn a_fines_file_goes_in_from_the_command_line_once_whole_and_its_fine_is_found_by_plate_and_engine() {
    let app = spawn_app().await;
    let run = |args: &[&str]| {
        let out = city_command(&app.settings, args).output().expect("the city binary runs");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let header = "decision_no,plate,plate_type,engine_no,fine_yuan,decided_on,violation,location\n";
    let bad = app.settings.data_dir.join("bad-fines.csv");
    std::fs::write(&bad, format!("{header}510104100003000001,川A7K321,02,LJ4A0098765Z,200,2026-11-20,闯红灯,人民南路\n12,ABC,02,x,0,2026-11-20,a,b\n")).unwrap();
    let (ok, out) = run(&["payments", "import", "fines", &bad.to_string_lossy()]);
    assert!(!ok, "bad rows fail the command: {out}");
    assert!(out.contains("line 3: decision_no") && out.contains("nothing was imported"), "{out}");

    let good = app.settings.data_dir.join("fines.csv");
    std::fs::write(
        &good,
        format!("{header}510104100003000001,川A7K321,02,LJ4A0098765Z,200,2026-11-20,闯红灯,人民南路\n"),
    )
    .unwrap();
    let (ok, out) = run(&["payments", "import", "fines", &good.to_string_lossy()]);
    assert!(ok && out.contains("imported 1 fines, 1 new"), "{out}");
    let (ok, out) = run(&["payments", "import", "fines", &good.to_string_lossy()]);
    assert!(ok && out.contains("nothing changed"), "{out}");

    let citizen = app.citizen_token("fines-cli").await;
    let lookup = |engine: &'static str| {
        app.http
            .get(app.url("/v1/payments/fines"))
            .query(&[("plate", "川A7K321"), ("plate_type", "02"), ("engine_last6", engine)])
            .bearer_auth(&citizen)
            .send()
    };
    let fines: Value = lookup("98765Z").await.unwrap().json().await.unwrap();
    assert_eq!(fines[0]["decision_no"], "510104100003000001", "{fines}");
    assert_eq!(fines.as_array().map(Vec::len), Some(1), "{fines}");
    // The bad file left nothing: the only fine is the good file's, and a wrong engine opens nothing.
    assert_ne!(lookup("000000").await.unwrap().status(), 200);
    app.stop().await;
}

/// The console's sign-in cookie is `Secure` only when https is known: a client on loopback writing
/// `X-Forwarded-Proto: https` is believed only when loopback is a configured proxy, as for HSTS.
#[tokio::test]
async fn the_consoles_secure_cookie_follows_forwarded_proto_only_from_a_trusted_proxy() {
    async fn login_cookie(app: &TestApp) -> String {
        let resp = app.http.get(app.url("/console/login")).header("x-forwarded-proto", "https").send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let cookies: Vec<String> =
            resp.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok().map(str::to_owned)).collect();
        assert_eq!(cookies.len(), 1, "{cookies:?}");
        cookies[0].clone()
    }
    let app = spawn_app().await;
    let cookie = login_cookie(&app).await;
    assert!(!cookie.contains("Secure"), "believed a forged header: {cookie}");
    app.stop().await;

    let app = spawn_app_with(|s| s.trusted_proxies = vec!["127.0.0.1/32".into(), "::1".into()]).await;
    let cookie = login_cookie(&app).await;
    assert!(cookie.contains("Secure"), "{cookie}");
    app.stop().await;
}

/// Issue #24: large JSON goes out gzipped to a client that asks for it, and unpacks to the same
/// document; a small answer, a client that does not ask and a page with a cookie do not.
#[tokio::test]
async fn large_json_answers_are_gzipped_only_for_clients_that_accept_it() {
    use std::io::Read as _;
    let app = spawn_app().await;
    let plain = app.http.get(app.url("/v1/services")).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain: Value = plain.json().await.unwrap();
    // A raw client: reqwest would not say it accepts gzip, nor unpack it.
    let packed =
        app.http.get(app.url("/v1/services")).header("accept-encoding", "gzip, deflate, br").send().await.unwrap();
    assert_eq!(packed.status().as_u16(), 200);
    assert_eq!(packed.headers()["content-encoding"], "gzip");
    assert!(packed.headers()["vary"].to_str().unwrap().contains("accept-encoding"));
    let bytes = packed.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..]).read_to_string(&mut text).unwrap();
    // The catalogue is short, varied text: about 40 % smaller, not the tenfold of repeated rows.
    assert!(bytes.len() * 4 < text.len() * 3, "{} bytes packed from {}", bytes.len(), text.len());
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), plain);
    // Small: a district lookup's answer stays as it is.
    let small = app
        .http
        .get(app.url("/v1/districts/locate?lat=30.6552&lon=104.0811"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(small.status().as_u16(), 200);
    assert!(small.headers().get("content-encoding").is_none());
    let _: Value = small.json().await.unwrap();
}
