//! A closed account (issue #23): identity publishes `identity.citizen_erased` once the citizen is
//! gone, and every service that keeps something naming them drops or anonymises it. The part all
//! those consumers share lives here: one subscription per service (a group for all its
//! replicas), the state held weakly so a dropped service stops acting, and an event without a
//! citizen id logged and skipped rather than redelivered for ever. Each service's own erasure must
//! be idempotent: a redelivered event finds nothing naming the citizen, so no inbox is needed.

use std::future::Future;
use std::sync::Arc;

use crate::bus::{Event, Handler, HandlerResult};
use crate::Platform;

/// identity's event.
pub const TOPIC: &str = "identity.citizen_erased";

/// What a consumer is told of a closed account.
#[derive(Debug, Clone)]
pub struct Erased {
    /// The citizen's id.
    pub citizen_id: String,
    /// The event's whole payload (the Service Account and Mini Program openids among others).
    pub payload: serde_json::Value,
}

impl Erased {
    /// A text field of the payload (`oa_openid`, `mp_openid`).
    pub fn text(&self, key: &str) -> Option<&str> {
        self.payload.get(key).and_then(|v| v.as_str())
    }
}

/// Runs `erase(state, erased)` for every closed account, in the group `service`; `Err` has the bus
/// deliver the event again.
pub fn on_citizen_erased<S, F, Fut>(platform: &Platform, service: &str, state: &Arc<S>, erase: F)
where
    S: Send + Sync + 'static,
    F: Fn(Arc<S>, Erased) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandlerResult> + Send + 'static,
{
    let weak = Arc::downgrade(state);
    let erase = Arc::new(erase);
    let handler: Handler = Arc::new(move |event: Event| {
        let weak = weak.clone();
        let erase = erase.clone();
        Box::pin(async move {
            let Some(state) = weak.upgrade() else { return Ok(()) };
            let Some(citizen_id) = event.payload.get("citizen_id").and_then(|v| v.as_str()).map(str::to_owned) else {
                tracing::warn!(event = %event.id, "{TOPIC} without a citizen_id: ignored");
                return Ok(());
            };
            erase(state, Erased { citizen_id, payload: event.payload }).await
        })
    });
    platform.bus.clone().subscribe(TOPIC, service, handler, platform.shutdown.clone());
}
