//! WeChat as identity sees it: the API client at the configured base (the sandbox by default),
//! the Mini Program's access token shared through the platform cache, and a failed call as a
//! typed error ([`WechatRefusal`]; the API turns it into a problem whose `type` names the WeChat
//! error).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use city_platform::cache::Cache;
use city_platform::config::Secret;
use city_platform::Platform;
use city_wechat::client::{AccessTokens, ClientError, TokenStore, WechatClient};

/// The platform cache as the WeChat client's token store.
pub struct CacheStore(pub Arc<dyn Cache>);

#[async_trait]
impl TokenStore for CacheStore {
    async fn get(&self, key: &str) -> Result<Option<String>, String> {
        let v = self.0.get(key).await.map_err(|e| e.to_string())?;
        Ok(v.and_then(|b| String::from_utf8(b).ok()))
    }
    async fn set(&self, key: &str, value: &str, ttl: Duration) -> Result<(), String> {
        self.0.set(key, value.as_bytes(), ttl).await.map_err(|e| e.to_string())
    }
    async fn set_if_absent(&self, key: &str, value: &str, ttl: Duration) -> Result<bool, String> {
        self.0.set_if_absent(key, value.as_bytes(), ttl).await.map_err(|e| e.to_string())
    }
    async fn delete(&self, key: &str) -> Result<(), String> {
        self.0.delete(key).await.map_err(|e| e.to_string())
    }
}

/// Identity's WeChat apps.
pub struct Wechat {
    /// The API client.
    pub client: WechatClient,
    /// The Mini Program's shared access token (phone numbers).
    pub mp_tokens: AccessTokens<CacheStore>,
    /// Mini Program appid.
    pub mp_appid: String,
    /// Mini Program secret.
    pub mp_secret: Secret,
    /// Service Account appid.
    pub oa_appid: String,
    /// Service Account secret.
    pub oa_secret: Secret,
    /// Base of the OAuth consent page.
    pub authorize_base: String,
    /// Our OAuth callback, as browsers reach it.
    pub callback_url: String,
}

impl Wechat {
    /// From the platform's settings.
    pub fn new(platform: &Platform) -> Self {
        let s = &platform.settings;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let client = WechatClient::new(s.wechat_api_base(), http);
        let mp_tokens = AccessTokens::new(
            client.clone(),
            s.wechat.mp_appid.clone(),
            s.wechat.mp_secret.expose(),
            CacheStore(platform.cache.clone()),
        );
        let public = s.public_base_url();
        Self {
            authorize_base: s.identity.oauth_authorize_base.clone().unwrap_or_else(|| s.wechat_api_base()),
            callback_url: format!("{}/v1/auth/oa/callback", public.trim_end_matches('/')),
            client,
            mp_tokens,
            mp_appid: s.wechat.mp_appid.clone(),
            mp_secret: s.wechat.mp_secret.clone(),
            oa_appid: s.wechat.oa_appid.clone(),
            oa_secret: s.wechat.oa_secret.clone(),
        }
    }
}

/// A WeChat call about a client's code that failed: WeChat refused the code, blocked the
/// account, limited us, or did not answer. `field` is the request field the code came in.
#[derive(Debug, thiserror::Error)]
#[error("WeChat call for `{field}` failed: {cause}")]
pub struct WechatRefusal {
    /// The request field holding the code.
    pub field: &'static str,
    /// What WeChat (or the way to it) said.
    #[source]
    pub cause: ClientError,
}

impl WechatRefusal {
    /// The refusal of the code in `field`.
    pub fn of(field: &'static str) -> impl FnOnce(ClientError) -> Self {
        move |cause| Self { field, cause }
    }
}
