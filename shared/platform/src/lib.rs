//! What every City Services service needs, and nothing only one of them needs.
//!
//! API Boundary: every service depends on this crate; changes here are changes to all of them.
//!
//! Layout:
//! - [`config`]: layered settings (defaults, `city.toml`, `CITY_*`, `…_FILE`).
//! - [`profile`], [`secrets`]: `demo` (generated credentials) or `production` (all configured,
//!   checked before start).
//! - [`db`]: one Any-driver pool per service, SQLite or PostgreSQL, per-service migrations.
//! - [`cache`], [`bus`], [`outbox`]: in-process or Redis; the transactional outbox and inbox.
//! - [`problem`]: the one error type rendered as RFC 9457 problem+json.
//! - [`edge`], [`idempotency`], [`request_id`], [`telemetry`]: cross-cutting HTTP concerns.
//! - [`districts`], [`coords`]: the city's map reference data.
//! - [`time`], [`money`], [`ids`]: UTC instants and Beijing days, fen, UUIDv7.
//! - [`matching`]: strings held to a pattern, compiled once (poem-openapi's validator compiles per check).
//!
//! Invariants: no module here knows any service's tables or types; nothing reads the
//! environment after [`config::Settings::load`].

pub mod audit;
pub mod auth;
pub mod body;
pub mod bus;
pub mod cache;
pub mod caller;
pub mod config;
pub mod coords;
pub mod db;
pub mod districts;
pub mod edge;
pub mod erasure;
pub mod idempotency;
pub mod ids;
pub mod matching;
pub mod money;
pub mod outbox;
pub mod peers;
pub mod problem;
pub mod profile;
pub mod request_id;
pub mod secrets;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;
pub mod trace_context;

use std::sync::Arc;

pub use body::{CachedJson, JsonBody};
pub use config::Settings;
pub use db::Db;
pub use matching::Matching;
pub use problem::{ErrorKind, ErrorSet, Failure, IntoProblem, Problem, ProblemResponse};

use bus::{EventBus, MemoryBus, RedisBus};
use cache::{Cache, MemoryCache, RedisCache};
use districts::Districts;
use shutdown::Shutdown;

/// What a service is handed besides its own database: settings, the shared cache and bus,
/// the city's reference data, and the shutdown signal for its background loops.
#[derive(Clone)]
pub struct Platform {
    /// The effective settings.
    pub settings: Arc<Settings>,
    /// The cache: in-process or Redis.
    pub cache: Arc<dyn Cache>,
    /// The event bus: in-process or Redis Streams.
    pub bus: Arc<dyn EventBus>,
    /// The city's districts.
    pub districts: Arc<Districts>,
    /// Fires when the process is shutting down.
    pub shutdown: Shutdown,
    /// What services present to each other's internal endpoints (see [`auth::InternalAuth`]).
    pub internal_token: auth::InternalToken,
}

/// Why the platform could not start.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    /// Redis could not be reached at start.
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The cache could not start.
    #[error(transparent)]
    Cache(#[from] cache::CacheError),
    /// The bus could not start.
    #[error(transparent)]
    Bus(#[from] bus::BusError),
    /// The district seed is broken.
    #[error(transparent)]
    Districts(#[from] districts::DistrictsError),
    /// The profile refuses these settings, or the demo credentials could not be made.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
}

impl Platform {
    /// Builds the cache and bus the settings ask for; `process` names this process in Redis
    /// consumer groups (e.g. `booking-<pid>`). The settings are first prepared for their
    /// profile ([`profile::prepare`]): a production start with anything missing stops here.
    pub async fn build(settings: Settings, process: &str, shutdown: Shutdown) -> Result<Self, PlatformError> {
        let settings = profile::prepare(settings)?.settings;
        let (cache, bus): (Arc<dyn Cache>, Arc<dyn EventBus>) = match &settings.redis_url {
            Some(url) => (
                Arc::new(RedisCache::connect(url.expose(), &settings.redis_prefix).await?),
                Arc::new(RedisBus::connect(url.expose(), &settings.redis_prefix, process).await?),
            ),
            None => {
                let cache = MemoryCache::new();
                let sweeper = cache.clone();
                let mut stop = shutdown.clone();
                // Expired entries would otherwise stay until overwritten.
                tokio::spawn(async move {
                    loop {
                        tokio::select! {
                            _ = tokio::time::sleep(std::time::Duration::from_secs(30)) => sweeper.sweep(),
                            _ = stop.wait() => return,
                        }
                    }
                });
                (cache, MemoryBus::new())
            }
        };
        let internal_token = auth::InternalToken::from_settings(&settings);
        Ok(Self {
            settings: Arc::new(settings),
            cache,
            bus,
            districts: Arc::new(Districts::demo()?),
            shutdown,
            internal_token,
        })
    }
}
