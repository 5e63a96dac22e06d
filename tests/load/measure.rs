//! The measurement core: a hand-written client loop on tokio (closed: N connections each sending
//! its next request when the last one answers; open: requests at an offered rate, latency counted
//! from when each was due, so a slow server cannot hide its queue), latencies in an HDR
//! histogram, statuses counted, and the server process's CPU time and RSS read from /proc.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// How a scenario is driven.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Connections (closed loop) or workers available to the offered rate (open loop).
    pub concurrency: usize,
    /// Measured time.
    pub duration: Duration,
    /// Unmeasured time before it (connections opened, caches filled).
    pub warmup: Duration,
    /// Requests per second offered (open loop); `None` is a closed loop.
    pub rate: Option<f64>,
}

/// What one scenario measured.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Requests answered in the measured time, per second.
    pub rps: f64,
    /// Latency percentiles, milliseconds.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    /// Every answer by HTTP status (0: no answer: connection or timeout error).
    pub statuses: BTreeMap<u16, u64>,
    /// Requests answered in all, warm-up included (what the server's CPU time was spent on).
    pub total: u64,
}

impl Sample {
    /// Answers whose status `ok` does not accept, by status.
    pub fn errors(&self, ok: impl Fn(u16) -> bool) -> BTreeMap<u16, u64> {
        self.statuses.iter().filter(|(s, _)| !ok(**s)).map(|(s, n)| (*s, *n)).collect()
    }
}

/// Runs `job` under `load`. `job(seq)` sends the request numbered `seq` and returns its status,
/// or `None` when the scenario has no more work (a finite workload such as prepared slots), which
/// ends the run early; the rate is then over the measured time actually spent.
pub async fn drive<F, Fut>(load: Load, job: F) -> Sample
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<u16>> + Send,
{
    let job = Arc::new(job);
    let start = Instant::now();
    let measure_from = start + load.warmup;
    let end = measure_from + load.duration;
    let next = Arc::new(AtomicU64::new(0));
    let exhausted = Arc::new(AtomicBool::new(false));
    let last_answer = Arc::new(LastAnswer::default());
    let workers: Vec<_> = (0..load.concurrency.max(1))
        .map(|_| {
            let (job, next, exhausted, last_answer) =
                (job.clone(), next.clone(), exhausted.clone(), last_answer.clone());
            tokio::spawn(async move {
                let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
                let mut statuses = BTreeMap::new();
                let mut total = 0u64;
                loop {
                    if exhausted.load(Ordering::Relaxed) {
                        break;
                    }
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    // Open loop: each request has its due time; a worker late for it still counts
                    // the wait as latency (no coordinated omission).
                    let due = match load.rate {
                        Some(rate) => start + Duration::from_secs_f64(seq as f64 / rate),
                        None => Instant::now(),
                    };
                    if due >= end {
                        break;
                    }
                    tokio::time::sleep_until(due.into()).await;
                    let Some(status) = job(seq).await else {
                        exhausted.store(true, Ordering::Relaxed);
                        break;
                    };
                    let done = Instant::now();
                    total += 1;
                    if due >= measure_from && done <= end {
                        let micros = done.duration_since(due).as_micros().max(1) as u64;
                        hist.saturating_record(micros);
                        *statuses.entry(status).or_insert(0u64) += 1;
                        last_answer.note(done.duration_since(measure_from));
                    }
                }
                (hist, statuses, total)
            })
        })
        .collect();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
    let mut statuses = BTreeMap::new();
    let mut total = 0;
    for w in workers {
        let (h, s, sent) = w.await.expect("a load worker finished");
        total += sent;
        hist.add(h).expect("histograms of the same bounds");
        for (status, n) in s {
            *statuses.entry(status).or_insert(0) += n;
        }
    }
    let spent = if exhausted.load(Ordering::Relaxed) { last_answer.get() } else { load.duration };
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    Sample {
        rps: hist.len() as f64 / spent.as_secs_f64().max(1e-3),
        p50_ms: ms(0.50),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        statuses,
        total,
    }
}

/// The latest answer's offset into the measured time, kept by every worker.
#[derive(Default)]
struct LastAnswer(AtomicU64);

impl LastAnswer {
    fn note(&self, at: Duration) {
        self.0.fetch_max(at.as_micros() as u64, Ordering::Relaxed);
    }
    fn get(&self) -> Duration {
        Duration::from_micros(self.0.load(Ordering::Relaxed))
    }
}

/// A server process watched while a scenario runs: CPU time used and RSS sampled every 50 ms.
pub struct Watch {
    pid: u32,
    cpu_before: Duration,
    peak_kib: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    sampler: tokio::task::JoinHandle<()>,
}

/// CPU and memory of one process over one scenario.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// User + system CPU time the process used.
    pub cpu: Duration,
    /// Highest RSS seen, KiB.
    pub peak_kib: u64,
    /// RSS at the end, KiB.
    pub end_kib: u64,
}

impl Watch {
    pub fn start(pid: u32) -> Self {
        let peak_kib = Arc::new(AtomicU64::new(rss_kib(pid)));
        let stop = Arc::new(AtomicBool::new(false));
        let (peak, halt) = (peak_kib.clone(), stop.clone());
        let sampler = tokio::spawn(async move {
            while !halt.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        Self { pid, cpu_before: cpu_time(pid), peak_kib, stop, sampler }
    }

    pub async fn finish(self) -> Usage {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.sampler.await;
        let end_kib = rss_kib(self.pid);
        Usage {
            cpu: cpu_time(self.pid).saturating_sub(self.cpu_before),
            peak_kib: self.peak_kib.load(Ordering::Relaxed).max(end_kib),
            end_kib,
        }
    }
}

/// Resident set size of a process, KiB (Linux; 0 elsewhere).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// utime + stime of a process (fields 14 and 15 of /proc/PID/stat, in clock ticks).
pub fn cpu_time(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return Duration::ZERO };
    // The command name (field 2) may hold spaces; the fields after its closing parenthesis don't.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    // `after` starts at field 3, so utime (14) and stime (15) are its 12th and 13th.
    let ticks: u64 = [11, 12].iter().filter_map(|i| fields.get(*i)?.parse::<u64>().ok()).sum();
    Duration::from_secs_f64(ticks as f64 / clock_ticks())
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 on every common Linux).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}
