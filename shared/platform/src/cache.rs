//! A small key-value cache with expiry: in-process by default, Redis when `CITY_REDIS_URL` is set.
//!
//! Used for rate-limit windows, cached answers and short locks. Anything several replicas must
//! agree on goes through here (or the database), never a process-local map in distributed mode.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;

/// Why the cache did not answer.
#[derive(Debug, thiserror::Error)]
#[error("cache: {0}")]
pub struct CacheError(#[from] pub redis::RedisError);

/// Keys and values with a time to live.
#[async_trait]
pub trait Cache: Send + Sync + 'static {
    /// The value, if present and not expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;
    /// Stores a value for `ttl`.
    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError>;
    /// Stores a value only when the key is absent; true when this call stored it (a lock).
    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, CacheError>;
    /// Removes a key.
    async fn delete(&self, key: &str) -> Result<(), CacheError>;
    /// Adds one to a counter that expires `ttl` after its first increment; the new count.
    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, CacheError>;
    /// Whether the backing store answers, for `/readyz`.
    async fn ping(&self) -> Result<(), CacheError>;
    /// `memory` or `redis`, for `/readyz` and logs.
    fn kind(&self) -> &'static str;
}

/// The in-process cache of the all-in-one portal.
#[derive(Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<String, (Vec<u8>, Instant)>>,
    counters: Mutex<HashMap<String, (u64, Instant)>>,
}

impl MemoryCache {
    /// An empty cache.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Drops expired entries; called by a periodic task so memory stays bounded.
    pub fn sweep(&self) {
        let now = Instant::now();
        self.entries.lock().retain(|_, (_, exp)| *exp > now);
        self.counters.lock().retain(|_, (_, exp)| *exp > now);
    }
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let entries = self.entries.lock();
        Ok(entries.get(key).filter(|(_, exp)| *exp > Instant::now()).map(|(v, _)| v.clone()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        self.entries.lock().insert(key.to_owned(), (value.to_vec(), Instant::now() + ttl));
        Ok(())
    }

    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, CacheError> {
        let now = Instant::now();
        let mut entries = self.entries.lock();
        match entries.get(key) {
            Some((_, exp)) if *exp > now => Ok(false),
            _ => {
                entries.insert(key.to_owned(), (value.to_vec(), now + ttl));
                Ok(true)
            }
        }
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.entries.lock().remove(key);
        Ok(())
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, CacheError> {
        let now = Instant::now();
        let mut counters = self.counters.lock();
        let entry = counters.entry(key.to_owned()).or_insert((0, now + ttl));
        if entry.1 <= now {
            *entry = (0, now + ttl);
        }
        entry.0 += 1;
        Ok(entry.0)
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

/// The shared cache of distributed mode. Every key gets the configured prefix.
#[derive(Clone)]
pub struct RedisCache {
    conn: redis::aio::ConnectionManager,
    prefix: String,
}

impl RedisCache {
    /// Connects (and reconnects on its own later) to Redis.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, CacheError> {
        let client = redis::Client::open(url)?;
        let conn = redis::aio::ConnectionManager::new(client).await?;
        Ok(Self { conn, prefix: prefix.to_owned() })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }
}

fn ttl_ms(ttl: Duration) -> u64 {
    (ttl.as_millis() as u64).max(1)
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("GET").arg(self.key(key)).query_async(&mut conn).await?)
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let mut conn = self.conn.clone();
        redis::cmd("SET").arg(self.key(key)).arg(value).arg("PX").arg(ttl_ms(ttl)).query_async::<()>(&mut conn).await?;
        Ok(())
    }

    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, CacheError> {
        let mut conn = self.conn.clone();
        let stored: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms(ttl))
            .query_async(&mut conn)
            .await?;
        Ok(stored.is_some())
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let mut conn = self.conn.clone();
        redis::cmd("DEL").arg(self.key(key)).query_async::<()>(&mut conn).await?;
        Ok(())
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, CacheError> {
        let mut conn = self.conn.clone();
        let key = self.key(key);
        // INCR and the first PEXPIRE in one round trip; NX keeps the window's original end.
        let (count, _): (u64, i64) = redis::pipe()
            .atomic()
            .cmd("INCR")
            .arg(&key)
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(ttl_ms(ttl))
            .arg("NX")
            .query_async(&mut conn)
            .await?;
        Ok(count)
    }

    async fn ping(&self) -> Result<(), CacheError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").query_async::<String>(&mut conn).await?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}
