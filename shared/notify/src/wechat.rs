//! A small client of the WeChat message and menu APIs (`/cgi-bin/message/...`, `/cgi-bin/menu/...`)
//! at the configured base URL (the sandbox by default), with the app's access token from
//! `POST /cgi-bin/stable_token` (stable tokens are shared by every caller, so replicas fetching
//! their own do not invalidate each other), refreshed once when WeChat says it went stale.

use std::fmt;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use parking_lot::Mutex;
use serde_json::{json, Value};

/// A failed WeChat call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WechatApiError {
    /// WeChat answered a non-zero `errcode`.
    #[error("wechat errcode {errcode}: {errmsg}")]
    Errcode {
        /// The code (45015: outside the 48-hour window; 43101: no subscribe authorization; ...).
        errcode: i64,
        /// WeChat's message.
        errmsg: String,
    },
    /// WeChat could not be reached or answered something else than JSON.
    #[error("wechat unreachable: {0}")]
    Transport(String),
}

impl WechatApiError {
    /// The errcode, when WeChat answered one.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            Self::Errcode { errcode, .. } => Some(*errcode),
            Self::Transport(_) => None,
        }
    }
}

/// Messages to WeChat users, as notify and the callback need them (tests use a double).
#[async_trait]
pub trait WechatMessages: Send + Sync + 'static {
    /// A Service Account customer-service text (only inside the 48-hour window).
    async fn send_custom_text(&self, openid: &str, content: &str) -> Result<(), WechatApiError>;
    /// A Service Account template message; `body` is the whole request minus `touser`.
    async fn send_template(&self, openid: &str, body: Value) -> Result<(), WechatApiError>;
    /// A Mini Program subscribe message; `body` is the whole request minus `touser`.
    async fn send_subscribe(&self, openid: &str, body: Value) -> Result<(), WechatApiError>;
}

/// One WeChat app (appid + secret) at one API base URL.
pub struct WechatApi {
    base: String,
    appid: String,
    secret: String,
    http: reqwest::Client,
    token: Mutex<Option<(String, Instant)>>,
}

impl fmt::Debug for WechatApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WechatApi").field("base", &self.base).field("appid", &self.appid).finish_non_exhaustive()
    }
}

/// Token errcodes after which one refresh and one retry are worth it.
const STALE_TOKEN: [i64; 3] = [40001, 40014, 42001];

impl WechatApi {
    /// A client of `appid` at `base` (e.g. `http://127.0.0.1:8080/sandbox/wechat`).
    pub fn new(base: impl Into<String>, appid: impl Into<String>, secret: impl Into<String>) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
        Self { base: base.into(), appid: appid.into(), secret: secret.into(), http, token: Mutex::new(None) }
    }

    async fn access_token(&self) -> Result<String, WechatApiError> {
        if let Some((token, until)) = self.token.lock().clone() {
            if Instant::now() < until {
                return Ok(token);
            }
        }
        let body = json!({"grant_type": "client_credential", "appid": self.appid, "secret": self.secret});
        let answer = self.call(reqwest::Method::POST, "/cgi-bin/stable_token", None, Some(&body)).await?;
        let token = answer["access_token"]
            .as_str()
            .ok_or_else(|| WechatApiError::Transport("stable_token without access_token".into()))?
            .to_owned();
        // Refresh five minutes early, as WeChat renews during the last five.
        let life = answer["expires_in"].as_u64().unwrap_or(7200).saturating_sub(300).max(30);
        *self.token.lock() = Some((token.clone(), Instant::now() + Duration::from_secs(life)));
        Ok(token)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value, WechatApiError> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.query(&[("access_token", token)]);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| WechatApiError::Transport(e.without_url().to_string()))?;
        // WeChat answers every call with HTTP 200 and an errcode; anything else is not WeChat
        // (a wrong base, a proxy's error page), said as such rather than read as an answer.
        if !resp.status().is_success() {
            return Err(WechatApiError::Transport(format!(
                "{}{path} answered HTTP {}: is wechat.api_base right?",
                self.base,
                resp.status()
            )));
        }
        let value: Value = resp.json().await.map_err(|e| WechatApiError::Transport(e.to_string()))?;
        match value["errcode"].as_i64().unwrap_or(0) {
            0 => Ok(value),
            errcode => Err(WechatApiError::Errcode {
                errcode,
                errmsg: value["errmsg"].as_str().unwrap_or_default().to_owned(),
            }),
        }
    }

    /// Calls an access-token API; on a stale token, drops it, fetches a new one and retries once.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, WechatApiError> {
        let token = self.access_token().await?;
        match self.call(method.clone(), path, Some(&token), body).await {
            Err(WechatApiError::Errcode { errcode, .. }) if STALE_TOKEN.contains(&errcode) => {
                *self.token.lock() = None;
                let token = self.access_token().await?;
                self.call(method, path, Some(&token), body).await
            }
            other => other,
        }
    }

    /// `POST /cgi-bin/menu/create`.
    pub async fn menu_create(&self, menu: &Value) -> Result<(), WechatApiError> {
        self.api(reqwest::Method::POST, "/cgi-bin/menu/create", Some(menu)).await.map(drop)
    }

    /// `GET /cgi-bin/menu/get`: `{"menu": {...}}`.
    pub async fn menu_get(&self) -> Result<Value, WechatApiError> {
        self.api(reqwest::Method::GET, "/cgi-bin/menu/get", None).await
    }

    /// `GET /cgi-bin/user/info`: a Service Account follower's unionid, `None` when WeChat gives
    /// none (not bound to the Open Platform, or not following).
    pub async fn follower_unionid(&self, openid: &str) -> Result<Option<String>, WechatApiError> {
        // Openids are letters, digits, '-' and '_'; anything else is nobody (and stays out of the URL).
        if openid.is_empty() || !openid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Ok(None);
        }
        let path = format!("/cgi-bin/user/info?openid={openid}&lang=zh_CN");
        let info = self.api(reqwest::Method::GET, &path, None).await?;
        Ok(info["unionid"].as_str().filter(|u| !u.is_empty()).map(str::to_owned))
    }

    /// `GET /cgi-bin/menu/delete`.
    pub async fn menu_delete(&self) -> Result<(), WechatApiError> {
        self.api(reqwest::Method::GET, "/cgi-bin/menu/delete", None).await.map(drop)
    }
}

fn with_touser(openid: &str, mut body: Value) -> Value {
    if let Some(map) = body.as_object_mut() {
        map.insert("touser".into(), Value::String(openid.to_owned()));
    }
    body
}

#[async_trait]
impl WechatMessages for WechatApi {
    async fn send_custom_text(&self, openid: &str, content: &str) -> Result<(), WechatApiError> {
        let body = json!({"touser": openid, "msgtype": "text", "text": {"content": content}});
        self.api(reqwest::Method::POST, "/cgi-bin/message/custom/send", Some(&body)).await.map(drop)
    }

    async fn send_template(&self, openid: &str, body: Value) -> Result<(), WechatApiError> {
        let body = with_touser(openid, body);
        self.api(reqwest::Method::POST, "/cgi-bin/message/template/send", Some(&body)).await.map(drop)
    }

    async fn send_subscribe(&self, openid: &str, body: Value) -> Result<(), WechatApiError> {
        let body = with_touser(openid, body);
        self.api(reqwest::Method::POST, "/cgi-bin/message/subscribe/send", Some(&body)).await.map(drop)
    }
}
