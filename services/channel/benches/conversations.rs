//! Routing of conversations to agents (issue #20): N followers press "talk to a person" at
//! once (up to `CITY_BENCH_CONCURRENCY` at a time) against a pool of online agents with room
//! for all of them; each press opens a conversation and assigns it. Reports conversations
//! routed per second and the 50th/99th-percentile time from the press to its assignment. On
//! the test backend (SQLite unless `CITY_TEST_DATABASE_URL` / `CITY_TEST_REDIS_URL` are set).
//! Run: `cargo bench -p city-channel --bench conversations`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use city_channel::services::{Appointment, Bill, CityServices, ServiceError};
use city_channel::store::{conversation_agents, conversations};
use city_channel::{ChannelDeps, ChannelService};
use city_platform::testing::test_platform_with;
use city_platform::time::now_ms;

/// Followers nobody signed in as: classifying needs no other service, so the figure is the
/// channel's own work (keep the message, open, assign, tell the agents' streams).
struct Strangers;

#[async_trait]
impl CityServices for Strangers {
    async fn air_near(&self, _: f64, _: f64) -> Result<Option<city_channel::services::AirNow>, ServiceError> {
        Ok(None)
    }
    async fn citizen_for_openid(&self, _: &str) -> Result<Option<String>, ServiceError> {
        Ok(None)
    }
    async fn next_appointment(&self, _: &str) -> Result<Option<Appointment>, ServiceError> {
        Ok(None)
    }
    async fn unpaid(&self, _: &str) -> Result<Vec<Bill>, ServiceError> {
        Ok(Vec::new())
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let total = env_or("CITY_BENCH_CONVERSATIONS", 2_000);
    let pool = env_or("CITY_BENCH_AGENTS", 50);
    let concurrency = env_or("CITY_BENCH_CONCURRENCY", 32);
    let t = test_platform_with(|s| {
        let c = &mut s.channel.conversations;
        c.opens = "00:00".into();
        c.closes = "23:59".into();
        c.days = vec![1, 2, 3, 4, 5, 6, 7];
    })
    .await;
    let deps = ChannelDeps { services: Arc::new(Strangers), ..ChannelDeps::from_settings(&t.platform) };
    let (api, _route, db) = ChannelService::start_with(t.platform.clone(), deps).await.unwrap();
    t.track(&db);
    // Room for every conversation, so each one is routed, none left queued.
    let max = total.div_ceil(pool) as i64;
    let groups = vec!["general".to_owned()];
    let languages = vec!["zh".to_owned(), "en".to_owned()];
    for a in 0..pool {
        let id = format!("bench-agent-{a:04}");
        conversation_agents::configure_agent(&db, &id, &groups, &languages, max, &[], now_ms()).await.unwrap();
        conversation_agents::set_status(&db, &id, "online", now_ms()).await.unwrap();
    }

    let conv = api.state().conversations.clone();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (conv, next) = (conv.clone(), next.clone());
        let account = t.settings.wechat.oa_appid.clone();
        tasks.push(tokio::spawn(async move {
            let mut took = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break took;
                }
                let openid = format!("oRoute{i:022}");
                let pressed = Instant::now();
                let reply = conv.on_talk_key(&account, &openid, &format!("bench:{i}"), "TALK_TO_AGENT").await.unwrap();
                took.push(pressed.elapsed());
                assert!(reply.is_some(), "a handover reply for {openid}");
            }
        }));
    }
    let mut took: Vec<Duration> = Vec::with_capacity(total);
    for task in tasks {
        took.extend(task.await.unwrap());
    }
    let secs = started.elapsed().as_secs_f64();

    // The figure counts only if every conversation really is assigned, each once.
    let carried: i64 = conversation_agents::agents(&db).await.unwrap().iter().map(|a| a.active).sum();
    assert_eq!(carried, total as i64, "every conversation assigned once");
    let assigned = conversations::Filter { state: Some("assigned".into()), ..Default::default() };
    let (_, n) = conversations::list(&db, &assigned, 1, 0).await.unwrap();
    assert_eq!(n, total as i64, "one conversation per follower, all assigned");

    took.sort_unstable();
    let pct = |p: f64| took[((took.len() as f64 * p).ceil() as usize).clamp(1, took.len()) - 1];
    println!(
        "conversation routing: {total} conversations onto {pool} agents (max {max} each) in {secs:.2} s = \
         {:.0} routed/s; press to assignment p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {}, concurrency {concurrency}",
        total as f64 / secs,
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        took.last().unwrap().as_secs_f64() * 1e3,
        match (&t.settings.database_url, &t.settings.redis_url) {
            (Some(_), Some(_)) => "PostgreSQL + Redis",
            (Some(_), None) => "PostgreSQL, in-process cache",
            _ => "SQLite, in-process cache",
        }
    );
    t.cleanup().await;
}
