//! The WeChat identity layer (`/v1/auth`, `/v1/me`, `/v1/staff`): Mini Program and Service Account sign-in,
//! one citizen per person, real-name family members, staff with roles and scopes, API keys, the
//! audit log, and the [`Authenticator`](city_platform::auth::Authenticator) every service asks.
//!
//! Entry points: [`IdentityService::start`] opens the store and returns the API and the
//! in-process authenticator; [`remote_authenticator`] is the same question asked over HTTP
//! (`POST /v1/auth/introspect`) when identity runs elsewhere; [`admin`] backs `city staff` and
//! `city apikey`.
//!
//! Layout: `api` (handlers), [`domain`] (ID numbers, masks, credentials, sealing), `store`
//! (SQL), `sessions` (the authenticators and their short principal cache), `password`
//! (argon2id off the async threads), `wechat` (WeChat clients and the shared access token).
//!
//! Invariants: this service reads no other service's tables; tokens and keys are stored only as
//! SHA-256; ID numbers, names and phones only sealed (AES-GCM) and shown only masked; openids
//! never reach citizens, staff or integrators: only the internal contacts lookup
//! (`/v1/internal/identity/...`, `X-Internal-Token`) gives them to the channel service, which
//! delivers messages to them.

pub mod admin;
mod api;
pub mod domain;
mod password;
mod sessions;
mod store;
mod wechat;

use std::sync::Arc;

use city_platform::auth::SharedAuthenticator;
use city_platform::{Db, Platform};
use sqlx::migrate::Migrator;

pub use api::IdentityApi;
pub use password::ARGON2_PARAMS;

/// The service's name: its SQLite file, PostgreSQL schema and `--only` argument.
pub const NAME: &str = "identity";

/// The path prefixes this service owns.
pub const PREFIXES: &[&str] = &["/v1/auth", "/v1/me", "/v1/staff"];

/// This service's migrations.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/identity");

/// What the identity handlers share.
pub struct IdentityState {
    /// The service's own store.
    pub db: Db,
    /// Cache, bus and reference data.
    pub platform: Platform,
    sealer: domain::sealed::Sealer,
    wechat: wechat::Wechat,
    passwords: password::Passwords,
    sessions: sessions::Sessions,
}

/// The running service.
pub struct IdentityService;

impl IdentityService {
    /// Opens and migrates the store and builds the API, and the authenticator the other
    /// services in this process use. Starts the audit-log consumer.
    pub async fn start(
        platform: Platform,
    ) -> Result<(IdentityApi, Db, SharedAuthenticator), city_platform::db::DbError> {
        let db = Db::open(&platform.settings, NAME, &MIGRATOR).await?;
        let state = Arc::new(IdentityState::new(db.clone(), platform.clone()));
        admin::subscribe_audit(&state);
        let authenticator: SharedAuthenticator = Arc::new(state.sessions.clone());
        Ok((IdentityApi::new(state), db, authenticator))
    }
}

impl IdentityState {
    fn new(db: Db, platform: Platform) -> Self {
        let s = &platform.settings.identity;
        let sealer = domain::sealed::Sealer::new(s.data_key.expose(), s.hash_key.expose());
        let wechat = wechat::Wechat::new(&platform);
        let sessions = sessions::Sessions::new(db.clone(), platform.cache.clone());
        Self { db, sealer, wechat, passwords: password::Passwords::new(), sessions, platform }
    }
}

/// The authenticator a service running apart uses: identity's API at `base_url`.
pub fn remote_authenticator(base_url: &str, platform: &Platform) -> SharedAuthenticator {
    Arc::new(sessions::Remote::new(base_url, platform.cache.clone()))
}
