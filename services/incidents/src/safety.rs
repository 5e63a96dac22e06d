//! Content safety: WeChat's `msg_sec_check` (version 2) over HTTP, behind a trait so tests can
//! answer without a server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::Deserialize;
use tokio::sync::Mutex;

/// What the check said about a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Publish.
    Pass,
    /// Accept, but hold for a human before it is shown.
    Review,
    /// Refuse.
    Risky,
}

/// Why the check could not answer.
#[derive(Debug, thiserror::Error)]
pub enum SafetyError {
    /// The server was unreachable or answered something unreadable.
    #[error("content safety unavailable: {0}")]
    Unavailable(String),
}

/// Checks user text before it is shown publicly.
#[async_trait]
pub trait ContentSafety: Send + Sync + 'static {
    /// The verdict on `content`, written by the user behind `openid`.
    async fn check(&self, content: &str, openid: &str) -> Result<Verdict, SafetyError>;
}

/// The shared checker.
pub type SharedSafety = Arc<dyn ContentSafety>;

/// `msg_sec_check` at a WeChat API base (the sandbox by default).
pub struct WechatSafety {
    base: String,
    appid: String,
    secret: String,
    http: reqwest::Client,
    token: Mutex<Option<(String, Instant)>>,
}

impl WechatSafety {
    /// A checker against `base` with the Mini Program's credentials.
    pub fn new(base: String, appid: String, secret: String) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(3)).build().unwrap_or_default();
        Self { base, appid, secret, http, token: Mutex::new(None) }
    }

    async fn access_token(&self) -> Result<String, SafetyError> {
        let mut cached = self.token.lock().await;
        if let Some((t, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(t.clone());
            }
        }
        #[derive(Deserialize)]
        struct TokenReply {
            access_token: Option<String>,
            expires_in: Option<u64>,
            errcode: Option<i64>,
        }
        let body = serde_json::json!({"grant_type": "client_credential", "appid": self.appid, "secret": self.secret});
        let reply: TokenReply = self
            .http
            .post(format!("{}/cgi-bin/stable_token", self.base))
            .json(&body)
            .send()
            .await
            .map_err(|e| SafetyError::Unavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| SafetyError::Unavailable(e.to_string()))?;
        match reply.access_token {
            Some(t) if reply.errcode.unwrap_or(0) == 0 => {
                // Refresh five minutes early, as WeChat recommends.
                let ttl = reply.expires_in.unwrap_or(7200).saturating_sub(300).max(60);
                *cached = Some((t.clone(), Instant::now() + Duration::from_secs(ttl)));
                Ok(t)
            }
            _ => Err(SafetyError::Unavailable(format!("stable_token errcode {:?}", reply.errcode))),
        }
    }
}

#[derive(Deserialize)]
struct CheckReply {
    errcode: i64,
    #[serde(default)]
    result: Option<CheckResult>,
}

#[derive(Deserialize)]
struct CheckResult {
    suggest: String,
}

#[async_trait]
impl ContentSafety for WechatSafety {
    async fn check(&self, content: &str, openid: &str) -> Result<Verdict, SafetyError> {
        let token = self.access_token().await?;
        // msg_sec_check takes at most 2500 characters; check the text in pieces, worst wins.
        let chars: Vec<char> = content.chars().collect();
        let mut worst = Verdict::Pass;
        for piece in chars.chunks(2500) {
            let piece: String = piece.iter().collect();
            let body = serde_json::json!({"content": piece, "version": 2, "scene": 2, "openid": openid});
            let reply: CheckReply = self
                .http
                .post(format!("{}/wxa/msg_sec_check", self.base))
                .query(&[("access_token", token.as_str())])
                .json(&body)
                .send()
                .await
                .map_err(|e| SafetyError::Unavailable(e.to_string()))?
                .json()
                .await
                .map_err(|e| SafetyError::Unavailable(e.to_string()))?;
            let verdict = match (reply.errcode, reply.result) {
                // Version 1 answered risky content with 87014; treat it the same if seen.
                (87014, _) => Verdict::Risky,
                (0, Some(r)) => match r.suggest.as_str() {
                    "pass" => Verdict::Pass,
                    "risky" => Verdict::Risky,
                    _ => Verdict::Review,
                },
                (code, _) => {
                    if code == 40001 || code == 42001 {
                        *self.token.lock().await = None;
                    }
                    return Err(SafetyError::Unavailable(format!("msg_sec_check errcode {code}")));
                }
            };
            worst = match (worst, verdict) {
                (Verdict::Risky, _) | (_, Verdict::Risky) => Verdict::Risky,
                (Verdict::Review, _) | (_, Verdict::Review) => Verdict::Review,
                _ => Verdict::Pass,
            };
        }
        Ok(worst)
    }
}
