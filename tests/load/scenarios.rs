//! The scenarios, each with its anchor measured in the same run: cached reads and the nearest
//! station against the bare poem-openapi handler; bookings of distinct prepared slots against
//! pgbench running the booking transaction; the hot-slot stampede against pgbench on one row.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::json;

use crate::crowd::{status_of, Crowd};
use crate::measure::{drive, Load, Sample, Usage, Watch};
use crate::pgbench::{self, Target};
use crate::report::{self, Row};
use crate::schedule;
use crate::servers::{Backend, Server};

/// Everything a scenario needs, and the rows measured so far.
pub struct Run<'a> {
    pub load: Load,
    pub backend: &'a Backend,
    pub portal: &'a Server,
    pub hello: &'a Server,
    pub crowd: Crowd,
    /// Prepared slots (and patients) for the bookings scenario.
    pub n_bookings: usize,
    /// Numbers on the stampede's doctor-day.
    pub n_hot: i64,
    /// Keeps this run's citizens apart from any other run's on a shared store.
    pub tag: String,
    pub rows: Vec<Row>,
}

impl Run<'_> {
    /// Drives `job` while watching the server `pid`.
    async fn measure<F, Fut>(&self, pid: u32, job: F) -> (Sample, Usage)
    where
        F: Fn(u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<u16>> + Send,
    {
        let watch = Watch::start(pid);
        let sample = drive(self.load, job).await;
        (sample, watch.finish().await)
    }

    /// Prints `row` and keeps it in the run's report.
    pub fn keep(&mut self, row: Row) -> Row {
        report::print(&row);
        self.rows.push(row.clone());
        row
    }

    /// The bare handler's row of this run: the one `reads` measured, else measured now (every
    /// scenario run alone still has its anchor).
    pub async fn bare_anchor(&mut self) -> Row {
        if let Some(row) = self.rows.iter().find(|r| r.scenario == BARE) {
            return row.clone();
        }
        let bare = Crowd::new(&self.hello.base, &self.hello.base, self.load.concurrency);
        let (sample, usage) = self.reads(&bare, self.hello.pid(), vec!["/hello".into()]).await;
        self.keep(Row::new(BARE, &sample, Some(usage), |s| s == 200))
    }

    /// Anonymous GETs of `paths` (taken in turn), every sender its own address.
    async fn reads(&self, crowd: &Crowd, pid: u32, paths: Vec<String>) -> (Sample, Usage) {
        let (crowd, paths) = (crowd.clone(), Arc::new(paths));
        self.measure(pid, move |seq| {
            let (crowd, paths) = (crowd.clone(), paths.clone());
            async move { Some(crowd.get(&paths[seq as usize % paths.len()]).await) }
        })
        .await
    }
}

/// The anchor row's name.
pub const BARE: &str = "bare poem-openapi handler (anchor)";

/// The catalogue, a district lookup and the nearest air station, against the bare handler.
pub async fn reads(run: &mut Run<'_>) {
    let anchor = run.bare_anchor().await;
    // Points across the city's districts, so the nearest answer is not one cached key.
    let points: Vec<String> = (0..16)
        .map(|i| {
            let (lat, lon) = (30.55 + 0.02 * f64::from(i % 4), 103.98 + 0.03 * f64::from(i / 4));
            format!("/v1/air/nearest?lat={lat:.4}&lon={lon:.4}")
        })
        .collect();
    // The same points as the Mini Program sends them: naming the datum runs the parameter's
    // pattern, which must cost next to nothing (it once compiled its expression per request).
    let named: Vec<String> = points.iter().map(|p| format!("{p}&coord=gcj02")).collect();
    let scenarios = [
        ("GET /v1/services (all middleware)", vec!["/v1/services".to_owned()]),
        ("GET /v1/districts/locate", vec!["/v1/districts/locate?lat=30.6552&lon=104.0811".to_owned()]),
        ("GET /v1/air/nearest (limiter on)", points),
        ("GET /v1/air/nearest?coord=gcj02", named),
    ];
    for (name, paths) in scenarios {
        let crowd = run.crowd.clone();
        let (sample, usage) = run.reads(&crowd, run.portal.pid(), paths).await;
        run.keep(Row::new(name, &sample, Some(usage), |s| s == 200).against(&anchor));
    }
}

/// Every client books a distinct prepared slot for its own patient, with a real token and a
/// fresh `Idempotency-Key`; then pgbench runs the same transaction on the same PostgreSQL.
pub async fn bookings(run: &mut Run<'_>, staff: &str) {
    let row = book_prepared(run, staff, 0).await;
    match pg_floor(run, Target::Distinct).await {
        Some(floor) => {
            let floor = run.keep(Row::new("pgbench: booking transaction (floor)", &floor, None, |s| s == 200));
            run.keep(row.against(&floor));
        }
        None => {
            run.keep(row);
        }
    }
}

/// Prepares `n_bookings` slots and patients (citizens numbered from `first`) and books them.
pub async fn book_prepared(run: &Run<'_>, staff: &str, first: u64) -> Row {
    let n = run.n_bookings;
    let slots = schedule::free_slots(&run.crowd, staff, schedule::BOOKINGS_HOSPITAL, n).await;
    let citizens = run.crowd.citizens(&format!("{}-book", run.tag), first, n.div_ceil(5) as u64, 5).await;
    let patients =
        citizens.iter().flat_map(|c| c.people.iter().map(move |p| (c.token.clone(), c.ip.clone(), p.clone())));
    let work: Arc<Vec<_>> = Arc::new(slots.into_iter().zip(patients).collect());
    let crowd = run.crowd.clone();
    let (sample, usage) = run
        .measure(run.portal.pid(), move |seq| {
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
    Row::new("POST /v1/booking/appointments", &sample, Some(usage), |s| s == 201)
}

/// Every client after the few numbers of one doctor-day: exactly one winner per slot, every
/// other try a 409, no 5xx; then pgbench with every client on one row.
pub async fn stampede(run: &mut Run<'_>, staff: &str) {
    let (session_id, slots) = schedule::hot_day(&run.crowd, staff, run.n_hot).await;
    // Enough citizens that none nears production's per-identity limit (600 a minute).
    let citizens = Arc::new(run.crowd.citizens(&format!("{}-hot", run.tag), 1_000_000, 256, 1).await);
    let slots = Arc::new(slots);
    let wins = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let (crowd, w, f) = (run.crowd.clone(), wins.clone(), failures.clone());
    let (sample, usage) = run
        .measure(run.portal.pid(), move |seq| {
            let citizen = citizens[seq as usize % citizens.len()].clone();
            let slot = slots[(seq as usize / citizens.len() + seq as usize) % slots.len()].clone();
            let (crowd, wins, failures) = (crowd.clone(), w.clone(), f.clone());
            async move {
                let body = json!({"slot_id": slot, "person_id": citizen.people[0]});
                let status =
                    status_of(crowd.post("/v1/booking/appointments", &citizen.ip, Some(&citizen.token), &body)).await;
                // Counted over the warm-up too: the slots go in its first moments.
                match status {
                    201 => wins.fetch_add(1, Ordering::Relaxed),
                    409 => 0,
                    _ => failures.fetch_add(1, Ordering::Relaxed),
                };
                Some(status)
            }
        })
        .await;
    let booked = schedule::session_appointments(&run.crowd, staff, &session_id).await;
    let mut booked_slots: Vec<&str> = booked.iter().filter_map(|a| a["slot_id"].as_str()).collect();
    booked_slots.sort_unstable();
    booked_slots.dedup();
    let (wins, failures) = (wins.load(Ordering::Relaxed), failures.load(Ordering::Relaxed));
    println!(
        "  (stampede: {} numbers, {wins} winners, {} appointments on {} distinct slots, {failures} other answers)",
        run.n_hot,
        booked.len(),
        booked_slots.len()
    );
    assert_eq!(wins, run.n_hot as u64, "exactly one winner per slot");
    assert_eq!(booked.len(), run.n_hot as usize, "one appointment per slot");
    assert_eq!(booked_slots.len(), run.n_hot as usize, "every slot taken once");
    let row = Row::new("stampede: last numbers of one day", &sample, Some(usage), |s| s == 201 || s == 409);
    assert_eq!(row.n_failures(), 0, "no 5xx and no lost request in the stampede: {:?}", row.errors);
    match pg_floor(run, Target::OneRow).await {
        Some(floor) => {
            let floor = run.keep(Row::new("pgbench: one row (floor)", &floor, None, |s| s == 200));
            run.keep(row.against(&floor));
        }
        None => {
            run.keep(row);
        }
    }
}

/// pgbench on this run's PostgreSQL, in a scratch schema; `None` (and a line) when embedded.
pub async fn pg_floor(run: &Run<'_>, target: Target) -> Option<Sample> {
    let Some((url, prefix)) = &run.backend.database else {
        println!("  (pgbench floor skipped: the embedded backend has no PostgreSQL; set LOAD_DATABASE_URL)");
        return None;
    };
    let schema = format!("{prefix}pgbench");
    let n_slots = match target {
        Target::Distinct => 20_000 * (run.load.duration + run.load.warmup).as_secs().max(1),
        Target::OneRow => 1,
    };
    pgbench::prepare(url, &schema, n_slots).await;
    // As many clients as the scenario, up to 48: PostgreSQL's 100 connections also hold the
    // portal's pools (10 a store), and past a few dozen clients pgbench on 2 cores only queues.
    let (url, concurrency, duration) = (url.clone(), run.load.concurrency.min(48), run.load.duration);
    Some(
        tokio::task::spawn_blocking(move || pgbench::run(&url, &schema, target, concurrency, duration))
            .await
            .expect("pgbench"),
    )
}
