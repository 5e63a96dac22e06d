//! Payments throughput: order creations per second (each one a signed prepay at the sandbox,
//! whose answer is verified) and WeChat Pay notifications per second (signature verification,
//! AEAD decryption, the exactly-once update with ledger and outbox rows), first deliveries and
//! replays, over real HTTP on one port.
//!
//! Run: `cargo bench -p city-payments --bench throughput` (embedded SQLite), or with
//! `CITY_TEST_DATABASE_URL=postgres://... CITY_TEST_REDIS_URL=redis://...` for PostgreSQL.
//! `BENCH_ORDERS` (default 400) and `BENCH_CONCURRENCY` (default 16) tune it.

use std::time::Instant;

use city_payments::PaymentsService;
use city_platform::auth::{Citizen, Principal, SharedAuthenticator};
use city_platform::edge::RateLimiter;
use city_platform::testing::{test_platform_with, StaticAuthenticator};
use city_wechat::crypto::pay::{
    new_nonce, new_resource_nonce, ApiV3Key, Notification, PayPrivateKey, WechatpayHeaders,
};
use futures::StreamExt as _;
use poem::listener::TcpAcceptor;
use poem::EndpointExt as _;
use serde_json::{json, Value};

/// A notification's headers and body.
type Signed = (Vec<(&'static str, String)>, Vec<u8>);

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let orders = env("BENCH_ORDERS", 400);
    let concurrency = env("BENCH_CONCURRENCY", 16);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let t = test_platform_with(|s| {
        s.listen = addr;
        s.rate_limit.enabled = false;
        s.log = "error".into();
        s.payments.job_interval_secs = 3600;
    })
    .await;
    let (api, db, state) = PaymentsService::start_with_state(t.platform.clone()).await.unwrap();
    t.track(&db);
    let auth = StaticAuthenticator::new();
    auth.with_token("alice", Principal::Citizen(Citizen { citizen_id: "c-alice".into(), session_id: "s".into() }));
    let authenticator: SharedAuthenticator = auth;
    let route = poem::Route::new()
        .nest("/sandbox/wechat", city_wechat_sandbox::endpoint(&t.settings).expect("the sandbox starts"))
        .nest("/", poem_openapi::OpenApiService::new(api, "bench", "0"))
        .data(authenticator)
        .boxed();
    let limiter = RateLimiter::new(t.platform.cache.clone(), t.settings.rate_limit.clone(), Vec::new());
    let endpoint = city_platform::edge::stack(route, &t.settings, limiter, false, None);
    tokio::spawn(poem::Server::new_with_acceptor(TcpAcceptor::from_std(listener).unwrap()).run(endpoint));
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();

    let binding: Value = http
        .post(format!("{base}/v1/payments/accounts"))
        .bearer_auth("alice")
        .json(&json!({ "biller_id": "cd-power", "account_no": "3100654321" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let binding_id = binding["id"].as_str().unwrap().to_owned();

    // Order creations: each a new top-up, so each is a fresh order and a fresh prepay.
    let started = Instant::now();
    let created: Vec<Value> = futures::stream::iter(0..orders)
        .map(|i| {
            let (http, base, binding_id) = (http.clone(), base.clone(), binding_id.clone());
            async move {
                let body = json!({ "kind": "topup", "binding_id": binding_id, "topup_fen": 1000 + i, "payer_openid": "oAlice" });
                let resp = http.post(format!("{base}/v1/payments/orders")).bearer_auth("alice").json(&body).send().await.unwrap();
                assert_eq!(resp.status(), 200);
                resp.json::<Value>().await.unwrap()
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let secs = started.elapsed().as_secs_f64();
    println!("order creations: {orders} in {secs:.2} s = {:.0}/s (concurrency {concurrency})", orders as f64 / secs);

    // Notifications, signed and encrypted ahead of time like WeChat Pay would.
    let key = ApiV3Key::parse(t.settings.payments.api_v3_key.expose()).unwrap();
    let platform = PayPrivateKey::from_pem(
        t.settings.payments.sandbox_platform_private_key_pem.as_ref().expect("the demo platform key").expose(),
    )
    .unwrap();
    let now = chrono::Utc::now().timestamp();
    let notifications: Vec<Signed> = created
        .iter()
        .enumerate()
        .map(|(i, order)| {
            let transaction = json!({
                "appid": t.settings.wechat.mp_appid, "mchid": t.settings.payments.mchid, "out_trade_no": order["out_trade_no"],
                "transaction_id": format!("42000000000000000000{i:08}"), "trade_type": "JSAPI", "trade_state": "SUCCESS",
                "trade_state_desc": "ok", "success_time": "2026-11-25T10:00:00+08:00", "payer": { "openid": "oAlice" },
                "amount": { "total": order["amount_fen"], "payer_total": order["amount_fen"], "currency": "CNY" },
            });
            let resource =
                key.encrypt_resource(Some("transaction"), "transaction", &new_resource_nonce(), &transaction.to_string()).unwrap();
            let body = serde_json::to_vec(&Notification {
                id: format!("EV-{i}"),
                create_time: "2026-11-25T10:00:00+08:00".into(),
                resource_type: "encrypt-resource".into(),
                event_type: "TRANSACTION.SUCCESS".into(),
                summary: "ok".into(),
                resource,
            })
            .unwrap();
            let serial = &t.settings.payments.platform_public_key_id;
            (WechatpayHeaders::sign(&platform, serial, now, &new_nonce(), &body).unwrap().to_pairs(), body)
        })
        .collect();
    breakdown(&t, &state, &notifications, concurrency).await;
    for round in ["first deliveries", "replays"] {
        let started = Instant::now();
        let statuses: Vec<u16> = futures::stream::iter(notifications.iter())
            .map(|(headers, body)| {
                let (http, base) = (http.clone(), base.clone());
                async move {
                    let mut req = http
                        .post(format!("{base}/v1/payments/wechatpay/notify"))
                        .header("Content-Type", "application/json")
                        .body(body.clone());
                    for (name, value) in headers {
                        req = req.header(*name, value);
                    }
                    req.send().await.unwrap().status().as_u16()
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        let secs = started.elapsed().as_secs_f64();
        assert!(statuses.iter().all(|s| *s == 204), "{statuses:?}");
        println!("notifications ({round}): {orders} in {secs:.2} s = {:.0}/s", orders as f64 / secs);
        // Postings run after the answer; say when the billers had them all.
        let pending = "SELECT CAST(COUNT(*) AS BIGINT) FROM orders WHERE posting_state = 'pending'";
        while sqlx::query_as::<_, (i64,)>(pending).fetch_one(&state.db.pool).await.unwrap().0 > 0 {
            assert!(started.elapsed().as_secs() < 60, "postings never finished");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        println!("  every posting done {:.2} s after the round began", started.elapsed().as_secs_f64());
    }
    t.cleanup().await;
}

/// Where a first delivery's time goes, each part measured alone: the RSA verification and the
/// AEAD decryption (CPU, one core), then applying paid transactions straight to the store
/// (orders inserted here, no HTTP), one at a time and `concurrency` at once, with the posting
/// job running as it does in service.
async fn breakdown(
    t: &city_platform::testing::TestPlatform,
    state: &std::sync::Arc<city_payments::PaymentsState>,
    notifications: &[Signed],
    concurrency: usize,
) {
    let n = notifications.len().max(1);
    let now = chrono::Utc::now();
    let headers: Vec<WechatpayHeaders> = notifications
        .iter()
        .map(|(pairs, _)| {
            let get = |k: &str| pairs.iter().find(|p| p.0 == k).map(|p| p.1.clone()).unwrap_or_default();
            WechatpayHeaders {
                timestamp: get("Wechatpay-Timestamp"),
                nonce: get("Wechatpay-Nonce"),
                signature: get("Wechatpay-Signature"),
                serial: get("Wechatpay-Serial"),
                signature_type: Some(get("Wechatpay-Signature-Type")),
            }
        })
        .collect();
    let started = Instant::now();
    for (h, (_, body)) in headers.iter().zip(notifications) {
        state.pay.verifier().verify(h, body, now).unwrap();
    }
    let verify_us = started.elapsed().as_secs_f64() * 1e6 / n as f64;
    let started = Instant::now();
    for (_, body) in notifications {
        let parsed = Notification::parse(body).unwrap();
        state.api_v3_key.decrypt_resource(&parsed.resource).unwrap();
    }
    let decrypt_us = started.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("breakdown: RSA verify {verify_us:.0} µs, parse + AEAD decrypt {decrypt_us:.0} µs per notification");

    // Orders straight into the store, as create_order leaves them after the prepay.
    let make = |tag: &str, count: usize| -> Vec<city_wechat::pay_client::Transaction> {
        (0..count)
            .map(|i| {
                serde_json::from_value(json!({
                    "appid": t.settings.wechat.mp_appid, "mchid": t.settings.payments.mchid,
                    "out_trade_no": format!("T{tag}{i:08}"), "transaction_id": format!("43{tag}{i:020}"),
                    "trade_type": "JSAPI", "trade_state": "SUCCESS", "success_time": "2026-11-25T10:00:00+08:00",
                    "amount": { "total": 1000, "currency": "CNY" },
                }))
                .unwrap()
            })
            .collect()
    };
    let sequential = make("SEQ", 200);
    let parallel = make("PAR", n);
    for tx in sequential.iter().chain(&parallel) {
        let id = city_platform::ids::new_id();
        sqlx::query(
            "INSERT INTO orders (id, out_trade_no, active_key, citizen_id, item_kind, item_id, biller_id, account_no, description,
                amount_fen, breakdown, payer_openid, state, time_expire, expires_at_ms, created_at_ms, updated_at_ms)
             VALUES ($1, $2, $3, 'c-alice', 'topup', $1, 'cd-power', '3100654321', 'bench', 1000, '{}', 'oAlice', 'pending',
                '2099-01-01T00:00:00+08:00', 4070908800000, 0, 0)",
        )
        .bind(&id)
        .bind(&tx.out_trade_no)
        .bind(format!("topup:{id}"))
        .execute(&state.db.pool)
        .await
        .unwrap();
    }
    let started = Instant::now();
    for tx in &sequential {
        assert!(city_payments::usecases::settlement::apply_transaction(state, tx).await.unwrap());
    }
    let one_ms = started.elapsed().as_secs_f64() * 1e3 / sequential.len() as f64;
    let started = Instant::now();
    futures::stream::iter(&parallel)
        .map(|tx| async move { assert!(city_payments::usecases::settlement::apply_transaction(state, tx).await.unwrap()) })
        .buffer_unordered(concurrency)
        .collect::<Vec<()>>()
        .await;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "breakdown: store apply {one_ms:.2} ms each one at a time; {:.0}/s with {concurrency} at once (posting job running)",
        parallel.len() as f64 / secs
    );
    let started = Instant::now();
    let posted = city_payments::usecases::jobs::run_postings(state).await.unwrap();
    println!(
        "breakdown: posting round after the burst: {posted} postings in {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
}
