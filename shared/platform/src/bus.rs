//! The event bus: in-process by default, Redis Streams with consumer groups when
//! `CITY_REDIS_URL` is set.
//!
//! Delivery is at least once: a handler that fails sees the event again. Consumers make that
//! harmless by recording what they processed (`outbox::Inbox`). Within a group each event goes to
//! one consumer; every group sees every event.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::shutdown::Shutdown;

/// Something that happened in one service that others may act on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique per event (UUIDv7); consumers de-duplicate on it.
    pub id: String,
    /// What kind of event, e.g. `booking.cancelled`.
    pub topic: String,
    /// The event's data.
    pub payload: serde_json::Value,
    /// When it happened, UTC milliseconds.
    pub occurred_at_ms: i64,
}

/// Why publishing or consuming failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Redis refused or is unreachable.
    #[error("event bus: {0}")]
    Redis(#[from] redis::RedisError),
    /// A stored event could not be decoded.
    #[error("event bus: undecodable event: {0}")]
    Decode(#[from] serde_json::Error),
}

/// A handler's verdict: `Err` means "not done, deliver again later".
pub type HandlerResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// An event handler.
pub type Handler = Arc<dyn Fn(Event) -> BoxFuture<'static, HandlerResult> + Send + Sync>;

/// Publishes events and runs consumers.
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Hands the event to every group subscribed to its topic.
    async fn publish(&self, event: &Event) -> Result<(), BusError>;
    /// Runs `handler` for each event of `topic` delivered to `group`, until shutdown.
    fn subscribe(self: Arc<Self>, topic: &str, group: &str, handler: Handler, shutdown: Shutdown) -> JoinHandle<()>;
    /// Whether the bus answers, for `/readyz`.
    async fn ping(&self) -> Result<(), BusError>;
}

/// How long a failed delivery waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_millis(500);

#[derive(Default)]
struct TopicLog {
    /// Sequence number of `events[0]`.
    base: u64,
    events: VecDeque<Event>,
    /// Next sequence number each group will take.
    cursors: HashMap<String, u64>,
}

impl TopicLog {
    fn trim(&mut self) {
        // Keep what the slowest group has not taken yet; with no group yet, keep a bounded tail
        // so a consumer that starts a moment later still sees recent events.
        let keep_from = match self.cursors.values().min() {
            Some(min) => *min,
            None => (self.base + self.events.len() as u64).saturating_sub(10_000),
        };
        while self.base < keep_from && !self.events.is_empty() {
            self.events.pop_front();
            self.base += 1;
        }
    }
}

/// The in-process bus of the all-in-one portal.
#[derive(Default)]
pub struct MemoryBus {
    topics: Mutex<HashMap<String, TopicLog>>,
    notify: Notify,
}

impl MemoryBus {
    /// An empty bus.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn claim(&self, topic: &str, group: &str) -> Option<Event> {
        let mut topics = self.topics.lock();
        let log = topics.entry(topic.to_owned()).or_default();
        let base = log.base;
        let cursor = *log.cursors.entry(group.to_owned()).or_insert(base);
        let event = log.events.get((cursor - log.base) as usize).cloned()?;
        log.cursors.insert(group.to_owned(), cursor + 1);
        log.trim();
        Some(event)
    }
}

#[async_trait]
impl EventBus for MemoryBus {
    async fn publish(&self, event: &Event) -> Result<(), BusError> {
        self.topics.lock().entry(event.topic.clone()).or_default().events.push_back(event.clone());
        self.notify.notify_waiters();
        Ok(())
    }

    fn subscribe(
        self: Arc<Self>,
        topic: &str,
        group: &str,
        handler: Handler,
        mut shutdown: Shutdown,
    ) -> JoinHandle<()> {
        let this = self;
        let topic = topic.to_owned();
        let group = group.to_owned();
        // Register the group now, so events published from here on are kept for it.
        {
            let mut topics = this.topics.lock();
            let log = topics.entry(topic.clone()).or_default();
            let base = log.base;
            log.cursors.entry(group.clone()).or_insert(base);
        }
        tokio::spawn(async move {
            loop {
                let notified = this.notify.notified();
                match this.claim(&topic, &group) {
                    Some(event) => {
                        // At least once: keep trying this event until it is handled or we stop.
                        loop {
                            match handler(event.clone()).await {
                                Ok(()) => break,
                                Err(err) => {
                                    tracing::warn!(event_id = %event.id, topic = %topic, group = %group, error = %err, "event handler failed; retrying");
                                    tokio::select! {
                                        _ = tokio::time::sleep(RETRY_AFTER) => {}
                                        _ = shutdown.wait() => return,
                                    }
                                }
                            }
                        }
                    }
                    None => {
                        tokio::select! {
                            _ = notified => {}
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                            _ = shutdown.wait() => return,
                        }
                    }
                }
                if shutdown.is_set() {
                    return;
                }
            }
        })
    }

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }
}

/// The shared bus of distributed mode: one Redis stream per topic, one consumer group per
/// consuming service.
#[derive(Clone)]
pub struct RedisBus {
    client: redis::Client,
    conn: redis::aio::ConnectionManager,
    prefix: String,
    consumer: String,
    redeliver_after: Duration,
}

impl RedisBus {
    /// Connects to Redis; `consumer` names this process within its groups.
    pub async fn connect(url: &str, prefix: &str, consumer: &str) -> Result<Self, BusError> {
        let client = redis::Client::open(url)?;
        let conn = redis::aio::ConnectionManager::new(client.clone()).await?;
        Ok(Self {
            client,
            conn,
            prefix: prefix.to_owned(),
            consumer: consumer.to_owned(),
            redeliver_after: Duration::from_secs(5),
        })
    }

    /// How long an unacknowledged delivery waits before another consumer may claim it.
    pub fn with_redeliver_after(mut self, after: Duration) -> Self {
        self.redeliver_after = after;
        self
    }

    fn stream(&self, topic: &str) -> String {
        format!("{}events:{}", self.prefix, topic)
    }
}

#[async_trait]
impl EventBus for RedisBus {
    async fn publish(&self, event: &Event) -> Result<(), BusError> {
        let mut conn = self.conn.clone();
        let body = serde_json::to_string(event)?;
        redis::cmd("XADD")
            .arg(self.stream(&event.topic))
            .arg("MAXLEN")
            .arg("~")
            .arg(1_000_000)
            .arg("*")
            .arg("event")
            .arg(body)
            .query_async::<String>(&mut conn)
            .await?;
        Ok(())
    }

    fn subscribe(
        self: Arc<Self>,
        topic: &str,
        group: &str,
        handler: Handler,
        mut shutdown: Shutdown,
    ) -> JoinHandle<()> {
        let stream = self.stream(topic);
        let this = self;
        let group = group.to_owned();
        tokio::spawn(async move {
            loop {
                let run = this.consume(&stream, &group, &handler, shutdown.clone());
                tokio::select! {
                    res = run => match res {
                        Ok(()) => return,
                        Err(err) => tracing::warn!(stream = %stream, group = %group, error = %err, "consumer lost Redis; reconnecting"),
                    },
                    _ = shutdown.wait() => return,
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.wait() => return,
                }
            }
        })
    }

    async fn ping(&self) -> Result<(), BusError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").query_async::<String>(&mut conn).await?;
        Ok(())
    }
}

type StreamEntries = Vec<(String, Vec<(String, Vec<u8>)>)>;

impl RedisBus {
    async fn consume(&self, stream: &str, group: &str, handler: &Handler, shutdown: Shutdown) -> Result<(), BusError> {
        // A blocking XREADGROUP holds its connection, so each consumer gets its own.
        let mut conn = self.client.get_multiplexed_async_connection().await?;
        let created: Result<(), redis::RedisError> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(stream)
            .arg(group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut conn)
            .await;
        if let Err(err) = created {
            if err.code() != Some("BUSYGROUP") {
                return Err(err.into());
            }
        }
        let idle_ms = self.redeliver_after.as_millis() as u64;
        loop {
            if shutdown.is_set() {
                return Ok(());
            }
            // First take back deliveries that failed or whose consumer died, then new ones.
            let reclaimed: (String, StreamEntries, redis::Value) = redis::cmd("XAUTOCLAIM")
                .arg(stream)
                .arg(group)
                .arg(&self.consumer)
                .arg(idle_ms)
                .arg("0-0")
                .arg("COUNT")
                .arg(50)
                .query_async(&mut conn)
                .await?;
            let mut entries = reclaimed.1;
            if entries.is_empty() {
                let reply: Option<Vec<(String, StreamEntries)>> = redis::cmd("XREADGROUP")
                    .arg("GROUP")
                    .arg(group)
                    .arg(&self.consumer)
                    .arg("COUNT")
                    .arg(50)
                    .arg("BLOCK")
                    .arg(1000)
                    .arg("STREAMS")
                    .arg(stream)
                    .arg(">")
                    .query_async(&mut conn)
                    .await?;
                entries = reply.into_iter().flatten().flat_map(|(_, e)| e).collect();
            }
            for (entry_id, fields) in entries {
                let Some((_, body)) = fields.into_iter().find(|(k, _)| k == "event") else {
                    // Not ours (or trimmed to nothing): acknowledge so it stops coming back.
                    redis::cmd("XACK").arg(stream).arg(group).arg(&entry_id).query_async::<i64>(&mut conn).await?;
                    continue;
                };
                let event: Event = match serde_json::from_slice(&body) {
                    Ok(e) => e,
                    Err(err) => {
                        tracing::error!(entry = %entry_id, error = %err, "dropping undecodable event");
                        redis::cmd("XACK").arg(stream).arg(group).arg(&entry_id).query_async::<i64>(&mut conn).await?;
                        continue;
                    }
                };
                match handler(event.clone()).await {
                    Ok(()) => {
                        redis::cmd("XACK").arg(stream).arg(group).arg(&entry_id).query_async::<i64>(&mut conn).await?;
                    }
                    Err(err) => {
                        // Left pending: XAUTOCLAIM hands it out again after `redeliver_after`.
                        tracing::warn!(event_id = %event.id, group = %group, error = %err, "event handler failed; will be redelivered");
                    }
                }
            }
        }
    }
}
