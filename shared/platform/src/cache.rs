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

/// How many entries (and, apart, counters) the in-process cache keeps at most. Clients choose
/// many keys (their addresses, OAuth states), so expiry alone does not bound its memory.
pub const MEMORY_CACHE_ENTRIES: usize = 100_000;

/// How many bytes of values the in-process cache keeps at most: cached answers (air readings,
/// slot lists) are keyed by what clients ask, so a count of entries alone lets a fuzzer fill
/// gigabytes with distinct large answers (issue #15).
pub const MEMORY_CACHE_BYTES: usize = 32 * 1024 * 1024;

/// The in-process cache of the all-in-one portal, bounded in entries and in bytes: when full it
/// drops the expired ones, then the tenth that would expire soonest.
pub struct MemoryCache {
    entries: Mutex<Entries>,
    counters: Mutex<HashMap<String, (u64, Instant)>>,
    capacity: usize,
    max_bytes: usize,
}

/// The values and the bytes they hold (keys and values).
#[derive(Default)]
struct Entries {
    map: HashMap<String, (Vec<u8>, Instant)>,
    bytes: usize,
}

impl Entries {
    fn remove(&mut self, key: &str) {
        if let Some((value, _)) = self.map.remove(key) {
            self.bytes -= key.len() + value.len();
        }
    }

    fn insert(&mut self, key: &str, value: &[u8], expires: Instant) {
        self.remove(key);
        self.bytes += key.len() + value.len();
        self.map.insert(key.to_owned(), (value.to_vec(), expires));
    }

    /// Keeps only what `keep` allows, keeping the byte count right.
    fn retain(&mut self, mut keep: impl FnMut(Instant) -> bool) {
        let mut bytes = self.bytes;
        self.map.retain(|k, (v, exp)| {
            let kept = keep(*exp);
            if !kept {
                bytes -= k.len() + v.len();
            }
            kept
        });
        self.bytes = bytes;
    }

    /// Makes room for `extra` more bytes under one new key.
    fn make_room(&mut self, capacity: usize, max_bytes: usize, extra: usize, now: Instant) {
        let fits = |e: &Self| e.map.len() < capacity && e.bytes + extra <= max_bytes;
        if fits(self) {
            return;
        }
        self.retain(|exp| exp > now);
        // Still full of live entries: the tenth closest to expiry goes, again until it fits.
        while !fits(self) && !self.map.is_empty() {
            let mut expiries: Vec<Instant> = self.map.values().map(|(_, exp)| *exp).collect();
            let cut = (expiries.len() / 10).min(expiries.len() - 1);
            let (_, nth, _) = expiries.select_nth_unstable(cut);
            let nth = *nth;
            self.retain(|exp| exp > nth);
        }
    }
}

impl Default for MemoryCache {
    fn default() -> Self {
        Self::bounded(MEMORY_CACHE_ENTRIES, MEMORY_CACHE_BYTES)
    }
}

impl MemoryCache {
    /// An empty cache.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// An empty cache holding at most `capacity` entries and `capacity` counters.
    pub fn with_capacity(capacity: usize) -> Self {
        Self::bounded(capacity, MEMORY_CACHE_BYTES)
    }

    /// An empty cache holding at most `capacity` entries, `capacity` counters and `max_bytes`
    /// of keys and values.
    pub fn bounded(capacity: usize, max_bytes: usize) -> Self {
        Self { entries: Mutex::default(), counters: Mutex::default(), capacity: capacity.max(2), max_bytes }
    }

    /// Drops expired entries; called by a periodic task so memory stays bounded.
    pub fn sweep(&self) {
        let now = Instant::now();
        self.entries.lock().retain(|exp| exp > now);
        self.counters.lock().retain(|_, (_, exp)| *exp > now);
    }

    /// How many entries and counters are held (expired ones included until swept).
    pub fn len(&self) -> usize {
        self.entries.lock().map.len() + self.counters.lock().len()
    }

    /// How many bytes of keys and values the entries hold.
    pub fn bytes(&self) -> usize {
        self.entries.lock().bytes
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stores `value` under `key`, making room first. A value larger than a sixteenth of the
    /// byte budget is not kept (a cache may forget; it must not be flushed by one answer).
    fn store(&self, entries: &mut Entries, key: &str, value: &[u8], expires: Instant, now: Instant) {
        entries.remove(key);
        let size = key.len() + value.len();
        if size > self.max_bytes / 16 {
            return;
        }
        entries.make_room(self.capacity, self.max_bytes, size, now);
        entries.insert(key, value, expires);
    }
}

/// Makes room for one new key in a map of counters holding at most `capacity`.
fn make_room<V>(map: &mut HashMap<String, (V, Instant)>, capacity: usize, now: Instant) {
    if map.len() < capacity {
        return;
    }
    map.retain(|_, (_, exp)| *exp > now);
    if map.len() < capacity {
        return;
    }
    // Still full of live entries: the tenth closest to expiry goes first.
    let mut expiries: Vec<Instant> = map.values().map(|(_, exp)| *exp).collect();
    let cut = (capacity / 10).clamp(1, expiries.len() - 1);
    let (_, nth, _) = expiries.select_nth_unstable(cut);
    let nth = *nth;
    map.retain(|_, (_, exp)| *exp > nth);
}

#[async_trait]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let entries = self.entries.lock();
        Ok(entries.map.get(key).filter(|(_, exp)| *exp > Instant::now()).map(|(v, _)| v.clone()))
    }

    async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let now = Instant::now();
        let mut entries = self.entries.lock();
        self.store(&mut entries, key, value, now + ttl, now);
        Ok(())
    }

    async fn set_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, CacheError> {
        let now = Instant::now();
        let mut entries = self.entries.lock();
        if entries.map.get(key).is_some_and(|(_, exp)| *exp > now) {
            return Ok(false);
        }
        // A value too large to keep claims nothing: no caller believes it holds a lock that is
        // not stored.
        self.store(&mut entries, key, value, now + ttl, now);
        Ok(entries.map.contains_key(key))
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.entries.lock().remove(key);
        Ok(())
    }

    async fn increment(&self, key: &str, ttl: Duration) -> Result<u64, CacheError> {
        let now = Instant::now();
        let mut counters = self.counters.lock();
        if !counters.contains_key(key) {
            make_room(&mut counters, self.capacity, now);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_chosen_by_clients_cannot_grow_the_cache_past_its_bound() {
        let cache = MemoryCache::with_capacity(100);
        for i in 0..1000 {
            cache.set(&format!("oauth:{i}"), b"x", Duration::from_secs(600)).await.unwrap();
            cache.increment(&format!("rl:ip:{i}"), Duration::from_secs(60)).await.unwrap();
            cache.set_if_absent(&format!("lock:{i}"), b"x", Duration::from_secs(60)).await.unwrap();
        }
        assert!(cache.len() <= 200, "{} entries held", cache.len());
        // The newest keys are still there.
        assert_eq!(cache.get("oauth:999").await.unwrap(), Some(b"x".to_vec()));
        assert_eq!(cache.increment("rl:ip:999", Duration::from_secs(60)).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn large_answers_under_distinct_keys_cannot_grow_the_cache_past_its_bytes() {
        let cache = MemoryCache::bounded(100_000, 64 * 1024);
        let answer = vec![b'x'; 3000];
        for i in 0..1000 {
            cache.set(&format!("air:map:{i}"), &answer, Duration::from_secs(600)).await.unwrap();
            assert!(cache.bytes() <= 64 * 1024, "{} bytes held after {i}", cache.bytes());
        }
        assert!(cache.len() >= 10, "the cache still keeps what fits: {}", cache.len());
        assert_eq!(cache.get("air:map:999").await.unwrap(), Some(answer.clone()));
        // One answer beyond a sixteenth of the budget is not kept, and flushes nothing.
        cache.set("huge", &vec![0; 8 * 1024], Duration::from_secs(600)).await.unwrap();
        assert_eq!(cache.get("huge").await.unwrap(), None);
        assert_eq!(cache.get("air:map:999").await.unwrap(), Some(answer));
        // Replacing and deleting keep the count right.
        cache.set("air:map:999", b"y", Duration::from_secs(600)).await.unwrap();
        for i in 0..1000 {
            cache.delete(&format!("air:map:{i}")).await.unwrap();
        }
        assert_eq!(cache.bytes(), 0);
    }
}
