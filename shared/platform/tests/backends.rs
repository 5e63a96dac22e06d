//! The cache, the event bus, the outbox/inbox and the idempotency store, each against the
//! embedded implementation and, when `CITY_TEST_DATABASE_URL` / `CITY_TEST_REDIS_URL` are set,
//! against PostgreSQL and Redis.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use city_platform::bus::{Event, EventBus, Handler, MemoryBus, RedisBus};
use city_platform::cache::{Cache, MemoryCache, RedisCache};
use city_platform::config::{Secret, Settings};
use city_platform::idempotency::{Claim, IdempotencyStore, RedisIdempotencyStore, SqlIdempotencyStore, StoredResponse};
use city_platform::outbox::{enqueue, Inbox, Relay};
use city_platform::shutdown;
use city_platform::Db;
use sqlx::migrate::Migrator;

fn tag() -> String {
    format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos())
}

fn redis_url() -> Option<String> {
    std::env::var("CITY_TEST_REDIS_URL").ok().filter(|u| !u.is_empty())
}

async fn caches() -> Vec<Arc<dyn Cache>> {
    let mut all: Vec<Arc<dyn Cache>> = vec![MemoryCache::new()];
    if let Some(url) = redis_url() {
        all.push(Arc::new(RedisCache::connect(&url, &format!("test:{}:", tag())).await.unwrap()));
    }
    all
}

async fn buses() -> Vec<Arc<dyn EventBus>> {
    let mut all: Vec<Arc<dyn EventBus>> = vec![MemoryBus::new()];
    if let Some(url) = redis_url() {
        let bus = RedisBus::connect(&url, &format!("test:{}:", tag()), "c1").await.unwrap();
        all.push(Arc::new(bus.with_redeliver_after(Duration::from_millis(300))));
    }
    all
}

/// A fresh store: a temporary SQLite file, or a fresh PostgreSQL schema.
async fn fresh_db() -> (Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings { data_dir: dir.path().to_path_buf(), ..Settings::default() };
    if let Some(url) = std::env::var("CITY_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        settings.database_url = Some(Secret::new(url));
        // Random, not the clock: tests starting in the same few milliseconds must not share one.
        settings.schema_prefix = format!("t{}_", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    }
    let db = Db::open(&settings, "platformtest", &Migrator::DEFAULT).await.unwrap();
    (db, dir)
}

async fn drop_db(db: &Db) {
    if let Ok(url) = std::env::var("CITY_TEST_DATABASE_URL") {
        if !url.is_empty() {
            let schema: String = sqlx::query_scalar("SELECT current_schema()::text").fetch_one(&db.pool).await.unwrap();
            db.pool.close().await;
            city_platform::db::drop_schema(&url, &schema).await.unwrap();
        }
    }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn caches_store_expire_lock_and_count() {
    for cache in caches().await {
        let kind = cache.kind();
        cache.set("a", b"1", Duration::from_secs(60)).await.unwrap();
        assert_eq!(cache.get("a").await.unwrap().as_deref(), Some(&b"1"[..]), "{kind}");
        cache.set("short", b"x", Duration::from_millis(50)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(cache.get("short").await.unwrap(), None, "{kind}: expired");

        assert!(cache.set_if_absent("lock", b"me", Duration::from_secs(5)).await.unwrap(), "{kind}");
        assert!(!cache.set_if_absent("lock", b"you", Duration::from_secs(5)).await.unwrap(), "{kind}");
        cache.delete("lock").await.unwrap();
        assert!(cache.set_if_absent("lock", b"you", Duration::from_secs(5)).await.unwrap(), "{kind}");

        for expected in 1..=3 {
            assert_eq!(cache.increment("n", Duration::from_millis(200)).await.unwrap(), expected, "{kind}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(cache.increment("n", Duration::from_millis(200)).await.unwrap(), 1, "{kind}: window restarted");
        cache.ping().await.unwrap();
    }
}

fn event(topic: &str, n: usize) -> Event {
    Event {
        id: city_platform::ids::new_id(),
        topic: topic.into(),
        payload: serde_json::json!({ "n": n }),
        occurred_at_ms: 0,
    }
}

#[tokio::test]
async fn every_group_sees_every_event_and_a_failed_delivery_comes_again() {
    for bus in buses().await {
        let (trigger, signal) = shutdown::channel();
        let seen_a = Arc::new(AtomicUsize::new(0));
        let seen_b = Arc::new(AtomicUsize::new(0));
        let failed_once = Arc::new(AtomicUsize::new(0));
        let handler = |seen: Arc<AtomicUsize>, fail_first: Option<Arc<AtomicUsize>>| -> Handler {
            Arc::new(move |ev: Event| {
                let seen = seen.clone();
                let fail_first = fail_first.clone();
                Box::pin(async move {
                    if let Some(f) = fail_first {
                        if ev.payload["n"] == 0 && f.fetch_add(1, Ordering::SeqCst) == 0 {
                            return Err("not yet".into());
                        }
                    }
                    seen.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                })
            })
        };
        bus.clone().subscribe(
            "t.happened",
            "group-a",
            handler(seen_a.clone(), Some(failed_once.clone())),
            signal.clone(),
        );
        bus.clone().subscribe("t.happened", "group-b", handler(seen_b.clone(), None), signal.clone());
        tokio::time::sleep(Duration::from_millis(100)).await;
        for n in 0..5 {
            bus.publish(&event("t.happened", n)).await.unwrap();
        }
        eventually("group b to see all five", || seen_b.load(Ordering::SeqCst) == 5).await;
        eventually("group a to see all five after one retry", || seen_a.load(Ordering::SeqCst) == 5).await;
        assert_eq!(failed_once.load(Ordering::SeqCst), 2, "the failed event was delivered exactly twice");
        trigger.fire();
    }
}

/// Subscribes a consumer that keeps every event of `topic`; fire the trigger to stop it.
async fn collect(
    bus: &Arc<dyn EventBus>,
    topic: &str,
) -> (shutdown::ShutdownTrigger, Arc<parking_lot::Mutex<Vec<Event>>>) {
    let (trigger, signal) = shutdown::channel();
    let received = Arc::new(parking_lot::Mutex::new(Vec::<Event>::new()));
    let sink = received.clone();
    bus.clone().subscribe(
        topic,
        "consumer",
        Arc::new(move |ev| {
            let sink = sink.clone();
            Box::pin(async move {
                sink.lock().push(ev);
                Ok(())
            })
        }),
        signal,
    );
    // Let the subscription (a Redis consumer group) exist before anything is published.
    tokio::time::sleep(Duration::from_millis(100)).await;
    (trigger, received)
}

#[tokio::test]
async fn the_outbox_publishes_committed_events_once_and_drops_rolled_back_ones() {
    let (db, _dir) = fresh_db().await;
    for bus in buses().await {
        let topic = format!("outbox.test.{}", tag());
        let mut tx = db.begin_write().await.unwrap();
        let kept = enqueue(&mut tx, &topic, &serde_json::json!({"kept": true})).await.unwrap();
        tx.commit().await.unwrap();
        let mut tx = db.begin_write().await.unwrap();
        enqueue(&mut tx, &topic, &serde_json::json!({"kept": false})).await.unwrap();
        tx.rollback().await.unwrap();

        let (trigger, received) = collect(&bus, &topic).await;
        let relay = Relay::new(db.clone(), bus.clone());
        assert_eq!(relay.publish_pending().await.unwrap(), 1);
        assert_eq!(relay.publish_pending().await.unwrap(), 0, "published events are not sent again");
        eventually("the committed event", || received.lock().len() == 1).await;
        assert_eq!(received.lock()[0].id, kept);
        assert_eq!(received.lock()[0].payload["kept"], true);
        trigger.fire();
    }
    drop_db(&db).await;
}

#[tokio::test]
async fn the_relay_publishes_a_full_batch_in_order_and_marks_every_event() {
    let (db, _dir) = fresh_db().await;
    for bus in buses().await {
        let topic = format!("outbox.batch.{}", tag());
        let mut tx = db.begin_write().await.unwrap();
        let mut ids = Vec::new();
        for n in 0..150 {
            ids.push(enqueue(&mut tx, &topic, &serde_json::json!({ "n": n })).await.unwrap());
        }
        tx.commit().await.unwrap();

        let (trigger, received) = collect(&bus, &topic).await;
        let relay = Relay::new(db.clone(), bus.clone());
        // Batches of 100: the rest goes in the next round, nothing twice.
        assert_eq!(relay.publish_pending().await.unwrap(), 100);
        assert_eq!(relay.publish_pending().await.unwrap(), 50);
        assert_eq!(relay.publish_pending().await.unwrap(), 0);
        eventually("every event", || received.lock().len() == 150).await;
        let got: Vec<String> = received.lock().iter().map(|e| e.id.clone()).collect();
        assert_eq!(got, ids, "in the order they were written");
        trigger.fire();
    }
    drop_db(&db).await;
}

#[tokio::test]
async fn the_inbox_applies_a_redelivered_event_once() {
    let (db, _dir) = fresh_db().await;
    sqlx::query("CREATE TABLE counter (id TEXT PRIMARY KEY, n BIGINT NOT NULL)").execute(&db.pool).await.unwrap();
    sqlx::query("INSERT INTO counter (id, n) VALUES ('c', 0)").execute(&db.pool).await.unwrap();
    let ev = event("x", 1);
    for _ in 0..3 {
        let mut tx = db.begin_write().await.unwrap();
        if Inbox::first_time(&mut tx, "counter", &ev.id).await.unwrap() {
            sqlx::query("UPDATE counter SET n = n + 1 WHERE id = 'c'").execute(&mut *tx).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
    let n: i64 = sqlx::query_scalar("SELECT n FROM counter WHERE id = 'c'").fetch_one(&db.pool).await.unwrap();
    assert_eq!(n, 1);
    drop_db(&db).await;
}

#[tokio::test]
async fn idempotency_stores_claim_once_replay_and_release() {
    let (db, _dir) = fresh_db().await;
    let mut stores: Vec<Arc<dyn IdempotencyStore>> = vec![Arc::new(SqlIdempotencyStore::new(db.clone()))];
    if let Some(url) = redis_url() {
        stores.push(Arc::new(RedisIdempotencyStore::connect(&url, &format!("test:{}:", tag())).await.unwrap()));
    }
    for store in stores {
        let key = format!("k{}", tag());
        assert_eq!(store.claim(&key, "h1").await.unwrap(), Claim::Acquired);
        assert_eq!(store.claim(&key, "h1").await.unwrap(), Claim::InProgress { request_hash: "h1".into() });
        store.release(&key).await.unwrap();
        assert_eq!(store.claim(&key, "h1").await.unwrap(), Claim::Acquired, "released keys can be claimed again");
        let resp = StoredResponse {
            status: 201,
            content_type: Some("application/json".into()),
            location: None,
            // Replayed with the answer, so a retried change still tells the caller its version.
            etag: Some("\"v3\"".into()),
            body: b"{}".to_vec(),
        };
        store.complete(&key, "h1", &resp, Duration::from_secs(60)).await.unwrap();
        assert_eq!(store.claim(&key, "h1").await.unwrap(), Claim::Done { request_hash: "h1".into(), response: resp });
    }
    drop_db(&db).await;
}

#[tokio::test]
async fn a_replica_group_is_deleted_on_a_clean_shutdown_and_a_dead_replicas_group_is_reaped() {
    let Some(url) = redis_url() else {
        eprintln!("replica groups are Redis consumer groups; CITY_TEST_REDIS_URL is unset, not run");
        return;
    };
    let prefix = format!("test:{}:", tag());
    let stream = format!("{prefix}events:t.indexed");
    let groups = || {
        let url = url.clone();
        let stream = stream.clone();
        async move {
            let mut conn = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
            let info: Vec<std::collections::HashMap<String, redis::Value>> =
                redis::cmd("XINFO").arg("GROUPS").arg(&stream).query_async(&mut conn).await.unwrap_or_default();
            let mut names: Vec<String> =
                info.iter().filter_map(|g| redis::from_redis_value(g.get("name")?).ok()).collect();
            names.sort();
            names
        }
    };
    let seen = Arc::new(AtomicUsize::new(0));
    let counting = |seen: Arc<AtomicUsize>| -> Handler {
        Arc::new(move |_| {
            let seen = seen.clone();
            Box::pin(async move {
                seen.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        })
    };
    // A replica that dies: it reads, then stops without closing.
    let (crash, signal) = shutdown::channel();
    let dead = Arc::new(RedisBus::connect(&url, &prefix, "dead").await.unwrap());
    dead.clone().subscribe_replica("t.indexed", "svc-index", "hosta-8085", counting(seen.clone()), signal);
    tokio::time::sleep(Duration::from_millis(100)).await;
    dead.publish(&event("t.indexed", 1)).await.unwrap();
    eventually("the first replica to read", || seen.load(Ordering::SeqCst) == 1).await;
    crash.fire();
    // Another service's group and a live replica's are never touched.
    let (_keep, running) = shutdown::channel();
    dead.clone().subscribe("t.indexed", "svc", counting(Arc::new(AtomicUsize::new(0))), running);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let (stop, signal) = shutdown::channel();
    let live =
        Arc::new(RedisBus::connect(&url, &prefix, "live").await.unwrap().with_reap_after(Duration::from_millis(1000)));
    live.clone().subscribe_replica("t.indexed", "svc-index", "hostb-8085", counting(seen.clone()), signal);
    let deadline = Instant::now() + Duration::from_secs(10);
    while groups().await != ["svc", "svc-index-hostb-8085"] {
        assert!(Instant::now() < deadline, "groups left: {:?}", groups().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A clean shutdown takes the replica's own group with it.
    stop.fire();
    live.close().await;
    assert_eq!(groups().await, ["svc"]);
}
