//! Booking throughput and free-slot reads, through the real edge middleware in-process (no TCP),
//! on whichever backend the environment selects.
//!
//! `cargo bench -p city-booking --bench booking` (embedded: SQLite + in-process cache), or with
//! `CITY_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test CITY_TEST_REDIS_URL=redis://127.0.0.1:6379`.
//!
//! The stack is the one the all-in-one portal runs: request ids, problem rendering, body limit,
//! `Idempotency-Key` records where the portal keeps them (Redis when configured, else the
//! gateway's own SQLite file, not booking's), the service's outbox relay publishing every event
//! as it would in production. Rate limits are off (one load generator is one client address),
//! and identity's real-name lookup is a static directory (no HTTP call).
//!
//! Three phases, 64 clients each:
//! 1. saturation: each client books as fast as it is answered (closed loop): bookings/s, p50, p99;
//! 2. paced: the clients together offer `BOOKING_BENCH_RATE` bookings/s (default: the goal, 1,000
//!    on PostgreSQL and 500 on SQLite) for 5 s; latency counts from when each request was due,
//!    so falling behind shows up as queueing and is not hidden;
//! 3. free-slot reads of one doctor-day for 5 s.
//!
//! Why two booking phases: in a closed loop the mean latency is clients / throughput (64 clients
//! at 1,000/s wait 64 ms on average), so a p99 goal means something only at a given offered rate.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use city_booking::people::{Person, StaticPeople};
use city_booking::{BookingOptions, BookingService, Clock};
use city_platform::auth::{Citizen, Principal, Role, Scopes, SharedAuthenticator, Staff};
use city_platform::edge::RateLimiter;
use city_platform::idempotency::{Idempotency, IdempotencyStore, RedisIdempotencyStore, SqlIdempotencyStore};
use city_platform::outbox::Relay;
use city_platform::testing::{test_platform_with, StaticAuthenticator};
use city_platform::Db;
use poem::endpoint::BoxEndpoint;
use poem::test::TestClient;
use poem::EndpointExt;
use poem_openapi::OpenApiService;
use serde_json::{json, Value};
use sqlx::migrate::Migrator;

/// 2026-12-01 10:00 Beijing.
const NOW: i64 = 1_796_090_400_000;
const CLIENTS: usize = 64;
const DOCTORS: usize = 64;
const PER_SESSION: usize = 100;
/// Day 1 is booked in the saturation phase, day 2 in the paced one.
const DAYS: [&str; 2] = ["2026-12-03", "2026-12-04"];

type Client = Arc<TestClient<BoxEndpoint<'static>>>;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(run());
}

async fn run() {
    let t = test_platform_with(|s| {
        s.rate_limit.enabled = false;
        // The pool size is the portal's default (10) unless `BOOKING_BENCH_POOL` says otherwise
        // (what `CITY_DB_MAX_CONNECTIONS` sets when deployed).
        if let Some(n) = std::env::var("BOOKING_BENCH_POOL").ok().and_then(|n| n.parse().ok()) {
            s.db_max_connections = n;
        }
    })
    .await;
    let backend = if t.settings.database_url.is_some() { "postgres+redis" } else { "sqlite" };
    let people = StaticPeople::new();
    let options = BookingOptions {
        clock: Clock::fixed(NOW),
        people: people.clone(),
        sweep_every: None,
        seed: false,
        ..BookingOptions::for_platform(&t.platform)
    };
    let (api, db, _state) = BookingService::start_with(t.platform.clone(), options).await.unwrap();
    BookingService::load_demo_catalogue(&db).await.unwrap();
    t.track(&db);
    // `BOOKING_BENCH_NO_RELAY=1` leaves events unpublished, to measure the relay's share.
    if std::env::var_os("BOOKING_BENCH_NO_RELAY").is_none() {
        let relay = Relay::new(db.clone(), t.platform.bus.clone());
        tokio::spawn(relay.run(Duration::from_millis(200), t.platform.shutdown.clone()));
    }

    let auth = StaticAuthenticator::new();
    auth.with_token(
        "staff",
        Principal::Staff(Staff {
            staff_id: "s".into(),
            username: "bench".into(),
            roles: vec![Role::Admin],
            scopes: Scopes::default(),
            session_id: "s".into(),
        }),
    );
    let n_patients = DOCTORS * PER_SESSION * DAYS.len();
    for n in 0..n_patients {
        auth.with_token(
            &format!("c{n}"),
            Principal::Citizen(Citizen { citizen_id: format!("citizen-{n}"), session_id: "s".into() }),
        );
        people.add(
            &format!("citizen-{n}"),
            Person {
                id: format!("p{n}"),
                name_masked: "王*".into(),
                relation: "self".into(),
                sex: "male".into(),
                birth_date: "1980-01-01".into(),
                id_number_masked: "5101**********0000".into(),
                id_number_hash: format!("hash-{n}"),
                phone_masked: Some("138****0000".into()),
            },
        );
    }
    let idempotency: Arc<dyn IdempotencyStore> = match &t.settings.redis_url {
        Some(url) => Arc::new(RedisIdempotencyStore::connect(url.expose(), &t.settings.redis_prefix).await.unwrap()),
        None => {
            static NONE: Migrator = Migrator::DEFAULT;
            let gateway = Db::open(&t.settings, "gateway", &NONE).await.unwrap();
            t.track(&gateway);
            Arc::new(SqlIdempotencyStore::new(gateway))
        }
    };
    let route = poem::Route::new()
        .nest("/", OpenApiService::new(api, "bench", "0"))
        .data::<SharedAuthenticator>(auth.clone())
        .data(t.platform.internal_token.clone())
        .boxed();
    let idem = Idempotency {
        store: idempotency,
        server_secret: city_platform::idempotency::ServerSecret::from_settings(&t.settings),
        ttl: Duration::from_secs(3600),
        trusted_proxies: Arc::from(Vec::new()),
    };
    let limiter = RateLimiter::new(t.platform.cache.clone(), t.settings.rate_limit.clone(), Vec::new());
    let client: Client =
        Arc::new(TestClient::new(city_platform::edge::stack(route, &t.settings, limiter, false, Some(idem))));

    // 64 doctors × 100 numbers a day: one slot per booking, spread so clients do not all queue on one row.
    let resp = client.get("/v1/booking/doctors").query("limit", &200).send().await;
    let doctors: Value = resp.json().await.value().deserialize();
    let doctor_ids: Vec<String> =
        doctors.as_array().unwrap().iter().take(DOCTORS).map(|d| d["id"].as_str().unwrap().to_owned()).collect();
    let mut days = Vec::new();
    for date in DAYS {
        let mut slots = Vec::new();
        for id in &doctor_ids {
            client
                .post("/v1/booking/sessions")
                .header("authorization", "Bearer staff")
                .body_json(&json!({"doctor_id": id, "date": date, "period": "morning", "capacity": PER_SESSION, "slot_minutes": 30}))
                .send()
                .await
                .assert_status(poem::http::StatusCode::CREATED);
            let resp = client.get(format!("/v1/booking/doctors/{id}/slots")).query("date", &date).send().await;
            let v: Value = resp.json().await.value().deserialize();
            slots.push(
                v["slots"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>(),
            );
        }
        // Interleave so that concurrent clients book different doctors.
        let order: Vec<String> = (0..PER_SESSION).flat_map(|i| slots.iter().map(move |s| s[i].clone())).collect();
        days.push(Arc::new(order));
    }

    // Phase 1: saturation.
    let started = Instant::now();
    let (mut latencies, failures) = drive(&client, &days[0], 0, None).await;
    let elapsed = started.elapsed();
    report(backend, "saturation (closed loop)", &mut latencies, failures, elapsed);

    // Phase 2: paced at the goal rate.
    let rate: f64 = std::env::var("BOOKING_BENCH_RATE")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(if t.settings.database_url.is_some() { 1000.0 } else { 500.0 });
    let n_paced = ((rate * 5.0) as usize).min(days[1].len());
    let order = Arc::new(days[1][..n_paced].to_vec());
    let started = Instant::now();
    let (mut latencies, failures) = drive(&client, &order, days[0].len(), Some(rate)).await;
    let elapsed = started.elapsed();
    report(backend, &format!("paced at {rate:.0}/s offered"), &mut latencies, failures, elapsed);

    // Phase 3: free-slot reads of one doctor-day for 5 seconds.
    let doctor = doctor_ids[0].clone();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let client = client.clone();
        let doctor = doctor.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let resp =
                    client.get(format!("/v1/booking/doctors/{doctor}/slots")).query("date", &DAYS[0]).send().await;
                assert_eq!(resp.0.status(), poem::http::StatusCode::OK);
                n += 1;
            }
            n
        }));
    }
    let mut reads = 0;
    for t in tasks {
        reads += t.await.unwrap();
    }
    println!("{backend}: {:.0} free-slot reads/s for one doctor-day ({CLIENTS} clients, 5 s)", reads as f64 / 5.0);
    drop(client);
    t.cleanup().await;
}

/// Books every slot of `order` with 64 clients; patient `first + i` books `order[i]`. With a
/// rate, request i is due at `i / rate` seconds and its latency counts from then.
async fn drive(client: &Client, order: &Arc<Vec<String>>, first: usize, rate: Option<f64>) -> (Vec<Duration>, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let client = client.clone();
        let order = order.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= order.len() {
                    return (latencies, failures);
                }
                let due = match rate {
                    Some(rate) => {
                        let due = t0 + Duration::from_secs_f64(i as f64 / rate);
                        tokio::time::sleep_until(due.into()).await;
                        due
                    }
                    None => Instant::now(),
                };
                let n = first + i;
                let resp = client
                    .post("/v1/booking/appointments")
                    .header("authorization", format!("Bearer c{n}"))
                    .header("Idempotency-Key", format!("bench-{n}"))
                    .body_json(&json!({"slot_id": order[i], "person_id": format!("p{n}")}))
                    .send()
                    .await;
                if resp.0.status() != poem::http::StatusCode::CREATED {
                    failures += 1;
                }
                latencies.push(due.elapsed());
            }
        }));
    }
    let mut latencies = Vec::new();
    let mut failures = 0;
    for t in tasks {
        let (l, f) = t.await.unwrap();
        latencies.extend(l);
        failures += f;
    }
    (latencies, failures)
}

fn report(backend: &str, phase: &str, latencies: &mut [Duration], failures: usize, elapsed: Duration) {
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{backend}, {phase}: {} bookings by {CLIENTS} clients in {:.2}s = {:.0}/s, p50 {:.1} ms, p99 {:.1} ms, {failures} not 201",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
    );
}
