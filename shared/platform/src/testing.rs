//! Test support for service crates (feature `testing`): a fresh platform per test on whichever
//! backend the environment selects, the service's API behind the real edge middleware in a
//! `poem::test::TestClient`, and a static authenticator for tests that are not about sign-in.
//!
//! Embedded by default; `CITY_TEST_DATABASE_URL` / `CITY_TEST_REDIS_URL` select fresh
//! PostgreSQL schemas and a fresh Redis key prefix.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use poem::endpoint::BoxEndpoint;
use poem::test::TestClient;
use poem::EndpointExt;
use poem_openapi::{OpenApi, OpenApiService};

use crate::auth::{Authenticator, Integrator, Principal, SharedAuthenticator};
use crate::config::{Secret, Settings};
use crate::edge::RateLimiter;
use crate::idempotency::{Idempotency, SqlIdempotencyStore};
use crate::shutdown::{self, ShutdownTrigger};
use crate::{Db, Platform, Problem};

/// Settings for a fresh, isolated store; the directory lives as long as the returned guard.
pub fn test_settings() -> (Settings, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let mut s = Settings { data_dir: dir.path().to_path_buf(), log: "warn".into(), ..Settings::default() };
    // Tests start from the bare seeds; the lively demo (issue #25) is tested on its own.
    s.demo_activity = false;
    s.air.demo_feed = false;
    if let Some(url) = std::env::var("CITY_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        s.database_url = Some(Secret::new(url));
        s.schema_prefix = format!("t{tag}_");
    }
    if let Some(url) = std::env::var("CITY_TEST_REDIS_URL").ok().filter(|u| !u.is_empty()) {
        s.redis_url = Some(Secret::new(url));
        s.redis_prefix = format!("test:{tag}:");
    }
    (s, dir)
}

/// A platform for one test.
pub struct TestPlatform {
    /// The platform to hand to the service.
    pub platform: Platform,
    /// Its settings.
    pub settings: Settings,
    trigger: ShutdownTrigger,
    opened: Mutex<Vec<Db>>,
    _dir: tempfile::TempDir,
}

/// A fresh platform (`tweak` may adjust the settings first).
pub async fn test_platform_with(tweak: impl FnOnce(&mut Settings)) -> TestPlatform {
    let (mut settings, dir) = test_settings();
    tweak(&mut settings);
    let (trigger, signal) = shutdown::channel();
    let platform = Platform::build(settings, "test", signal).await.expect("the platform starts");
    // The prepared settings: the demo credentials the services (and the sandbox) use.
    let settings = (*platform.settings).clone();
    TestPlatform { platform, settings, trigger, opened: Mutex::new(Vec::new()), _dir: dir }
}

/// A fresh platform with default test settings.
pub async fn test_platform() -> TestPlatform {
    test_platform_with(|_| {}).await
}

impl TestPlatform {
    /// Remembers a store so [`TestPlatform::cleanup`] drops its schema.
    pub fn track(&self, db: &Db) {
        self.opened.lock().push(db.clone());
    }

    /// `api` behind the real edge middleware (problem rendering, request ids, body limit,
    /// idempotency stored in `db`), with `authenticator` answering credentials.
    pub fn client<T: OpenApi + 'static>(
        &self,
        api: T,
        db: &Db,
        authenticator: SharedAuthenticator,
    ) -> TestClient<BoxEndpoint<'static>> {
        self.track(db);
        let service = OpenApiService::new(api, "test", "0");
        let route = poem::Route::new()
            .nest("/", service)
            .data(authenticator)
            .data(self.platform.internal_token.clone())
            .boxed();
        let idem = Idempotency {
            store: Arc::new(SqlIdempotencyStore::new(db.clone())),
            server_secret: crate::idempotency::ServerSecret::from_settings(&self.settings),
            ttl: Duration::from_secs(3600),
            trusted_proxies: Arc::from(Vec::new()),
        };
        let limiter = RateLimiter::new(self.platform.cache.clone(), self.settings.rate_limit.clone(), Vec::new());
        TestClient::new(crate::edge::stack(route, &self.settings, limiter, false, Some(idem)))
    }

    /// Stops background tasks and drops the PostgreSQL schemas this test made.
    pub async fn cleanup(self) {
        self.trigger.fire();
        if let Some(url) = &self.settings.database_url {
            let dbs: Vec<Db> = self.opened.lock().clone();
            for db in dbs {
                db.pool.close().await;
                let schema = format!("{}{}", self.settings.schema_prefix, db.service);
                let _ = crate::db::drop_schema(url.expose(), &schema).await;
            }
        }
    }
}

/// Credentials fixed by the test: token → principal, key → integrator.
#[derive(Default)]
pub struct StaticAuthenticator {
    tokens: Mutex<HashMap<String, Principal>>,
    keys: Mutex<HashMap<String, Integrator>>,
}

impl StaticAuthenticator {
    /// No credentials yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// `token` signs in as `principal`.
    pub fn with_token(&self, token: &str, principal: Principal) {
        self.tokens.lock().insert(token.to_owned(), principal);
    }

    /// `key` is `integrator`'s API key.
    pub fn with_key(&self, key: &str, integrator: Integrator) {
        self.keys.lock().insert(key.to_owned(), integrator);
    }
}

#[async_trait]
impl Authenticator for StaticAuthenticator {
    async fn bearer(&self, token: &str) -> Result<Option<Principal>, Problem> {
        Ok(self.tokens.lock().get(token).cloned())
    }

    async fn api_key(&self, key: &str) -> Result<Option<Integrator>, Problem> {
        Ok(self.keys.lock().get(key).cloned())
    }
}
