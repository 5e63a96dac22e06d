//! Who pays: a JSAPI order names the payer by their openid under the Mini Program, and that
//! openid is identity's to know, not the client's to claim. Identity answers it at
//! `GET /v1/internal/identity/citizens/{id}/contacts` (`X-Internal-Token`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use city_platform::auth::{InternalToken, INTERNAL_TOKEN_HEADER};

/// Identity could not say (it is not answering, or answered oddly); the text says which.
#[derive(Debug, Clone, Copy)]
pub struct PayerError(pub &'static str);

impl std::fmt::Display for PayerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for PayerError {}

/// Looks up a citizen's Mini Program openid.
#[async_trait]
pub trait PayerDirectory: Send + Sync + 'static {
    /// The openid, or `None` when the citizen never signed in through the Mini Program (or
    /// identity does not know them).
    async fn mp_openid(&self, citizen_id: &str) -> Result<Option<String>, PayerError>;
}

/// How long a known openid is reused; a citizen's openid under one appid never changes.
const REMEMBER: Duration = Duration::from_secs(600);

/// Identity over HTTP.
pub struct IdentityPayers {
    identity: city_platform::peers::Peer,
    token: InternalToken,
    http: reqwest::Client,
    known: Mutex<HashMap<String, (String, Instant)>>,
}

impl IdentityPayers {
    /// A client of identity at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: impl Into<String>, token: InternalToken) -> Self {
        Self::to(city_platform::peers::Peer::new("identity", &[base.into()], Duration::from_secs(10)), token)
    }

    /// A client of identity's replicas, in turn.
    pub fn to(identity: city_platform::peers::Peer, token: InternalToken) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self { identity, token, http, known: Mutex::new(HashMap::new()) }
    }

    fn remembered(&self, citizen_id: &str) -> Option<String> {
        let known = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        known.get(citizen_id).filter(|(_, at)| at.elapsed() < REMEMBER).map(|(o, _)| o.clone())
    }
}

#[derive(serde::Deserialize)]
struct Contacts {
    #[serde(default)]
    mp_openid: Option<String>,
}

#[async_trait]
impl PayerDirectory for IdentityPayers {
    async fn mp_openid(&self, citizen_id: &str) -> Result<Option<String>, PayerError> {
        if let Some(openid) = self.remembered(citizen_id) {
            return Ok(Some(openid));
        }
        if citizen_id.is_empty() || !citizen_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Ok(None);
        }
        let base = self.identity.base();
        let url = format!("{base}/v1/internal/identity/citizens/{citizen_id}/contacts");
        let mut req = self.http.get(&url).header(INTERNAL_TOKEN_HEADER, self.token.expose());
        for (name, value) in city_platform::peers::trace_headers() {
            req = req.header(name, value);
        }
        let res = req.send().await.map_err(|err| {
            if err.is_connect() || err.is_timeout() {
                self.identity.failed(&base);
            }
            tracing::warn!(error = %err, "identity is not answering");
            PayerError("the identity service is not answering; try again shortly")
        })?;
        match res.status().as_u16() {
            200 => {
                let contacts: Contacts = res.json().await.map_err(|err| {
                    tracing::warn!(error = %err, "identity's contacts answer does not parse");
                    PayerError("the identity service answered oddly; try again shortly")
                })?;
                if let Some(openid) = &contacts.mp_openid {
                    let mut known = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    if known.len() >= 10_000 {
                        known.clear();
                    }
                    known.insert(citizen_id.to_owned(), (openid.clone(), Instant::now()));
                }
                Ok(contacts.mp_openid)
            }
            404 => Ok(None),
            status => {
                tracing::warn!(status, "identity refused the contacts lookup");
                Err(PayerError("the identity service is not answering; try again shortly"))
            }
        }
    }
}
