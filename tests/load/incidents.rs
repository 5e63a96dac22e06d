//! Incidents over the wire (issue #24): report creation, and the map at block zoom and as
//! city-wide clusters over a large store of reports, each beside its database floor.

use crate::scenarios::Run;

/// `POST` incident reports by signed-in citizens with real `Idempotency-Key`s (goal ≥ 500/s).
pub async fn reports(_run: &mut Run<'_>) {
    println!("  (incident reports: not measured yet)");
}

/// The map over `LOAD_REPORTS` reports (1 M; fewer in the smoke): block zoom p99 < 15 ms,
/// city-wide clusters p99 < 50 ms.
pub async fn map(_run: &mut Run<'_>) {
    println!("  (incident map: not measured yet)");
}

/// Map p99 against reports (10k to 1M) and the server's RSS against reports, as charts in `dir`.
pub async fn curves(_run: &mut Run<'_>, _dir: &str) {
    println!("  (map curves: not drawn yet)");
}
