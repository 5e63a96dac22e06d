//! Changes agents' event streams hear about, on every replica: a change is published on the bus
//! (`channel.conversation_changed`, the conversation's id) and each replica, through a group of
//! its own, hands it to its local streams, which read the conversation and filter by who may see it.

use std::sync::Arc;

use city_platform::bus::{Event, Handler};
use city_platform::ids::new_id;
use city_platform::time::now_ms;
use tokio::sync::broadcast;

use super::Conversations;

/// The bus topic.
pub const TOPIC: &str = "channel.conversation_changed";

/// This replica's fan-out to its open streams.
#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<String>,
}

impl Hub {
    pub(crate) fn new() -> Self {
        // A stream further behind than this skips ahead (it reloads what it shows).
        Self { tx: broadcast::channel(1024).0 }
    }

    /// A new stream's receiver.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.tx.subscribe()
    }
}

/// Subscribes this replica to the changes of every replica.
pub(crate) fn start(conversations: &Arc<Conversations>) {
    let tx = conversations.events.tx.clone();
    let handler: Handler = Arc::new(move |event: Event| {
        let tx = tx.clone();
        Box::pin(async move {
            if let Some(id) = event.payload.get("id").and_then(|v| v.as_str()) {
                // No stream open is no error.
                let _ = tx.send(id.to_owned());
            }
            Ok(())
        })
    });
    let p = &conversations.platform;
    let replica = city_platform::bus::replica_name(p.settings.listen);
    p.bus.clone().subscribe_replica(TOPIC, "wechat-conversations", &replica, handler, p.shutdown.clone());
}

/// Publishes a change; when the bus is down, this replica's streams still hear it.
pub(crate) async fn publish(conversations: &Conversations, id: &str) {
    let event =
        Event { id: new_id(), topic: TOPIC.into(), payload: serde_json::json!({ "id": id }), occurred_at_ms: now_ms() };
    if let Err(e) = conversations.platform.bus.publish(&event).await {
        tracing::warn!(error = %e, "conversation change not published; local streams only");
        let _ = conversations.events.tx.send(id.to_owned());
    }
}
