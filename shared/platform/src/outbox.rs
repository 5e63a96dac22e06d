//! The transactional outbox and inbox.
//!
//! A service writes its state change and the event in one transaction ([`enqueue`]); the
//! [`Relay`] publishes committed events to the bus and marks them published. A consumer records
//! each event it applied in the same transaction as the effect ([`Inbox::first_time`]), so a
//! redelivered event changes nothing the second time.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{AnyConnection, Row};

use crate::bus::{Event, EventBus};
use crate::db::{Backend, Db};
use crate::shutdown::Shutdown;
use crate::time::now_ms;

/// Writes `event` into the outbox inside the caller's transaction; returns the event id.
pub async fn enqueue(tx: &mut AnyConnection, topic: &str, payload: &serde_json::Value) -> Result<String, sqlx::Error> {
    let id = crate::ids::new_id();
    sqlx::query("INSERT INTO platform_outbox (id, topic, payload, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(topic)
        .bind(payload.to_string())
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    Ok(id)
}

/// Writes several events into the outbox with one statement, inside the caller's transaction;
/// returns their ids in order. The rows are what [`enqueue`] writes, so the relay publishes
/// them alike and in this order.
pub async fn enqueue_many(
    tx: &mut AnyConnection,
    events: &[(&str, serde_json::Value)],
) -> Result<Vec<String>, sqlx::Error> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let values: Vec<String> = (0..events.len())
        .map(|i| format!("(${}, ${}, ${}, ${})", i * 4 + 1, i * 4 + 2, i * 4 + 3, i * 4 + 4))
        .collect();
    let sql = format!("INSERT INTO platform_outbox (id, topic, payload, created_at) VALUES {}", values.join(", "));
    let created_at = now_ms();
    // UUIDv7s made in one process are increasing, so (created_at, id) keeps the given order.
    let ids: Vec<String> = events.iter().map(|_| crate::ids::new_id()).collect();
    let mut query = sqlx::query(&sql);
    for ((topic, payload), id) in events.iter().zip(&ids) {
        query = query.bind(id).bind(*topic).bind(payload.to_string()).bind(created_at);
    }
    query.execute(&mut *tx).await?;
    Ok(ids)
}

/// Marks `ids` published in one statement (the Any driver binds no arrays, so one placeholder
/// per id; batches are at most a few hundred).
async fn mark_published(tx: &mut AnyConnection, ids: &[String]) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!("UPDATE platform_outbox SET published_at = $1 WHERE id IN ({})", placeholders.join(", "));
    let mut query = sqlx::query(&sql).bind(now_ms());
    for id in ids {
        query = query.bind(id);
    }
    query.execute(&mut *tx).await?;
    Ok(())
}

/// Moves committed events from one service's outbox to the bus.
pub struct Relay {
    db: Db,
    bus: Arc<dyn EventBus>,
    batch: i64,
}

impl Relay {
    /// A relay for `db`'s outbox.
    pub fn new(db: Db, bus: Arc<dyn EventBus>) -> Self {
        Self { db, bus, batch: 100 }
    }

    /// Publishes what is waiting; returns how many were published. Safe to run on several
    /// replicas at once: on PostgreSQL each claims rows with `SKIP LOCKED`.
    pub async fn publish_pending(&self) -> Result<usize, RelayError> {
        match self.db.backend {
            Backend::Postgres => {
                // The claim (row locks) must last until the rows are marked, so one transaction.
                let mut tx = self.db.pool.begin().await?;
                let rows = sqlx::query(
                    "SELECT id, topic, payload, created_at FROM platform_outbox WHERE published_at IS NULL
                     ORDER BY created_at, id LIMIT $1 FOR UPDATE SKIP LOCKED",
                )
                .bind(self.batch)
                .fetch_all(&mut *tx)
                .await?;
                let ids = self.publish_rows(rows).await?;
                mark_published(&mut tx, &ids).await?;
                tx.commit().await?;
                Ok(ids.len())
            }
            Backend::Sqlite => {
                // One process owns a SQLite file, so there is no competing relay to claim rows
                // from: read without the write lock, publish, and take the lock only to mark.
                // Holding it across the publishes stalled every writer of the service.
                let rows = sqlx::query(
                    "SELECT id, topic, payload, created_at FROM platform_outbox WHERE published_at IS NULL
                     ORDER BY created_at, id LIMIT $1",
                )
                .bind(self.batch)
                .fetch_all(&self.db.pool)
                .await?;
                if rows.is_empty() {
                    return Ok(0);
                }
                let ids = self.publish_rows(rows).await?;
                let mut tx = self.db.begin_write().await?;
                mark_published(&mut tx, &ids).await?;
                tx.commit().await?;
                Ok(ids.len())
            }
        }
    }

    /// Publishes each row in order; the ids of those the bus took. Publish before marking: a
    /// crash in between publishes twice, which consumers absorb; the other order could lose
    /// the event.
    async fn publish_rows(&self, rows: Vec<sqlx::any::AnyRow>) -> Result<Vec<String>, RelayError> {
        let mut ids = Vec::with_capacity(rows.len());
        for row in rows {
            let id: String = row.try_get("id")?;
            let payload: String = row.try_get("payload")?;
            let event = Event {
                id: id.clone(),
                topic: row.try_get("topic")?,
                payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::String(payload)),
                occurred_at_ms: row.try_get("created_at")?,
            };
            if let Err(err) = self.bus.publish(&event).await {
                if ids.is_empty() {
                    return Err(err.into());
                }
                // Keep what went out marked; the rest is tried again next round.
                tracing::warn!(service = self.db.service, error = %err, "outbox relay: bus refused an event");
                break;
            }
            ids.push(id);
        }
        Ok(ids)
    }

    /// Runs until shutdown, polling every `interval` (and at once again when a batch was full).
    pub async fn run(self, interval: Duration, mut shutdown: Shutdown) {
        loop {
            let published = match self.publish_pending().await {
                Ok(n) => n,
                Err(err) => {
                    tracing::warn!(service = self.db.service, error = %err, "outbox relay failed; will retry");
                    0
                }
            };
            if published as i64 >= self.batch {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.wait() => return,
            }
        }
    }

    /// Deletes published events older than `age`, so the table stays small.
    pub async fn prune(&self, age: Duration) -> Result<u64, sqlx::Error> {
        let cutoff = now_ms() - age.as_millis() as i64;
        let res = sqlx::query("DELETE FROM platform_outbox WHERE published_at IS NOT NULL AND published_at < $1")
            .bind(cutoff)
            .execute(&self.db.pool)
            .await?;
        Ok(res.rows_affected())
    }
}

/// Why the relay could not publish.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The outbox could not be read or updated.
    #[error("outbox: {0}")]
    Sql(#[from] sqlx::Error),
    /// The bus did not take the event.
    #[error("outbox: {0}")]
    Bus(#[from] crate::bus::BusError),
}

/// What a consumer has already applied.
pub struct Inbox;

impl Inbox {
    /// Records that `consumer` applied `event_id`, inside the transaction that applies it.
    /// Returns false when it was already recorded: skip the effect, commit, and acknowledge.
    pub async fn first_time(tx: &mut AnyConnection, consumer: &str, event_id: &str) -> Result<bool, sqlx::Error> {
        let res = sqlx::query(
            "INSERT INTO platform_inbox (consumer, event_id, processed_at) VALUES ($1, $2, $3)
             ON CONFLICT (consumer, event_id) DO NOTHING",
        )
        .bind(consumer)
        .bind(event_id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        Ok(res.rows_affected() == 1)
    }
}
