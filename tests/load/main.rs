//! Load harness: requests/s and p50/p99 latency per scenario, against the real `city` binary
//! with every middleware on, and a bare poem hello handler measured in the same run as the
//! ceiling, so the figures read as ratios.
//!
//! Run: `cargo bench -p city-gateway --bench load` (options through the environment:
//! `LOAD_SECS` per scenario, default 5; `LOAD_CONCURRENCY`, default 32).
//! Both servers run as their own processes; the load generator runs here, on one thread.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    if std::env::var("CITY_BENCH_HELLO").is_ok() {
        return bare_hello_server();
    }
    let secs: u64 = std::env::var("LOAD_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let concurrency: usize = std::env::var("LOAD_CONCURRENCY").ok().and_then(|v| v.parse().ok()).unwrap_or(32);
    let data = tempfile::tempdir().expect("a temporary directory");

    let portal_port = free_port();
    let started = Instant::now();
    let portal = Server(
        Command::new(env!("CARGO_BIN_EXE_city"))
            .args(["serve", "--listen", &format!("127.0.0.1:{portal_port}")])
            .env("CITY_DATA_DIR", data.path())
            .env("CITY_LOG", "warn")
            // Limits high enough never to trigger, so the limiter still counts every request.
            .env("CITY_RATE_LIMIT__PER_IP", "1000000000")
            .env("CITY_RATE_LIMIT__PER_IDENTITY", "1000000000")
            .env_remove("CITY_DATABASE_URL")
            .env_remove("CITY_REDIS_URL")
            .stdout(Stdio::null())
            .spawn()
            .expect("the city binary starts"),
    );
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let portal_base = format!("http://127.0.0.1:{portal_port}");
    runtime.block_on(wait_ready(&format!("{portal_base}/readyz")));
    let ready_after = started.elapsed();
    std::thread::sleep(Duration::from_secs(1));
    let idle_rss = rss_kib(portal.0.id());

    let hello_port = free_port();
    let hello = Server(
        Command::new(std::env::current_exe().expect("this binary"))
            .env("CITY_BENCH_HELLO", hello_port.to_string())
            .stdout(Stdio::null())
            .spawn()
            .expect("the bare server starts"),
    );
    let hello_base = format!("http://127.0.0.1:{hello_port}");
    runtime.block_on(wait_ready(&format!("{hello_base}/hello")));

    println!("city portal: ready in {} ms, idle RSS {:.1} MiB", ready_after.as_millis(), idle_rss as f64 / 1024.0);
    println!("load: {concurrency} connections, {secs} s per scenario, after 1 s of warm-up\n");
    println!("{:<34} {:>10} {:>9} {:>9} {:>8}", "scenario", "req/s", "p50 ms", "p99 ms", "errors");
    let scenarios = [
        ("bare poem hello (ceiling)", format!("{hello_base}/hello")),
        ("GET /v1/services (all middleware)", format!("{portal_base}/v1/services")),
        ("GET /v1/districts/locate", format!("{portal_base}/v1/districts/locate?lat=30.6552&lon=104.0811")),
    ];
    let mut results = Vec::new();
    for (name, url) in &scenarios {
        let r = runtime.block_on(run(url, concurrency, Duration::from_secs(secs)));
        println!("{:<34} {:>10.0} {:>9.2} {:>9.2} {:>8}", name, r.rps, r.p50_ms, r.p99_ms, r.errors);
        results.push(r);
    }
    let ceiling = results[0].rps;
    println!();
    for ((name, _), r) in scenarios.iter().zip(&results).skip(1) {
        println!("{name}: {:.0} % of the bare ceiling", 100.0 * r.rps / ceiling);
    }
    drop(hello);
    drop(portal);
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Outcome {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: usize,
}

async fn run(url: &str, concurrency: usize, measure: Duration) -> Outcome {
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().expect("a client");
    let warmup_end = Instant::now() + Duration::from_secs(1);
    let end = warmup_end + measure;
    let workers = (0..concurrency).map(|_| {
        let client = client.clone();
        let url = url.to_owned();
        async move {
            let mut latencies = Vec::with_capacity(65_536);
            let mut errors = 0usize;
            loop {
                let t = Instant::now();
                if t >= end {
                    break;
                }
                let ok = match client.get(&url).send().await {
                    Ok(resp) => resp.status().is_success() && resp.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if t >= warmup_end {
                    if ok {
                        latencies.push(t.elapsed());
                    } else {
                        errors += 1;
                    }
                }
            }
            (latencies, errors)
        }
    });
    let done = futures::future::join_all(workers).await;
    let errors = done.iter().map(|(_, e)| e).sum();
    let mut all: Vec<Duration> = done.into_iter().flat_map(|(l, _)| l).collect();
    all.sort_unstable();
    let pct = |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied();
    Outcome {
        rps: all.len() as f64 / measure.as_secs_f64(),
        p50_ms: pct(0.50).unwrap_or_default().as_secs_f64() * 1e3,
        p99_ms: pct(0.99).unwrap_or_default().as_secs_f64() * 1e3,
        errors,
    }
}

async fn wait_ready(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::get(url).await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{url} did not become ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("an address").port()
}

/// Resident set size of a process, from /proc (Linux).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// The ceiling: poem with one route and nothing else, on the same runtime settings as `city`.
fn bare_hello_server() {
    use poem::{handler, listener::TcpListener, Route, Server};

    #[handler]
    fn hello() -> &'static str {
        "hello"
    }

    let port = std::env::var("CITY_BENCH_HELLO").unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async move {
        let _ = Server::new(TcpListener::bind(format!("127.0.0.1:{port}"))).run(Route::new().at("/hello", hello)).await;
    });
}
