//! The WeChat identity layer (`/v1/auth`, `/v1/me`, `/v1/staff`): Mini Program and Service Account sign-in,
//! one citizen per person, real-name family members, staff with roles and scopes, API keys, the
//! audit log, and the [`Authenticator`](city_platform::auth::Authenticator) every service asks.
//!
//! Entry points: [`IdentityService::start`] opens the store and returns the API and the
//! in-process authenticator; [`remote_authenticator`] is the same question asked over HTTP
//! (`POST /v1/auth/introspect`) when identity runs elsewhere; [`admin`] backs `city staff` and
//! `city apikey`.
//!
//! Layout: `api/` (handlers by resource, and `api/problems.rs`: typed errors to problems),
//! [`errors`] (identity's error kinds), use cases in `signin` (WeChat sign-in, OAuth, linking,
//! phone), `people` (family members, the limit of 5), `staff_login` (passwords and the lockout)
//! and [`admin`] (staff and API keys, audited); [`domain`] (ID numbers, masks, credentials,
//! sealing, the citizen id), `store/` (all SQL, by aggregate), `sessions` (the authenticators
//! and their short principal cache), `password` (argon2id off the async threads), `wechat`
//! (WeChat clients and the shared access token), `state` ([`IdentityState`]).
//!
//! Invariants: this service reads no other service's tables; tokens and keys are stored only as
//! SHA-256; ID numbers, names and phones only sealed (AES-GCM) and shown only masked; openids
//! never reach citizens, staff or integrators: only the internal contacts lookup
//! (`/v1/internal/identity/...`, `X-Internal-Token`) gives them to the channel service, which
//! delivers messages to them.

pub mod admin;
mod api;
mod contacts;
pub mod domain;
mod erasure;
pub mod errors;
mod export;
mod password;
mod people;
mod sessions;
mod signin;
mod staff_login;
mod staff_password;
mod state;
mod store;
mod wechat;

use std::sync::Arc;

use city_platform::auth::SharedAuthenticator;
use city_platform::config::Profile;
use city_platform::{Db, Platform};
use sqlx::migrate::Migrator;

pub use api::{person_as_shown, IdentityApi};
pub use domain::real_name::{RealNameCheck, RealNameUnavailable, RealNameVerdict, SandboxRealName};
pub use errors::KINDS as ERROR_KINDS;
pub use password::ARGON2_PARAMS;
pub use state::IdentityState;

/// The service's name: its SQLite file, PostgreSQL schema and `--only` argument.
pub const NAME: &str = "identity";

/// The path prefixes this service owns.
pub const PREFIXES: &[&str] = &["/v1/auth", "/v1/me", "/v1/staff"];

/// This service's migrations.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/identity");

/// The running service.
pub struct IdentityService;

impl IdentityService {
    /// Opens and migrates the store and builds the API, and the authenticator the other
    /// services in this process use. Starts the audit-log consumer. Real names are checked by
    /// the sandbox's [`SandboxRealName`], which a production portal refuses unless
    /// `identity.allow_sandbox_real_name` says so: a city plugs in its authority with
    /// [`IdentityService::start_with`].
    pub async fn start(platform: Platform) -> Result<(IdentityApi, Db, SharedAuthenticator), StartError> {
        let settings = &platform.settings;
        if settings.profile == Profile::Production && !settings.identity.allow_sandbox_real_name {
            return Err(StartError::SandboxRealName);
        }
        if settings.profile == Profile::Production {
            tracing::warn!(
                "identity: the sandbox's real-name check is in use (identity.allow_sandbox_real_name): any \
                 well-written name passes for any ID number"
            );
        }
        Self::start_with(platform, Arc::new(SandboxRealName)).await
    }

    /// [`IdentityService::start`] with the city's real-name authority (WeChat's identity
    /// verification, or the public-security service's name and number check) behind
    /// [`RealNameCheck`]; every family member added is checked by it.
    pub async fn start_with(
        platform: Platform,
        real_name: Arc<dyn RealNameCheck>,
    ) -> Result<(IdentityApi, Db, SharedAuthenticator), StartError> {
        let db = Db::open(&platform.settings, NAME, &MIGRATOR).await?;
        let mut state = IdentityState::new(db.clone(), platform.clone());
        state.real_name = real_name;
        let state = Arc::new(state);
        admin::subscribe_audit(&state);
        let authenticator: SharedAuthenticator = Arc::new(state.sessions.clone());
        Ok((IdentityApi::new(state), db, authenticator))
    }
}

/// Why the identity service did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened or migrated.
    #[error(transparent)]
    Db(#[from] city_platform::db::DbError),
    /// Production with the sandbox's real-name check, not explicitly allowed.
    #[error(
        "identity.allow_sandbox_real_name (CITY_IDENTITY__ALLOW_SANDBOX_REAL_NAME): production would check real names \
         with the sandbox, which takes any well-written name for any ID number; plug in the city's authority \
         (IdentityService::start_with) or set it to true to run so knowingly"
    )]
    SandboxRealName,
}

/// The authenticator a service running apart uses: identity's API at its replicas (`services.identity`).
pub fn remote_authenticator(platform: &Platform) -> SharedAuthenticator {
    let s = &platform.settings;
    Arc::new(sessions::Remote::new(s.peer(NAME, &s.services.identity), platform.cache.clone()))
}
