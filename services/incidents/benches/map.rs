//! Load figures for the incidents service: seeds `CITY_BENCH_REPORTS` reports (default
//! 1,000,000), then measures through the real API and middleware, in process:
//! block-zoom bbox maps, city-wide and district clustered maps (cold: the service caches
//! nothing), and report creation without photos.
//!
//! `cargo bench -p city-incidents --bench map` (SQLite); with `CITY_TEST_DATABASE_URL` and
//! `CITY_TEST_REDIS_URL` set, PostgreSQL + Redis.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use city_incidents::safety::{ContentSafety, SafetyError, Verdict};
use city_incidents::IncidentsService;
use city_platform::auth::{Citizen, Principal};
use city_platform::coords::LatLon;
use city_platform::testing::{test_platform, StaticAuthenticator};

struct Pass;

#[async_trait]
impl ContentSafety for Pass {
    async fn check(&self, _content: &str, _openid: &str) -> Result<Verdict, SafetyError> {
        Ok(Verdict::Pass)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{name}: n={} p50={:.2} ms p95={:.2} ms p99={:.2} ms max={:.2} ms",
        samples.len(),
        percentile(&samples, 0.50),
        percentile(&samples, 0.95),
        percentile(&samples, 0.99),
        samples.last().unwrap().as_secs_f64() * 1e3
    );
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("CITY_BENCH_REPORTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let t = test_platform().await;
    let backend = if t.settings.database_url.is_some() { "PostgreSQL" } else { "SQLite" };
    let (api, db) = IncidentsService::start_with(t.platform.clone(), Arc::new(Pass)).await.unwrap();
    let catalogue = city_incidents::domain::Catalogue::demo().unwrap();
    let started = Instant::now();
    city_incidents::seed::seed_reports(&db, &t.platform.districts, &catalogue, n, 7).await.unwrap();
    if db.backend == city_platform::db::Backend::Postgres {
        // What autovacuum does soon after a bulk load: statistics, and the visibility map
        // that lets the map index answer without visiting the table.
        sqlx::query("VACUUM ANALYZE incident_reports").execute(&db.pool).await.unwrap();
        sqlx::query("VACUUM ANALYZE incident_map_cells").execute(&db.pool).await.unwrap();
    } else {
        sqlx::query("ANALYZE").execute(&db.pool).await.unwrap();
    }
    println!("backend: {backend}; seeded {n} reports in {:.1} s", started.elapsed().as_secs_f64());

    let auth = StaticAuthenticator::new();
    let creators = 4000;
    for i in 0..creators {
        auth.with_token(
            &format!("c{i}"),
            Principal::Citizen(Citizen { citizen_id: format!("bench-{i}"), session_id: format!("s{i}") }),
        );
    }
    let client = Arc::new(t.client(api, &db, auth));

    // City-block zoom: a ~450 m × 480 m view downtown at zoom 17.
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        (rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut block = Vec::new();
    let mut pins = 0usize;
    for _ in 0..300 {
        let (lat, lon) = (30.61 + next() * 0.10, 104.01 + next() * 0.12);
        let bbox = format!("{},{},{},{}", lon, lat, lon + 0.005, lat + 0.004);
        let t0 = Instant::now();
        let resp = client.get("/v1/incidents/map").query("bbox", &bbox).query("zoom", &17).send().await;
        resp.assert_status_is_ok();
        let v: serde_json::Value = resp.json().await.value().deserialize();
        block.push(t0.elapsed());
        pins += v["features"].as_array().map(Vec::len).unwrap_or(0);
    }
    report(&format!("block-zoom bbox map (avg {} features)", pins / 300), block);

    // City-wide at zoom 11: always clustered. Nothing is cached, so every answer is cold;
    // the view pans by whole cells and the filters vary, as different citizens' maps do.
    for (name, zoom, span) in [("city-wide clustered map", 11u8, (0.43, 0.38)), ("district map", 14, (0.06, 0.05))] {
        let mut lat = Vec::new();
        let mut clusters = 0usize;
        for i in 0..120 {
            let (w0, s0) = if zoom == 11 {
                (103.85 + (next() * 6.0 - 3.0).round() * 0.044, 30.47 + (next() * 6.0 - 3.0).round() * 0.044)
            } else {
                (104.00 + next() * 0.10, 30.60 + next() * 0.08)
            };
            let bbox = format!("{},{},{},{}", w0, s0, w0 + span.0, s0 + span.1);
            let mut req = client.get("/v1/incidents/map").query("bbox", &bbox).query("zoom", &zoom);
            match i % 3 {
                1 => req = req.query("state", &"open,confirmed,in_progress"),
                2 => req = req.query("category", &"pothole,noise"),
                _ => {}
            }
            let t0 = Instant::now();
            let resp = req.send().await;
            resp.assert_status_is_ok();
            let v: serde_json::Value = resp.json().await.value().deserialize();
            lat.push(t0.elapsed());
            clusters += v["features"].as_array().map(Vec::len).unwrap_or(0);
        }
        report(&format!("{name}, zoom {zoom}, cold (avg {} features)", clusters / 120), lat);
    }

    // Report creation without photos: 16 concurrent clients, distinct citizens, pins spread
    // over downtown (WGS-84, inside a district).
    let total = creators;
    let mut points = Vec::new();
    while points.len() < total {
        let (lat, lon) = (30.60 + next() * 0.12, 104.00 + next() * 0.14);
        if LatLon::new(lat, lon).and_then(|p| t.platform.districts.locate(p)).is_some() {
            points.push((lat, lon));
        }
    }
    let points = Arc::new(points);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..16 {
        let client = client.clone();
        let points = points.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for i in (w..total).step_by(16) {
                let body = serde_json::json!({
                    "category": "noise", "description": "Loud building work at night",
                    "location": {"lat": points[i].0, "lon": points[i].1, "crs": "wgs84"},
                });
                let s = Instant::now();
                let resp = client
                    .post("/v1/incidents")
                    .header("Authorization", format!("Bearer c{i}"))
                    .body_json(&body)
                    .send()
                    .await;
                resp.assert_status(poem::http::StatusCode::CREATED);
                lat.push(s.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for task in tasks {
        lat.extend(task.await.unwrap());
    }
    let secs = t0.elapsed().as_secs_f64();
    println!("report creation: {total} in {secs:.2} s = {:.0}/s", total as f64 / secs);
    report("report creation latency", lat);
    t.cleanup().await;
}
