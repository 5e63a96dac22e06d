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
    /// Like [`EventBus::subscribe`], for a consumer that needs every event in every replica (an
    /// in-memory index): a group of this replica alone, `<prefix>-<replica>`, stable across its
    /// restarts, deleted by [`EventBus::close`] on a clean shutdown; groups of the same prefix
    /// whose consumers have been idle long (replicas that died) are deleted as this one starts.
    fn subscribe_replica(
        self: Arc<Self>,
        topic: &str,
        prefix: &str,
        replica: &str,
        handler: Handler,
        shutdown: Shutdown,
    ) -> JoinHandle<()> {
        self.subscribe(topic, &format!("{prefix}-{replica}"), handler, shutdown)
    }
    /// Removes what only this process used (its replica groups); once, on a clean shutdown.
    async fn close(&self) {}
}

/// This replica's name among its service's replicas: the host and the port it serves on, the
/// same again after a restart (so its replica groups are reused, not piled up). A second
/// instance of a service in one process (tests start several) is told apart by a counter.
pub fn replica_name(listen: std::net::SocketAddr) -> String {
    static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host: String = host.trim().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.').collect();
    let name = format!("{}-{}", if host.is_empty() { "host" } else { &host }, listen.port());
    match STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) {
        0 => name,
        n => format!("{name}-{}", n + 1),
    }
}

/// How long every consumer of a replica group must have been idle before the group counts as a
/// dead replica's. A live consumer reads (blocking for a second) all the time.
const REAP_AFTER: Duration = Duration::from_secs(600);

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
        {
            let mut topics = self.topics.lock();
            let log = topics.entry(event.topic.clone()).or_default();
            log.events.push_back(event.clone());
            // Trimmed here too: a topic no group consumes is never claimed from, and its log
            // would otherwise grow for as long as the process runs (issue #15).
            log.trim();
        }
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
    reap_after: Duration,
    /// This process's replica groups (stream, group), deleted by `close`.
    own: Arc<Mutex<Vec<(String, String)>>>,
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
            reap_after: REAP_AFTER,
            own: Arc::default(),
        })
    }

    /// How long an unacknowledged delivery waits before another consumer may claim it.
    pub fn with_redeliver_after(mut self, after: Duration) -> Self {
        self.redeliver_after = after;
        self
    }

    /// How long a replica group's consumers must be idle before it is reaped (tests shorten it).
    pub fn with_reap_after(mut self, after: Duration) -> Self {
        self.reap_after = after;
        self
    }

    /// The groups of `stream` named `<prefix>-…` other than `keep` whose consumers have all been
    /// idle for `reap_after`: left by replicas that died.
    async fn reap(&self, stream: &str, prefix: &str, keep: &str) -> Result<Vec<String>, BusError> {
        let mut conn = self.conn.clone();
        let groups: Vec<HashMap<String, redis::Value>> =
            match redis::cmd("XINFO").arg("GROUPS").arg(stream).query_async(&mut conn).await {
                Ok(groups) => groups,
                // No stream yet: nothing to reap.
                Err(_) => return Ok(Vec::new()),
            };
        let mut reaped = Vec::new();
        for group in groups {
            let Some(name) = group.get("name").and_then(|v| redis::from_redis_value::<String>(v).ok()) else {
                continue;
            };
            if name == keep || !name.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('-')) {
                continue;
            }
            let consumers: Vec<HashMap<String, redis::Value>> =
                redis::cmd("XINFO").arg("CONSUMERS").arg(stream).arg(&name).query_async(&mut conn).await?;
            let idle_ms = |c: &HashMap<String, redis::Value>| {
                c.get("idle").and_then(|v| redis::from_redis_value::<u64>(v).ok()).unwrap_or(u64::MAX)
            };
            if consumers.iter().all(|c| idle_ms(c) >= self.reap_after.as_millis() as u64) {
                redis::cmd("XGROUP").arg("DESTROY").arg(stream).arg(&name).query_async::<i64>(&mut conn).await?;
                tracing::info!(stream = %stream, group = %name, "reaped the group of a replica that is gone");
                reaped.push(name);
            }
        }
        Ok(reaped)
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

    fn subscribe_replica(
        self: Arc<Self>,
        topic: &str,
        prefix: &str,
        replica: &str,
        handler: Handler,
        shutdown: Shutdown,
    ) -> JoinHandle<()> {
        let (stream, group) = (self.stream(topic), format!("{prefix}-{replica}"));
        self.own.lock().push((stream.clone(), group.clone()));
        let (this, prefix, keep) = (self.clone(), prefix.to_owned(), group.clone());
        tokio::spawn(async move {
            if let Err(err) = this.reap(&stream, &prefix, &keep).await {
                tracing::warn!(stream = %stream, error = %err, "could not reap the groups of gone replicas");
            }
        });
        self.subscribe(topic, &group, handler, shutdown)
    }

    async fn close(&self) {
        let own: Vec<(String, String)> = std::mem::take(&mut *self.own.lock());
        let mut conn = self.conn.clone();
        for (stream, group) in own {
            let gone = redis::cmd("XGROUP").arg("DESTROY").arg(&stream).arg(&group).query_async::<i64>(&mut conn).await;
            if let Err(err) = gone {
                tracing::warn!(stream = %stream, group = %group, error = %err, "could not delete this replica's group");
            }
        }
    }
}

impl RedisBus {
    /// [`RedisBus::reap`] for tests: the replica groups of `topic` named `<prefix>-…` (other than
    /// `keep`) whose consumers were idle long enough, deleted; their names.
    pub async fn reap_replica_groups(&self, topic: &str, prefix: &str, keep: &str) -> Result<Vec<String>, BusError> {
        self.reap(&self.stream(topic), prefix, keep).await
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

#[cfg(test)]
mod unconsumed_tests {
    use super::*;

    #[tokio::test]
    async fn a_topic_nobody_consumes_keeps_only_a_bounded_tail() {
        let bus = MemoryBus::new();
        for i in 0..25_000 {
            let event = Event {
                id: format!("e{i}"),
                topic: "nobody.listens".into(),
                payload: serde_json::Value::Null,
                occurred_at_ms: 0,
            };
            bus.publish(&event).await.unwrap();
        }
        let topics = bus.topics.lock();
        let log = &topics["nobody.listens"];
        assert_eq!(log.events.len(), 10_000);
        assert_eq!(log.events.back().map(|e| e.id.as_str()), Some("e24999"), "the newest stay");
    }
}
