//! The two profiles end to end (issue 14): a production portal has no sandbox and starts only
//! fully configured, naming every missing or demo value; the demo keeps its sandbox, generates
//! its credentials once per data directory, and shares them with every process of a split demo.
//! Each attack of the issue is replayed against both.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use city::Mode;
use city_platform::config::{Profile, Secret, Settings};
use city_platform::secrets::DemoSecrets;
use city_platform::time::now_ms;
use serde_json::json;

use crate::harness::{city_command, spawn_app, spawn_mode, test_settings, TestApp};

/// Every credential a production start requires, by variable.
const CREDENTIAL_VARIABLES: [(&str, &str); 10] = [
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
];

/// Every path the demo's sandbox answers (and its `_test` helpers), with a method.
const SANDBOX_PATHS: &[(&str, &str)] = &[
    ("POST", "/sandbox/wechat/pay/_test/transactions/P20260001/pay"),
    ("POST", "/sandbox/wechat/pay/_test/transactions/P20260001/renotify"),
    ("GET", "/sandbox/wechat/pay/_test/deliveries"),
    ("POST", "/sandbox/wechat/pay/v3/pay/transactions/jsapi"),
    ("GET", "/sandbox/wechat/pay/v3/bill/tradebill?bill_date=2026-12-01"),
    ("GET", "/sandbox/wechat/_test/messages"),
    ("POST", "/sandbox/wechat/_test/messages/clear"),
    ("POST", "/sandbox/wechat/_test/mp/codes"),
    ("POST", "/sandbox/wechat/_test/oa/oauth-codes"),
    ("POST", "/sandbox/wechat/_test/mp/phone-codes"),
    ("POST", "/sandbox/wechat/_test/mp/subscriptions"),
    ("POST", "/sandbox/wechat/_test/oa/interactions"),
    ("POST", "/sandbox/wechat/_test/clock/advance"),
    ("POST", "/sandbox/wechat/_test/access-tokens/revoke"),
    ("GET", "/sandbox/wechat/sns/jscode2session?appid=x&secret=y&js_code=z&grant_type=authorization_code"),
    ("POST", "/sandbox/wechat/cgi-bin/stable_token"),
    ("GET", "/sandbox/wechat/connect/oauth2/authorize?appid=x&redirect_uri=https://evil.test/&response_type=code&scope=snsapi_base"),
    ("POST", "/sandbox/wechat/cgi-bin/message/custom/send"),
    ("POST", "/sandbox/wechat/wxa/msg_sec_check"),
    ("GET", "/sandbox/wechat"),
    ("GET", "/sandbox"),
];

/// A production configuration with nothing missing: fresh keys of its own, public https bases.
fn full_production(s: &mut Settings) -> DemoSecrets {
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

/// The identifiers and bases of a production start, as variables (`1234567890` unquoted, as
/// an operator writes it).
fn production_variables(cmd: &mut Command) {
    cmd.env("CITY_PROFILE", "production")
        .env("CITY_WECHAT__MP_APPID", "wx8f3a1c5e7d9b2046")
        .env("CITY_WECHAT__OA_APPID", "wx2b7e4d9a1c3f5068")
        .env("CITY_PAYMENTS__MCHID", "1234567890")
        .env("CITY_PAYMENTS__MERCHANT_SERIAL_NO", "3775B6A45ACD588826D15E583A95F5DD12345678")
        .env("CITY_PAYMENTS__PLATFORM_PUBLIC_KEY_ID", "PUB_KEY_ID_0112345678902025010100000000000001")
        .env("CITY_WECHAT__API_BASE", "https://api.weixin.qq.com")
        .env("CITY_WECHAT__PAY_API_BASE", "https://api.mch.weixin.qq.com")
        .env("CITY_IDENTITY__OAUTH_AUTHORIZE_BASE", "https://open.weixin.qq.com")
        .env("CITY_IDENTITY__PUBLIC_BASE_URL", "https://city.chengdu.gov.cn")
        .env("CITY_IDENTITY__ALLOW_SANDBOX_REAL_NAME", "true");
}

/// Every credential of `set`, each in a file named by a `…_FILE` variable (as a container
/// mounts secrets).
fn credential_files(cmd: &mut Command, set: &DemoSecrets, dir: &Path) {
    for (path, var) in CREDENTIAL_VARIABLES {
        let file = dir.join(path);
        std::fs::write(&file, format!("{}\n", set.value_of(path).unwrap())).unwrap();
        cmd.env(format!("{var}_FILE"), &file);
    }
}

/// Runs `city serve` to its refusal; its exit code and standard error.
fn refused_start(mut cmd: Command) -> (Option<i32>, String) {
    let out = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).output().expect("the city binary runs");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_ready(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{base} did not become ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn status_of(http: &reqwest::Client, base: &str, method: &str, path: &str) -> u16 {
    let req = match method {
        "POST" => http.post(format!("{base}{path}")).json(&json!({"openid": "oVictim", "seconds": 60})),
        _ => http.get(format!("{base}{path}")),
    };
    req.send().await.expect("the portal answers").status().as_u16()
}

#[tokio::test]
async fn production_with_nothing_configured_refuses_to_start_naming_every_missing_value() {
    let (settings, _dir) = test_settings();
    let mut cmd = city_command(&settings, &["serve", "--listen", "127.0.0.1:0"]);
    cmd.env("CITY_PROFILE", "production");
    let (code, stderr) = refused_start(cmd);
    assert_eq!(code, Some(2), "{stderr}");
    for (path, var) in CREDENTIAL_VARIABLES {
        assert!(stderr.contains(&format!("{path} ({var} or {var}_FILE): missing")), "{path} in {stderr}");
    }
    for name in [
        "wechat.api_base",
        "wechat.pay_api_base",
        "identity.oauth_authorize_base",
        "identity.public_base_url",
        "payments.mchid (CITY_PAYMENTS__MCHID): is the sandbox's demo value",
        "wechat.mp_appid",
        "wechat.oa_appid",
    ] {
        assert!(stderr.contains(name), "{name} in {stderr}");
    }
    assert!(!stderr.contains("backtrace"), "a refusal, not a crash: {stderr}");
    // Nothing was started or written: no demo set in a production data directory.
    assert!(!DemoSecrets::path_in(&settings.data_dir).exists());
}

#[tokio::test]
async fn production_refuses_each_demo_credential_by_name_and_a_sandbox_or_private_base() {
    let (settings, dir) = test_settings();
    // A demo ran in this data directory once; an operator copies its values into production.
    let init = city_command(&settings, &["demo-secrets", "init"]).output().unwrap();
    assert!(init.status.success());
    let demo = DemoSecrets::read(&DemoSecrets::path_in(&settings.data_dir)).unwrap().unwrap();
    let mut cmd = city_command(&settings, &["serve", "--listen", "127.0.0.1:0"]);
    production_variables(&mut cmd);
    credential_files(&mut cmd, &demo, dir.path());
    // The attack of the issue: WeChat Pay pointed at the sandbox's address.
    cmd.env("CITY_WECHAT__PAY_API_BASE", format!("http://{}/sandbox/wechat/pay", settings.listen));
    let (code, stderr) = refused_start(cmd);
    assert_eq!(code, Some(2), "{stderr}");
    for (path, var) in CREDENTIAL_VARIABLES {
        assert!(stderr.contains(&format!("{path} ({var}): is a demo value")), "{path} in {stderr}");
    }
    assert!(stderr.contains("wechat.pay_api_base (CITY_WECHAT__PAY_API_BASE)"), "{stderr}");
    assert!(!stderr.contains("missing"), "everything was given: {stderr}");
    for (var, base, why) in [
        ("CITY_WECHAT__API_BASE", "https://10.0.0.7/wechat", "private"),
        ("CITY_WECHAT__API_BASE", "https://[::1]/wechat", "loopback"),
        ("CITY_WECHAT__API_BASE", "https://169.254.169.254", "link-local"),
        ("CITY_IDENTITY__PUBLIC_BASE_URL", "https://city.example.cn", "documentation"),
    ] {
        let own = DemoSecrets::generate_unshared();
        let mut cmd = city_command(&settings, &["serve", "--listen", "127.0.0.1:0"]);
        production_variables(&mut cmd);
        let files = tempfile::tempdir().unwrap();
        credential_files(&mut cmd, &own, files.path());
        cmd.env(var, base);
        let (code, stderr) = refused_start(cmd);
        assert_eq!(code, Some(2), "{base}: {stderr}");
        assert!(stderr.contains(var) && stderr.contains(why), "{base} refused as {why}: {stderr}");
    }
}

#[tokio::test]
async fn a_fully_configured_production_process_starts_from_variables_and_files_with_no_sandbox() {
    let (settings, dir) = test_settings();
    let own = DemoSecrets::generate_unshared();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut cmd = city_command(&settings, &["serve", "--listen", &format!("127.0.0.1:{port}")]);
    production_variables(&mut cmd);
    credential_files(&mut cmd, &own, dir.path());
    cmd.env("CITY_LOG", "warn").stdout(Stdio::null());
    let _portal = Process(cmd.spawn().expect("the city binary starts"));
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    wait_ready(&http, &base).await;
    for (method, path) in SANDBOX_PATHS {
        assert_eq!(status_of(&http, &base, method, path).await, 404, "{method} {path}");
    }
    assert_eq!(status_of(&http, &base, "GET", "/healthz").await, 200);
    assert!(!DemoSecrets::path_in(&settings.data_dir).exists(), "production writes no demo set");
    // `city config` says where each secret came from, never the value.
    let mut config = city_command(&settings, &["config"]);
    production_variables(&mut config);
    credential_files(&mut config, &own, dir.path());
    let shown = String::from_utf8(config.output().unwrap().stdout).unwrap();
    assert!(shown.contains("profile = \"production\"") && shown.contains("mchid = \"1234567890\""), "{shown}");
    assert!(shown.contains("\"payments.api_v3_key\" = \"file "), "{shown}");
    assert!(shown.contains("# production start: ready"), "{shown}");
    for (path, _) in CREDENTIAL_VARIABLES {
        // A key's second line (a PEM's first line is its header), or the whole one-line value.
        let value = own.value_of(path).unwrap();
        assert!(!shown.contains(value.lines().nth(1).unwrap_or(value)), "{path} shown");
    }
    assert!(!shown.contains(&own.oa_token) && !shown.contains(&own.api_v3_key), "{shown}");
}

/// A plaintext push signed with `token`, as WeChat sends one in plaintext mode.
async fn plaintext_push(app: &TestApp, token: &str, openid: &str) -> reqwest::Response {
    use sha1::{Digest, Sha1};
    let ts = (now_ms() / 1000).to_string();
    let nonce = "20261202";
    let mut parts = [token, ts.as_str(), nonce];
    parts.sort_unstable();
    let signature = hex::encode(Sha1::digest(parts.concat().as_bytes()));
    let xml = format!(
        "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>{ts}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[CLICK]]></Event>\
         <EventKey><![CDATA[MY_NEXT_APPOINTMENT]]></EventKey></xml>"
    );
    app.http
        .post(app.url("/wechat/callback"))
        .query(&[("signature", signature.as_str()), ("timestamp", ts.as_str()), ("nonce", nonce), ("openid", openid)])
        .header("content-type", "text/xml")
        .body(xml)
        .send()
        .await
        .expect("the portal answers")
}

#[tokio::test]
async fn a_production_portal_has_no_sandbox_sends_security_headers_and_refuses_plaintext_pushes() {
    let mut own = None;
    let app = spawn_mode(Mode::AllInOne, |s| {
        own = Some(full_production(s));
        // The test client stands for the https proxy in front: HSTS follows its word only.
        s.trusted_proxies = vec!["127.0.0.1/32".into()];
    })
    .await;
    let own = own.unwrap();
    for (method, path) in SANDBOX_PATHS {
        assert_eq!(status_of(&app.http, &app.base, method, path).await, 404, "{method} {path}");
    }
    // Every answer carries the headers, errors included; HSTS only behind a trusted https proxy.
    let resp = app.http.get(app.url("/sandbox/wechat/_test/messages")).send().await.unwrap();
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert_eq!(resp.headers()["referrer-policy"], "no-referrer");
    assert!(resp.headers().get("strict-transport-security").is_none(), "plain http gets no HSTS");
    let resp = app.http.get(app.url("/healthz")).header("x-forwarded-proto", "https").send().await.unwrap();
    assert_eq!(resp.headers()["strict-transport-security"], city::security::HSTS);
    let docs = app.http.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    let csp = docs.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let html = docs.text().await.unwrap();
    assert_eq!(csp, city::security::page_policy(&html), "the policy names exactly the page's own scripts");
    assert!(csp.contains("'sha256-") && csp.contains("frame-ancestors 'none'"), "{csp}");
    // Safe mode is production's default: a plaintext push, even correctly signed, is refused.
    let resp = plaintext_push(&app, &own.oa_token, "oVictimOpenid0000000000001").await;
    assert_eq!(resp.status(), 403);
    assert!(resp.text().await.unwrap().contains("safe mode"));
    app.stop().await;
}

#[tokio::test]
async fn the_demo_keeps_its_sandbox_behind_the_registered_domain_and_accepts_its_own_signed_pushes() {
    let app = spawn_app().await;
    // The demo is the demo: its helpers answer (they are how the suites and newcomers play).
    let code = app.http.post(app.url("/sandbox/wechat/_test/mp/codes")).json(&json!({})).send().await.unwrap();
    assert_eq!(code.status(), 200);
    assert_eq!(code.headers()["x-content-type-options"], "nosniff");
    // The consent page sends codes only to the portal's own domain.
    let oa = &app.settings.wechat.oa_appid;
    let authorize = |redirect: String| {
        app.url(&format!(
            "/sandbox/wechat/connect/oauth2/authorize?appid={oa}&redirect_uri={redirect}&response_type=code&scope=snsapi_base&state=s"
        ))
    };
    for evil in ["https://evil.test/steal", "http://127.0.0.1.evil.test/", "//evil.test/", "javascript:alert(1)"] {
        let resp = app.http.get(authorize(evil.replace(':', "%3A").replace('/', "%2F"))).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{evil}");
        assert!(resp.text().await.unwrap().contains("10003"));
    }
    let own = format!("{}/v1/auth/oa/callback", app.base).replace(':', "%3A").replace('/', "%2F");
    let resp = app.http.get(authorize(own)).send().await.unwrap();
    assert_eq!(resp.status(), 302);
    assert!(resp.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with(&format!("{}/v1/auth/oa/callback?code=", app.base)));
    // The simulator's clock refuses to overflow or to run backwards.
    for seconds in [i64::MAX, i64::MAX / 1000, -5] {
        let resp = app
            .http
            .post(app.url("/sandbox/wechat/_test/clock/advance"))
            .json(&json!({ "seconds": seconds }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{seconds}");
    }
    // Compatible mode: the demo's own token (generated into its data directory) signs pushes;
    // the token of earlier versions' source does not.
    let token = DemoSecrets::read(&DemoSecrets::path_in(&app.settings.data_dir)).unwrap().unwrap().oa_token;
    assert_eq!(app.settings.wechat.oa_token.expose(), token);
    assert_eq!(plaintext_push(&app, &token, "oDemoFollower000000000000001").await.status(), 200);
    assert_eq!(plaintext_push(&app, "citysandboxtoken", "oVictimOpenid0000000000001").await.status(), 403);
    app.stop().await;
}

#[tokio::test]
async fn a_split_demo_reads_one_set_of_demo_credentials_from_its_data_directory() {
    let (settings, _dir) = test_settings();
    let first = city_command(&settings, &["demo-secrets", "init"]).output().unwrap();
    assert!(first.status.success());
    let printed = String::from_utf8(first.stdout).unwrap();
    let path = DemoSecrets::path_in(&settings.data_dir);
    let set = DemoSecrets::read(&path).unwrap().unwrap();
    assert!(printed.contains(&set.oa_token), "printed once, at creation: {printed}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let again = city_command(&settings, &["demo-secrets", "init"]).output().unwrap();
    let again = String::from_utf8(again.stdout).unwrap();
    assert!(again.contains("unchanged") && !again.contains(&set.oa_token), "{again}");
    assert!(DemoSecrets::read(&path).unwrap().unwrap() == set);
    // Another process of the demo (`city config` here, the portal below) reads that same set.
    let shown = String::from_utf8(city_command(&settings, &["config"]).output().unwrap().stdout).unwrap();
    assert!(shown.contains(&format!("\"wechat.oa_token\" = \"generated (demo) in {}\"", path.display())), "{shown}");
    assert!(!shown.contains(&set.oa_token));
    let data_dir = settings.data_dir.clone();
    let app = crate::harness::spawn_app_with(|s| s.data_dir = data_dir).await;
    assert_eq!(app.settings.wechat.oa_token.expose(), set.oa_token);
    assert_eq!(app.settings.payments.api_v3_key.expose(), set.api_v3_key);
    assert_eq!(plaintext_push(&app, &set.oa_token, "oSplitDemoFollower0000000001").await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn the_sandbox_has_its_own_document_in_the_demo_and_neither_exists_in_production() {
    let demo = spawn_app().await;
    let resp = demo.http.get(demo.url("/sandbox/wechat/openapi.json")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let doc: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(doc["servers"][0]["url"], "/sandbox/wechat");
    // Apart from the portal's: none of its paths is in /openapi.json.
    let (_, portal) = demo.get_json("/openapi.json").await;
    assert!(portal["paths"].as_object().unwrap().keys().all(|p| !p.starts_with("/sandbox")));
    // Every route the document lists is served: whatever the sandbox answers, it is not the
    // router's 404 or 405 (those are the portal's problems; the sandbox answers WeChat's way).
    for (method, path) in city_wechat_sandbox::document::documented_routes() {
        assert!(doc["paths"][&path][method.to_ascii_lowercase()].is_object(), "{method} {path}");
        let path = format!("/sandbox/wechat{}", path.replace("{no}", "P20260001"));
        let req = match method.as_str() {
            "POST" => demo.http.post(demo.url(&path)).json(&json!({})),
            _ => demo.http.get(demo.url(&path)),
        };
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        let routed = !matches!(body["type"].as_str(), Some("/problems/not-found" | "/problems/method-not-allowed"));
        assert!(routed, "{method} {path} is documented but not served: {status} {body}");
    }
    demo.stop().await;

    let app = spawn_mode(Mode::AllInOne, |s| {
        full_production(s);
    })
    .await;
    assert_eq!(status_of(&app.http, &app.base, "GET", "/sandbox/wechat/openapi.json").await, 404);
    let (_, portal) = app.get_json("/openapi.json").await;
    assert!(portal["paths"].as_object().unwrap().keys().all(|p| !p.starts_with("/sandbox")));
    app.stop().await;
}
