//! What a run prints and keeps: one table row per scenario and per anchor, the ratio of each
//! scenario to its anchor measured in the same run, a JSON file for baselines
//! (`LOAD_JSON=path`) and the change against one (`LOAD_BASELINE=path`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::measure::{Sample, Usage};

/// One line of the table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub scenario: String,
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    /// Answers the scenario did not expect, by status ("0" is no answer at all).
    pub errors: BTreeMap<String, u64>,
    /// Server CPU time (user + system) per request answered, µs; none for pgbench.
    pub cpu_us_per_req: Option<f64>,
    /// The server's peak and final RSS over the scenario, MiB.
    pub rss_peak_mb: Option<f64>,
    pub rss_end_mb: Option<f64>,
    /// The row this one is held against, and rps / anchor's rps.
    pub anchor: Option<String>,
    pub ratio: Option<f64>,
}

impl Row {
    /// A row from what the client saw and what the server used; `ok` says which statuses
    /// the scenario expects.
    pub fn new(scenario: &str, sample: &Sample, usage: Option<Usage>, ok: impl Fn(u16) -> bool) -> Row {
        Row {
            scenario: scenario.to_owned(),
            rps: sample.rps,
            p50_ms: sample.p50_ms,
            p99_ms: sample.p99_ms,
            p999_ms: sample.p999_ms,
            errors: sample.errors(ok).into_iter().map(|(s, n)| (s.to_string(), n)).collect(),
            cpu_us_per_req: usage.map(|u| u.cpu.as_secs_f64() * 1e6 / sample.total.max(1) as f64),
            rss_peak_mb: usage.map(|u| u.peak_kib as f64 / 1024.0),
            rss_end_mb: usage.map(|u| u.end_kib as f64 / 1024.0),
            anchor: None,
            ratio: None,
        }
    }

    /// Held against `anchor`.
    pub fn against(mut self, anchor: &Row) -> Row {
        self.anchor = Some(anchor.scenario.clone());
        self.ratio = (anchor.rps > 0.0).then(|| self.rps / anchor.rps);
        self
    }

    pub fn n_errors(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Errors that are server failures or no answer (5xx, 0).
    pub fn n_failures(&self) -> u64 {
        self.errors.iter().filter(|(s, _)| s.as_str() == "0" || s.starts_with('5')).map(|(_, n)| n).sum()
    }
}

/// A whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub backend: String,
    pub concurrency: usize,
    pub secs: u64,
    pub rate: Option<f64>,
    pub ready_ms: u128,
    pub idle_rss_mb: f64,
    pub rows: Vec<Row>,
}

pub fn header() {
    println!(
        "{:<44} {:>9} {:>8} {:>8} {:>8} {:>7} {:>8} {:>7}  {:<26} {:>6}",
        "scenario", "req/s", "p50 ms", "p99 ms", "p99.9", "errors", "CPU µs", "RSS MB", "anchor", "ratio"
    );
}

/// Prints a row as soon as it is measured.
pub fn print(row: &Row) {
    let opt = |v: Option<f64>, digits: usize| v.map_or("-".to_owned(), |v| format!("{v:.digits$}"));
    let errors = if row.errors.is_empty() {
        "0".to_owned()
    } else {
        row.errors.iter().map(|(s, n)| format!("{n}×{s}")).collect::<Vec<_>>().join(",")
    };
    println!(
        "{:<44} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>8} {:>7}  {:<26} {:>6}",
        row.scenario,
        row.rps,
        row.p50_ms,
        row.p99_ms,
        row.p999_ms,
        errors,
        opt(row.cpu_us_per_req, 0),
        opt(row.rss_peak_mb, 1),
        row.anchor.as_deref().unwrap_or("-"),
        opt(row.ratio, 2),
    );
}

/// Writes the report as JSON to `path`.
pub fn save(report: &Report, path: &str) {
    let text = serde_json::to_string_pretty(report).expect("the report as JSON");
    std::fs::write(path, text + "\n").unwrap_or_else(|e| panic!("writing {path}: {e}"));
    println!("\nreport written to {path}");
}

/// Prints each scenario's change against the baseline in `path`.
pub fn compare(report: &Report, path: &str) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading the baseline {path}: {e}"));
    let baseline: Report = serde_json::from_str(&text).unwrap_or_else(|e| panic!("the baseline {path}: {e}"));
    println!(
        "\nagainst the baseline {path} ({}, {} connections, {} s):",
        baseline.backend, baseline.concurrency, baseline.secs
    );
    println!(
        "{:<44} {:>12} {:>12} {:>9} {:>12} {:>12} {:>9}",
        "scenario", "req/s was", "now", "change", "p99 was", "now", "change"
    );
    let change =
        |was: f64, now: f64| if was > 0.0 { format!("{:+.1} %", 100.0 * (now - was) / was) } else { "-".into() };
    for row in &report.rows {
        let Some(old) = baseline.rows.iter().find(|r| r.scenario == row.scenario) else {
            println!("{:<44} (not in the baseline)", row.scenario);
            continue;
        };
        println!(
            "{:<44} {:>12.0} {:>12.0} {:>9} {:>12.2} {:>12.2} {:>9}",
            row.scenario,
            old.rps,
            row.rps,
            change(old.rps, row.rps),
            old.p99_ms,
            row.p99_ms,
            change(old.p99_ms, row.p99_ms)
        );
    }
    println!(
        "start to ready: {} ms (was {} ms); idle RSS {:.1} MiB (was {:.1} MiB)",
        report.ready_ms, baseline.ready_ms, report.idle_rss_mb, baseline.idle_rss_mb
    );
}
