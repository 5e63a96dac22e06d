//! A closed account (issue #23): identity's `identity.citizen_erased` event, follower facts, conversations and grants dropped.
//! The store's erasure is idempotent on its own (a redelivered event finds nothing naming the
//! citizen), so no inbox record is needed.

use std::sync::Arc;

use crate::state::ChannelState;

/// Subscribes this service (one group for all its replicas) through the platform's consumer of
/// closed accounts, which holds the state weakly.
pub fn start(state: &Arc<ChannelState>) {
    city_platform::erasure::on_citizen_erased(&state.platform, crate::NAME, state, |state, erased| async move {
        // Facts this replica queued before the event (a location sent just before closing) are
        // stored first, so they are erased too rather than written back after the erasure.
        state.followers.flush().await;
        crate::store::erasure::erase_citizen(
            &state.db,
            &erased.citizen_id,
            erased.text("oa_openid"),
            erased.text("mp_openid"),
        )
        .await?;
        Ok(())
    });
}
