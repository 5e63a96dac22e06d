//! A closed account (issue #23): identity's `identity.citizen_erased` event, follower facts, conversations and grants dropped.
//! The store's erasure is idempotent on its own (a redelivered event finds nothing naming the
//! citizen), so no inbox record is needed.

use std::sync::Arc;

use city_platform::bus::{Event, Handler, HandlerResult};

use crate::state::ChannelState;

/// identity's event.
const TOPIC: &str = "identity.citizen_erased";

/// Subscribes this service (one group for all its replicas). Holds the state weakly: a dropped
/// service stops acting.
pub fn start(state: &Arc<ChannelState>) {
    let weak = Arc::downgrade(state);
    let handler: Handler = Arc::new(move |event: Event| {
        let weak = weak.clone();
        Box::pin(async move {
            let Some(state) = weak.upgrade() else { return Ok(()) };
            on_erased(&state, &event).await
        })
    });
    state.platform.bus.clone().subscribe(TOPIC, crate::NAME, handler, state.platform.shutdown.clone());
}

/// Applies one event; `Err` has the bus deliver it again.
async fn on_erased(state: &ChannelState, event: &Event) -> HandlerResult {
    let Some(citizen_id) = event.payload.get("citizen_id").and_then(|v| v.as_str()) else {
        tracing::warn!(event = %event.id, "identity.citizen_erased without a citizen_id: ignored");
        return Ok(());
    };
    let openid = |key: &str| event.payload.get(key).and_then(|v| v.as_str());
    crate::store::erasure::erase_citizen(&state.db, citizen_id, openid("oa_openid"), openid("mp_openid")).await?;
    Ok(())
}
