//! The database's floor: `pgbench` running the booking transaction of the service (a
//! conditional slot UPDATE, the appointment and its outbox event inserted only when the slot
//! was taken; `booking.pgbench.sql`) on the same PostgreSQL, in a scratch schema of this run,
//! with the same number of clients. Latency from pgbench's per-transaction log.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::measure::Sample;

/// Which slot each transaction goes after.
#[derive(Debug, Clone, Copy)]
pub enum Target {
    /// A new slot every time (a sequence hands them out).
    Distinct,
    /// The same one row for every client: one winner, every other transaction finds it taken.
    OneRow,
}

/// Creates the scratch schema with `n_slots` free slots.
pub async fn prepare(url: &str, schema: &str, n_slots: u64) {
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect(url).await.expect("PostgreSQL");
    let ddl = format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE;
         CREATE SCHEMA \"{schema}\";
         SET search_path = \"{schema}\";
         CREATE TABLE slots (id TEXT PRIMARY KEY, session_id TEXT NOT NULL, number BIGINT NOT NULL,
             status TEXT NOT NULL, appointment_id TEXT);
         CREATE TABLE appointments (id TEXT PRIMARY KEY, slot_id TEXT NOT NULL, citizen_id TEXT NOT NULL,
             person_id TEXT NOT NULL, id_number_hash TEXT NOT NULL, status TEXT NOT NULL,
             created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
         CREATE UNIQUE INDEX appointments_live_slot ON appointments (slot_id)
             WHERE status IN ('pending_payment', 'offered', 'booked', 'checked_in');
         CREATE INDEX appointments_citizen ON appointments (citizen_id);
         CREATE TABLE platform_outbox (id TEXT PRIMARY KEY, topic TEXT NOT NULL, payload TEXT NOT NULL,
             created_at BIGINT NOT NULL);
         CREATE SEQUENCE slot_seq;
         INSERT INTO slots SELECT 's' || n, 'session', n, 'free', NULL FROM generate_series(1, {n_slots}) AS n;
         ANALYZE;"
    );
    sqlx::raw_sql(&ddl).execute(&pool).await.expect("the pgbench schema");
    pool.close().await;
}

/// Runs the booking script for `duration` with `clients` connections.
pub fn run(url: &str, schema: &str, target: Target, clients: usize, duration: Duration) -> Sample {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/load/booking.pgbench.sql");
    let one_row = match target {
        Target::Distinct => 0,
        Target::OneRow => 1,
    };
    run_script(url, schema, &script, clients, duration, &[format!("-Done_row={one_row}")])
}

/// Runs the pgbench `script` with `clients` connections for `duration`, the search path set to
/// `schema`, `defines` passed as they are (`-Dname=value`). Other runs on the same PostgreSQL may
/// hold its connections a while: "too many clients" is waited out. Latencies come from pgbench's
/// per-transaction log; failed transactions count as 500s.
pub fn run_script(
    url: &str,
    schema: &str,
    script: &Path,
    clients: usize,
    duration: Duration,
    defines: &[String],
) -> Sample {
    let logs = tempfile::tempdir().expect("a directory for pgbench's logs");
    let run = || {
        Command::new("pgbench")
            .args(["-n", "-M", "prepared", "-j", "2", "-l"])
            .arg(format!("--log-prefix={}", logs.path().join("tx").display()))
            .arg(format!("-c{clients}"))
            .arg(format!("-T{}", duration.as_secs().max(1)))
            .args(defines)
            .arg("-f")
            .arg(script)
            .arg(url)
            .env("PGOPTIONS", format!("-c search_path={schema}"))
            .output()
            .expect("pgbench runs (apt-get install postgresql-client)")
    };
    let mut out = run();
    for _ in 0..20 {
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if out.status.success() || !said.contains("too many clients") {
            break;
        }
        std::thread::sleep(Duration::from_secs(3));
        for entry in std::fs::read_dir(logs.path()).expect("pgbench's logs").flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
        out = run();
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let name = script.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    assert!(out.status.success(), "pgbench {name} failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    let field = |prefix: &str, nth: usize| {
        stdout.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.split_whitespace().nth(nth)).map(str::to_owned)
    };
    let tps: f64 = field("tps = ", 2).and_then(|v| v.parse().ok()).expect("pgbench reports tps");
    let failed: u64 = field("number of failed transactions:", 4).and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
    for entry in std::fs::read_dir(logs.path()).expect("pgbench's logs").flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        // client_id transaction_no time(µs) script_no epoch µs
        for micros in text.lines().filter_map(|l| l.split_whitespace().nth(2)?.parse::<u64>().ok()) {
            hist.saturating_record(micros.max(1));
        }
    }
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    let mut statuses = std::collections::BTreeMap::new();
    statuses.insert(200, hist.len());
    if failed > 0 {
        statuses.insert(500, failed);
    }
    Sample { rps: tps, p50_ms: ms(0.5), p99_ms: ms(0.99), p999_ms: ms(0.999), statuses, total: hist.len() }
}
