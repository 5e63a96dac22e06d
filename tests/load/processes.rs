//! The split deployment under the harness (issue #24): every service as its own `city`
//! process behind the gateway, each one's start-to-ready time and idle RSS, and the scenarios
//! through the split gateway.

use crate::scenarios::Run;

/// Starts the split deployment and measures it.
pub async fn split(_run: &mut Run<'_>) {
    println!("  (split deployment: not measured yet)");
}
