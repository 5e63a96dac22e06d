//! Nearest-station lookups with 10 000 stations, and readings ingested per second in batches.
//!
//! `cargo bench -p city-air --bench air` (embedded SQLite and in-process cache), or with
//! `CITY_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test` (and optionally
//! `CITY_TEST_REDIS_URL=redis://127.0.0.1:6379`) for PostgreSQL. Prints:
//! 1. the in-memory index alone: lookups/s on one thread and p50/p99 per lookup;
//! 2. ingestion through `POST /v1/air/readings` (JSON, 5 000 rows a request, one transaction each):
//!    readings/s, sequentially and with 4 feeds at once;
//! 3. `GET /v1/air/nearest` through the real edge middleware in-process (no TCP), 32 clients:
//!    requests/s and p50/p99, every station having a fresh hour.

use std::sync::Arc;
use std::time::{Duration, Instant};

use city_air::engine::{hour_floor, AirState, HOUR_MS};
use city_air::index::{generate_stations, StationIndex};
use city_air::{store, AirApi, MIGRATOR, NAME};
use city_platform::auth::Integrator;
use city_platform::coords::LatLon;
use city_platform::testing::{test_platform_with, StaticAuthenticator};
use city_platform::time::{from_ms, now_ms, rfc3339};
use city_platform::Db;
use serde_json::{json, Value};

const STATIONS: usize = 10_000;
/// The demo city's extent, WGS-84 (south, west, north, east).
const AREA: (f64, f64, f64, f64) = (30.30, 103.60, 31.00, 104.50);
const INDEX_LOOKUPS: usize = 200_000;
const ROWS_PER_REQUEST: usize = 5_000;
const NEAREST_REQUESTS: usize = 20_000;
const CLIENTS: usize = 32;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(run());
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
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

async fn run() {
    index_alone();

    let t = test_platform_with(|s| {
        s.rate_limit.enabled = false;
        s.seed_demo_data = false;
        s.db_max_connections = 16;
    })
    .await;
    let backend = if t.settings.database_url.is_some() { "postgres" } else { "sqlite" };
    let db = Db::open(&t.platform.settings, NAME, &MIGRATOR).await.unwrap();
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
    auth.with_key("feed", Integrator { key_id: "k".into(), name: "bench".into(), scopes: vec!["air-ingest".into()] });
    let client = Arc::new(t.client(AirApi::new(state.clone()), &db, auth));

    // Ingestion: every station, six pollutants, one hour per pass.
    let batches = |hour_end: i64| -> Vec<Value> {
        let at = rfc3339(from_ms(hour_end));
        let rows: Vec<Value> = stations
            .iter()
            .enumerate()
            .flat_map(|(i, s)| {
                let at = at.clone();
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
                .map(move |(p, v, u)| json!({"station_code": s.code, "observed_at": at, "pollutant": p, "value": v, "unit": u}))
                .collect::<Vec<_>>()
            })
            .collect();
        rows.chunks(ROWS_PER_REQUEST).map(|c| json!({ "readings": c })).collect()
    };
    let post = |client: Arc<poem::test::TestClient<poem::endpoint::BoxEndpoint<'static>>>, body: Value| async move {
        let resp = client.post("/v1/air/readings").header("X-API-Key", "feed").body_json(&body).send().await;
        assert!(resp.0.status().is_success(), "{}", resp.0.status());
    };
    let hour = hour_floor(now_ms());
    let sequential = batches(hour - HOUR_MS);
    let started = Instant::now();
    for b in &sequential {
        post(client.clone(), b.clone()).await;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{backend}: ingestion, one feed, {} readings in {}-row requests: {:.0} readings/s",
        STATIONS * 6,
        ROWS_PER_REQUEST,
        (STATIONS * 6) as f64 / secs
    );
    let parallel = batches(hour);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for chunk in parallel.chunks(parallel.len().div_ceil(4)) {
        let (client, chunk) = (client.clone(), chunk.to_vec());
        tasks.push(tokio::spawn(async move {
            for b in chunk {
                post(client.clone(), b).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    println!("{backend}: ingestion, four feeds at once: {:.0} readings/s", (STATIONS * 6) as f64 / secs);

    // Nearest through the API; the first pass warms the per-station cache as real traffic would.
    let probes: Vec<LatLon> = generate_stations(NEAREST_REQUESTS, (30.35, 103.65, 30.95, 104.45), 3)
        .into_iter()
        .map(|s| s.location)
        .collect();
    let probes = Arc::new(probes);
    for pass in ["cold cache", "warm cache"] {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..CLIENTS {
            let (client, probes) = (client.clone(), probes.clone());
            tasks.push(tokio::spawn(async move {
                let mut times = Vec::new();
                for p in probes.iter().skip(c).step_by(CLIENTS) {
                    let t = Instant::now();
                    let resp = client
                        .get("/v1/air/nearest")
                        .query("lat", &p.lat())
                        .query("lon", &p.lon())
                        .query("coord", &"wgs84")
                        .send()
                        .await;
                    assert!(resp.0.status().is_success(), "{}", resp.0.status());
                    times.push(t.elapsed());
                }
                times
            }));
        }
        let mut times = Vec::new();
        for task in tasks {
            times.extend(task.await.unwrap());
        }
        let secs = started.elapsed().as_secs_f64();
        times.sort();
        println!(
            "{backend}: GET /v1/air/nearest ({pass}), {STATIONS} stations, {CLIENTS} clients: {:.0} requests/s, p50 {:?}, p99 {:?}",
            times.len() as f64 / secs,
            percentile(&times, 0.50),
            percentile(&times, 0.99),
        );
    }
    t.cleanup().await;
}
