//! Nearest-station lookups with 10 000 stations, and readings ingested per second in batches,
//! through real HTTP over loopback TCP.
//!
//! `cargo bench -p city-air --bench air` (embedded SQLite and in-process cache), or with
//! `CITY_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test` and
//! `CITY_TEST_REDIS_URL=redis://127.0.0.1:6379` for PostgreSQL + Redis. Prints:
//! 1. the in-memory index alone: lookups/s on one thread and p50/p99 per lookup;
//! 2. ingestion through `POST /v1/air/readings` (JSON, 5 000 rows a request, one transaction each):
//!    readings/s, one feed and four feeds at once;
//! 3. `GET /v1/air/nearest` from GCJ-02 pins: requests/s and p50/p99 from `AIR_BENCH_CLIENTS` (32) keep-alive
//!    connections, first over 20 000 distinct points (cold: answers computed from the store),
//!    then for `AIR_BENCH_SECS` (5) seconds after a second of warm-up (answers cached).
//!
//! The server is the air API behind `edge::stack`, the middleware every request crosses (CORS,
//! request id, span, metrics, body limit, rate limit, idempotency), served by poem on a 127.0.0.1
//! port with its own two-thread runtime; the client is reqwest on one thread. Both share this
//! machine's cores. Logging (at warn) and the Prometheus recorder are installed as `city` installs
//! them. The rate limiter counts every request (in the cache: Redis when configured) under
//! limits too high to trigger; `AIR_BENCH_RATE_LIMIT=off` leaves it out, as `city serve --only air` does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use city_air::engine::{hour_floor, AirState, HOUR_MS};
use city_air::index::{generate_stations, StationIndex};
use city_air::{store, AirApi, MIGRATOR, NAME};
use city_platform::auth::{Integrator, SharedAuthenticator};
use city_platform::coords::LatLon;
use city_platform::edge::RateLimiter;
use city_platform::idempotency::{Idempotency, SqlIdempotencyStore};
use city_platform::testing::{test_platform_with, StaticAuthenticator};
use city_platform::time::{from_ms, now_ms, rfc3339};
use city_platform::Db;
use poem::EndpointExt;
use serde_json::{json, Value};

const STATIONS: usize = 10_000;
/// The demo city's extent, WGS-84 (south, west, north, east).
const AREA: (f64, f64, f64, f64) = (30.30, 103.60, 31.00, 104.50);
const INDEX_LOOKUPS: usize = 200_000;
const ROWS_PER_REQUEST: usize = 5_000;
const COLD_REQUESTS: usize = 20_000;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    index_alone();
    let clients: usize = env_or("AIR_BENCH_CLIENTS", 32);
    let secs: u64 = env_or("AIR_BENCH_SECS", 5);
    let rate_limit = std::env::var("AIR_BENCH_RATE_LIMIT").map_or(true, |v| v != "off");

    // The server's runtime: two workers, as `city` gets on this machine.
    let server_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (base, backend, state, cleanup) = server_rt.block_on(serve(rate_limit));
    // The load generator: one thread, like the gateway's load harness.
    let client_rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    client_rt.block_on(drive(&base, backend, &state, clients, secs, rate_limit));
    server_rt.block_on(cleanup.cleanup());
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn index_alone() {
    let index = StationIndex::new(generate_stations(STATIONS, AREA, 1));
    let probes: Vec<LatLon> = generate_stations(INDEX_LOOKUPS, AREA, 2).into_iter().map(|s| s.location).collect();
    let mut times = Vec::with_capacity(probes.len());
    let started = Instant::now();
    let mut checksum = 0.0;
    for p in &probes {
        let t = Instant::now();
        let found = index.nearest(*p, 10, 20_000.0);
        times.push(t.elapsed());
        checksum += found.first().map_or(0.0, |f| f.distance_m);
    }
    let total = started.elapsed();
    times.sort();
    println!(
        "index alone, {STATIONS} stations, 10 nearest within 20 km: {:.0} lookups/s on one thread, p50 {:?}, p99 {:?} (checksum {checksum:.0})",
        probes.len() as f64 / total.as_secs_f64(),
        percentile(&times, 0.50),
        percentile(&times, 0.99),
    );
}

/// Starts the air API on a loopback port; returns its base URL, the backend's name, the state and the platform guard.
async fn serve(rate_limit: bool) -> (String, &'static str, Arc<AirState>, city_platform::testing::TestPlatform) {
    // As `city` runs: a log subscriber (at warn, as the gateway's load harness runs it) and the
    // Prometheus recorder, so spans, log filtering and metrics cost what they cost in production.
    city_platform::telemetry::init_logging(city_platform::config::LogFormat::Pretty, "warn");
    city_platform::telemetry::prometheus();
    let t = test_platform_with(|s| {
        s.rate_limit.per_ip = u64::MAX / 2;
        s.rate_limit.per_identity = u64::MAX / 2;
        s.seed_demo_data = false;
        s.db_max_connections = 16;
        s.log = "warn".into();
    })
    .await;
    let backend = match (&t.settings.database_url, &t.settings.redis_url) {
        (Some(_), Some(_)) => "postgres+redis",
        (Some(_), None) => "postgres",
        _ => "sqlite",
    };
    let db = Db::open(&t.platform.settings, NAME, &MIGRATOR).await.unwrap();
    t.track(&db);
    let state = Arc::new(AirState::new(db.clone(), t.platform.clone()));

    // Stations straight into the store (not what is measured).
    let stations = generate_stations(STATIONS, AREA, 1);
    let now = now_ms();
    let mut tx = db.begin_write().await.unwrap();
    for s in &stations {
        let row = store::StationRow {
            code: s.code.clone(),
            name: s.name.clone(),
            district_code: t.platform.districts.locate(s.location).map(|d| d.code.clone()),
            lat: s.location.lat(),
            lon: s.location.lon(),
            operator: "bench".into(),
            active: true,
            created_at: now,
            updated_at: now,
        };
        store::upsert_station(&mut tx, &row).await.unwrap();
    }
    tx.commit().await.unwrap();
    state.refresh_index(true).await.unwrap();

    let auth = StaticAuthenticator::new();
    auth.with_key(
        "feed",
        Integrator { key_id: "k".into(), name: "bench".into(), scopes: vec!["air-ingest:bench".into()] },
    );
    let auth: SharedAuthenticator = auth;
    let service = poem_openapi::OpenApiService::new(AirApi::new(state.clone()), "bench", "0");
    let route = poem::Route::new().nest("/", service).data(auth).boxed();
    let idem = Idempotency {
        store: Arc::new(SqlIdempotencyStore::new(db.clone())),
        server_secret: city_platform::idempotency::ServerSecret::from_settings(&t.settings),
        ttl: Duration::from_secs(3600),
        trusted_proxies: Arc::from(Vec::new()),
    };
    let limiter = RateLimiter::new(t.platform.cache.clone(), t.settings.rate_limit.clone(), Vec::new());
    let endpoint = city_platform::edge::stack(route, &t.settings, limiter, rate_limit, Some(idem));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let addr = format!("127.0.0.1:{port}");
    tokio::spawn(poem::Server::new(poem::listener::TcpListener::bind(addr.clone())).run(endpoint));
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http.get(format!("{base}/v1/air/schemes")).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (base, backend, state, t)
}

async fn drive(base: &str, backend: &str, state: &AirState, clients: usize, secs: u64, rate_limit: bool) {
    let http = reqwest::Client::builder().pool_max_idle_per_host(clients).build().unwrap();
    let stations: Vec<String> = state.index().await.unwrap().all().iter().map(|s| s.code.clone()).collect();
    let limiter = if rate_limit { "rate limiter counting" } else { "no rate limiter" };
    println!("{backend}: air API over loopback HTTP, every edge middleware, {limiter}; load average {}", load());

    // Ingestion: every station, six pollutants, one hour per pass.
    let batches = |hour_end: i64| -> Vec<String> {
        let at = rfc3339(from_ms(hour_end));
        let rows: Vec<Value> = stations
            .iter()
            .enumerate()
            .flat_map(|(i, code)| {
                let pm25 = 10 + (i % 90);
                [
                    ("pm25", pm25 as f64, "ug/m3"),
                    ("pm10", 40.0, "ug/m3"),
                    ("so2", 5.0, "ug/m3"),
                    ("no2", 20.0, "ug/m3"),
                    ("co", 0.6, "mg/m3"),
                    ("o3", 60.0, "ug/m3"),
                ]
                .into_iter()
                .map(
                    |(p, v, u)| json!({"station_code": code, "observed_at": at, "pollutant": p, "value": v, "unit": u}),
                )
                .collect::<Vec<_>>()
            })
            .collect();
        rows.chunks(ROWS_PER_REQUEST).map(|c| json!({ "readings": c }).to_string()).collect()
    };
    let post = |body: String| {
        let http = http.clone();
        let url = format!("{base}/v1/air/readings");
        async move {
            let resp = http
                .post(url)
                .header("X-API-Key", "feed")
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(resp.status().is_success(), "{}", resp.status());
            let report: Value = resp.json().await.unwrap();
            assert_eq!(report["stored"].as_u64(), Some(ROWS_PER_REQUEST as u64), "{report}");
        }
    };
    let hour = hour_floor(now_ms());
    let total = (stations.len() * 6) as f64;
    let sequential = batches(hour - HOUR_MS);
    let started = Instant::now();
    for b in sequential {
        post(b).await;
    }
    println!(
        "{backend}: ingestion, one feed, {total} readings in {ROWS_PER_REQUEST}-row requests: {:.0} readings/s (load average {})",
        total / started.elapsed().as_secs_f64(),
        load()
    );
    let parallel = batches(hour);
    let per_feed = parallel.len().div_ceil(4);
    let started = Instant::now();
    let feeds = parallel.chunks(per_feed).map(|chunk| {
        let chunk = chunk.to_vec();
        let post = &post;
        async move {
            for b in chunk {
                post(b).await;
            }
        }
    });
    futures::future::join_all(feeds).await;
    println!(
        "{backend}: ingestion, four feeds at once: {:.0} readings/s (load average {})",
        total / started.elapsed().as_secs_f64(),
        load()
    );

    let probes: Vec<String> = generate_stations(COLD_REQUESTS, (30.35, 103.65, 30.95, 104.45), 3)
        .into_iter()
        .map(|s| {
            // As the Mini Program sends them: GCJ-02, converted back by the service.
            let pin = s.location.to_gcj02();
            format!("{base}/v1/air/nearest?lat={}&lon={}&coord=gcj02", pin.lat(), pin.lon())
        })
        .collect();
    let probes = Arc::new(probes);

    // Cold: each point once; most stations' answers are computed from the store on first touch.
    let started = Instant::now();
    let workers = (0..clients).map(|c| {
        let (http, probes) = (http.clone(), probes.clone());
        async move {
            let mut times = Vec::new();
            for url in probes.iter().skip(c).step_by(clients) {
                let t = Instant::now();
                let resp = http.get(url).send().await.unwrap();
                assert!(resp.status().is_success(), "{}", resp.status());
                resp.bytes().await.unwrap();
                times.push(t.elapsed());
            }
            times
        }
    });
    let mut times: Vec<Duration> = futures::future::join_all(workers).await.into_iter().flatten().collect();
    let secs_cold = started.elapsed().as_secs_f64();
    times.sort_unstable();
    println!(
        "{backend}: GET /v1/air/nearest cold, {STATIONS} stations, {clients} connections: {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms (load average {})",
        times.len() as f64 / secs_cold,
        ms(percentile(&times, 0.50)),
        ms(percentile(&times, 0.99)),
        load()
    );

    // Warm: a second of warm-up, then `secs` seconds measured.
    let warmup_end = Instant::now() + Duration::from_secs(1);
    let cpu_at_start = {
        let http = http.clone();
        let wait = warmup_end.saturating_duration_since(Instant::now());
        async move {
            tokio::time::sleep(wait).await;
            drop(http);
            cpu_by_role()
        }
    };
    let end = warmup_end + Duration::from_secs(secs);
    let workers = (0..clients).map(|c| {
        let (http, probes) = (http.clone(), probes.clone());
        async move {
            let (mut times, mut errors, mut bytes) = (Vec::with_capacity(65_536), 0_usize, 0_usize);
            for url in probes.iter().skip(c).step_by(clients).cycle() {
                let t = Instant::now();
                if t >= end {
                    break;
                }
                let got = match http.get(url).send().await {
                    Ok(resp) if resp.status().is_success() => resp.bytes().await.ok().map(|b| b.len()),
                    _ => None,
                };
                if t >= warmup_end {
                    if let Some(n) = got {
                        bytes += n;
                        times.push(t.elapsed());
                    } else {
                        errors += 1;
                    }
                }
            }
            (times, errors, bytes)
        }
    });
    let (done, cpu_start) = futures::future::join(futures::future::join_all(workers), cpu_at_start).await;
    let cpu_end = cpu_by_role();
    let errors: usize = done.iter().map(|d| d.1).sum();
    let bytes: usize = done.iter().map(|d| d.2).sum();
    let mut times: Vec<Duration> = done.into_iter().flat_map(|d| d.0).collect();
    times.sort_unstable();
    println!(
        "{backend}: GET /v1/air/nearest warm, {STATIONS} stations, {clients} connections, {secs} s: {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms, {errors} errors, {:.0} bytes per answer (load average {})",
        times.len() as f64 / secs as f64,
        ms(percentile(&times, 0.50)),
        ms(percentile(&times, 0.99)),
        bytes as f64 / times.len().max(1) as f64,
        load()
    );
    // CPU per answer, from the threads' own clocks: what the machine's load does not change much.
    let n = times.len().max(1) as f64;
    let per = |i: usize| (cpu_end[i] - cpu_start[i]) * 1e6 / n;
    println!(
        "{backend}: CPU per warm answer: server {:.0} µs (runtime workers), client {:.0} µs (reqwest), other threads {:.0} µs; \
         on two otherwise idle cores that is at most ~{:.0} answers/s",
        per(0),
        per(1),
        per(2),
        2e6 / (per(0) + per(1) + per(2)).max(1.0)
    );
}

/// CPU seconds used so far by this process's threads: [server runtime workers, the client (main) thread, the rest].
fn cpu_by_role() -> [f64; 3] {
    let mut out = [0.0; 3];
    let ticks = 100.0; // USER_HZ on Linux
    let pid = std::process::id().to_string();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return out };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let comm = &stat[open + 1..close];
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let (Some(u), Some(s)) = (fields.get(11), fields.get(12)) else { continue };
        let secs = (u.parse::<f64>().unwrap_or(0.0) + s.parse::<f64>().unwrap_or(0.0)) / ticks;
        let role = if comm.starts_with("tokio-r") {
            0
        } else if task.file_name().to_string_lossy() == pid {
            1
        } else {
            2
        };
        out[role] += secs;
    }
    out
}

/// The 1-minute load average, to print beside each figure (other work shares this machine).
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split(' ').next().map(str::to_owned))
        .unwrap_or_default()
}
