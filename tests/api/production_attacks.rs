//! The edge and sign-in attacks of issue #15 replayed against a production portal (no sandbox,
//! its own keys, every base public), as `security.rs` replays them against the demo: the
//! profile changes what is configured, never what an attacker gets.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use city::Mode;
use city_platform::config::{Profile, Secret, Settings};
use city_platform::secrets::DemoSecrets;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{city_command, expect_problem, spawn_mode, TestApp};

const PASSWORD: &str = "correct horse battery";

/// A production configuration with nothing missing (as `production.rs` makes it), and its keys.
fn production(s: &mut Settings) -> DemoSecrets {
    let own = DemoSecrets::generate_unshared();
    s.profile = Profile::Production;
    s.wechat.mp_secret = Secret::new(&own.mp_secret);
    s.wechat.oa_secret = Secret::new(&own.oa_secret);
    s.wechat.oa_token = Secret::new(&own.oa_token);
    s.wechat.oa_aes_key = Secret::new(&own.oa_aes_key);
    s.payments.merchant_private_key_pem = Some(Secret::new(&own.merchant_private_key_pem));
    s.payments.api_v3_key = Secret::new(&own.api_v3_key);
    s.payments.platform_public_key_pem = Some(own.platform_public_key_pem.clone());
    s.identity.data_key = Secret::new(&own.data_key);
    s.identity.hash_key = Secret::new(&own.hash_key);
    s.internal_token = Some(Secret::new(&own.internal_token));
    s.wechat.mp_appid = "wx8f3a1c5e7d9b2046".into();
    s.wechat.oa_appid = "wx2b7e4d9a1c3f5068".into();
    s.payments.mchid = "1234567890".into();
    s.payments.merchant_serial_no = "3775B6A45ACD588826D15E583A95F5DD12345678".into();
    s.payments.platform_public_key_id = "PUB_KEY_ID_0112345678902025010100000000000001".into();
    s.wechat.api_base = Some("https://api.weixin.qq.com".into());
    s.wechat.pay_api_base = Some("https://api.mch.weixin.qq.com".into());
    s.identity.oauth_authorize_base = Some("https://open.weixin.qq.com".into());
    s.identity.public_base_url = Some("https://city.chengdu.gov.cn".into());
    // No real-name authority is plugged into the test binary: the sandbox's, knowingly.
    s.identity.allow_sandbox_real_name = true;
    own
}

/// A production portal after `tweak`, and the keys it runs with.
async fn spawn_production(tweak: impl FnOnce(&mut Settings)) -> (TestApp, DemoSecrets) {
    let mut own = None;
    let app = spawn_mode(Mode::AllInOne, |s| {
        own = Some(production(s));
        tweak(s);
    })
    .await;
    (app, own.unwrap())
}

/// `city ARGS` as the production operator runs it beside the portal (same profile and keys),
/// off the test's runtime thread: (success, standard output).
async fn production_city(app: &TestApp, own: &DemoSecrets, args: &[&str]) -> (bool, String) {
    let mut cmd = city_command(&app.settings, args);
    cmd.env("CITY_PROFILE", "production")
        .env("CITY_WECHAT__MP_APPID", &app.settings.wechat.mp_appid)
        .env("CITY_WECHAT__OA_APPID", &app.settings.wechat.oa_appid)
        .env("CITY_PAYMENTS__MCHID", &app.settings.payments.mchid)
        .env("CITY_PAYMENTS__MERCHANT_SERIAL_NO", &app.settings.payments.merchant_serial_no)
        .env("CITY_PAYMENTS__PLATFORM_PUBLIC_KEY_ID", &app.settings.payments.platform_public_key_id)
        .env("CITY_WECHAT__API_BASE", "https://api.weixin.qq.com")
        .env("CITY_WECHAT__PAY_API_BASE", "https://api.mch.weixin.qq.com")
        .env("CITY_IDENTITY__OAUTH_AUTHORIZE_BASE", "https://open.weixin.qq.com")
        .env("CITY_IDENTITY__PUBLIC_BASE_URL", "https://city.chengdu.gov.cn")
        .env("CITY_IDENTITY__ALLOW_SANDBOX_REAL_NAME", "true");
    for (path, var) in [
        ("wechat.mp_secret", "CITY_WECHAT__MP_SECRET"),
        ("wechat.oa_secret", "CITY_WECHAT__OA_SECRET"),
        ("wechat.oa_token", "CITY_WECHAT__OA_TOKEN"),
        ("wechat.oa_aes_key", "CITY_WECHAT__OA_AES_KEY"),
        ("payments.merchant_private_key_pem", "CITY_PAYMENTS__MERCHANT_PRIVATE_KEY_PEM"),
        ("payments.api_v3_key", "CITY_PAYMENTS__API_V3_KEY"),
        ("payments.platform_public_key_pem", "CITY_PAYMENTS__PLATFORM_PUBLIC_KEY_PEM"),
        ("identity.data_key", "CITY_IDENTITY__DATA_KEY"),
        ("identity.hash_key", "CITY_IDENTITY__HASH_KEY"),
        ("internal_token", "CITY_INTERNAL_TOKEN"),
    ] {
        cmd.env(var, own.value_of(path).unwrap());
    }
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().expect("the city binary runs");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

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
async fn production_a_20_mb_body_without_a_length_over_h2c_or_chunked_gets_413_unread() {
    let (app, _) = spawn_production(|_| {}).await;
    // Really production: the sandbox the demo's tests lean on is not there.
    let resp = app.http.post(app.url("/sandbox/wechat/_test/mp/codes")).json(&json!({})).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    const TOTAL: usize = 20 * 1024 * 1024;

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
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("application/problem+json"));
    assert!(resp.headers().contains_key("x-request-id"));
    let sent = pulled.load(Ordering::SeqCst);
    assert!(sent < 8 * 1024 * 1024, "the portal read {sent} bytes of a 20 MB body before refusing it");

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
    // The portal is still whole and answers the next caller.
    assert_eq!(app.get_json("/healthz").await.0, 200);
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
async fn production_open311_paths_that_used_to_panic_get_an_open311_error_with_its_request_id() {
    let (app, _) = spawn_production(|_| {}).await;
    // `%` before a multi-byte character: the decoder sliced inside it and the connection dropped.
    let answer =
        raw(&app, "GET /open311/v2/services/%aé.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".as_bytes())
            .await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    // Open311's own error form (GeoReport v2: a list of code and description), with the request id.
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no body: {answer}"));
    let id = head.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("x-request-id: ").map(str::to_owned));
    assert!(id.is_some_and(|id| !id.trim().is_empty()), "no request id: {answer}");
    let body: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"));
    assert_eq!(body[0]["code"], "404", "{body}");
    assert!(body[0]["description"].as_str().unwrap().contains("service_code"), "{body}");
    // The offset arithmetic of a huge page: a plain 400 naming the page, not a crash.
    let resp = app
        .http
        .get(app.url("/open311/v2/requests.json?page=9223372036854775807&page_size=1000"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(body[0]["description"].as_str().unwrap().contains("page"), "{body}");
    assert_eq!(app.get_json("/healthz").await.0, 200);
    app.stop().await;
}

async fn services_from(app: &TestApp, xff: &str) -> (u16, Value) {
    let resp = app.http.get(app.url("/v1/services")).header("x-forwarded-for", xff).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn production_a_spoofed_forwarded_for_buys_no_fresh_budget() {
    // Production's default trusts no proxy: every spoofed address is the one loopback client.
    let (app, _) = spawn_production(|s| s.rate_limit.per_ip = 3).await;
    for i in 0..3 {
        assert_eq!(services_from(&app, &format!("203.0.113.{i}")).await.0, 200);
    }
    let (status, p) = services_from(&app, "203.0.113.99").await;
    assert_eq!((status, p["type"].as_str()), (429, Some("/problems/rate-limited")), "{p}");
    app.stop().await;

    // Behind a configured proxy, only the hop it appended counts, whatever the client wrote first.
    let (app, _) = spawn_production(|s| {
        s.rate_limit.per_ip = 3;
        s.trusted_proxies = vec!["127.0.0.1/32".into(), "::1".into()];
    })
    .await;
    for i in 0..3 {
        assert_eq!(services_from(&app, &format!("6.6.6.{i}, 198.51.100.7")).await.0, 200);
    }
    assert_eq!(services_from(&app, "6.6.6.200, 198.51.100.7").await.0, 429);
    assert_eq!(services_from(&app, "198.51.100.8").await.0, 200, "another client keeps its own budget");
    app.stop().await;
}

async fn sign_in(app: &TestApp, username: &str, password: &str) -> (u16, Value) {
    let resp = app
        .http
        .post(app.url("/v1/staff/sessions"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn member(app: &TestApp, admin: &str, username: &str) -> Value {
    let list: Value =
        app.http.get(app.url("/v1/staff/members")).bearer_auth(admin).send().await.unwrap().json().await.unwrap();
    list.as_array().unwrap().iter().find(|m| m["username"] == username).cloned().expect("listed")
}

fn without_instance(mut p: Value) -> Value {
    p.as_object_mut().unwrap().remove("instance");
    p
}

#[tokio::test]
async fn production_parallel_password_guesses_get_five_tries_and_one_401_for_every_refusal() {
    let (app, own) = spawn_production(|_| {}).await;
    for (username, role) in [("prod.admin", "admin"), ("prod.clerk", "clerk")] {
        let (ok, _) = production_city(
            &app,
            &own,
            &["staff", "create", "--username", username, "--password", PASSWORD, "--role", role],
        )
        .await;
        assert!(ok, "city staff create {username} in production");
    }
    let (status, session) = sign_in(&app, "prod.admin", PASSWORD).await;
    assert_eq!(status, 200, "{session}");
    let admin = session["token"].as_str().unwrap().to_owned();

    let guesses = (0..20).map(|i| sign_in(&app, "prod.clerk", if i == 0 { "wrong" } else { "also wrong guess" }));
    let answers = futures::future::join_all(guesses).await;
    assert!(answers.iter().all(|(s, _)| *s == 401), "{answers:?}");
    let m = member(&app, &admin, "prod.clerk").await;
    assert_eq!(m["failed_logins"], 5, "passwords checked: {m}");
    assert!(m["locked_until"].is_string(), "admins see the lock: {m}");

    // Locked with the right password, unknown, wrong: the same answer, so nothing is learnt.
    let (s1, locked) = sign_in(&app, "prod.clerk", PASSWORD).await;
    let (s2, unknown) = sign_in(&app, "nobody.here", PASSWORD).await;
    let (s3, wrong) = sign_in(&app, "prod.admin", "wrong password!").await;
    assert_eq!((s1, s2, s3), (401, 401, 401));
    let one = without_instance(unknown);
    assert_eq!(one["type"], "/problems/bad-credentials", "{one}");
    assert_eq!(without_instance(locked), one);
    assert_eq!(without_instance(wrong), one);
    // The lock ends with an admin's word only.
    assert!(production_city(&app, &own, &["staff", "enable", "prod.clerk"]).await.0);
    assert_eq!(sign_in(&app, "prod.clerk", PASSWORD).await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn production_sign_in_redirects_a_browser_would_read_as_another_host_are_refused() {
    let (app, _) = spawn_production(|_| {}).await;
    for evil in ["//evil.example/x", "/%09/evil.example/x", "/%5Cevil.example", "https:evil.example", "/%0A/evil"] {
        let resp = app.http.get(app.url(&format!("/v1/auth/oa/authorize?redirect={evil}"))).send().await.unwrap();
        let p = expect_problem(resp, 422).await;
        assert_eq!(p["errors"][0]["field"], "redirect", "{evil}: {p}");
    }
    // A path of the portal's own goes on to WeChat's real consent page, not the sandbox's.
    let resp = app.http.get(app.url("/v1/auth/oa/authorize?redirect=/h5/bookings")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 302);
    let location = resp.headers()["location"].to_str().unwrap();
    assert!(location.starts_with("https://open.weixin.qq.com/"), "{location}");
    app.stop().await;
}
