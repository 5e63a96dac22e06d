//! The load harness (issue #24): the portal as its own process, measured over TCP as a
//! citizen's phone meets it, each scenario beside its anchor measured in the same run.
//!
//! Run: `cargo bench -p city-gateway --bench load`. Options, through the environment:
//! - `LOAD_SECS` measured seconds per scenario (5), `LOAD_CONCURRENCY` connections (32),
//!   `LOAD_RATE` requests/s offered (an open loop; unset: a closed loop);
//! - `LOAD_DATABASE_URL` / `LOAD_REDIS_URL`: PostgreSQL + Redis (else the embedded stores);
//!   pgbench's floors need the former;
//! - `LOAD_ONLY=reads,bookings,stampede,reports,map,pushes,notifications,split` a subset (all by
//!   default); `LOAD_BOOKINGS` prepared slots (6000);
//! - `LOAD_JSON=path` keeps the report; `LOAD_BASELINE=path` prints the change against one;
//! - `LOAD_SMOKE=1`: short scenarios that must answer without an unexpected status (CI);
//! - `LOAD_CURVE=dir`: also the curves as PNG charts in `dir` (`LOAD_CURVES=bookings,map,stations`
//!   picks some): bookings/s and p99 against clients, map p99 and RSS against reports, nearest
//!   p99 against stations.
//! - `LOAD_CITY_BIN=path`: run that `city` binary instead of this build's (a before/after pair).
//!
//! Layout: `servers` starts the processes, `crowd` is the simulated citizens, `schedule`
//! prepares slots as a scheduler does, `measure` drives the load and reads /proc, `pgbench`
//! runs the database's floor, `scenarios` pairs each scenario with its anchor, `report` prints.

mod crowd;
mod curve;
mod incidents;
mod measure;
mod pgbench;
mod processes;
mod report;
mod scenarios;
mod schedule;
mod servers;
mod stations;
mod wechat;

use std::time::Duration;

use measure::{rss_kib, Load};
use report::Report;
use scenarios::Run;

fn main() {
    if let Ok(port) = std::env::var("CITY_BENCH_HELLO") {
        return servers::bare_hello_server(&port);
    }
    // The load generator has its own runtime threads, like a separate client machine would.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(harness());
}

fn var<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

async fn harness() {
    let smoke = std::env::var("LOAD_SMOKE").is_ok_and(|v| v == "1");
    let secs: u64 = var("LOAD_SECS").unwrap_or(if smoke { 3 } else { 5 });
    let load = Load {
        concurrency: var("LOAD_CONCURRENCY").unwrap_or(if smoke { 16 } else { 32 }),
        duration: Duration::from_secs(secs),
        warmup: if smoke { Duration::from_millis(500) } else { Duration::from_secs(1) },
        rate: var("LOAD_RATE"),
    };
    let only = std::env::var("LOAD_ONLY")
        .unwrap_or_else(|_| "reads,bookings,stampede,reports,map,pushes,notifications,split".into());
    let wanted = |name: &str| only.split(',').any(|o| o.trim() == name);

    let backend = servers::Backend::from_env();
    let (portal, wechat, ready_after) = servers::start_portal(&backend).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss_mb = rss_kib(portal.pid()) as f64 / 1024.0;
    let hello = servers::start_hello().await;
    println!(
        "city portal on {}: ready in {} ms, idle RSS {idle_rss_mb:.1} MiB",
        backend.name(),
        ready_after.as_millis()
    );
    let shape = match load.rate {
        Some(rate) => format!("open loop at {rate} req/s offered, up to {} in flight", load.concurrency),
        None => format!("closed loop, {} connections", load.concurrency),
    };
    println!("load: {shape}, {secs} s per scenario after {} ms of warm-up\n", load.warmup.as_millis());

    let mut run = Run {
        load,
        backend: &backend,
        portal: &portal,
        hello: &hello,
        crowd: crowd::Crowd::new(&portal.base, &wechat.base, load.concurrency),
        n_bookings: var("LOAD_BOOKINGS").unwrap_or(if smoke { 400 } else { 6000 }),
        n_hot: 8,
        tag: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
        rows: Vec::new(),
    };
    report::header();
    if wanted("reads") {
        scenarios::reads(&mut run).await;
    }
    // A relative folder is the workspace's: cargo runs benches in the crate's own folder.
    let curve = std::env::var("LOAD_CURVE").ok().map(|dir| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        root.join(dir).to_string_lossy().into_owned()
    });
    let curves = std::env::var("LOAD_CURVES").unwrap_or_else(|_| "bookings,map,stations".into());
    let curve_of = |name: &str| curve.as_ref().filter(|_| curves.split(',').any(|c| c.trim() == name));
    if wanted("bookings") || wanted("stampede") || curve_of("bookings").is_some() {
        let staff = schedule::scheduler(&backend, &run.crowd).await;
        if wanted("bookings") {
            scenarios::bookings(&mut run, &staff).await;
        }
        if wanted("stampede") {
            scenarios::stampede(&mut run, &staff).await;
        }
        if let Some(dir) = curve_of("bookings") {
            println!("\nbookings against clients ({} slots a point):", run.n_bookings);
            curve::bookings(&mut run, &staff, dir, backend.name()).await;
            run.load = load;
        }
    }
    if wanted("reports") {
        incidents::reports(&mut run).await;
    }
    if wanted("map") {
        incidents::map(&mut run).await;
    }
    if wanted("pushes") {
        wechat::pushes(&mut run).await;
    }
    if wanted("notifications") {
        wechat::notifications(&mut run).await;
    }
    if let Some(dir) = curve_of("map") {
        incidents::curves(&mut run, dir).await;
    }
    if let Some(dir) = curve_of("stations") {
        stations::curve(&mut run, dir).await;
    }
    // Last: it starts processes of its own beside the all-in-one portal, which idles meanwhile.
    if wanted("split") {
        processes::split(&mut run).await;
    }
    let report = Report {
        backend: backend.name().into(),
        concurrency: load.concurrency,
        secs,
        rate: load.rate,
        ready_ms: ready_after.as_millis(),
        idle_rss_mb,
        rows: run.rows,
    };
    println!("\nserver RSS at the end: {:.1} MiB", rss_kib(portal.pid()) as f64 / 1024.0);
    if let Ok(path) = std::env::var("LOAD_JSON") {
        report::save(&report, &path);
    }
    if let Ok(path) = std::env::var("LOAD_BASELINE") {
        report::compare(&report, &path);
    }
    drop(hello);
    drop(portal);
    drop(wechat);
    backend.cleanup().await;
    if smoke {
        let failing: Vec<_> = report.rows.iter().filter(|r| r.n_errors() > 0).collect();
        assert!(failing.is_empty(), "the smoke run met unexpected answers: {failing:#?}");
        println!("load smoke: {} scenarios answered without an unexpected status", report.rows.len());
    }
}
