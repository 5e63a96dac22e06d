//! How the nearest-station answer grows with the network (issue #24): `GET /v1/air/nearest`
//! p99 and req/s against the number of stations (the city's own demo network, then 100 to 100k),
//! anonymous citizens spread over the city and its outskirts, the limiter on, as charts.
//!
//! Stations are seeded straight into the running portal's air store (its PostgreSQL schema or
//! its SQLite file), each with a reading of the latest whole hour so it counts as fresh; then an
//! admin re-saves one station through `PUT /v1/air/stations/{code}`, which makes the portal
//! rebuild its index from the table at once (otherwise it would notice within a minute). Before
//! each point is measured, every query point is asked once (filling the per-station answers, as
//! a running city has them) and a sample of the answers is held against a linear scan of the
//! stations the harness knows, so the figures are of answers that really come from the seeded
//! network.

use std::path::Path;
use std::sync::Arc;

use city_air::engine::{hour_floor, NEAREST_RADIUS_M};
use city_platform::coords::{Crs, LatLon};
use city_platform::time::now_ms;
use futures::{stream, StreamExt};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::{AnyConnection, Connection, Executor};

use crate::crowd::{address, Crowd};
use crate::curve::draw;
use crate::measure::{cpu_time, drive, Watch};
use crate::report::{self, Row};
use crate::scenarios::Run;

/// Stations in the network at each seeded point (the demo network's own stations included).
const STATIONS: [usize; 4] = [100, 1_000, 10_000, 100_000];
/// Query points over the city; those with no station within the search radius are left out of
/// a point (their answer, 404, is checked, not measured).
const N_POINTS: usize = 4096;
/// Answers per point held against a linear scan.
const N_CHECKED: usize = 256;
/// Rows per INSERT while seeding (6 parameters a station row, within both databases' limits).
const ROWS_PER_INSERT: usize = 1_000;
/// The city centre (Tianfu Square, WGS-84): the densest part of the network and of the crowd.
const CENTRE: (f64, f64) = (30.6574, 104.0658);
/// The admin's office address (behind the load balancer, apart from the citizens').
const OFFICE: u64 = 16_100_000;

/// A station the harness knows: code and location.
#[derive(Clone)]
struct Known {
    code: String,
    at: LatLon,
}

#[derive(Debug, Serialize)]
struct Point {
    stations: usize,
    query_points: usize,
    nearest_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    cpu_us_per_req: Option<f64>,
    rss_peak_mb: Option<f64>,
    errors: u64,
}

/// Nearest p99 and req/s against stations, as `nearest-p99-stations.png`,
/// `nearest-rate-stations.png` and `stations.json` in `dir`.
pub async fn curve(run: &mut Run<'_>, dir: &str) {
    println!("\nnearest station against the network's size:");
    let anchor = run.bare_anchor().await;
    let admin = admin_token(run).await;
    let mut known = demo_network(&run.crowd).await;
    let city_count = known.len();
    let points = query_points(N_POINTS, 0x5EED_0024);
    let planned = planned_stations(*STATIONS.last().unwrap_or(&0), 0xA1_2024);
    let mut conn = store(run).await;
    settle(run.portal.pid()).await;
    let mut curve = Vec::new();
    for target in std::iter::once(city_count).chain(STATIONS) {
        if target > known.len() {
            let batch: Vec<Known> = planned[known.len() - city_count..target - city_count].to_vec();
            let started = std::time::Instant::now();
            seed(&mut conn, &batch).await;
            known.extend(batch.iter().cloned());
            // The portal rebuilds its index when a station changes through the API.
            let last = batch.last().expect("a station seeded");
            put_station(&run.crowd, &admin, last).await;
            let seeded = &batch[batch.len() / 2];
            println!(
                "  seeded {} stations ({} in all) in {:.1} s",
                batch.len(),
                known.len(),
                started.elapsed().as_secs_f64()
            );
            next_to(&run.crowd, seeded).await;
        }
        let (paths, excluded) = served_points(&points, &known);
        check(&run.crowd, &paths, &excluded, &known).await;
        let row = measure(run, &paths, known.len()).await.against(&anchor);
        report::print(&row);
        run.rows.push(row.clone());
        curve.push(Point {
            stations: known.len(),
            query_points: paths.len(),
            nearest_per_s: row.rps,
            p50_ms: row.p50_ms,
            p99_ms: row.p99_ms,
            p999_ms: row.p999_ms,
            cpu_us_per_req: row.cpu_us_per_req,
            rss_peak_mb: row.rss_peak_mb,
            errors: row.n_errors(),
        });
    }
    let _ = conn.close().await;
    write(run, dir, &anchor, city_count, &curve);
}

/// Waits (up to 90 s) until the portal is idle: at start the demo feed backfills 30 days in the
/// background, and every batch it stores renews the stations' tokens, so the first point would
/// otherwise measure that catch-up rather than the city's network.
async fn settle(pid: u32) {
    let started = std::time::Instant::now();
    loop {
        let before = cpu_time(pid);
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let used = cpu_time(pid).saturating_sub(before);
        if used < std::time::Duration::from_millis(50) || started.elapsed().as_secs() >= 90 {
            println!(
                "  (portal idle after {:.0} s: {} ms CPU in the last second)",
                started.elapsed().as_secs_f64(),
                used.as_millis()
            );
            return;
        }
    }
}

/// An admin made with the operator's `city staff create`, signed in.
async fn admin_token(run: &Run<'_>) -> String {
    let password = "load-harness-stations-1";
    run.backend.city(&["staff", "create", "--username", "load.stations", "--password", password, "--role", "admin"]);
    let body = json!({"username": "load.stations", "password": password});
    let session = run.crowd.post_json("/v1/staff/sessions", &address(OFFICE), None, &body, &[200]).await;
    session["token"].as_str().expect("an admin token").to_owned()
}

/// The stations the portal already has (the demo network, fed hourly), active ones only.
async fn demo_network(crowd: &Crowd) -> Vec<Known> {
    let list = crowd.get_json("/v1/air/stations", &address(OFFICE), None).await;
    let known: Vec<Known> = list
        .as_array()
        .expect("a list of stations")
        .iter()
        .filter(|s| s["active"] == true)
        .map(|s| Known {
            code: s["code"].as_str().expect("a code").to_owned(),
            at: LatLon::new(s["lat"].as_f64().expect("a lat"), s["lon"].as_f64().expect("a lon"))
                .expect("a station on the globe"),
        })
        .collect();
    assert!(!known.is_empty(), "the demo network has stations");
    known
}

/// A small xorshift: the same stations and points on every run, with no random-number crate.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn between(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }
    /// Normally distributed (Box-Muller), mean 0, deviation 1.
    fn normal(&mut self) -> f64 {
        let u = self.unit().max(1e-12);
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * self.unit()).cos()
    }
    /// Near the centre (a normal spread of `deg`) or anywhere in the box (`south`, `west`,
    /// `north`, `east`), `near_share` of the time the former.
    fn place(&mut self, near_share: f64, deg: f64, bounds: (f64, f64, f64, f64)) -> LatLon {
        let (lat, lon) = if self.unit() < near_share {
            (CENTRE.0 + deg * self.normal(), CENTRE.1 + deg * 1.15 * self.normal())
        } else {
            (self.between(bounds.0, bounds.2), self.between(bounds.1, bounds.3))
        };
        LatLon::new(lat, lon).expect("a point near the city")
    }
}

/// The network as it grows: dense in the centre (60% within a few km of it), the rest over the
/// metropolitan area, as a city's low-cost sensors cluster where people live.
fn planned_stations(n: usize, seed: u64) -> Vec<Known> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| Known { code: format!("LS{i:06}"), at: rng.place(0.6, 0.04, (30.45, 103.80, 30.90, 104.35)) })
        .collect()
}

/// Where citizens ask from (GCJ-02 pins): half around the centre, half over a box reaching
/// beyond the network's into the outskirts.
fn query_points(n: usize, seed: u64) -> Vec<LatLon> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.place(0.5, 0.06, (30.40, 103.72, 30.95, 104.45))).collect()
}

/// A request path and the WGS-84 point it names.
type Asked = (String, LatLon);

/// The points with a station within the search radius, as request paths and the WGS-84 point
/// each names, and those without one. Each point is a pin as the Mini Program sends it: GCJ-02
/// (`wx.getLocation`), the default datum, so no `coord`; the scan converts it as the portal does.
fn served_points(pins: &[LatLon], known: &[Known]) -> (Vec<Asked>, Vec<Asked>) {
    let (mut served, mut excluded) = (Vec::new(), Vec::new());
    for pin in pins {
        // The printed digits are the pin: the scan converts exactly what the portal reads.
        let (lat, lon) = ((pin.lat() * 1e6).round() / 1e6, (pin.lon() * 1e6).round() / 1e6);
        let at = LatLon::from_crs(Crs::Gcj02, lat, lon).expect("a pin in China");
        let path = format!("/v1/air/nearest?lat={lat:.6}&lon={lon:.6}");
        if known.iter().any(|k| k.at.distance_m(at) <= NEAREST_RADIUS_M) {
            served.push((path, at));
        } else {
            excluded.push((path, at));
        }
    }
    (served, excluded)
}

/// The nearest known station to `at` and its distance, by a scan of all of them.
fn scan(known: &[Known], at: LatLon) -> (&Known, f64) {
    known
        .iter()
        .map(|k| (k, k.at.distance_m(at)))
        .min_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.code.cmp(&b.0.code)))
        .expect("a known station")
}

/// GET as an anonymous citizen; the status and the JSON body.
async fn ask(crowd: &Crowd, path: &str) -> (u16, Value) {
    let req = crowd.http.get(format!("{}{path}", crowd.base)).header("x-forwarded-for", crowd.anonymous());
    let resp = req.send().await.unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Every served point asked once (each then has its answer cached, as in a running city) and
/// answered 200; a spread sample's station the nearest of a linear scan (or one as near: a
/// tie); a few points beyond every station's radius answered 404.
async fn check(crowd: &Crowd, paths: &[Asked], excluded: &[Asked], known: &[Known]) {
    let step = (paths.len() / N_CHECKED).max(1);
    let answers: Vec<(usize, u16, Value)> = stream::iter(paths.iter().enumerate())
        .map(|(i, (path, _))| async move {
            let (status, body) = ask(crowd, path).await;
            (i, status, body)
        })
        .buffer_unordered(32)
        .collect()
        .await;
    for (i, status, body) in answers {
        let (path, at) = &paths[i];
        assert_eq!(status, 200, "GET {path}: {body}");
        if i % step != 0 {
            continue;
        }
        let (want, want_m) = scan(known, *at);
        let got = body["station"]["code"].as_str().unwrap_or_default();
        let got_m = body["station"]["distance_m"].as_f64().unwrap_or(f64::NAN);
        assert!(
            got == want.code || (got_m - want_m).abs() < 0.5,
            "GET {path}: answered {got} at {got_m} m, the nearest is {} at {want_m:.1} m",
            want.code
        );
    }
    for (path, _) in excluded.iter().take(8) {
        let (status, body) = ask(crowd, path).await;
        assert_eq!(status, 404, "GET {path} (no station within the radius): {body}");
    }
}

/// A point a few metres from a station just seeded answers with that station.
async fn next_to(crowd: &Crowd, station: &Known) {
    let (lat, lon) = (station.at.lat() + 0.00002, station.at.lon() + 0.00002);
    let (status, body) = ask(crowd, &format!("/v1/air/nearest?lat={lat:.6}&lon={lon:.6}&coord=wgs84")).await;
    assert_eq!(status, 200, "next to {}: {body}", station.code);
    assert_eq!(body["station"]["code"], station.code.as_str(), "next to {}: {body}", station.code);
    assert!(body["aqi"].is_u64(), "a seeded station's reading gives an index: {body}");
}

/// The served points asked in turn under the run's load, the portal watched.
async fn measure(run: &Run<'_>, paths: &[Asked], stations: usize) -> Row {
    let paths: Arc<Vec<String>> = Arc::new(paths.iter().map(|(p, _)| p.clone()).collect());
    let crowd = run.crowd.clone();
    let watch = Watch::start(run.portal.pid());
    let sample = drive(run.load, move |seq| {
        let (crowd, paths) = (crowd.clone(), paths.clone());
        async move { Some(crowd.get(&paths[seq as usize % paths.len()]).await) }
    })
    .await;
    let usage = watch.finish().await;
    Row::new(&format!("GET /v1/air/nearest, {stations} stations"), &sample, Some(usage), |s| s == 200)
}

/// A connection to the portal's own air store: its schema on this run's PostgreSQL, or its
/// SQLite file (WAL, so the portal keeps reading while the seed writes).
async fn store(run: &Run<'_>) -> AnyConnection {
    sqlx::any::install_default_drivers();
    match &run.backend.database {
        Some((url, prefix)) => {
            let mut conn = AnyConnection::connect(url).await.expect("the run's PostgreSQL");
            let schema = format!("{prefix}{}", city_air::NAME);
            conn.execute(format!("SET search_path TO \"{schema}\"").as_str()).await.expect("the air schema");
            conn
        }
        None => {
            let file = run.backend.dir.path().join(format!("{}.db", city_air::NAME));
            let mut conn = AnyConnection::connect(&format!("sqlite://{}?mode=rw", file.display()))
                .await
                .expect("the portal's air store");
            // The portal's own writers (the demo feed) hold the lock now and then.
            conn.execute("PRAGMA busy_timeout = 10000").await.expect("a busy timeout");
            conn
        }
    }
}

/// The stations' rows, and the six pollutants' readings of the latest whole hour for each (the
/// hour is named by its end; the index needs all six), so every one is fresh and has an index.
async fn seed(conn: &mut AnyConnection, batch: &[Known]) {
    let now = now_ms();
    let hour = hour_floor(now);
    for chunk in batch.chunks(ROWS_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO stations (code, name, district_code, lat, lon, operator, active, created_at, updated_at) VALUES ",
        );
        for i in 0..chunk.len() {
            let b = i * 6;
            if i > 0 {
                sql.push_str(", ");
            }
            let [code, name, lat, lon, operator, at] = [b + 1, b + 2, b + 3, b + 4, b + 5, b + 6];
            sql.push_str(&format!("(${code}, ${name}, NULL, ${lat}, ${lon}, ${operator}, TRUE, ${at}, ${at})"));
        }
        let mut q = sqlx::query(&sql);
        for k in chunk {
            q = q.bind(k.code.clone()).bind(format!("Sensor {}", k.code)).bind(k.at.lat()).bind(k.at.lon());
            q = q.bind("load harness").bind(now);
        }
        q.execute(&mut *conn).await.expect("stations seeded");
    }
    let readings: Vec<(&str, &str, String)> = batch
        .iter()
        .enumerate()
        .flat_map(|(i, k)| {
            let pm25 = 15 + (i * 7) % 90;
            let code = k.code.as_str();
            [
                (code, "pm25", pm25.to_string()),
                (code, "pm10", (pm25 * 8 / 5).to_string()),
                (code, "so2", "8".to_owned()),
                (code, "no2", (20 + i % 40).to_string()),
                (code, "co", "0.8".to_owned()),
                (code, "o3", (40 + i % 80).to_string()),
            ]
        })
        .collect();
    for chunk in readings.chunks(ROWS_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO readings (station_code, hour_end, pollutant, value, received_at, corrected) VALUES ",
        );
        for i in 0..chunk.len() {
            let b = i * 5;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("(${}, ${}, ${}, ${}, ${}, FALSE)", b + 1, b + 2, b + 3, b + 4, b + 5));
        }
        let mut q = sqlx::query(&sql);
        for (code, pollutant, value) in chunk {
            q = q.bind(code.to_string()).bind(hour).bind(pollutant.to_string()).bind(value.clone()).bind(now);
        }
        q.execute(&mut *conn).await.expect("readings seeded");
    }
}

/// The admin saves `station` again through the API: the portal then rebuilds its index.
async fn put_station(crowd: &Crowd, admin: &str, station: &Known) {
    let body = json!({"name": format!("Sensor {}", station.code), "lat": station.at.lat(), "lon": station.at.lon(),
        "coord": "wgs84", "operator": "load harness"});
    let resp = crowd
        .http
        .put(format!("{}/v1/air/stations/{}", crowd.base, station.code))
        .header("x-forwarded-for", address(OFFICE))
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await
        .expect("PUT /v1/air/stations");
    let status = resp.status().as_u16();
    assert_eq!(status, 200, "PUT /v1/air/stations/{}: {}", station.code, resp.text().await.unwrap_or_default());
}

fn write(run: &Run<'_>, dir: &str, anchor: &Row, city_count: usize, points: &[Point]) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{dir}: {e}"));
    let backend = run.backend.name();
    let json = json!({
        "backend": backend,
        "secs": run.load.duration.as_secs(),
        "concurrency": run.load.concurrency,
        "city_stations": city_count,
        "anchor": {"scenario": anchor.scenario, "rps": anchor.rps, "p99_ms": anchor.p99_ms},
        "points": points,
    });
    let text = serde_json::to_string_pretty(&json).expect("the points as JSON") + "\n";
    std::fs::write(Path::new(dir).join("stations.json"), text).expect("stations.json");
    let series = |f: fn(&Point) -> f64| points.iter().map(|p| (p.stations as f64, f(p))).collect::<Vec<_>>();
    let path = |name: &str| Path::new(dir).join(name);
    draw(
        &path("nearest-p99-stations.png"),
        &format!("nearest station p99 ({backend})"),
        "stations",
        "p99 ms",
        &series(|p| p.p99_ms),
    );
    draw(
        &path("nearest-rate-stations.png"),
        &format!("nearest station req/s ({backend})"),
        "stations",
        "req/s",
        &series(|p| p.nearest_per_s),
    );
    println!("  charts and points written to {dir}/");
}
