//! What WeChat sends the portal, over the wire (issue #24): Service Account pushes in safe mode
//! (encrypted and signed as WeChat does) and WeChat Pay v3 payment notifications.

use crate::scenarios::Run;

/// Service Account pushes in safe mode (goal ≥ 5k/s).
pub async fn pushes(_run: &mut Run<'_>) {
    println!("  (pushes: not measured yet)");
}

/// WeChat Pay v3 payment notifications (goal ≥ 1k/s).
pub async fn notifications(_run: &mut Run<'_>) {
    println!("  (payment notifications: not measured yet)");
}
