//! Sessions and the authenticators: opaque tokens looked up by SHA-256, the principal cached
//! for a few seconds in the shared cache (Redis when distributed) and dropped from it on
//! logout, so a revoked token stops working at once in every replica.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use city_platform::auth::{Authenticator, Citizen, Integrator, Principal, Staff};
use city_platform::cache::Cache;
use city_platform::time::now_ms;
use city_platform::{Db, Problem};
use serde::{Deserialize, Serialize};

use crate::domain::credential;
use crate::store;

/// How long a checked principal is trusted without asking the database.
const PRINCIPAL_TTL: Duration = Duration::from_secs(30);

/// A principal as cached, with the instant its session ends.
#[derive(Serialize, Deserialize)]
struct Cached {
    principal: Option<Principal>,
    integrator: Option<Integrator>,
    expires_at_ms: i64,
}

fn token_key(hash: &str) -> String {
    format!("identity:principal:{hash}")
}

fn key_key(hash: &str) -> String {
    format!("identity:api-key:{hash}")
}

async fn cached(cache: &Arc<dyn Cache>, key: &str) -> Option<Cached> {
    let bytes = cache.get(key).await.ok().flatten()?;
    let c: Cached = serde_json::from_slice(&bytes).ok()?;
    (c.expires_at_ms > now_ms()).then_some(c)
}

async fn remember(cache: &Arc<dyn Cache>, key: &str, value: &Cached) {
    let left = Duration::from_millis((value.expires_at_ms - now_ms()).max(1) as u64);
    if let Ok(bytes) = serde_json::to_vec(value) {
        // A cache failure only costs a database lookup next time.
        let _ = cache.set(key, &bytes, left.min(PRINCIPAL_TTL)).await;
    }
}

/// Issues, checks and revokes sessions over identity's own store.
#[derive(Clone)]
pub struct Sessions {
    db: Db,
    cache: Arc<dyn Cache>,
}

/// A freshly issued token.
pub struct Issued {
    /// The bearer token (shown once).
    pub token: String,
    /// When it stops working.
    pub expires_at_ms: i64,
}

impl Sessions {
    /// Sessions over `db`, caching in `cache`.
    pub fn new(db: Db, cache: Arc<dyn Cache>) -> Self {
        Self { db, cache }
    }

    /// A new session of `kind` for `subject_id`, living `ttl`.
    pub async fn issue(&self, kind: &str, subject_id: &str, ttl: Duration) -> Result<Issued, sqlx::Error> {
        let token = credential::new_token();
        let expires_at_ms = now_ms() + ttl.as_millis() as i64;
        store::create_session(&self.db, kind, subject_id, &credential::hash(&token), expires_at_ms).await?;
        Ok(Issued { token, expires_at_ms })
    }

    /// Ends one session at once, here and in every replica's view.
    pub async fn revoke(&self, session_id: &str) -> Result<(), sqlx::Error> {
        if let Some(hash) = store::revoke_session(&self.db, session_id).await? {
            self.forget_tokens(&[hash]).await;
        }
        Ok(())
    }

    /// Drops cached principals of these token hashes.
    pub async fn forget_tokens(&self, hashes: &[String]) {
        for h in hashes {
            let _ = self.cache.delete(&token_key(h)).await;
        }
    }

    /// Drops a cached API key.
    pub async fn forget_key(&self, hash: &str) {
        let _ = self.cache.delete(&key_key(hash)).await;
    }

    async fn lookup(&self, hash: &str) -> Result<Option<(Principal, i64)>, sqlx::Error> {
        let Some(s) = store::live_session(&self.db, hash).await? else {
            return Ok(None);
        };
        let principal = match s.kind.as_str() {
            store::CITIZEN => Principal::Citizen(Citizen { citizen_id: s.subject_id, session_id: s.id }),
            store::STAFF => match store::staff_by_id(&self.db, &s.subject_id).await? {
                Some(st) if !st.disabled => Principal::Staff(Staff {
                    staff_id: st.id,
                    username: st.username,
                    roles: st.roles,
                    scopes: st.scopes,
                    session_id: s.id,
                }),
                _ => return Ok(None),
            },
            _ => return Ok(None),
        };
        Ok(Some((principal, s.expires_at_ms)))
    }
}

#[async_trait]
impl Authenticator for Sessions {
    async fn bearer(&self, token: &str) -> Result<Option<Principal>, Problem> {
        if !credential::looks_like_token(token) {
            return Ok(None);
        }
        let hash = credential::hash(token);
        let key = token_key(&hash);
        if let Some(c) = cached(&self.cache, &key).await {
            return Ok(c.principal);
        }
        let Some((principal, expires_at_ms)) = self.lookup(&hash).await? else {
            return Ok(None);
        };
        remember(&self.cache, &key, &Cached { principal: Some(principal.clone()), integrator: None, expires_at_ms })
            .await;
        Ok(Some(principal))
    }

    async fn api_key(&self, key: &str) -> Result<Option<Integrator>, Problem> {
        Ok(self.integrator(key).await?)
    }
}

impl Sessions {
    /// The integrator behind a live API key (cached a few seconds).
    async fn integrator(&self, key: &str) -> Result<Option<Integrator>, sqlx::Error> {
        if !key.starts_with(credential::API_KEY_PREFIX) || key.len() > 100 {
            return Ok(None);
        }
        let hash = credential::hash(key);
        let ck = key_key(&hash);
        if let Some(c) = cached(&self.cache, &ck).await {
            return Ok(c.integrator);
        }
        let Some(row) = store::live_api_key(&self.db, &hash).await? else {
            return Ok(None);
        };
        let integrator = Integrator { key_id: row.id, name: row.name, scopes: row.scopes };
        let entry = Cached { principal: None, integrator: Some(integrator.clone()), expires_at_ms: i64::MAX / 2 };
        remember(&self.cache, &ck, &entry).await;
        Ok(Some(integrator))
    }
}

/// What `POST /v1/auth/introspect` answers.
#[derive(Debug, Serialize, Deserialize)]
pub struct Introspection {
    /// Whether the credential is live.
    pub active: bool,
    /// The principal behind a token.
    #[serde(default)]
    pub principal: Option<Principal>,
    /// The integrator behind an API key.
    #[serde(default)]
    pub integrator: Option<Integrator>,
    /// When the session ends (UTC ms).
    #[serde(default)]
    pub expires_at_ms: Option<i64>,
}

impl Sessions {
    /// The introspection answer for one credential (only that one).
    pub async fn introspect(&self, token: Option<&str>, api_key: Option<&str>) -> Result<Introspection, sqlx::Error> {
        let mut out = Introspection { active: false, principal: None, integrator: None, expires_at_ms: None };
        if let Some(t) = token.filter(|t| credential::looks_like_token(t)) {
            if let Some((p, exp)) = self.lookup(&credential::hash(t)).await? {
                out = Introspection { active: true, principal: Some(p), integrator: None, expires_at_ms: Some(exp) };
            }
        } else if let Some(k) = api_key {
            if let Some(i) = self.integrator(k).await? {
                out = Introspection { active: true, principal: None, integrator: Some(i), expires_at_ms: None };
            }
        }
        Ok(out)
    }
}

/// Asks identity over HTTP, with the same short cache (shared with identity through Redis, so a
/// logout there drops the entry here too).
pub struct Remote {
    identity: city_platform::peers::Peer,
    http: reqwest::Client,
    cache: Arc<dyn Cache>,
}

impl Remote {
    /// A client of identity's replicas, in turn.
    pub fn new(identity: city_platform::peers::Peer, cache: Arc<dyn Cache>) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default();
        Self { identity, http, cache }
    }

    async fn ask(&self, body: serde_json::Value) -> Result<Introspection, Problem> {
        let base = self.identity.base();
        let mut req = self.http.post(format!("{base}/v1/auth/introspect")).json(&body);
        for (name, value) in city_platform::peers::trace_headers() {
            req = req.header(name, value);
        }
        let resp = req.send().await.map_err(|e| {
            if e.is_connect() || e.is_timeout() {
                self.identity.failed(&base);
            }
            tracing::warn!(error = %e.without_url(), "identity unreachable");
            Problem::unavailable("the identity service is not answering")
        })?;
        if !resp.status().is_success() {
            tracing::warn!(status = %resp.status(), "identity introspection failed");
            return Err(Problem::unavailable("the identity service is not answering"));
        }
        resp.json().await.map_err(|e| Problem::internal_from(&e))
    }
}

#[async_trait]
impl Authenticator for Remote {
    async fn bearer(&self, token: &str) -> Result<Option<Principal>, Problem> {
        if !credential::looks_like_token(token) {
            return Ok(None);
        }
        let key = token_key(&credential::hash(token));
        if let Some(c) = cached(&self.cache, &key).await {
            return Ok(c.principal);
        }
        let answer = self.ask(serde_json::json!({ "token": token })).await?;
        match (answer.active, answer.principal, answer.expires_at_ms) {
            (true, Some(p), Some(exp)) => {
                remember(
                    &self.cache,
                    &key,
                    &Cached { principal: Some(p.clone()), integrator: None, expires_at_ms: exp },
                )
                .await;
                Ok(Some(p))
            }
            _ => Ok(None),
        }
    }

    async fn api_key(&self, api_key: &str) -> Result<Option<Integrator>, Problem> {
        if !api_key.starts_with(credential::API_KEY_PREFIX) || api_key.len() > 100 {
            return Ok(None);
        }
        let key = key_key(&credential::hash(api_key));
        if let Some(c) = cached(&self.cache, &key).await {
            return Ok(c.integrator);
        }
        let answer = self.ask(serde_json::json!({ "api_key": api_key })).await?;
        match (answer.active, answer.integrator) {
            (true, Some(i)) => {
                let entry = Cached { principal: None, integrator: Some(i.clone()), expires_at_ms: i64::MAX / 2 };
                remember(&self.cache, &key, &entry).await;
                Ok(Some(i))
            }
            _ => Ok(None),
        }
    }
}
