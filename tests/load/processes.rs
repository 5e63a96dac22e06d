//! The split deployment under the harness (issue #24): every service as its own `city`
//! process behind the gateway, each one's start-to-ready time and idle RSS, and the scenarios
//! through the split gateway.
//!
//! PostgreSQL + Redis only: one process's memory is no use to another, so the embedded stores
//! cannot run apart. The processes use the run's schemas, key prefix and demo secrets (the
//! all-in-one portal, idle meanwhile, already migrated and seeded them), and the run's WeChat
//! sandbox stands in for WeChat as it does for the all-in-one. Services trust loopback (the
//! gateway) as their proxy and keep the idempotency records; the gateway trusts loopback (the
//! load generator as the city's load balancer) and runs production's limiter, as deployed.

use std::future::Future;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::crowd::{address, status_of, Crowd};
use crate::measure::{cpu_time, drive, rss_kib, Sample, Usage};
use crate::pgbench::Target;
use crate::report::{self, Row};
use crate::scenarios::{self, Run};
use crate::schedule;
use crate::servers::Server;

/// The services `city serve --only` runs, started in this order (identity first: the others
/// ask it about tokens and people); the gateway comes last, in front of them.
const SERVICES: &[&str] = &["identity", "booking", "payments", "incidents", "air", "channel"];

/// The bookings floor's row, found again by name when the bookings scenario ran.
const PG_FLOOR: &str = "pgbench: booking transaction (floor)";

/// Goals from issue #24 for each process of the split.
const GOAL_RSS_MIB: f64 = 30.0;
const GOAL_READY: Duration = Duration::from_secs(1);

/// The split's citizens and office live above every other scenario's addresses.
const FIRST_CITIZEN: u64 = 2_000_000;
const OFFICE: u64 = 16_000_001;

/// One process of the split, killed when dropped (through [`Server`]).
struct Proc {
    name: &'static str,
    server: Server,
    ready: Duration,
}

/// Every process of the split; dropping it kills them all, also when a scenario panics.
struct Split {
    procs: Vec<Proc>,
    gateway: String,
}

impl Split {
    fn pids(&self) -> Vec<(&'static str, u32)> {
        self.procs.iter().map(|p| (p.name, p.server.pid())).collect()
    }
}

/// Starts the split deployment and measures it.
pub async fn split(run: &mut Run<'_>) {
    if run.backend.database.is_none() || run.backend.redis.is_none() {
        println!("  (split deployment skipped: it needs shared stores; set LOAD_DATABASE_URL and LOAD_REDIS_URL)");
        return;
    }
    // The anchors first, when the all-in-one's scenarios did not measure them: pgbench's clients
    // would otherwise compete with the split's pools for PostgreSQL's connections (100 by
    // default; seven processes' pools of up to 10 each plus the all-in-one's leave too few).
    let bare = run.bare_anchor().await;
    let floor = anchor_pg(run).await;
    let split = start(run).await;
    // Idle: nothing asked of any of them for a second after the last became ready.
    tokio::time::sleep(Duration::from_secs(1)).await;
    memory_table(run, &split);

    let crowd = Crowd::new(&split.gateway, &run.crowd.wechat, run.load.concurrency);
    let points: Vec<String> = (0..16)
        .map(|i| {
            // The same points as the all-in-one's nearest scenario: across the city's districts.
            let (lat, lon) = (30.55 + 0.02 * f64::from(i % 4), 103.98 + 0.03 * f64::from(i / 4));
            format!("/v1/air/nearest?lat={lat:.4}&lon={lon:.4}")
        })
        .collect();
    let reads = [
        ("split: GET /v1/services (all middleware)", vec!["/v1/services".to_owned()]),
        ("split: GET /v1/air/nearest (limiter on)", points),
    ];
    for (name, paths) in reads {
        let (crowd, paths) = (crowd.clone(), Arc::new(paths));
        let (sample, usage, by_process) = measure(run, &split, move |seq| {
            let (crowd, paths) = (crowd.clone(), paths.clone());
            async move { Some(crowd.get(&paths[seq as usize % paths.len()]).await) }
        })
        .await;
        run.keep(Row::new(name, &sample, Some(usage), |s| s == 200).against(&bare));
        println!("{by_process}");
    }

    let (row, by_process) = bookings(run, &split, &crowd).await;
    let row = match &floor {
        Some(floor) => row.against(floor),
        None => row,
    };
    run.keep(row);
    println!("{by_process}");
    drop(split);
}

/// Spawns the services one after another (each one's start-to-ready time its own, not shared
/// with a neighbour starting on the same two cores), then the gateway.
async fn start(run: &Run<'_>) -> Split {
    let gateway_port = free_port();
    let gateway = format!("http://127.0.0.1:{gateway_port}");
    let ports: Vec<(&'static str, u16)> = SERVICES.iter().map(|s| (*s, free_port())).collect();
    let mut env: Vec<(String, String)> = ports
        .iter()
        .map(|(name, port)| {
            (format!("CITY_SERVICES__{}", name.to_ascii_uppercase()), format!("http://127.0.0.1:{port}"))
        })
        .collect();
    env.extend([
        ("CITY_SERVICES__SANDBOX".to_owned(), run.crowd.wechat.clone()),
        // Every process is told the gateway's address: the public one its links and callbacks name.
        ("CITY_LISTEN".to_owned(), format!("127.0.0.1:{gateway_port}")),
        // Services trust the gateway, the gateway the load generator standing in for the city's
        // load balancer: each simulated citizen's own address is the one limited.
        ("CITY_TRUSTED_PROXIES".to_owned(), "[127.0.0.1]".to_owned()),
        // As the all-in-one runs: the demo's air feed keeps readings coming.
        ("CITY_AIR__DEMO_FEED".to_owned(), "true".to_owned()),
        // Production's Service Account callback mode, as the all-in-one is given.
        ("CITY_WECHAT__OA_CALLBACK_MODE".to_owned(), "safe".to_owned()),
    ]);
    let http = reqwest::Client::new();
    let mut split = Split { procs: Vec::new(), gateway: gateway.clone() };
    for &(name, port) in &ports {
        let listen = format!("127.0.0.1:{port}");
        let proc = spawn(run, &http, name, &["serve", "--only", name, "--listen", &listen], &env, &listen).await;
        split.procs.push(proc);
    }
    let listen = format!("127.0.0.1:{gateway_port}");
    let proc = spawn(run, &http, "gateway", &["serve", "--gateway", "--listen", &listen], &env, &listen).await;
    split.procs.push(proc);
    split
}

/// One `city` process on the run's stores, timed from spawn to its first `/readyz` 200.
async fn spawn(
    run: &Run<'_>,
    http: &reqwest::Client,
    name: &'static str,
    args: &[&str],
    env: &[(String, String)],
    listen: &str,
) -> Proc {
    let started = Instant::now();
    let child = run
        .backend
        .command(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("the {name} process starts: {e}"));
    let mut server = Server { child, base: format!("http://{listen}") };
    let url = format!("{}/readyz", server.base);
    let deadline = started + Duration::from_secs(120);
    loop {
        if let Some(status) = server.child.try_wait().expect("the child's status") {
            panic!("the split's {name} process exited while starting: {status}");
        }
        if http.get(&url).send().await.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "the split's {name} did not become ready");
        // Polled often: the figure is held against a 1 s goal.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Proc { name, server, ready: started.elapsed() }
}

/// Memory of one process, KiB: resident in all, of it anonymous (heap, stacks) and file-backed
/// (the binary's pages, which every process of the split maps from the one `city` file), its
/// proportional share (PSS: shared pages divided among the processes mapping them, so the
/// split's PSS adds up to what it really holds), and its thread count.
struct Memory {
    rss: u64,
    anon: u64,
    file: u64,
    pss: u64,
    threads: u64,
}

fn memory(pid: u32) -> Memory {
    let field = |text: &str, key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l[key.len()..].split_whitespace().next().and_then(|v| v.parse().ok()))
            .unwrap_or(0u64)
    };
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let anon = field(&rollup, "Anonymous:");
    let rss = rss_kib(pid);
    Memory {
        rss,
        anon,
        file: rss.saturating_sub(anon),
        pss: field(&rollup, "Pss:"),
        threads: field(&status, "Threads:"),
    }
}

/// Start to ready and idle RSS of each process beside the goals, and the all-in-one's now.
fn memory_table(run: &Run<'_>, split: &Split) {
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!("\nsplit deployment on {}: start to ready and idle RSS per process", run.backend.name());
    println!(
        "  {:<12} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8}  goals: ready < {} ms, RSS < {GOAL_RSS_MIB} MiB",
        "process",
        "ready ms",
        "RSS MiB",
        "anon",
        "file",
        "PSS",
        "threads",
        GOAL_READY.as_millis()
    );
    let (mut total, mut total_pss) = (0, 0);
    for p in &split.procs {
        let m = memory(p.server.pid());
        total += m.rss;
        total_pss += m.pss;
        let missed = match (p.ready < GOAL_READY, mib(m.rss) < GOAL_RSS_MIB) {
            (true, true) => "",
            (false, true) => "  (ready: goal missed)",
            (true, false) => "  (RSS: goal missed)",
            (false, false) => "  (ready and RSS: goals missed)",
        };
        println!(
            "  {:<12} {:>9} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>8}{missed}",
            p.name,
            p.ready.as_millis(),
            mib(m.rss),
            mib(m.anon),
            mib(m.file),
            mib(m.pss),
            m.threads
        );
    }
    println!("  {:<12} {:>9} {:>9.1} {:>9} {:>9} {:>9.1}", "split, all", "-", mib(total), "", "", mib(total_pss));
    let m = memory(run.portal.pid());
    println!(
        "  {:<12} {:>9} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>8}  (all-in-one now, after the run's scenarios; its start to ready is above; goal < 80 MiB)\n",
        "all-in-one",
        "-",
        mib(m.rss),
        mib(m.anon),
        mib(m.file),
        mib(m.pss),
        m.threads
    );
    report::header();
}

/// Every process of the split watched while a scenario runs: CPU time summed over all of them,
/// and the peak of their summed RSS sampled every 50 ms (as `measure::Watch` does for one).
struct Watch {
    pids: Vec<(&'static str, u32)>,
    cpu_before: Vec<Duration>,
    peak_kib: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    sampler: tokio::task::JoinHandle<()>,
}

fn rss_sum(pids: &[(&'static str, u32)]) -> u64 {
    pids.iter().map(|(_, pid)| rss_kib(*pid)).sum()
}

impl Watch {
    fn start(pids: Vec<(&'static str, u32)>) -> Self {
        let peak_kib = Arc::new(AtomicU64::new(rss_sum(&pids)));
        let stop = Arc::new(AtomicBool::new(false));
        let (peak, halt, watched) = (peak_kib.clone(), stop.clone(), pids.clone());
        let sampler = tokio::spawn(async move {
            while !halt.load(Ordering::Relaxed) {
                peak.fetch_max(rss_sum(&watched), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        let cpu_before = pids.iter().map(|(_, pid)| cpu_time(*pid)).collect();
        Self { pids, cpu_before, peak_kib, stop, sampler }
    }

    /// The usage over all processes, and each one's CPU time.
    async fn finish(self) -> (Usage, Vec<(&'static str, Duration)>) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.sampler.await;
        let each: Vec<_> = self
            .pids
            .iter()
            .zip(&self.cpu_before)
            .map(|((name, pid), before)| (*name, cpu_time(*pid).saturating_sub(*before)))
            .collect();
        let end_kib = rss_sum(&self.pids);
        let usage = Usage {
            cpu: each.iter().map(|(_, cpu)| *cpu).sum(),
            peak_kib: self.peak_kib.load(Ordering::Relaxed).max(end_kib),
            end_kib,
        };
        (usage, each)
    }
}

/// Drives `job` under the run's load while watching every process of the split; also says
/// where the CPU went, process by process (µs per request answered).
async fn measure<F, Fut>(run: &Run<'_>, split: &Split, job: F) -> (Sample, Usage, String)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<u16>> + Send,
{
    let watch = Watch::start(split.pids());
    let sample = drive(run.load, job).await;
    let (usage, each) = watch.finish().await;
    let per_req = |cpu: Duration| cpu.as_secs_f64() * 1e6 / sample.total.max(1) as f64;
    let shares: Vec<String> = each
        .iter()
        .filter(|(_, cpu)| !cpu.is_zero())
        .map(|(name, cpu)| format!("{name} {:.0}", per_req(*cpu)))
        .collect();
    (sample, usage, format!("  (CPU µs/req by process: {})", shares.join(", ")))
}

/// pgbench's booking floor from this run, measured now when the bookings scenario did not run.
async fn anchor_pg(run: &mut Run<'_>) -> Option<Row> {
    if let Some(row) = run.rows.iter().find(|r| r.scenario == PG_FLOOR) {
        return Some(row.clone());
    }
    run.backend.database.as_ref()?;
    let sample = scenarios::pg_floor(run, Target::Distinct).await?;
    Some(run.keep(Row::new(PG_FLOOR, &sample, None, |s| s == 200)))
}

/// A scheduler of the bookings hospital signed in through the split gateway (an account of
/// its own: the all-in-one's scheduler may already exist in the shared store).
async fn scheduler(run: &Run<'_>, crowd: &Crowd) -> String {
    let (username, password) = (format!("load.split.{}", run.tag), "load-harness-split-scheduler-1");
    run.backend.city(&[
        "staff",
        "create",
        "--username",
        &username,
        "--password",
        password,
        "--role",
        "scheduler",
        "--hospital",
        schedule::BOOKINGS_HOSPITAL,
    ]);
    let body = json!({"username": username, "password": password});
    let session = crowd.post_json("/v1/staff/sessions", &address(OFFICE), None, &body, &[200]).await;
    session["token"].as_str().expect("a staff token").to_owned()
}

/// Every client books a distinct prepared slot through the split gateway for its own patient,
/// with a real token and a fresh `Idempotency-Key` (`Crowd::post` adds it).
async fn bookings(run: &Run<'_>, split: &Split, crowd: &Crowd) -> (Row, String) {
    let n = run.n_bookings;
    let staff = scheduler(run, crowd).await;
    let slots = schedule::free_slots(crowd, &staff, schedule::BOOKINGS_HOSPITAL, n).await;
    let citizens = crowd.citizens(&format!("{}-split", run.tag), FIRST_CITIZEN, n.div_ceil(5) as u64, 5).await;
    let patients =
        citizens.iter().flat_map(|c| c.people.iter().map(move |p| (c.token.clone(), c.ip.clone(), p.clone())));
    let work: Arc<Vec<_>> = Arc::new(slots.into_iter().zip(patients).collect());
    let crowd = crowd.clone();
    let (sample, usage, by_process) = measure(run, split, move |seq| {
        let item = work.get(seq as usize).cloned();
        let crowd = crowd.clone();
        async move {
            let (slot, (token, ip, person)) = item?;
            let body = json!({"slot_id": slot, "person_id": person});
            Some(status_of(crowd.post("/v1/booking/appointments", &ip, Some(&token), &body)).await)
        }
    })
    .await;
    if sample.total as usize >= n {
        println!("  (all {n} prepared slots were booked before the time ran out: LOAD_BOOKINGS raises them)");
    }
    (Row::new("split: POST /v1/booking/appointments", &sample, Some(usage), |s| s == 201), by_process)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("an address").port()
}
