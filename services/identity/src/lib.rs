//! The WeChat identity layer (`/v1/auth`, `/v1/me`, `/v1/staff`): Mini Program and Service Account sign-in,
//! one citizen per person, real-name family members, staff with roles and scopes, API keys, the
//! audit log, and the [`Authenticator`](city_platform::auth::Authenticator) every service asks.
//!
//! Entry points: [`IdentityService::start`] opens the store and returns the API; [`IdentityApi`] is
//! the poem-openapi surface the gateway mounts (or `city serve --only identity` serves alone).
//!
//! Invariants: this service reads no other service's tables.

mod api;

use std::sync::Arc;

use city_platform::auth::{Authenticator, Integrator, Principal, SharedAuthenticator};
use city_platform::{Db, Platform, Problem};
use sqlx::migrate::Migrator;

pub use api::IdentityApi;

/// The service's name: its SQLite file, PostgreSQL schema and `--only` argument.
pub const NAME: &str = "identity";

/// The path prefixes this service owns.
pub const PREFIXES: &[&str] = &["/v1/auth", "/v1/me", "/v1/staff"];

/// This service's migrations (none yet).
pub static MIGRATOR: Migrator = Migrator::DEFAULT;

/// What the identity handlers share.
pub struct IdentityState {
    /// The service's own store.
    pub db: Db,
    /// Cache, bus and reference data.
    pub platform: Platform,
}

/// The running service.
pub struct IdentityService;

impl IdentityService {
    /// Opens and migrates the store and builds the API, and the authenticator the other
    /// services in this process use.
    pub async fn start(
        platform: Platform,
    ) -> Result<(IdentityApi, Db, SharedAuthenticator), city_platform::db::DbError> {
        let db = Db::open(&platform.settings, NAME, &MIGRATOR).await?;
        let state = Arc::new(IdentityState { db: db.clone(), platform });
        Ok((IdentityApi::new(state), db, Arc::new(NoSignIn)))
    }
}

/// The authenticator a service running apart uses: identity's API at `base_url`.
pub fn remote_authenticator(_base_url: &str, _platform: &Platform) -> SharedAuthenticator {
    Arc::new(NoSignIn)
}

/// Until sign-in exists, every credential is unknown (401).
struct NoSignIn;

#[async_trait::async_trait]
impl Authenticator for NoSignIn {
    async fn bearer(&self, _token: &str) -> Result<Option<Principal>, Problem> {
        Ok(None)
    }

    async fn api_key(&self, _key: &str) -> Result<Option<Integrator>, Problem> {
        Ok(None)
    }
}
