//! Booking throughput and free-slot reads, through the real edge middleware in-process (no TCP),
//! on whichever backend the environment selects (`CITY_TEST_DATABASE_URL` for PostgreSQL).
//!
//! `cargo bench -p city-booking --bench booking` (embedded SQLite), or with
//! `CITY_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test` for PostgreSQL.
//! Prints bookings/s and p50/p99 at 64 concurrent clients, then free-slot reads/s for one doctor-day.

use std::sync::Arc;
use std::time::{Duration, Instant};

use city_booking::people::{Person, StaticPeople};
use city_booking::{BookingOptions, BookingService, Clock};
use city_platform::auth::{Citizen, Principal, Role, Scopes, Staff};
use city_platform::testing::{test_platform_with, StaticAuthenticator};
use serde_json::{json, Value};

/// 2026-12-01 10:00 Beijing.
const NOW: i64 = 1_796_090_400_000;
const CLIENTS: usize = 64;
const BOOKINGS: usize = 6_400;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(run());
}

async fn run() {
    let t = test_platform_with(|s| {
        s.rate_limit.enabled = false;
        s.db_max_connections = 16;
    })
    .await;
    let backend = if t.settings.database_url.is_some() { "postgres" } else { "sqlite" };
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
    for n in 0..BOOKINGS {
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
    let client = Arc::new(t.client(api, &db, auth.clone()));
    // 64 doctors × 100 numbers: one slot per booking, spread so clients do not all queue on one row.
    let resp = client.get("/v1/booking/doctors").query("limit", &200).send().await;
    let doctors: Value = resp.json().await.value().deserialize();
    let mut slots = Vec::new();
    for d in doctors.as_array().unwrap().iter().take(64) {
        let id = d["id"].as_str().unwrap();
        client
            .post("/v1/booking/sessions")
            .header("authorization", "Bearer staff")
            .body_json(&json!({"doctor_id": id, "date": "2026-12-03", "period": "morning", "capacity": 100, "slot_minutes": 30}))
            .send()
            .await
            .assert_status(poem::http::StatusCode::CREATED);
        let resp = client.get(format!("/v1/booking/doctors/{id}/slots")).query("date", &"2026-12-03").send().await;
        let v: Value = resp.json().await.value().deserialize();
        slots.extend(v["slots"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_owned()));
    }
    // Interleave so that concurrent clients book different doctors.
    let per = 100;
    let order: Vec<String> =
        (0..per).flat_map(|i| (0..64).map(move |d| (d, i))).map(|(d, i)| slots[d * per + i].clone()).collect();
    let order = Arc::new(order);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let client = client.clone();
        let order = order.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0;
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= order.len().min(BOOKINGS) {
                    return (latencies, failures);
                }
                let t0 = Instant::now();
                let resp = client
                    .post("/v1/booking/appointments")
                    .header("authorization", format!("Bearer c{n}"))
                    .header("Idempotency-Key", format!("bench-{n}"))
                    .body_json(&json!({"slot_id": order[n], "person_id": format!("p{n}")}))
                    .send()
                    .await;
                if resp.0.status() != poem::http::StatusCode::CREATED {
                    failures += 1;
                }
                latencies.push(t0.elapsed());
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
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{backend}: {} bookings by {CLIENTS} clients in {:.2}s = {:.0}/s, p50 {:.1} ms, p99 {:.1} ms, {failures} not 201",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
    );

    // Free-slot reads of one doctor-day for 5 seconds.
    let doctor = doctors[0]["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let client = client.clone();
        let doctor = doctor.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < deadline {
                let resp =
                    client.get(format!("/v1/booking/doctors/{doctor}/slots")).query("date", &"2026-12-03").send().await;
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
