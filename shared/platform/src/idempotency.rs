//! `Idempotency-Key` for unsafe requests: the same key and body replay the stored response; the
//! same key with another body is a 422; a request still running under that key is a 409.
//!
//! Records live in the database (or Redis when configured) with an expiry, keyed by a hash of the
//! caller's identity and the key, so one client can never replay another's response.
//!
//! Nothing a response carries is kept in clear: answers mint credentials (sign-in tokens, new
//! API keys), so every stored body is sealed (AES-256-GCM) under a key derived from the caller
//! and the `Idempotency-Key`, which only the client holds, and from the server's own secret
//! ([`ServerSecret`]), so a copy of the store plus a key that leaked (a client's log) still opens
//! nothing; the record keeps a different hash of them, and the request's hash is keyed the same
//! way (a sign-in body holds a password).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use poem::http::{header, HeaderValue, Method, StatusCode};
use poem::{Body, Endpoint, IntoResponse, Request, Response, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::caller::{client_ip, identity_key, Cidr};
use crate::db::Db;
use crate::problem::{kind, Problem};
use crate::time::now_ms;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// Set on a replayed response.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// What a key must be; the same rule is stated in the OpenAPI document ([`KEY_PATTERN`]).
pub const KEY_RULE: &str = "must be 1 to 255 visible ASCII characters";
/// [`KEY_RULE`] as a pattern, for operations that declare the header.
pub const KEY_PATTERN: &str = "^[!-~]{1,255}$";

fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= 255 && key.bytes().all(|b| b.is_ascii_graphic())
}

/// How long a request may run under its key before a retry may take the key over (the first
/// attempt's process died).
const PENDING_TTL: Duration = Duration::from_secs(60);

/// A stored response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// `Location`, if any (a created resource).
    pub location: Option<String>,
    /// `ETag`, if any (the version a later `If-Match` names); absent in records stored before it was kept.
    #[serde(default)]
    pub etag: Option<String>,
    /// The body bytes.
    pub body: Vec<u8>,
}

/// What the store knows about a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// This request owns the key now and must complete or release it.
    Acquired,
    /// Another request with this key is still running.
    InProgress {
        /// Hash of that request.
        request_hash: String,
    },
    /// A finished request stored this response.
    Done {
        /// Hash of that request.
        request_hash: String,
        /// Its response.
        response: StoredResponse,
    },
}

/// Where idempotency records live.
#[async_trait]
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Claims `key` for a request with `request_hash`, or says who has it.
    async fn claim(&self, key: &str, request_hash: &str) -> Result<Claim, Problem>;
    /// Stores the response of the request (with `request_hash`) that claimed `key`.
    async fn complete(
        &self,
        key: &str,
        request_hash: &str,
        response: &StoredResponse,
        ttl: Duration,
    ) -> Result<(), Problem>;
    /// Gives the key back (the request failed in a way a retry may fix).
    async fn release(&self, key: &str) -> Result<(), Problem>;
}

/// Records in a service's database (`platform_idempotency`).
pub struct SqlIdempotencyStore {
    db: Db,
}

impl SqlIdempotencyStore {
    /// A store in `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Deletes expired records; returns how many.
    pub async fn sweep(&self) -> Result<u64, sqlx::Error> {
        let res = sqlx::query("DELETE FROM platform_idempotency WHERE expires_at < $1")
            .bind(now_ms())
            .execute(&self.db.pool)
            .await?;
        Ok(res.rows_affected())
    }
}

#[async_trait]
impl IdempotencyStore for SqlIdempotencyStore {
    async fn claim(&self, key: &str, request_hash: &str) -> Result<Claim, Problem> {
        use sqlx::Row;
        for _ in 0..2 {
            let now = now_ms();
            let inserted = sqlx::query(
                "INSERT INTO platform_idempotency (key_hash, request_hash, state, expires_at)
                 VALUES ($1, $2, 'pending', $3) ON CONFLICT (key_hash) DO NOTHING",
            )
            .bind(key)
            .bind(request_hash)
            .bind(now + PENDING_TTL.as_millis() as i64)
            .execute(&self.db.pool)
            .await?;
            if inserted.rows_affected() == 1 {
                return Ok(Claim::Acquired);
            }
            let row = sqlx::query(
                "SELECT request_hash, state, status, content_type, location, etag, body, expires_at
                 FROM platform_idempotency WHERE key_hash = $1",
            )
            .bind(key)
            .fetch_optional(&self.db.pool)
            .await?;
            let Some(row) = row else { continue };
            let expires_at: i64 = row.try_get("expires_at")?;
            if expires_at < now {
                // Expired (or a pending claim whose process died): take it over, once.
                sqlx::query("DELETE FROM platform_idempotency WHERE key_hash = $1 AND expires_at < $2")
                    .bind(key)
                    .bind(now)
                    .execute(&self.db.pool)
                    .await?;
                continue;
            }
            let request_hash: String = row.try_get("request_hash")?;
            let state: String = row.try_get("state")?;
            if state != "done" {
                return Ok(Claim::InProgress { request_hash });
            }
            let status: i64 = row.try_get("status")?;
            return Ok(Claim::Done {
                request_hash,
                response: StoredResponse {
                    status: status as u16,
                    content_type: row.try_get("content_type")?,
                    location: row.try_get("location")?,
                    etag: row.try_get("etag")?,
                    body: row.try_get::<Option<Vec<u8>>, _>("body")?.unwrap_or_default(),
                },
            });
        }
        Ok(Claim::InProgress { request_hash: String::new() })
    }

    async fn complete(
        &self,
        key: &str,
        _request_hash: &str,
        response: &StoredResponse,
        ttl: Duration,
    ) -> Result<(), Problem> {
        sqlx::query(
            "UPDATE platform_idempotency SET state = 'done', status = $2, content_type = $3, location = $4,
             body = $5, expires_at = $6, etag = $7 WHERE key_hash = $1",
        )
        .bind(key)
        .bind(i64::from(response.status))
        .bind(response.content_type.clone())
        .bind(response.location.clone())
        .bind(response.body.clone())
        .bind(now_ms() + ttl.as_millis() as i64)
        .bind(response.etag.clone())
        .execute(&self.db.pool)
        .await?;
        Ok(())
    }

    async fn release(&self, key: &str) -> Result<(), Problem> {
        sqlx::query("DELETE FROM platform_idempotency WHERE key_hash = $1 AND state = 'pending'")
            .bind(key)
            .execute(&self.db.pool)
            .await?;
        Ok(())
    }
}

/// Records in Redis, for replicas that share it.
pub struct RedisIdempotencyStore {
    conn: redis::aio::ConnectionManager,
    prefix: String,
}

#[derive(Serialize, Deserialize)]
struct RedisRecord {
    request_hash: String,
    response: Option<StoredResponse>,
}

impl RedisIdempotencyStore {
    /// A store in Redis under `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, redis::RedisError> {
        let conn = redis::aio::ConnectionManager::new(redis::Client::open(url)?).await?;
        Ok(Self { conn, prefix: format!("{prefix}idem:") })
    }
}

fn redis_problem(err: redis::RedisError) -> Problem {
    tracing::error!(error = %err, "idempotency store (Redis) failed");
    Problem::unavailable("the idempotency store is not answering")
}

#[async_trait]
impl IdempotencyStore for RedisIdempotencyStore {
    async fn claim(&self, key: &str, request_hash: &str) -> Result<Claim, Problem> {
        let mut conn = self.conn.clone();
        let k = format!("{}{key}", self.prefix);
        let pending = serde_json::to_vec(&RedisRecord { request_hash: request_hash.into(), response: None })
            .map_err(|e| Problem::internal_from(&e))?;
        let set: Option<String> = redis::cmd("SET")
            .arg(&k)
            .arg(pending)
            .arg("NX")
            .arg("PX")
            .arg(PENDING_TTL.as_millis() as u64)
            .query_async(&mut conn)
            .await
            .map_err(redis_problem)?;
        if set.is_some() {
            return Ok(Claim::Acquired);
        }
        let raw: Option<Vec<u8>> = redis::cmd("GET").arg(&k).query_async(&mut conn).await.map_err(redis_problem)?;
        let Some(raw) = raw else {
            // It expired between the two commands: the caller may retry.
            return Ok(Claim::InProgress { request_hash: request_hash.into() });
        };
        let rec: RedisRecord = serde_json::from_slice(&raw).map_err(|e| Problem::internal_from(&e))?;
        Ok(match rec.response {
            None => Claim::InProgress { request_hash: rec.request_hash },
            Some(response) => Claim::Done { request_hash: rec.request_hash, response },
        })
    }

    async fn complete(
        &self,
        key: &str,
        request_hash: &str,
        response: &StoredResponse,
        ttl: Duration,
    ) -> Result<(), Problem> {
        let mut conn = self.conn.clone();
        let k = format!("{}{key}", self.prefix);
        // The caller knows the hash it claimed with, so one SET replaces the pending record.
        let rec =
            serde_json::to_vec(&RedisRecord { request_hash: request_hash.into(), response: Some(response.clone()) })
                .map_err(|e| Problem::internal_from(&e))?;
        redis::cmd("SET")
            .arg(&k)
            .arg(rec)
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query_async::<()>(&mut conn)
            .await
            .map_err(redis_problem)
    }

    async fn release(&self, key: &str) -> Result<(), Problem> {
        let mut conn = self.conn.clone();
        redis::cmd("DEL").arg(format!("{}{key}", self.prefix)).query_async::<()>(&mut conn).await.map_err(redis_problem)
    }
}

/// What the server mixes into every record's hash and seal besides the client's key: derived
/// from the internal token (`CITY_INTERNAL_TOKEN`, a credential: generated with the demo set,
/// required in production, the same on every replica), so records outlive a restart and any
/// replica can replay them. Without one (tests, a bare development start), a random one for
/// this process. Changing the token makes older records unreadable: they answer "use a new key".
#[derive(Clone)]
pub struct ServerSecret([u8; 32]);

impl ServerSecret {
    /// The secret of these settings (see the type's doc).
    pub fn from_settings(settings: &crate::config::Settings) -> Self {
        match &settings.internal_token {
            Some(token) => Self::derive(token.expose().as_bytes()),
            None => Self::random(),
        }
    }

    /// A random secret, for this process only.
    pub fn random() -> Self {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The secret derived from `material`, domain-separated from the material's other uses.
    pub fn derive(material: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(b"city idempotency server secret\n");
        h.update(material);
        Self(h.finalize().into())
    }
}

/// The middleware's configuration.
#[derive(Clone)]
pub struct Idempotency {
    /// Where records live.
    pub store: Arc<dyn IdempotencyStore>,
    /// Mixed into every record's hash and seal.
    pub server_secret: ServerSecret,
    /// How long a completed response is replayed.
    pub ttl: Duration,
    /// Proxies whose `X-Forwarded-For` is believed (anonymous callers are keyed by IP).
    pub trusted_proxies: Arc<[Cidr]>,
}

/// The middleware body: wraps POST requests that carry an `Idempotency-Key`.
pub async fn idempotent<E: Endpoint>(ep: Arc<E>, mut req: Request, cfg: Idempotency) -> Result<Response> {
    if req.method() != Method::POST {
        return ep.call(req).await.map(IntoResponse::into_response);
    }
    // A key that is not text (bytes outside ASCII) is a malformed key, not a missing one.
    let Some(raw) = req.headers().get(HEADER) else {
        return ep.call(req).await.map(IntoResponse::into_response);
    };
    let Some(key) = raw.to_str().ok().filter(|k| valid_key(k)).map(str::to_owned) else {
        return Err(Problem::malformed(Some("Idempotency-Key"), KEY_RULE).into());
    };
    let caller = identity_key(&req).unwrap_or_else(|| {
        format!("anon:{}", client_ip(&req, &cfg.trusted_proxies).map(|ip| ip.to_string()).unwrap_or_default())
    });
    let body = req.take_body().into_bytes().await?;
    let secrets = Secrets::derive(&cfg.server_secret, &caller, &key);
    let request_hash = secrets.request_hash(
        req.method().as_str(),
        req.uri().path_and_query().map(|p| p.as_str()).unwrap_or(""),
        &body,
    );
    let key_hash = secrets.key_hash.clone();
    req.set_body(Body::from_bytes(body));

    match cfg.store.claim(&key_hash, &request_hash).await? {
        Claim::Done { request_hash: stored, response } => {
            if stored != request_hash {
                return Err(reused_key());
            }
            let Some(body) = secrets.open(&response.body) else {
                // Sealed under another key derivation (a record from before sealing): the answer
                // cannot be given again, and running the request twice is what the key forbids.
                return Err(Problem::of(&kind::IDEMPOTENCY_KEY_REUSED)
                    .with_field("Idempotency-Key", "the stored answer for this key cannot be read; use a new key")
                    .into());
            };
            return Ok(replay(StoredResponse { body, ..response }));
        }
        Claim::InProgress { request_hash: stored } => {
            if !stored.is_empty() && stored != request_hash {
                return Err(reused_key());
            }
            let mut p = Problem::of(&kind::IDEMPOTENCY_IN_PROGRESS)
                .with_field("Idempotency-Key", "wait for the first request to finish, then retry");
            p.retry_after = Some(1);
            return Err(p.into());
        }
        Claim::Acquired => {}
    }

    let resp = match ep.call(req).await {
        Ok(r) => r.into_response(),
        Err(err) => {
            // Rejections (bad body, unknown route) are stored like any 4xx: the same request
            // would get the same answer.
            crate::problem::render_error(err)
        }
    };
    let status = resp.status();
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        // Not an answer to this request, only to this moment: let a retry run it again.
        cfg.store.release(&key_hash).await?;
        return Ok(resp);
    }
    let (parts, body) = resp.into_parts();
    let bytes = body.into_vec().await.unwrap_or_default();
    let stored = StoredResponse {
        status: parts.status.as_u16(),
        content_type: parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned),
        location: parts.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned),
        etag: parts.headers.get(header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned),
        body: secrets.seal(&bytes),
    };
    cfg.store.complete(&key_hash, &request_hash, &stored, cfg.ttl).await?;
    let mut resp = Response::from_parts(parts, Body::from_vec(bytes));
    resp.headers_mut().insert(REPLAYED_HEADER, HeaderValue::from_static("false"));
    Ok(resp)
}

/// What the server's secret, the caller and its `Idempotency-Key` derive: where the record is
/// found, and the key its body is sealed with. Domain-separated keyed hashes, so the stored one
/// reveals neither the other nor the client's key, and neither can be made without the server.
struct Secrets {
    key_hash: String,
    seal_key: [u8; 32],
}

impl Secrets {
    fn derive(server: &ServerSecret, caller: &str, key: &str) -> Self {
        let derive = |purpose: &[u8]| -> [u8; 32] {
            let mut h = Sha256::new();
            h.update(purpose);
            h.update(server.0);
            h.update(caller.as_bytes());
            h.update(b"\n");
            h.update(key.as_bytes());
            h.finalize().into()
        };
        Self {
            key_hash: hex::encode(derive(b"city idempotency record\n")),
            seal_key: derive(b"city idempotency seal\n"),
        }
    }

    /// The request's fingerprint, keyed so a stored one cannot be tested against guesses of
    /// the body (a password).
    fn request_hash(&self, method: &str, path_and_query: &str, body: &[u8]) -> String {
        let mut h = Sha256::new();
        h.update(b"city idempotency request\n");
        h.update(self.seal_key);
        h.update(method.as_bytes());
        h.update(b" ");
        h.update(path_and_query.as_bytes());
        h.update(b"\n");
        h.update(body);
        hex::encode(h.finalize())
    }

    /// A random nonce, then the AES-256-GCM ciphertext and tag.
    fn seal(&self, plain: &[u8]) -> Vec<u8> {
        use aes_gcm::aead::{Aead, KeyInit};
        use rand::RngCore;
        let cipher = aes_gcm::Aes256Gcm::new((&self.seal_key).into());
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        // Encryption with a 32-byte key and a 12-byte nonce cannot fail for bodies this size.
        let sealed = cipher.encrypt((&nonce).into(), plain).unwrap_or_default();
        let mut out = Vec::with_capacity(12 + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// The body sealed by [`Secrets::seal`] under this key, or `None`.
    fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        use aes_gcm::aead::{Aead, KeyInit};
        if sealed.len() < 12 + 16 {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(12);
        let cipher = aes_gcm::Aes256Gcm::new((&self.seal_key).into());
        cipher.decrypt(nonce.into(), ciphertext).ok()
    }
}

fn reused_key() -> poem::Error {
    Problem::of(&kind::IDEMPOTENCY_KEY_REUSED)
        .with_field("Idempotency-Key", "this key was already used for a different request; use a new key")
        .into()
}

fn replay(stored: StoredResponse) -> Response {
    let mut resp = Response::builder()
        .status(StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK))
        .header(REPLAYED_HEADER, "true");
    if let Some(ct) = stored.content_type {
        resp = resp.header(header::CONTENT_TYPE, ct);
    }
    if let Some(loc) = stored.location {
        resp = resp.header(header::LOCATION, loc);
    }
    if let Some(etag) = stored.etag {
        resp = resp.header(header::ETAG, etag);
    }
    resp.body(stored.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store no test should reach: the key is refused before anything is claimed.
    struct Unreachable;

    #[async_trait]
    impl IdempotencyStore for Unreachable {
        async fn claim(&self, _: &str, _: &str) -> Result<Claim, Problem> {
            unreachable!("a malformed key is refused before the store")
        }
        async fn complete(&self, _: &str, _: &str, _: &StoredResponse, _: Duration) -> Result<(), Problem> {
            unreachable!()
        }
        async fn release(&self, _: &str) -> Result<(), Problem> {
            unreachable!()
        }
    }

    async fn answer(key: HeaderValue) -> Problem {
        let cfg = Idempotency {
            store: Arc::new(Unreachable),
            server_secret: ServerSecret::random(),
            ttl: Duration::from_secs(1),
            trusted_proxies: Arc::new([]),
        };
        let ep = Arc::new(poem::endpoint::make_sync(|_| "ran"));
        let req = Request::builder().method(Method::POST).header(HEADER, key).body("{}");
        let err = idempotent(ep, req, cfg).await.expect_err("the key is refused");
        crate::problem::problem_from_error(err)
    }

    /// Keeps what it is given, as a database would.
    #[derive(Default)]
    struct Kept(parking_lot::Mutex<std::collections::HashMap<String, (String, Option<StoredResponse>)>>);

    #[async_trait]
    impl IdempotencyStore for Kept {
        async fn claim(&self, key: &str, request_hash: &str) -> Result<Claim, Problem> {
            let mut m = self.0.lock();
            Ok(match m.get(key) {
                None => {
                    m.insert(key.into(), (request_hash.into(), None));
                    Claim::Acquired
                }
                Some((h, None)) => Claim::InProgress { request_hash: h.clone() },
                Some((h, Some(r))) => Claim::Done { request_hash: h.clone(), response: r.clone() },
            })
        }
        async fn complete(&self, key: &str, h: &str, r: &StoredResponse, _: Duration) -> Result<(), Problem> {
            self.0.lock().insert(key.into(), (h.into(), Some(r.clone())));
            Ok(())
        }
        async fn release(&self, key: &str) -> Result<(), Problem> {
            self.0.lock().remove(key);
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_replayed_answer_carries_the_versions_etag_and_location() {
        let cfg = Idempotency {
            store: Arc::new(Kept::default()),
            server_secret: ServerSecret::derive(b"the internal token"),
            ttl: Duration::from_secs(60),
            trusted_proxies: Arc::new([]),
        };
        let ep = Arc::new(poem::endpoint::make_sync(|_| {
            Response::builder()
                .status(StatusCode::CREATED)
                .header(header::ETAG, "\"7\"")
                .header(header::LOCATION, "/v1/things/1")
                .body("{}")
        }));
        let call = || {
            let req = Request::builder().method(Method::POST).header(HEADER, "note-1").body("{}");
            idempotent(ep.clone(), req, cfg.clone())
        };
        let first = call().await.unwrap();
        let again = call().await.unwrap();
        assert_eq!(again.headers().get(REPLAYED_HEADER).unwrap(), "true");
        for h in [header::ETAG, header::LOCATION] {
            assert_eq!(again.headers().get(&h), first.headers().get(&h), "{h} replayed");
        }
        assert_eq!(again.status(), StatusCode::CREATED);
    }

    #[tokio::test]
    async fn a_minted_credential_is_stored_sealed_and_replayed_whole() {
        let kept = Arc::new(Kept::default());
        let server = ServerSecret::derive(b"the internal token");
        let cfg = Idempotency {
            store: kept.clone(),
            server_secret: server.clone(),
            ttl: Duration::from_secs(60),
            trusted_proxies: Arc::new([]),
        };
        let minted = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counter = minted.clone();
        let ep = Arc::new(poem::endpoint::make_sync(move |_| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            format!("{{\"token\":\"secret-token-{n}\"}}")
        }));
        let call = |key: &'static str| {
            let req = Request::builder()
                .method(Method::POST)
                .header(HEADER, key)
                .body(r#"{"username":"ops","password":"hunter2hunter2"}"#);
            idempotent(ep.clone(), req, cfg.clone())
        };
        let first = call("login-1").await.unwrap().into_body().into_string().await.unwrap();
        let again = call("login-1").await.unwrap().into_body().into_string().await.unwrap();
        assert_eq!(first, r#"{"token":"secret-token-0"}"#);
        assert_eq!(again, first, "a replay gives the same answer");
        assert_eq!(minted.load(std::sync::atomic::Ordering::SeqCst), 1, "the handler ran once");

        let records = kept.0.lock();
        let (record_key, (request_hash, response)) = records.iter().next().unwrap();
        let stored = &response.as_ref().unwrap().body;
        let window = |needle: &[u8]| stored.windows(needle.len()).any(|w| w == needle);
        assert!(!window(b"secret-token"), "the token is not kept in clear");
        assert!(!record_key.contains("login-1"), "the key itself is not kept");
        assert_ne!(*record_key, hex::encode(Sha256::digest(b"anon:\nlogin-1")), "nor its plain hash");
        // The request hash is keyed: the body's plain hash (a password guess test) is not kept.
        let plain = hex::encode(Sha256::digest(br#"{"username":"ops","password":"hunter2hunter2"}"#));
        assert_ne!(*request_hash, plain);
        // Another key cannot open it, nor the right key without the server's secret.
        assert!(Secrets::derive(&server, "anon:", "login-2").open(stored).is_none());
        assert!(Secrets::derive(&server, "anon:", "login-1").open(stored).is_some());
        let elsewhere = ServerSecret::derive(b"another portal's token");
        assert!(Secrets::derive(&elsewhere, "anon:", "login-1").open(stored).is_none());
        assert_ne!(*record_key, Secrets::derive(&elsewhere, "anon:", "login-1").key_hash);
        assert_eq!(*record_key, Secrets::derive(&server, "anon:", "login-1").key_hash);
        // The same settings give the same secret (replicas, restarts); none gives a random one.
        let mut settings = crate::config::Settings::default();
        assert_ne!(ServerSecret::from_settings(&settings).0, ServerSecret::from_settings(&settings).0);
        settings.internal_token = Some(crate::config::Secret::new("the internal token"));
        assert_eq!(ServerSecret::from_settings(&settings).0, server.0);
    }

    #[tokio::test]
    async fn a_key_outside_ascii_is_malformed_not_missing() {
        let p = answer(HeaderValue::from_bytes("clé-1".as_bytes()).unwrap()).await;
        assert_eq!((p.status, p.errors[0].field.as_str()), (400, "Idempotency-Key"));
        let p = answer(HeaderValue::from_static("")).await;
        assert_eq!(p.status, 400);
    }
}
