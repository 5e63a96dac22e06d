//! Sign-in throughput: `cargo bench -p city-identity --bench auth`.
//!
//! Prints argon2id's parameters and time per hash, Mini Program logins per second (API + the
//! sandbox over HTTP + citizen lookup/creation + session insert), staff logins per second
//! (argon2-bound), and token checks per second: through the authenticator with the principal
//! cached, with the cache cold (one database lookup each), and as `GET /v1/me` through the
//! middleware. Embedded backend unless `CITY_TEST_DATABASE_URL` / `CITY_TEST_REDIS_URL` are set.

use std::time::{Duration, Instant};

use city_identity::admin::{self, Actor, NewStaff};
use city_identity::{IdentityService, ARGON2_PARAMS};
use city_platform::auth::{Role, Scopes};
use city_platform::testing::test_platform_with;
use futures::future::join_all;
use poem::listener::{Acceptor, Listener, TcpListener};
use serde_json::{json, Value};

const CONCURRENCY: usize = 16;

fn report(what: &str, n: usize, took: Duration) {
    println!("{what:<48} {n:>6} in {:>7.1} ms  = {:>9.0}/s", took.as_secs_f64() * 1e3, n as f64 / took.as_secs_f64());
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(run());
}

async fn run() {
    let (m, t, p) = ARGON2_PARAMS;
    let start = Instant::now();
    let n = 10;
    for _ in 0..n {
        std::hint::black_box(admin::hash_password_blocking("a long enough password"));
    }
    let per = start.elapsed() / n;
    println!("argon2id m={m} KiB t={t} p={p}: {:.1} ms per hash (one core)", per.as_secs_f64() * 1e3);

    let acceptor = TcpListener::bind("127.0.0.1:0").into_acceptor().await.unwrap();
    let addr = *acceptor.local_addr()[0].as_socket_addr().unwrap();
    let sandbox = format!("http://{addr}");
    let base = sandbox.clone();
    let tp = test_platform_with(move |s| {
        s.wechat.api_base = Some(base);
        s.rate_limit.enabled = false;
    })
    .await;
    tokio::spawn(
        poem::Server::new_with_acceptor(acceptor)
            .run(city_wechat_sandbox::endpoint(&tp.settings).expect("the sandbox starts")),
    );
    let (api, db, auth) = IdentityService::start(tp.platform.clone()).await.unwrap();
    let client = tp.client(api, &db, auth.clone());
    let http = reqwest::Client::new();

    // Mini Program logins: codes minted first, then exchanged CONCURRENCY at a time.
    let logins = 400;
    let mut codes = Vec::with_capacity(logins);
    for i in 0..logins {
        let v: Value = http
            .post(format!("{sandbox}/_test/mp/codes"))
            .json(&json!({"unionid": format!("bench-{i}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        codes.push(v["code"].as_str().unwrap().to_owned());
    }
    let start = Instant::now();
    let mut tokens = Vec::with_capacity(logins);
    for chunk in codes.chunks(CONCURRENCY) {
        let batch =
            chunk.iter().map(|c| client.post("/v1/auth/miniprogram/login").body_json(&json!({"code": c})).send());
        for resp in join_all(batch).await {
            resp.assert_status_is_ok();
            let v: Value = resp.json().await.value().deserialize();
            tokens.push(v["token"].as_str().unwrap().to_owned());
        }
    }
    report("Mini Program logins (new citizens)", logins, start.elapsed());

    // Token checks through the authenticator, principal cached (the common case).
    let checks = 20_000;
    let start = Instant::now();
    for i in 0..checks {
        assert!(auth.bearer(&tokens[i % tokens.len()]).await.unwrap().is_some());
    }
    report("token checks, cached principal (1 task)", checks, start.elapsed());

    // Uncached: introspection always asks the database (one indexed lookup per token).
    let introspections = 4_000;
    let start = Instant::now();
    for chunk in (0..introspections).collect::<Vec<_>>().chunks(CONCURRENCY) {
        let batch = chunk
            .iter()
            .map(|i| client.post("/v1/auth/introspect").body_json(&json!({"token": tokens[i % tokens.len()]})).send());
        for resp in join_all(batch).await {
            resp.assert_status_is_ok();
        }
    }
    report("token checks, database (POST /v1/auth/introspect)", introspections, start.elapsed());

    // Through the middleware: GET /v1/me, CONCURRENCY at a time.
    let gets = 4_000;
    let start = Instant::now();
    for chunk in (0..gets).collect::<Vec<_>>().chunks(CONCURRENCY) {
        let batch = chunk.iter().map(|i| {
            client.get("/v1/me").header("authorization", format!("Bearer {}", tokens[i % tokens.len()])).send()
        });
        for resp in join_all(batch).await {
            resp.assert_status_is_ok();
        }
    }
    report("GET /v1/me through the middleware", gets, start.elapsed());

    // Staff logins: argon2 on the blocking pool, one permit per core.
    let n = NewStaff {
        username: "benchadmin".into(),
        display_name: String::new(),
        password: "a long enough password".into(),
        roles: vec![Role::Admin],
        scopes: Scopes::default(),
    };
    admin::create_staff(&db, &Actor::cli(), n, admin::hash_password_blocking("a long enough password")).await.unwrap();
    let staff_logins = 40;
    let start = Instant::now();
    for chunk in (0..staff_logins).collect::<Vec<_>>().chunks(CONCURRENCY) {
        let batch = chunk.iter().map(|_| {
            client
                .post("/v1/staff/sessions")
                .body_json(&json!({"username": "benchadmin", "password": "a long enough password"}))
                .send()
        });
        for resp in join_all(batch).await {
            resp.assert_status_is_ok();
        }
    }
    report("staff logins (argon2id verify)", staff_logins, start.elapsed());
    tp.cleanup().await;
}
