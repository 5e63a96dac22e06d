//! How the nearest-station answer grows with the network (issue #24): p99 against stations
//! (100 to 100k), as a chart.

use crate::scenarios::Run;

/// Nearest p99 against stations, as a chart in `dir`.
pub async fn curve(_run: &mut Run<'_>, _dir: &str) {
    println!("  (nearest against stations: not drawn yet)");
}
