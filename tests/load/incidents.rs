//! Incidents over the wire (issue #24): report creation, and the map at block zoom and as
//! city-wide clusters over a large store of reports, each beside its database floor.
//!
//! Reports are filed by signed-in citizens (one report each: the service lets a citizen file
//! once every 10 s, and a run is shorter), at points spread over the city's districts. The map's
//! store is grown directly in the portal's own database (one INSERT ... SELECT, with the count
//! table the map reads kept as a filing keeps it), and the map's own totals must then include
//! every seeded report: the run fails otherwise.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use city_incidents::domain::catalogue::privacy;
use city_incidents::domain::grid::{self, Bbox, CellRange, FINE_ZOOM};
use city_incidents::domain::Catalogue;
use city_platform::coords::{Crs, LatLon};
use city_platform::districts::Districts;
use serde_json::{json, Value};
use sqlx::{AnyConnection, Connection, Row as _};

use crate::crowd::{status_of, Crowd};
use crate::curve;
use crate::measure::{drive, Sample, Usage, Watch};
use crate::report::Row;
use crate::scenarios::Run;

/// Hot spots reports gather around (a street's potholes, a market's rubbish), and points spread
/// evenly over the districts where views are also opened.
const HOTSPOTS: usize = 4096;
const SPREAD: usize = 1024;
/// A block view: about 450 m by 480 m, at web-map zoom 17.
const BLOCK_DEG: (f64, f64) = (0.004, 0.005);
/// Seeded reports lie within this many degrees (lat, lon) of their hot spot, either way.
const JITTER_DEG: (f64, f64) = (0.003, 0.0035);
/// The central districts (denser than the suburbs, as in the city itself).
const CENTRAL: [&str; 5] = ["510104", "510105", "510106", "510107", "510108"];

/// Reports seeded into this run's store so far (map and curves share the store).
static SEEDED: AtomicU64 = AtomicU64::new(0);

fn var<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn smoke() -> bool {
    std::env::var("LOAD_SMOKE").is_ok_and(|v| v == "1")
}

/// A small deterministic generator (splitmix64): the same city every run, no extra crate.
struct Rng(u64);

impl Rng {
    fn draw(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.draw() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One kind of report as the catalogue defines it: what a citizen sends and what is stored.
struct Kind {
    category: String,
    /// How often it is reported, relative to the others.
    weight: usize,
    sla_ms: i64,
    description: String,
    address: String,
    /// Answers as sent (the required questions, first option).
    answers: BTreeMap<String, Vec<String>>,
    /// The answers as the service stores them (`check_answers`).
    attributes: String,
}

/// The city as the harness uses it: its box, hot spots with their district, even points, the
/// catalogue's kinds and routes, and the map's privacy rule.
struct City {
    bbox: Bbox,
    hotspots: Vec<(f64, f64, String)>,
    spread: Vec<(f64, f64)>,
    districts: Districts,
    kinds: Vec<Kind>,
    /// (category, district) -> agency, as the catalogue routes.
    routes: Vec<(String, String, String)>,
    private_categories: Vec<String>,
    private_agencies: Vec<String>,
}

fn city() -> &'static City {
    static CITY: OnceLock<City> = OnceLock::new();
    CITY.get_or_init(|| {
        let districts = Districts::demo().expect("the demo districts");
        let (mut south, mut west, mut north, mut east) = (90.0f64, 180.0f64, -90.0f64, -180.0f64);
        fn walk(v: &Value, f: &mut dyn FnMut(f64, f64)) {
            match v.as_array() {
                Some(a) if a.len() == 2 && a[0].is_number() => f(a[0].as_f64().unwrap(), a[1].as_f64().unwrap()),
                Some(a) => a.iter().for_each(|x| walk(x, f)),
                None => {}
            }
        }
        for feature in districts.geojson["features"].as_array().expect("districts as features") {
            walk(&feature["geometry"]["coordinates"], &mut |lon, lat| {
                (south, west, north, east) = (south.min(lat), west.min(lon), north.max(lat), east.max(lon));
            });
        }
        let bbox = Bbox { south, west, north, east };
        let mut rng = Rng(24);
        let locate = |rng: &mut Rng| loop {
            let (lat, lon) = (south + rng.unit() * (north - south), west + rng.unit() * (east - west));
            let p = LatLon::from_crs(Crs::Wgs84, lat, lon).expect("a point of the city");
            if let Some(d) = districts.locate(p) {
                return (lat, lon, d.code.clone());
            }
        };
        let mut hotspots = Vec::with_capacity(HOTSPOTS);
        while hotspots.len() < HOTSPOTS {
            let (lat, lon, code) = locate(&mut rng);
            // Suburbs hold fewer hot spots per square kilometre than the centre.
            if CENTRAL.contains(&code.as_str()) || rng.unit() < 0.35 {
                hotspots.push((lat, lon, code));
            }
        }
        let spread = (0..SPREAD).map(|_| locate(&mut rng)).map(|(lat, lon, _)| (lat, lon)).collect();

        let catalogue = Catalogue::demo().expect("the demo catalogue");
        let weights = [
            ("pothole", 6),
            ("streetlight", 4),
            ("dumping", 4),
            ("water_leak", 3),
            ("noise", 3),
            ("illegal_parking", 3),
            ("night_noise", 2),
        ];
        let kinds: Vec<Kind> = catalogue
            .categories
            .iter()
            .map(|c| {
                let answers: BTreeMap<String, Vec<String>> = c
                    .questions
                    .iter()
                    .filter(|q| q.variable && q.required)
                    .map(|q| (q.code.clone(), vec![q.values.first().expect("options of a required list").key.clone()]))
                    .collect();
                let checked = c.check_answers(&answers).unwrap_or_else(|e| panic!("answers for {}: {e:?}", c.code));
                let description = format!("{}位置见地图定位，请安排处理。", c.description_zh.trim_end_matches('。'));
                // Filed as a citizen files it: never an emergency (that would answer 400, not 201).
                assert!(catalogue.emergency(&c.code, &description).is_none(), "{description} reads as an emergency");
                Kind {
                    category: c.code.clone(),
                    weight: weights.iter().find(|(code, _)| *code == c.code).map_or(1, |(_, w)| *w),
                    sla_ms: c.sla_hours * 3_600_000,
                    description,
                    address: "成都市人民南路二段附近".into(),
                    attributes: serde_json::to_string(&checked).expect("answers as JSON"),
                    answers,
                }
            })
            .collect();
        let mut routes = Vec::new();
        for k in &kinds {
            for d in districts.all() {
                let agency = catalogue.route(&k.category, &d.code).expect("every category is routed");
                routes.push((k.category.clone(), d.code.clone(), agency.id.clone()));
            }
        }
        let p = privacy();
        City {
            bbox,
            hotspots,
            spread,
            districts,
            kinds,
            routes,
            private_categories: p.categories.clone(),
            private_agencies: p.agencies.clone(),
        }
    })
}

/// A point of report `n`: near a hot spot, in the city (a point the jitter took out of every
/// district goes back to its hot spot, since the service refuses reports outside the city).
fn report_point(n: u64) -> (f64, f64) {
    let c = city();
    let mut rng = Rng(n.wrapping_mul(7919) ^ 0x1D);
    let (lat, lon, _) = &c.hotspots[rng.draw() as usize % c.hotspots.len()];
    let (jl, jo) = (lat + (rng.unit() - 0.5) * 2.0 * JITTER_DEG.0, lon + (rng.unit() - 0.5) * 2.0 * JITTER_DEG.1);
    let inside = LatLon::from_crs(Crs::Wgs84, jl, jo).ok().and_then(|p| c.districts.locate(p)).is_some();
    if inside {
        (jl, jo)
    } else {
        (*lat, *lon)
    }
}

/// The kind of report `n`, by the kinds' weights.
fn kind_of(n: u64) -> &'static Kind {
    let kinds = &city().kinds;
    let total: usize = kinds.iter().map(|k| k.weight).sum();
    let mut pick = (Rng(n ^ 0xC0FFEE).draw() % total as u64) as usize;
    for k in kinds {
        if pick < k.weight {
            return k;
        }
        pick -= k.weight;
    }
    &kinds[0]
}

/// A connection to the shared PostgreSQL, waiting while other runs hold every slot it has
/// ("too many clients"), as a pool would wait for one.
async fn connect<C, Fut>(open: impl Fn() -> Fut) -> C
where
    Fut: std::future::Future<Output = Result<C, sqlx::Error>>,
{
    for _ in 0..60 {
        match open().await {
            Ok(conn) => return conn,
            Err(e) if e.to_string().contains("too many clients") => tokio::time::sleep(Duration::from_secs(1)).await,
            Err(e) => panic!("PostgreSQL: {e}"),
        }
    }
    panic!("PostgreSQL had no free connection for a minute");
}

/// Measures `job` against the portal while watching its CPU and RSS.
async fn measure<F, Fut>(run: &Run<'_>, job: F) -> (Sample, Usage)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Option<u16>> + Send,
{
    let watch = Watch::start(run.portal.pid());
    let sample = drive(run.load, job).await;
    (sample, watch.finish().await)
}

// ---------------------------------------------------------------------------------------------
// Report creation

/// `POST /v1/incidents` by signed-in citizens with real `Idempotency-Key`s (goal ≥ 500/s).
pub async fn reports(run: &mut Run<'_>) {
    // One report per citizen: the service's repeat guard allows one every 10 s, longer than a run.
    let n: u64 = var("LOAD_REPORTERS").unwrap_or(if smoke() { 1000 } else { 5000 });
    let started = Instant::now();
    let citizens = Arc::new(run.crowd.citizens(&format!("{}-report", run.tag), 3_000_000, n, 0).await);
    println!("  ({n} citizens signed in for the reports in {:.1} s)", started.elapsed().as_secs_f64());
    let crowd = run.crowd.clone();
    let (sample, usage) = measure(run, move |seq| {
        let citizen = citizens.get(seq as usize).cloned();
        let crowd = crowd.clone();
        async move {
            let citizen = citizen?;
            let kind = kind_of(seq);
            let (lat, lon) = report_point(seq);
            // As the Mini Program sends it: WeChat's map gives GCJ-02.
            let (glat, glon) = LatLon::from_crs(Crs::Wgs84, lat, lon).expect("a city point").to_crs(Crs::Gcj02);
            let answers: serde_json::Map<String, Value> =
                kind.answers.iter().map(|(k, v)| (k.clone(), json!(v[0]))).collect();
            let body = json!({
                "category": kind.category, "description": kind.description, "address": kind.address,
                "location": {"lat": glat, "lon": glon, "coord": "gcj02"}, "answers": answers,
            });
            Some(status_of(crowd.post("/v1/incidents", &citizen.ip, Some(&citizen.token), &body)).await)
        }
    })
    .await;
    if sample.total >= n {
        println!("  (all {n} citizens reported before the time ran out: LOAD_REPORTERS raises them)");
    }
    let row = Row::new("POST /v1/incidents", &sample, Some(usage), |s| s == 201);
    let anchor = match &run.backend.database {
        Some((url, prefix)) => {
            let schema = format!("{prefix}pgbench_incidents");
            prepare_report_floor(url, &format!("{prefix}incidents"), &schema).await;
            let floor =
                pgbench(url, &schema, "incidents-report.pgbench.sql", run.load.concurrency, run.load.duration, &[])
                    .await;
            run.keep(Row::new("pgbench: a report's writes (floor)", &floor, None, |s| s == 200))
        }
        None => {
            println!("  (pgbench floor skipped on the embedded backend: the bare handler is the anchor)");
            run.bare_anchor().await
        }
    };
    let row = run.keep(row.against(&anchor));
    println!("  (goal ≥ 500 reports/s: {:.0}/s)", row.rps);
}

/// A scratch copy of the portal's incidents tables a report writes (columns, defaults and
/// every index), empty, for pgbench.
async fn prepare_report_floor(url: &str, source: &str, schema: &str) {
    let mut conn = connect(|| sqlx::postgres::PgConnection::connect(url)).await;
    let mut ddl = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE; CREATE SCHEMA \"{schema}\";");
    for table in ["incident_reports", "incident_updates", "incident_reporters", "incident_map_cells", "platform_outbox"]
    {
        ddl.push_str(&format!("CREATE TABLE \"{schema}\".{table} (LIKE \"{source}\".{table} INCLUDING ALL);"));
    }
    sqlx::raw_sql(&ddl).execute(&mut conn).await.expect("the report floor's tables");
    conn.close().await.ok();
}

/// Runs `script` (in tests/load) with pgbench, `clients` connections for `duration`, the
/// search path set to `schema` (then the portal's incidents schema); latencies from its log.
async fn pgbench(
    url: &str,
    schema: &str,
    script: &str,
    clients: usize,
    duration: Duration,
    defines: &[(&str, String)],
) -> Sample {
    let (url, schema, script) = (url.to_owned(), schema.to_owned(), script.to_owned());
    let defines: Vec<String> = defines.iter().map(|(k, v)| format!("-D{k}={v}")).collect();
    tokio::task::spawn_blocking(move || {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/load").join(&script);
        crate::pgbench::run_script(&url, &schema, &path, clients, duration, &defines)
    })
    .await
    .expect("pgbench")
}

// ---------------------------------------------------------------------------------------------
// Seeding the map's store

/// A connection to the portal's incidents store: its PostgreSQL schema, or its SQLite file.
async fn store(run: &Run<'_>) -> (AnyConnection, bool) {
    sqlx::any::install_default_drivers();
    match &run.backend.database {
        Some((url, prefix)) => {
            let mut conn = connect(|| AnyConnection::connect(url)).await;
            sqlx::query(&format!("SET search_path TO \"{prefix}incidents\""))
                .execute(&mut conn)
                .await
                .expect("the incidents schema");
            (conn, false)
        }
        None => {
            let file: PathBuf = run.backend.dir.path().join("incidents.db");
            let mut conn = AnyConnection::connect(&format!("sqlite://{}", file.display()))
                .await
                .expect("the incidents SQLite file");
            // The portal holds the same file open: wait for its writers as it waits for ours.
            sqlx::query("PRAGMA busy_timeout = 30000").execute(&mut conn).await.expect("a busy timeout");
            (conn, true)
        }
    }
}

/// `(a, b, ...)` with `n` placeholders per row, the `first`th first: `?` for SQLite (it takes
/// `$n` for a name and looks each up), `$n` for PostgreSQL.
fn values_row(sqlite: bool, first: usize, n: usize) -> String {
    let ps: Vec<String> = (first..first + n).map(|i| if sqlite { "?".into() } else { format!("${i}") }).collect();
    format!("({})", ps.join(", "))
}

/// Small tables of this connection the seeding draws from: hot spots, kinds (repeated by
/// weight), states (repeated by how common each is) and the catalogue's routes.
async fn load_tables(conn: &mut AnyConnection, sqlite: bool) {
    let c = city();
    for ddl in [
        "CREATE TEMP TABLE IF NOT EXISTS load_spots (i BIGINT PRIMARY KEY, lat DOUBLE PRECISION NOT NULL,
         lon DOUBLE PRECISION NOT NULL, district TEXT NOT NULL)",
        "CREATE TEMP TABLE IF NOT EXISTS load_kinds (i BIGINT PRIMARY KEY, category TEXT NOT NULL, sla_ms BIGINT NOT NULL,
         description TEXT NOT NULL, address TEXT NOT NULL, attributes TEXT NOT NULL)",
        "CREATE TEMP TABLE IF NOT EXISTS load_states (i BIGINT PRIMARY KEY, state TEXT NOT NULL, is_open BOOLEAN NOT NULL)",
        "CREATE TEMP TABLE IF NOT EXISTS load_routes (category TEXT NOT NULL, district TEXT NOT NULL, agency TEXT NOT NULL,
         PRIMARY KEY (category, district))",
        "DELETE FROM load_spots",
        "DELETE FROM load_kinds",
        "DELETE FROM load_states",
        "DELETE FROM load_routes",
    ] {
        sqlx::query(ddl).execute(&mut *conn).await.expect("the seeding's tables");
    }
    for (chunk_no, chunk) in c.hotspots.chunks(1000).enumerate() {
        let rows: Vec<String> = (0..chunk.len()).map(|i| values_row(sqlite, i * 4 + 1, 4)).collect();
        let sql = format!("INSERT INTO load_spots (i, lat, lon, district) VALUES {}", rows.join(", "));
        let mut q = sqlx::query(&sql);
        for (i, (lat, lon, d)) in chunk.iter().enumerate() {
            q = q.bind((chunk_no * 1000 + i) as i64).bind(*lat).bind(*lon).bind(d.clone());
        }
        q.execute(&mut *conn).await.expect("the hot spots");
    }
    let mut i = 0i64;
    for k in &c.kinds {
        for _ in 0..k.weight {
            let sql = format!(
                "INSERT INTO load_kinds (i, category, sla_ms, description, address, attributes) VALUES {}",
                values_row(sqlite, 1, 6)
            );
            sqlx::query(&sql)
                .bind(i)
                .bind(k.category.clone())
                .bind(k.sla_ms)
                .bind(k.description.clone())
                .bind(k.address.clone())
                .bind(k.attributes.clone())
                .execute(&mut *conn)
                .await
                .expect("the kinds");
            i += 1;
        }
    }
    // Most reports of a city that has run for two years are finished; a third still need work.
    let states = [
        ("open", 20, true),
        ("confirmed", 5, true),
        ("investigating", 3, true),
        ("action_scheduled", 3, true),
        ("in_progress", 5, true),
        ("fixed", 40, false),
        ("closed", 12, false),
        ("duplicate", 5, false),
        ("not_responsible", 4, false),
        ("no_further_action", 3, false),
    ];
    let mut i = 0i64;
    for (state, weight, open) in states {
        for _ in 0..weight {
            let sql = format!("INSERT INTO load_states (i, state, is_open) VALUES {}", values_row(sqlite, 1, 3));
            sqlx::query(&sql).bind(i).bind(state).bind(open).execute(&mut *conn).await.expect("the states");
            i += 1;
        }
    }
    for (category, district, agency) in &c.routes {
        let sql = format!("INSERT INTO load_routes (category, district, agency) VALUES {}", values_row(sqlite, 1, 3));
        sqlx::query(&sql)
            .bind(category.clone())
            .bind(district.clone())
            .bind(agency.clone())
            .execute(&mut *conn)
            .await
            .expect("the routes");
    }
}

/// `AND` the report is on the public map (`access::on_map`: text passed, not private), over
/// columns of `t`.
fn on_map_sql(t: &str) -> String {
    let c = city();
    let list = |v: &[String]| v.iter().map(|s| format!("'{}'", s.replace('\'', "''"))).collect::<Vec<_>>().join(", ");
    let mut sql = format!("{t}.moderation = 'pass'");
    if !c.private_categories.is_empty() {
        sql.push_str(&format!(" AND {t}.category NOT IN ({})", list(&c.private_categories)));
    }
    if !c.private_agencies.is_empty() {
        sql.push_str(&format!(" AND {t}.agency NOT IN ({})", list(&c.private_agencies)));
    }
    sql
}

/// The INSERT of the seeded reports, from `drawn` (one row per report with its draws).
/// Ids have a UUIDv7's shape (its creation time first), as `new_id` makes them.
fn report_select(sqlite: bool, tag: &str) -> String {
    let fine = grid::cell_deg(FINE_ZOOM);
    // floor() of a positive number in both dialects (SQLite's CAST truncates), as the
    // migration computes a report's cell, which `grid::fine_cell` computes in Rust.
    let floor = |x: String| {
        if sqlite {
            format!("(CAST({x} AS INTEGER) - CASE WHEN CAST({x} AS INTEGER) > {x} THEN 1 ELSE 0 END)")
        } else {
            format!("CAST(floor({x}) AS BIGINT)")
        }
    };
    let (cell_row, cell_col) = (floor(format!("((lat + 90) / {fine:?})")), floor(format!("((lon + 180) / {fine:?})")));
    let id = if sqlite {
        "substr(printf('%012x', created_at), 1, 8) || '-' || substr(printf('%012x', created_at), 9, 4) || '-7' ||
         substr(h, 1, 3) || '-8' || substr(h, 4, 3) || '-' || substr(h, 7, 12)"
            .to_owned()
    } else {
        "substr(lpad(to_hex(created_at), 12, '0'), 1, 8) || '-' || substr(lpad(to_hex(created_at), 12, '0'), 9, 4) ||
         '-7' || substr(h, 1, 3) || '-8' || substr(h, 4, 3) || '-' || substr(h, 7, 12)"
            .to_owned()
    };
    format!(
        "INSERT INTO incident_reports (id, citizen_id, reporter_name, anonymous, channel, contact, category, agency,
             district, state, is_open, description, address, attributes, lat, lon, orig_crs, orig_lat, orig_lon,
             moderation, assignee_id, assignee_name, duplicate_of, n_photos, n_followers, version, created_at,
             updated_at, due_at, closed_at, cell_row, cell_col)
         SELECT {id}, 'load-{tag}-' || (n % 40000), NULL, TRUE, 'miniprogram', NULL, category, agency, district, state,
             is_open, description, address, attributes, lat, lon, 'gcj02', lat, lon, moderation, NULL, NULL, NULL, 0, 0,
             CASE WHEN state = 'open' THEN 1 ELSE 3 END, created_at,
             CASE WHEN state = 'open' THEN created_at ELSE created_at + sla_ms / 2 END, created_at + sla_ms,
             CASE WHEN is_open THEN NULL ELSE created_at + sla_ms / 2 END, {cell_row}, {cell_col}
         FROM drawn"
    )
}

/// The drawn reports, one per number of `seq` (the CTEs both dialects share, after `seq`).
fn rows_ctes(sqlite: bool, tag: &str, now: i64) -> String {
    let c = city();
    let (ns, nk, nt): (usize, usize, usize) = (c.hotspots.len(), c.kinds.iter().map(|k| k.weight).sum(), 100);
    // Every draw is made once, in a materialized step: the later steps use each twice or more.
    // Text held for a clerk ('review') stays off the map; none is 'pending' (held while the
    // check was down), which the portal's re-check would put on the map in the middle of a run.
    let (pick, unit, hash): (fn(usize) -> String, &str, String) = if sqlite {
        (
            |n: usize| format!("abs(random()) % {n}"),
            "(abs(random()) % 1000000000) / 1000000000.0",
            "lower(hex(randomblob(9)))".to_owned(),
        )
    } else {
        (|n: usize| format!("CAST(floor(random() * {n}) AS BIGINT)"), "random()", format!("md5('{tag}' || n)"))
    };
    let two_years_ms = 2 * 365 * 86_400_000i64;
    format!(
        "g AS MATERIALIZED (SELECT n, {si} AS si, {ki} AS ki, {ti} AS ti, {unit} AS u1, {unit} AS u2, {unit} AS u3,
             {unit} AS u4, {hash} AS h FROM seq),
         drawn AS (SELECT g.n, g.h, s.lat + (g.u1 - 0.5) * {jl:?} AS lat, s.lon + (g.u2 - 0.5) * {jo:?} AS lon,
             s.district, k.category, r.agency, t.state, t.is_open, k.sla_ms, k.description, k.address, k.attributes,
             {now} - CAST(g.u3 * {two_years_ms} AS BIGINT) AS created_at,
             CASE WHEN g.u4 < 0.98 THEN 'pass' ELSE 'review' END AS moderation
             FROM g JOIN load_spots s ON s.i = g.si JOIN load_kinds k ON k.i = g.ki JOIN load_states t ON t.i = g.ti
             JOIN load_routes r ON r.category = k.category AND r.district = s.district)",
        si = pick(ns),
        ki = pick(nk),
        ti = pick(nt),
        jl = 2.0 * JITTER_DEG.0,
        jo = 2.0 * JITTER_DEG.1,
    )
}

/// The count rows (zooms 10/12/14/16; the category's and '*') of the reports `source` yields,
/// added to the table as filing adds them.
fn counts_insert(source: &str, category: &str, filter: &str) -> String {
    format!(
        "INSERT INTO incident_map_cells (zoom, category, cell_row, cell_col, state, n, sum_lat, sum_lon)
         SELECT z.zoom, {category}, m.cell_row >> (17 - z.zoom), m.cell_col >> (17 - z.zoom), m.state, COUNT(*),
             SUM(m.lat), SUM(m.lon)
         FROM {source} m, (SELECT 10 AS zoom UNION ALL SELECT 12 UNION ALL SELECT 14 UNION ALL SELECT 16) z
         WHERE {filter}
         GROUP BY 1, 2, 3, 4, 5
         ON CONFLICT (zoom, category, cell_row, cell_col, state) DO UPDATE SET
             n = incident_map_cells.n + excluded.n,
             sum_lat = incident_map_cells.sum_lat + excluded.sum_lat,
             sum_lon = incident_map_cells.sum_lon + excluded.sum_lon"
    )
}

/// Adds reports numbered `from..to` to the portal's store; returns how many of them are on the
/// public map.
async fn seed(run: &Run<'_>, from: u64, to: u64) -> u64 {
    if to <= from {
        return 0;
    }
    let (mut conn, sqlite) = store(run).await;
    load_tables(&mut conn, sqlite).await;
    let now = city_platform::time::now_ms();
    let tag = &run.tag;
    let last = to - 1;
    let started = Instant::now();
    let on_map = if sqlite {
        let before: i64 = sqlx::query("SELECT CAST(COALESCE(MAX(rowid), 0) AS BIGINT) FROM incident_reports")
            .fetch_one(&mut conn)
            .await
            .expect("the last row")
            .get(0);
        let mut tx = conn.begin().await.expect("a transaction");
        let sql = format!(
            "WITH RECURSIVE seq(n) AS (SELECT {from} UNION ALL SELECT n + 1 FROM seq WHERE n < {last}), {ctes} {insert}",
            ctes = rows_ctes(true, tag, now),
            insert = report_select(true, tag),
        );
        sqlx::query(&sql).execute(&mut *tx).await.expect("the seeded reports (SQLite)");
        let new = format!("(SELECT * FROM incident_reports WHERE rowid > {before})");
        let filter = on_map_sql("m");
        for category in ["m.category", "'*'"] {
            sqlx::query(&counts_insert(&new, category, &filter))
                .execute(&mut *tx)
                .await
                .expect("the seeded reports' counts (SQLite)");
        }
        let n: i64 = sqlx::query(&format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {new} m WHERE {filter}"))
            .fetch_one(&mut *tx)
            .await
            .expect("the seeded count")
            .get(0);
        tx.commit().await.expect("the seeding committed");
        n as u64
    } else {
        // One statement: the reports, then the count rows of those on the map, from its RETURNING.
        let sql = format!(
            "WITH seq AS (SELECT n FROM generate_series(CAST({from} AS BIGINT), {last}) AS n), {ctes},
             added AS ({select} RETURNING category, agency, state, moderation, lat, lon, cell_row, cell_col),
             on_map AS (SELECT * FROM added m WHERE {filter}),
             counted AS ({counts_own} RETURNING 1),
             counted_all AS ({counts_all} RETURNING 1)
             SELECT CAST((SELECT COUNT(*) FROM added) AS BIGINT), CAST((SELECT COUNT(*) FROM on_map) AS BIGINT),
                 CAST((SELECT COUNT(*) FROM counted) + (SELECT COUNT(*) FROM counted_all) AS BIGINT)",
            ctes = rows_ctes(false, tag, now),
            select = report_select(false, tag),
            filter = on_map_sql("m"),
            counts_own = counts_insert("on_map", "m.category", "TRUE"),
            counts_all = counts_insert("on_map", "'*'", "TRUE"),
        );
        let row = sqlx::query(&sql).fetch_one(&mut conn).await.expect("the seeded reports (PostgreSQL)");
        let (inserted, on_map): (i64, i64) = (row.get(0), row.get(1));
        assert_eq!(inserted as u64, to - from, "every seeded report inserted");
        // As autovacuum does after a million new rows: statistics for the planner, and the
        // visibility map, so index-only reads work as on a table autovacuum has passed.
        sqlx::query("VACUUM ANALYZE incident_reports").execute(&mut conn).await.expect("VACUUM ANALYZE");
        sqlx::query("ANALYZE incident_map_cells").execute(&mut conn).await.expect("ANALYZE");
        on_map as u64
    };
    conn.close().await.ok();
    SEEDED.fetch_max(to, Ordering::Relaxed);
    println!(
        "  (seeded reports {from}..{to} in {:.1} s: {on_map} of them on the public map)",
        started.elapsed().as_secs_f64()
    );
    on_map
}

// ---------------------------------------------------------------------------------------------
// The map

/// One view the crowd opens: its path, and its box as the service reads it back.
struct View {
    path: String,
    bbox: Bbox,
    zoom: u8,
}

fn view(west: f64, south: f64, east: f64, north: f64, zoom: u8) -> View {
    let text = format!("{west:.6},{south:.6},{east:.6},{north:.6}");
    let n: Vec<f64> = text.split(',').map(|v| v.parse().expect("a number")).collect();
    View {
        path: format!("/v1/incidents/map?bbox={text}&zoom={zoom}"),
        bbox: Bbox { west: n[0], south: n[1], east: n[2], north: n[3] },
        zoom,
    }
}

/// Block views at zoom 17: half where reports gather, half anywhere in the districts.
fn blocks() -> &'static [View] {
    static BLOCKS: OnceLock<Vec<View>> = OnceLock::new();
    BLOCKS.get_or_init(|| {
        let c = city();
        let mut rng = Rng(17);
        (0..2048)
            .map(|i| {
                let (lat, lon) = if i % 2 == 0 {
                    let (lat, lon, _) = &c.hotspots[rng.draw() as usize % c.hotspots.len()];
                    (lat + (rng.unit() - 0.5) * JITTER_DEG.0, lon + (rng.unit() - 0.5) * JITTER_DEG.1)
                } else {
                    c.spread[rng.draw() as usize % c.spread.len()]
                };
                let (h, w) = (BLOCK_DEG.0 / 2.0, BLOCK_DEG.1 / 2.0);
                view(lon - w, lat - h, lon + w, lat + h, 17)
            })
            .collect()
    })
}

/// The whole city as clusters, at web-map zooms 10, 11 and 12.
fn city_views() -> Vec<View> {
    let b = city().bbox;
    // Outward to the 4th decimal, so the rounded box still holds every district.
    let (down, up) = (|x: f64| (x * 1e4).floor() / 1e4, |x: f64| (x * 1e4).ceil() / 1e4);
    (10..=12).map(|z| view(down(b.west), down(b.south), up(b.east), up(b.north), z)).collect()
}

/// Reports on the public map over the whole city, as the map itself counts them.
async fn map_total(crowd: &Crowd) -> u64 {
    let v = &city_views()[0];
    let answer = crowd.get_json(&v.path, &crowd.anonymous(), None).await;
    let features = answer["features"].as_array().expect("a FeatureCollection");
    features
        .iter()
        .map(|f| match f["properties"]["kind"].as_str() {
            Some("cluster") => f["properties"]["count"].as_u64().expect("a cluster's count"),
            _ => 1,
        })
        .sum()
}

/// Pins of block views against the store's own count of public reports in the same boxes:
/// the seeded reports' cells are the ones the map index finds them by.
async fn check_blocks(run: &Run<'_>) {
    let (mut conn, _) = store(run).await;
    let (mut checked, mut pins) = (0, 0);
    for v in blocks().iter().take(24) {
        let answer = run.crowd.get_json(&v.path, &run.crowd.anonymous(), None).await;
        let features = answer["features"].as_array().expect("a FeatureCollection");
        if features.iter().any(|f| f["properties"]["kind"] != "report") {
            continue;
        }
        let b = v.bbox;
        let sql = format!(
            "SELECT CAST(COUNT(*) AS BIGINT) FROM incident_reports m WHERE m.lat BETWEEN {:?} AND {:?}
             AND m.lon BETWEEN {:?} AND {:?} AND {}",
            b.south,
            b.north,
            b.west,
            b.east,
            on_map_sql("m")
        );
        let n: i64 = sqlx::query(&sql).fetch_one(&mut conn).await.expect("a count of the block").get(0);
        assert_eq!(features.len() as i64, n, "the map's pins of {} against the store", v.path);
        checked += 1;
        pins += n;
    }
    conn.close().await.ok();
    println!("  (map checked: {checked} block views show all {pins} public reports the store holds in them)");
}

/// GETs of `views` in random order by anonymous citizens.
async fn views_row(run: &Run<'_>, name: &str, views: Vec<String>) -> Row {
    let (crowd, views) = (run.crowd.clone(), Arc::new(views));
    let (sample, usage) = measure(run, move |seq| {
        let (crowd, views) = (crowd.clone(), views.clone());
        async move { Some(crowd.get(&views[Rng(seq).draw() as usize % views.len()]).await) }
    })
    .await;
    Row::new(name, &sample, Some(usage), |s| s == 200)
}

const BLOCK_ROW: &str = "GET /v1/incidents/map (block zoom)";
const CITY_ROW: &str = "GET /v1/incidents/map (city clusters)";

/// Grows the store to `n` reports and proves the map counts the seeded ones.
async fn grow(run: &Run<'_>, n: u64) {
    let from = SEEDED.load(Ordering::Relaxed);
    if n <= from {
        return;
    }
    let before = map_total(&run.crowd).await;
    let on_map = seed(run, from, n).await;
    let after = map_total(&run.crowd).await;
    assert_eq!(after - before, on_map, "the map's total grew by every seeded report on it ({before} -> {after})");
    println!("  (map's city total {before} -> {after}: every seeded public report counted)");
}

/// The map over `LOAD_REPORTS` reports (1 M; fewer in the smoke): block zoom p99 < 15 ms,
/// city-wide clusters p99 < 50 ms.
pub async fn map(run: &mut Run<'_>) {
    let n: u64 = var("LOAD_REPORTS").unwrap_or(if smoke() { 10_000 } else { 1_000_000 });
    grow(run, n).await;
    check_blocks(run).await;
    let block = views_row(run, BLOCK_ROW, blocks().iter().map(|v| v.path.clone()).collect()).await;
    let block_floor = map_floor(run, "incidents-map-block.pgbench.sql").await;
    let city = views_row(run, CITY_ROW, city_views().into_iter().map(|v| v.path).collect()).await;
    let city_floor = map_floor(run, "incidents-map-clusters.pgbench.sql").await;
    let reports = SEEDED.load(Ordering::Relaxed);
    match (block_floor, city_floor) {
        (Some(bf), Some(cf)) => {
            let bf = run.keep(Row::new("pgbench: map SQL of a block (floor)", &bf, None, |s| s == 200));
            run.keep(block.against(&bf));
            let cf = run.keep(Row::new("pgbench: map SQL of the city (floor)", &cf, None, |s| s == 200));
            run.keep(city.against(&cf));
        }
        _ => {
            println!("  (pgbench floors skipped on the embedded backend: the bare handler is the anchor)");
            let bare = run.bare_anchor().await;
            run.keep(block.against(&bare));
            run.keep(city.against(&bare));
        }
    }
    let p99 = |name: &str| run.rows.iter().rev().find(|r| r.scenario == name).map_or(0.0, |r| r.p99_ms);
    println!(
        "  (with {reports} seeded reports: block p99 {:.2} ms, goal < 15; clusters p99 {:.2} ms, goal < 50)",
        p99(BLOCK_ROW),
        p99(CITY_ROW)
    );
}

/// pgbench running the map's SQL for the harness's own views on the portal's store; `None`
/// on the embedded backend.
async fn map_floor(run: &Run<'_>, script: &str) -> Option<Sample> {
    let (url, prefix) = run.backend.database.as_ref()?;
    let schema = format!("{prefix}pgbench_map");
    let c = city();
    // The script names the private categories and agencies itself: they must be the catalogue's.
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/load").join(script))
        .expect("the map's pgbench script");
    if script.contains("block") {
        let list = |v: &[String]| v.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ");
        let expected = format!(
            "category NOT IN ({}) AND agency NOT IN ({})",
            list(&c.private_categories),
            list(&c.private_agencies)
        );
        assert!(text.contains(&expected), "{script} must say `{expected}`, as the catalogue does");
    }
    let mut conn = connect(|| sqlx::postgres::PgConnection::connect(url)).await;
    let ddl = format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE; CREATE SCHEMA \"{schema}\";
         CREATE TABLE \"{schema}\".load_blocks (i BIGINT PRIMARY KEY, south DOUBLE PRECISION, west DOUBLE PRECISION,
             north DOUBLE PRECISION, east DOUBLE PRECISION, r16_0 BIGINT, r16_1 BIGINT, c16_0 BIGINT, c16_1 BIGINT,
             r0 BIGINT, r1 BIGINT, r2 BIGINT, r3 BIGINT, r4 BIGINT, r5 BIGINT, r6 BIGINT, r7 BIGINT, c0 BIGINT, c1 BIGINT);
         CREATE TABLE \"{schema}\".load_views (i BIGINT PRIMARY KEY, count_zoom BIGINT, shift BIGINT, r0 BIGINT,
             r1 BIGINT, c0 BIGINT, c1 BIGINT);"
    );
    sqlx::raw_sql(&ddl).execute(&mut conn).await.expect("the map floor's tables");
    let mut values = Vec::new();
    for (i, v) in blocks().iter().enumerate() {
        // As `reports::map::view` reads a block: bounded by the count table's zoom-16 cells,
        // then the reports of the zoom-17 cells it touches (rows listed one by one).
        assert!(grid::cluster_zoom(v.zoom, &v.bbox) == FINE_ZOOM && grid::count_zoom(FINE_ZOOM).is_none());
        let coarse = CellRange::covering(16, &v.bbox);
        let fine = CellRange::covering(FINE_ZOOM, &v.bbox);
        assert!(fine.n_rows() <= 8, "a block spans at most 8 rows of fine cells");
        let rows: Vec<String> = (0..8).map(|k| (fine.row0 + k).min(fine.row1).to_string()).collect();
        let b = v.bbox;
        values.push(format!(
            "({i}, {:?}, {:?}, {:?}, {:?}, {}, {}, {}, {}, {}, {}, {})",
            b.south,
            b.west,
            b.north,
            b.east,
            coarse.row0,
            coarse.row1,
            coarse.col0,
            coarse.col1,
            rows.join(", "),
            fine.col0,
            fine.col1
        ));
    }
    let mut views = Vec::new();
    for (i, v) in city_views().iter().enumerate() {
        let zc = grid::cluster_zoom(v.zoom, &v.bbox);
        let zt = grid::count_zoom(zc).expect("a city view is served from the count table");
        let at = CellRange::covering(zc, &v.bbox).at(zt);
        views.push(format!("({i}, {zt}, {}, {}, {}, {}, {})", zt - zc, at.row0, at.row1, at.col0, at.col1));
    }
    let fill = format!(
        "INSERT INTO \"{schema}\".load_blocks VALUES {}; INSERT INTO \"{schema}\".load_views VALUES {}; ANALYZE \"{schema}\".load_blocks;",
        values.join(", "),
        views.join(", ")
    );
    sqlx::raw_sql(&fill).execute(&mut conn).await.expect("the map floor's views");
    conn.close().await.ok();
    let defines = [("n_blocks", blocks().len().to_string()), ("n_views", city_views().len().to_string())];
    let path = format!("{schema},{prefix}incidents");
    Some(pgbench(url, &path, script, run.load.concurrency, run.load.duration, &defines).await)
}

/// Map p99 against reports (10k to 1M) and the server's RSS against reports, as charts in `dir`.
pub async fn curves(run: &mut Run<'_>, dir: &str) {
    const POINTS: [u64; 5] = [10_000, 30_000, 100_000, 300_000, 1_000_000];
    println!("\nthe map against reports (the store grown between points):");
    let mut points = Vec::new();
    for target in POINTS {
        if SEEDED.load(Ordering::Relaxed) > target {
            println!("  ({target} reports: skipped, the store already holds more)");
            continue;
        }
        grow(run, target).await;
        let block = views_row(run, BLOCK_ROW, blocks().iter().map(|v| v.path.clone()).collect()).await;
        let city = views_row(run, CITY_ROW, city_views().into_iter().map(|v| v.path).collect()).await;
        let rss_mb = block.rss_peak_mb.unwrap_or(0.0).max(city.rss_peak_mb.unwrap_or(0.0));
        println!(
            "  {target:>8} reports: block {:.0}/s p99 {:.2} ms; clusters {:.0}/s p99 {:.2} ms; RSS peak {rss_mb:.1} MiB",
            block.rps, block.p99_ms, city.rps, city.p99_ms
        );
        points.push(json!({
            "reports": target,
            "block": {"rps": block.rps, "p50_ms": block.p50_ms, "p99_ms": block.p99_ms, "errors": block.n_errors()},
            "clusters": {"rps": city.rps, "p50_ms": city.p50_ms, "p99_ms": city.p99_ms, "errors": city.n_errors()},
            "rss_peak_mb": rss_mb,
            "rss_end_mb": city.rss_end_mb,
        }));
    }
    // cargo runs benches in the package's folder: a relative folder is the workspace's, as the
    // documented command (`LOAD_CURVE=docs/performance`) means it.
    let dir = match Path::new(dir).is_relative() {
        true => Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(dir),
        false => PathBuf::from(dir),
    };
    let dir = dir.as_path();
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let backend = run.backend.name();
    let json = json!({"backend": backend, "secs": run.load.duration.as_secs(),
        "concurrency": run.load.concurrency, "points": points});
    let text = serde_json::to_string_pretty(&json).expect("the points as JSON") + "\n";
    std::fs::write(dir.join("map.json"), text).expect("map.json");
    let series = |f: &dyn Fn(&Value) -> f64| {
        points.iter().map(|p| (p["reports"].as_f64().unwrap_or(0.0), f(p))).collect::<Vec<_>>()
    };
    let path = |name: &str| dir.join(name);
    let p99 = |what: &'static str| move |p: &Value| p[what]["p99_ms"].as_f64().unwrap_or(0.0);
    curve::draw(
        &path("map-p99-block.png"),
        &format!("map p99, block zoom ({backend})"),
        "reports",
        "p99 ms",
        &series(&p99("block")),
    );
    curve::draw(
        &path("map-p99-clusters.png"),
        &format!("map p99, city clusters ({backend})"),
        "reports",
        "p99 ms",
        &series(&p99("clusters")),
    );
    curve::draw(
        &path("rss-reports.png"),
        &format!("portal RSS under map load ({backend})"),
        "reports",
        "RSS MiB",
        &series(&|p: &Value| p["rss_peak_mb"].as_f64().unwrap_or(0.0)),
    );
    let failed: u64 = points
        .iter()
        .map(|p| p["block"]["errors"].as_u64().unwrap_or(0) + p["clusters"]["errors"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(failed, 0, "the map curve met unexpected answers: {points:#?}");
    println!("  charts and points written to {}/", dir.display());
}
