//! Starts the whole portal on 127.0.0.1:0 with a fresh store per test.
//!
//! Embedded by default: a temporary SQLite directory and the in-process cache and bus. With
//! `CITY_TEST_DATABASE_URL` / `CITY_TEST_REDIS_URL` set: fresh PostgreSQL schemas (a random
//! prefix) and a fresh Redis key prefix, dropped again when the test ends.

use std::process::{Command, Stdio};
use std::time::Duration;

use city::{App, Mode};
use city_platform::config::{Secret, Settings};
use tokio::sync::oneshot;

/// A running portal for one test.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// A client with no cookies or redirects, like a Mini Program's `wx.request`.
    pub http: reqwest::Client,
    /// The settings it runs with.
    pub settings: Settings,
    stop: Option<oneshot::Sender<()>>,
    server: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

/// The `city` binary set up to use the stores and address of `s` (and nothing from this
/// process's environment), for the command-line steps a person would run beside the portal.
pub fn city_command(s: &Settings, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_city"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CITY_DATA_DIR", &s.data_dir)
        .env("CITY_LISTEN", s.listen.to_string())
        .env("CITY_LOG", "off")
        .env("CITY_DEMO_ACTIVITY", s.demo_activity.to_string())
        .env("CITY_AIR__DEMO_FEED", s.air.demo_feed.to_string())
        .stderr(Stdio::inherit());
    if let Some(url) = &s.database_url {
        cmd.env("CITY_DATABASE_URL", url.expose()).env("CITY_SCHEMA_PREFIX", &s.schema_prefix);
    }
    if let Some(url) = &s.redis_url {
        cmd.env("CITY_REDIS_URL", url.expose()).env("CITY_REDIS_PREFIX", &s.redis_prefix);
    }
    cmd
}

/// Settings for a fresh, isolated store on whichever backend the environment selects.
pub fn test_settings() -> (Settings, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let mut s = Settings {
        data_dir: dir.path().to_path_buf(),
        log: "warn".into(),
        seed_demo_data: true,
        ..Settings::default()
    };
    // The bare seeds; `tests/api/demo.rs` turns the lively demo (issue #25) back on.
    s.demo_activity = false;
    s.air.demo_feed = false;
    if let Some(url) = std::env::var("CITY_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        s.database_url = Some(Secret::new(url));
        s.schema_prefix = format!("t{tag}_");
    }
    if let Some(url) = std::env::var("CITY_TEST_REDIS_URL").ok().filter(|u| !u.is_empty()) {
        s.redis_url = Some(Secret::new(url));
        s.redis_prefix = format!("test:{tag}:");
    }
    (s, dir)
}

/// The portal, all-in-one, with default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// The portal, all-in-one, after `tweak` has adjusted the test settings.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_mode(Mode::AllInOne, tweak).await
}

/// The portal in `mode`.
pub async fn spawn_mode(mode: Mode, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let (mut settings, dir) = test_settings();
    tweak(&mut settings);
    city_platform::telemetry::init_logging(settings.log_format, &std::env::var("TEST_LOG").unwrap_or("off".into()));
    // Bound first, so the portal knows its own address (its WeChat sandbox lives there).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    settings.listen = listener.local_addr().expect("a bound address");
    // Prepared as the portal will be: a demo's generated credentials, which tests sign with.
    let settings = city_platform::profile::prepare(settings).expect("the settings suit their profile").settings;
    let base = format!("http://{}", settings.listen);
    // The portal runs on a runtime of its own, on its own thread: a test's synchronous step (a
    // `city` command it waits for) blocks the test's thread, and a portal served by that same
    // thread would then never answer what the command asks of it.
    let listener = listener.into_std().expect("a std listener");
    let (built, ready) = oneshot::channel::<Result<(), String>>();
    let (stop, stopped) = oneshot::channel::<()>();
    let for_server = settings.clone();
    let server = std::thread::Builder::new()
        .name("test-portal".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("the portal's runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("the listener on this runtime");
                let app: App = match city::build(for_server, mode).await {
                    Ok(app) => app,
                    Err(e) => {
                        let _ = built.send(Err(format!("{e:#}")));
                        return;
                    }
                };
                let _ = built.send(Ok(()));
                let _ = city::serve(
                    app,
                    listener,
                    async {
                        let _ = stopped.await;
                    },
                    Duration::from_secs(5),
                )
                .await;
            });
            runtime.shutdown_timeout(Duration::from_secs(5));
        })
        .expect("a thread for the portal");
    match ready.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("the portal builds with test settings: {e}"),
        Err(_) => panic!("the portal's thread ended before the portal was built"),
    }
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("a client");
    TestApp { base, http, settings, stop: Some(stop), server: Some(server), _dir: dir }
}

impl TestApp {
    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Runs `city ARGS` against this portal's stores; its standard output, trimmed. Panics
    /// when the command fails.
    pub fn city(&self, args: &[&str]) -> String {
        let out = city_command(&self.settings, args).output().expect("the city binary runs");
        assert!(out.status.success(), "city {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("UTF-8 output").trim().to_owned()
    }

    /// GET and parse the JSON body, with the status.
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = self.http.get(self.url(path)).send().await.expect("the portal answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// Signs a citizen in the way the Mini Program does: a login code from the sandbox for
    /// `unionid`, exchanged at `/v1/auth/miniprogram/login`. Returns the bearer token.
    pub async fn citizen_token(&self, unionid: &str) -> String {
        let code: serde_json::Value = self
            .http
            .post(self.url("/sandbox/wechat/_test/mp/codes"))
            .json(&serde_json::json!({ "unionid": unionid }))
            .send()
            .await
            .expect("the sandbox answers")
            .json()
            .await
            .expect("a code");
        let session: serde_json::Value = self
            .http
            .post(self.url("/v1/auth/miniprogram/login"))
            .json(&serde_json::json!({ "code": code["code"] }))
            .send()
            .await
            .expect("the portal answers")
            .json()
            .await
            .expect("a session");
        session["token"].as_str().expect("a citizen token").to_owned()
    }

    /// Stops the server, waits for it, and drops this test's schemas.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ =
                tokio::time::timeout(Duration::from_secs(10), tokio::task::spawn_blocking(move || server.join())).await;
        }
        if let Some(url) = &self.settings.database_url {
            for service in ["gateway", "air", "identity", "booking", "payments", "incidents", "notify", "wechat"] {
                let schema = format!("{}{}", self.settings.schema_prefix, service);
                let _ = city_platform::db::drop_schema(url.expose(), &schema).await;
            }
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Asserts that a response is an RFC 9457 problem with `status`, and returns its body.
pub async fn expect_problem(resp: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(ct.starts_with("application/problem+json"), "content type was {ct:?}");
    let request_id = resp.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body: serde_json::Value = resp.json().await.expect("a JSON problem body");
    assert_eq!(body["status"], status, "{body}");
    assert!(body["type"].as_str().is_some_and(|t| t.starts_with("/problems/")), "{body}");
    assert!(body["title"].is_string(), "{body}");
    assert_eq!(body["instance"].as_str(), request_id.as_deref(), "instance is the request id: {body}");
    body
}
