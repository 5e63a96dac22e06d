//! The service's shared state, [`AirState`]: the store, the platform, the live station index and the
//! per-station answer slots, with the shared-cache plumbing (tokens) every use case relies on. The
//! use cases themselves are `impl AirState` blocks in [`crate::engine`]; this module imports none of
//! them, nor the crate root.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use city_platform::{Db, Platform};
use parking_lot::RwLock;

use crate::answers::{LiveIndex, Slot};
use crate::index::StationIndex;

/// How often a replica checks the station table even without an `air.stations_changed` event
/// (a safety net: the event is what normally triggers the rebuild).
pub(crate) const INDEX_TTL: Duration = Duration::from_secs(60);
/// How long an answer stays in the shared cache. Not what keeps answers right (tokens do, see
/// `AirState::invalidate`); it only bounds memory.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(3_600);
/// How long a token lives. An expired token is replaced by a new one, which only costs a recomputation.
pub(crate) const TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3_600);

/// A failure of the store or the cache.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

/// The service's shared state.
pub struct AirState {
    /// The service's own store.
    pub db: Db,
    /// Cache, bus and reference data.
    pub platform: Platform,
    pub(crate) index: RwLock<Arc<LiveIndex>>,
    pub(crate) index_checked: tokio::sync::Mutex<(i64, i64)>,
    /// Until when the index counts as checked, read without the async lock on the hot path.
    pub(crate) index_fresh_until: RwLock<Option<Instant>>,
    pub(crate) slots: RwLock<HashMap<String, Arc<Slot>>>,
    /// Whether answers also go to the shared cache (only worth it when another process can read it).
    pub(crate) share_answers: bool,
}

impl AirState {
    /// State over an opened store.
    pub fn new(db: Db, platform: Platform) -> Self {
        let share_answers = platform.cache.kind() != "memory";
        Self {
            db,
            platform,
            index: RwLock::new(Arc::new(LiveIndex {
                stations: StationIndex::default(),
                slots: Vec::new(),
                heads: Vec::new(),
                token_keys: Vec::new(),
            })),
            index_checked: tokio::sync::Mutex::new((-1, -1)),
            index_fresh_until: RwLock::new(None),
            slots: RwLock::new(HashMap::new()),
            share_answers,
        }
    }

    /// The slot of a station, made on first use.
    pub(crate) fn slot(&self, code: &str) -> Arc<Slot> {
        if let Some(slot) = self.slots.read().get(code) {
            return slot.clone();
        }
        self.slots.write().entry(code.to_owned()).or_default().clone()
    }

    pub(crate) async fn cache_get<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        match self.platform.cache.get(key).await {
            Ok(Some(bytes)) => serde_json::from_slice(&bytes).ok(),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "air cache read failed");
                None
            }
        }
    }

    pub(crate) async fn cache_put<T: serde::Serialize>(&self, key: &str, value: &T) {
        if let Ok(bytes) = serde_json::to_vec(value) {
            if let Err(e) = self.platform.cache.set(key, &bytes, CACHE_TTL).await {
                tracing::warn!(error = %e, "air cache write failed");
            }
        }
    }

    /// The current token under `key`, made when there is none; `None` when the cache fails (then
    /// nothing is cached or served from cache).
    pub(crate) async fn token(&self, key: &str) -> Option<Vec<u8>> {
        let cache = &self.platform.cache;
        let read = match cache.get(key).await {
            Ok(Some(token)) => return Some(token),
            Ok(None) => {
                let fresh = city_platform::ids::new_id();
                match cache.set_if_absent(key, fresh.as_bytes(), TOKEN_TTL).await {
                    Ok(true) => return Some(fresh.into_bytes()),
                    // Another reader made it first: use theirs.
                    Ok(false) => cache.get(key).await,
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        match read {
            Ok(token) => token,
            Err(e) => {
                tracing::warn!(error = %e, "air cache token read failed; answering from the store");
                None
            }
        }
    }

    /// Replaces the tokens under `keys` with one new token, so every answer tagged with an older one is dead.
    pub(crate) async fn new_token(&self, keys: &[String]) -> bool {
        let token = city_platform::ids::new_id();
        let cache = &self.platform.cache;
        let mut ok = true;
        // Concurrent writes: on Redis one pipelined round trip per batch instead of one per station.
        for chunk in keys.chunks(256) {
            let writes = chunk.iter().map(|key| cache.set(key, token.as_bytes(), TOKEN_TTL));
            for (key, res) in chunk.iter().zip(futures::future::join_all(writes).await) {
                if let Err(e) = res {
                    tracing::error!(error = %e, key, "air cache invalidation failed");
                    ok = false;
                }
            }
        }
        ok
    }
}
