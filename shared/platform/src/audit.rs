//! The audit trail: every staff action in every service becomes an `audit.recorded` event,
//! written through the outbox in the same transaction as the action, and kept by identity,
//! which serves it to admins.

use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;

use crate::auth::Staff;

/// The event topic.
pub const TOPIC: &str = "audit.recorded";

/// One audited action.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditEntry {
    /// The staff member who acted (or the integrator's key id).
    pub actor_id: String,
    /// Their sign-in name, as it was then.
    pub actor_name: String,
    /// The service that did it, e.g. `booking`.
    pub service: String,
    /// What was done, `<verb>_<resource>`: `stop_session`, `assign_ticket`.
    pub action: String,
    /// The thing acted on, e.g. `session:0193…`.
    pub target: String,
    /// The state before, when there was one (personal data masked).
    pub before: Option<serde_json::Value>,
    /// The state after (personal data masked).
    pub after: Option<serde_json::Value>,
    /// The request that did it.
    pub request_id: Option<String>,
    /// When, UTC milliseconds.
    pub at_ms: i64,
}

impl AuditEntry {
    /// An entry for `staff` doing `action` to `target` in `service`, now, in this request.
    pub fn by_staff(staff: &Staff, service: &str, action: &str, target: impl Into<String>) -> Self {
        Self {
            actor_id: staff.staff_id.clone(),
            actor_name: staff.username.clone(),
            service: service.into(),
            action: action.into(),
            target: target.into(),
            before: None,
            after: None,
            request_id: crate::request_id::current(),
            at_ms: crate::time::now_ms(),
        }
    }

    /// Adds the before and after states.
    pub fn with_change(mut self, before: Option<serde_json::Value>, after: Option<serde_json::Value>) -> Self {
        self.before = before;
        self.after = after;
        self
    }
}

/// Records `entry` inside the caller's transaction (through the outbox).
pub async fn record(tx: &mut AnyConnection, entry: &AuditEntry) -> Result<(), sqlx::Error> {
    let payload = serde_json::to_value(entry).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    crate::outbox::enqueue(tx, TOPIC, &payload).await.map(|_| ())
}
