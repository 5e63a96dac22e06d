//! HTTP clients of WeChat's server API (`api.weixin.qq.com`, or the sandbox at the configured
//! base URL): Mini Program `jscode2session` and phone numbers, the Service Account's
//! `stable_token`, and web OAuth (`/sns/oauth2/access_token`, `/sns/userinfo`).
//!
//! [`AccessTokens`] shares one access token per app among every replica through a
//! [`TokenStore`] (Redis in distributed mode): fetched once under a lock (single flight), cached
//! until five minutes before expiry, and on 40001 / 40014 / 42001 dropped (only if it is still the
//! one that failed), refreshed once, and the call retried once.
//!
//! Invariants: every non-zero `errcode` becomes a typed [`WechatError`]; secrets, tokens,
//! session keys and phone numbers never appear in `Debug` output or errors.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::crypto::mini_program::PhoneInfo;
use crate::error::WechatError;

/// Why a call to WeChat failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// WeChat answered with a non-zero `errcode` (or an inconsistent body, e.g. a wrong watermark).
    #[error(transparent)]
    Wechat(#[from] WechatError),
    /// WeChat could not be reached, or answered with a non-200 status.
    #[error("wechat unreachable: {0}")]
    Transport(String),
    /// WeChat's answer was not the documented JSON.
    #[error("wechat answer not understood: {0}")]
    Decode(String),
    /// The shared token store failed.
    #[error("access-token store: {0}")]
    Store(String),
}

/// A client of WeChat's server API at one base URL.
#[derive(Clone)]
pub struct WechatClient {
    base: String,
    http: reqwest::Client,
}

impl fmt::Debug for WechatClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatClient").field("base", &self.base).finish()
    }
}

/// `jscode2session`'s answer. The session key stays on the server.
#[derive(Clone, Deserialize)]
pub struct MpSession {
    /// The user's id in this Mini Program.
    pub openid: String,
    /// The user's id across the Open Platform account, when the app is bound to one.
    #[serde(default)]
    pub unionid: Option<String>,
    /// Base64 of 16 bytes: checks signatures and decrypts user data of this login.
    pub session_key: String,
}

impl fmt::Debug for MpSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MpSession").field("unionid_present", &self.unionid.is_some()).finish_non_exhaustive()
    }
}

/// A global access token and its remaining life.
#[derive(Clone, Deserialize)]
pub struct AccessToken {
    /// The token (up to 512 characters).
    pub access_token: String,
    /// Remaining life in seconds.
    pub expires_in: u64,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken").field("expires_in", &self.expires_in).finish_non_exhaustive()
    }
}

/// A user's web OAuth token (`/sns/oauth2/access_token`), unrelated to the global one.
#[derive(Clone, Deserialize)]
pub struct WebAccessToken {
    /// The per-user token for `/sns/userinfo`.
    pub access_token: String,
    /// Seconds it lives.
    pub expires_in: u64,
    /// Lasts 30 days.
    #[serde(default)]
    pub refresh_token: String,
    /// The user's id in this Service Account.
    pub openid: String,
    /// `snsapi_base` or `snsapi_userinfo`.
    #[serde(default)]
    pub scope: String,
    /// Present when the page was shown in snapshot mode (the user did not really authorise).
    #[serde(default)]
    pub is_snapshotuser: Option<i64>,
    /// Present when the account is bound to an Open Platform account.
    #[serde(default)]
    pub unionid: Option<String>,
}

impl fmt::Debug for WebAccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebAccessToken").field("scope", &self.scope).finish_non_exhaustive()
    }
}

/// `/sns/userinfo`'s answer (location and sex are empty nowadays).
#[derive(Clone, Deserialize)]
pub struct UserInfo {
    /// The user's id in this Service Account.
    pub openid: String,
    /// The nickname (often a placeholder).
    #[serde(default)]
    pub nickname: String,
    /// Avatar URL.
    #[serde(default)]
    pub headimgurl: String,
    /// Present when the account is bound to an Open Platform account.
    #[serde(default)]
    pub unionid: Option<String>,
}

impl fmt::Debug for UserInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserInfo").field("unionid_present", &self.unionid.is_some()).finish_non_exhaustive()
    }
}

impl WechatClient {
    /// A client of the API at `base` (no trailing slash needed), sharing `http`'s connections.
    pub fn new(base: impl Into<String>, http: reqwest::Client) -> Self {
        Self { base: base.into().trim_end_matches('/').to_owned(), http }
    }

    /// The base URL calls go to.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /sns/jscode2session`: a Mini Program login code for the user's openid (single use).
    pub async fn code_to_session(&self, appid: &str, secret: &str, code: &str) -> Result<MpSession, ClientError> {
        let req = self.http.get(format!("{}/sns/jscode2session", self.base)).query(&[
            ("appid", appid),
            ("secret", secret),
            ("js_code", code),
            ("grant_type", "authorization_code"),
        ]);
        decode(send(req).await?)
    }

    /// `POST /cgi-bin/stable_token`: the app's access token (the same one while it lives unless
    /// `force_refresh`).
    pub async fn stable_token(
        &self,
        appid: &str,
        secret: &str,
        force_refresh: bool,
    ) -> Result<AccessToken, ClientError> {
        let body = serde_json::json!({
            "grant_type": "client_credential", "appid": appid, "secret": secret, "force_refresh": force_refresh,
        });
        decode(send(self.http.post(format!("{}/cgi-bin/stable_token", self.base)).json(&body)).await?)
    }

    /// `POST /wxa/business/getuserphonenumber`: a phone-number code for the number; checks the
    /// watermark names `appid`.
    pub async fn phone_number(&self, access_token: &str, code: &str, appid: &str) -> Result<PhoneInfo, ClientError> {
        #[derive(Deserialize)]
        struct Answer {
            phone_info: PhoneInfo,
        }
        let req = self
            .http
            .post(format!("{}/wxa/business/getuserphonenumber", self.base))
            .query(&[("access_token", access_token)])
            .json(&serde_json::json!({ "code": code }));
        let answer: Answer = decode(send(req).await?)?;
        let actual = answer.phone_info.watermark.as_ref().map(|w| w.appid.clone()).unwrap_or_default();
        if actual == appid {
            Ok(answer.phone_info)
        } else {
            Err(WechatError::AppidMismatch { expected: appid.to_owned(), actual }.into())
        }
    }

    /// `GET /sns/oauth2/access_token`: a web OAuth code for the user's web token and openid.
    pub async fn oauth_access_token(
        &self,
        appid: &str,
        secret: &str,
        code: &str,
    ) -> Result<WebAccessToken, ClientError> {
        let req = self.http.get(format!("{}/sns/oauth2/access_token", self.base)).query(&[
            ("appid", appid),
            ("secret", secret),
            ("code", code),
            ("grant_type", "authorization_code"),
        ]);
        decode(send(req).await?)
    }

    /// `GET /sns/userinfo`: the profile behind a `snsapi_userinfo` web token.
    pub async fn userinfo(&self, web_token: &str, openid: &str) -> Result<UserInfo, ClientError> {
        let req = self.http.get(format!("{}/sns/userinfo", self.base)).query(&[
            ("access_token", web_token),
            ("openid", openid),
            ("lang", "zh_CN"),
        ]);
        decode(send(req).await?)
    }
}

/// The Service Account's web OAuth consent URL: parameters in WeChat's order, `#wechat_redirect`
/// last. `authorize_base` is `https://open.weixin.qq.com` in production.
pub fn authorize_url(authorize_base: &str, appid: &str, redirect_uri: &str, scope: &str, state: &str) -> String {
    format!(
        "{}/connect/oauth2/authorize?appid={}&redirect_uri={}&response_type=code&scope={}&state={}#wechat_redirect",
        authorize_base.trim_end_matches('/'),
        percent_encode(appid),
        percent_encode(redirect_uri),
        percent_encode(scope),
        percent_encode(state)
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

async fn send(req: reqwest::RequestBuilder) -> Result<Value, ClientError> {
    let resp = req.send().await.map_err(|e| ClientError::Transport(without_url(e)))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(ClientError::Transport(format!("HTTP {status}")));
    }
    resp.json::<Value>().await.map_err(|e| ClientError::Decode(without_url(e)))
}

/// The error text without the URL, which carries secrets and codes in its query.
fn without_url(e: reqwest::Error) -> String {
    e.without_url().to_string()
}

/// A typed answer, or the typed error its `errcode` names.
fn decode<T: DeserializeOwned>(body: Value) -> Result<T, ClientError> {
    let errcode = body.get("errcode").and_then(Value::as_i64).unwrap_or(0);
    if errcode != 0 {
        let errmsg = body.get("errmsg").and_then(Value::as_str).unwrap_or_default();
        return Err(WechatError::from_errcode(errcode, errmsg).into());
    }
    serde_json::from_value(body).map_err(|e| ClientError::Decode(e.to_string()))
}

/// Where access tokens are shared between replicas (Redis or the in-process cache).
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// The value at `key`, if any.
    async fn get(&self, key: &str) -> Result<Option<String>, String>;
    /// Sets `key` for `ttl`.
    async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), String>;
    /// Sets `key` for `ttl` unless it exists; whether it was set (the lock was taken).
    async fn set_if_absent(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, String>;
    /// Removes `key`.
    async fn delete(&self, key: &str) -> Result<(), String>;
}

/// One app's access token, shared through a [`TokenStore`]; see the module doc.
pub struct AccessTokens<S> {
    client: WechatClient,
    appid: String,
    secret: String,
    store: S,
}

impl<S> fmt::Debug for AccessTokens<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessTokens").field("appid", &self.appid).finish_non_exhaustive()
    }
}

/// How long a refresher may hold the lock, and how long others wait for its result.
const LOCK_TTL: Duration = Duration::from_secs(10);
/// Tokens are refreshed this long before WeChat says they expire.
const EARLY_REFRESH_SECS: u64 = 300;

impl<S: TokenStore> AccessTokens<S> {
    /// The token of `appid` (with `secret`), fetched through `client` and shared through `store`.
    pub fn new(client: WechatClient, appid: impl Into<String>, secret: impl Into<String>, store: S) -> Self {
        Self { client, appid: appid.into(), secret: secret.into(), store }
    }

    fn key(&self) -> String {
        format!("wechat:access-token:{}", self.appid)
    }

    fn lock_key(&self) -> String {
        format!("wechat:access-token-lock:{}", self.appid)
    }

    /// The current token: from the store, or fetched by exactly one caller across replicas
    /// while the others wait for it.
    pub async fn token(&self) -> Result<String, ClientError> {
        let key = self.key();
        let deadline = tokio::time::Instant::now() + LOCK_TTL;
        let mut pause = Duration::from_millis(10);
        loop {
            if let Some(t) = self.store.get(&key).await.map_err(ClientError::Store)? {
                return Ok(t);
            }
            let holder = format!("{:x}", rand::random::<u64>());
            if self.store.set_if_absent(&self.lock_key(), &holder, LOCK_TTL).await.map_err(ClientError::Store)? {
                let fetched = self.client.stable_token(&self.appid, &self.secret, false).await;
                let result = match fetched {
                    Ok(t) => {
                        let life = t.expires_in.saturating_sub(EARLY_REFRESH_SECS).max(30);
                        self.store
                            .set(&key, &t.access_token, Duration::from_secs(life))
                            .await
                            .map_err(ClientError::Store)
                            .map(|()| t.access_token)
                    }
                    Err(e) => Err(e),
                };
                let _ = self.store.delete(&self.lock_key()).await;
                return result;
            }
            // Another replica is fetching: wait for its token rather than racing it.
            if tokio::time::Instant::now() >= deadline {
                return Err(ClientError::Transport("timed out waiting for another replica's token refresh".into()));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// Drops `used` from the store if it is still the cached token (a newer one stays).
    pub async fn invalidate(&self, used: &str) -> Result<(), ClientError> {
        let key = self.key();
        if self.store.get(&key).await.map_err(ClientError::Store)?.as_deref() == Some(used) {
            self.store.delete(&key).await.map_err(ClientError::Store)?;
        }
        Ok(())
    }

    /// Runs `call` with the token; on 40001 / 40014 / 42001 refreshes once and retries once.
    pub async fn call<T, F, Fut>(&self, call: F) -> Result<T, ClientError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let token = self.token().await?;
        match call(token.clone()).await {
            Err(ClientError::Wechat(e)) if e.is_token_invalid() => {
                self.invalidate(&token).await?;
                let fresh = self.token().await?;
                call(fresh).await
            }
            other => other,
        }
    }

    /// The client these tokens are for.
    pub fn client(&self) -> &WechatClient {
        &self.client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_errcode_answer_becomes_the_typed_error() {
        let body = serde_json::json!({"errcode": 40163, "errmsg": "code been used"});
        match decode::<MpSession>(body) {
            Err(ClientError::Wechat(e)) => assert_eq!(e.kind(), "wechat-code-used"),
            other => panic!("expected a typed error, got {other:?}"),
        }
    }

    #[test]
    fn a_success_answer_without_errcode_decodes() {
        let body = serde_json::json!({"openid": "o1", "session_key": "AAECAwQFBgcICQoLDA0ODw=="});
        let s: MpSession = decode(body).unwrap();
        assert_eq!(s.openid, "o1");
        assert!(s.unionid.is_none());
    }

    #[test]
    fn the_authorize_url_keeps_wechats_parameter_order_and_fragment() {
        let url = authorize_url("https://open.weixin.qq.com", "wx1", "https://a.b/cb?x=1", "snsapi_base", "s1");
        assert_eq!(
            url,
            "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx1&redirect_uri=https%3A%2F%2Fa.b%2Fcb%3Fx%3D1&response_type=code&scope=snsapi_base&state=s1#wechat_redirect"
        );
    }
}
