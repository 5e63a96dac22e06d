//! Safe-mode callback throughput: distinct encrypted text pushes (FAQ answers, encrypted replies)
//! from 500 followers posted concurrently to `/wechat/callback` in-process, on the test backend
//! (SQLite and the in-process cache unless `CITY_TEST_DATABASE_URL` / `CITY_TEST_REDIS_URL` are
//! set). The clock stops once every reply is in and the followers' batched writes are stored.
//! Run: `cargo bench -p city-channel --bench callback`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use city_channel::{message_crypt, ChannelDeps, ChannelService};
use city_platform::testing::test_platform;
use city_platform::time::now_ms;
use city_wechat::crypto::official_account::msg_signature;
use city_wechat::xml::{EncryptedEnvelope, PushKind, PushMessage};
use poem::test::TestClient;

const PUSHES: usize = 20_000;

#[tokio::main]
async fn main() {
    // `CITY_BENCH_CONCURRENCY` (default 64) requests in flight.
    let concurrency: usize = std::env::var("CITY_BENCH_CONCURRENCY").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    let t = test_platform().await;
    let deps = ChannelDeps { reply_budget: Duration::from_secs(4), ..ChannelDeps::from_settings(&t.platform) };
    let (api, route, db) = ChannelService::start_with(t.platform.clone(), deps).await.unwrap();
    t.track(&db);
    let crypt = message_crypt(&t.settings).unwrap();
    let client = Arc::new(TestClient::new(route));
    let ts = (now_ms() / 1000).to_string();
    // Pre-encrypt, so the figure is the server's work (decrypt, verify, parse, dedupe, reply, encrypt).
    let bodies: Vec<(String, String)> = (0..PUSHES)
        .map(|i| {
            let msg = PushMessage {
                to_user_name: "gh_0123456789ab".into(),
                from_user_name: format!("oBench{:022}", i % 500),
                create_time: now_ms() / 1000,
                msg_id: Some(10_000_000 + i as u64),
                kind: PushKind::Text { content: "hotline please".into() },
            };
            let encrypt = crypt.encrypt(&msg.to_xml()).unwrap();
            let sig = msg_signature(crypt.token(), &ts, "42", &encrypt);
            (sig, EncryptedEnvelope { to_user_name: None, encrypt }.to_xml())
        })
        .collect();
    let bodies = Arc::new(bodies);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, bodies, next, ts) = (client.clone(), bodies.clone(), next.clone(), ts.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((sig, body)) = bodies.get(i) else { break };
                let resp = client
                    .post("/wechat/callback")
                    .query("timestamp", &ts)
                    .query("nonce", &"42")
                    .query("encrypt_type", &"aes")
                    .query("msg_signature", sig)
                    .body(body.clone())
                    .send()
                    .await;
                assert_eq!(resp.0.status().as_u16(), 200);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let answered = started.elapsed().as_secs_f64();
    // The clock stops when the batched follower writes are stored too, not only answered.
    api.state().followers.flush().await;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "safe-mode callback: {PUSHES} pushes in {secs:.2} s = {:.0} pushes/s, follower writes stored \
         (all answered after {answered:.2} s); {}, concurrency {concurrency}",
        PUSHES as f64 / secs,
        match (&t.settings.database_url, &t.settings.redis_url) {
            (Some(_), Some(_)) => "PostgreSQL + Redis",
            (Some(_), None) => "PostgreSQL, in-process cache",
            _ => "SQLite, in-process cache",
        }
    );
    t.cleanup().await;
}
