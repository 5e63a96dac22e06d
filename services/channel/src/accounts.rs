//! The Service Accounts the channel handles (issue #20): the city's (key `city`, callback
//! `/wechat/callback`) and the departmental ones (`channel.accounts`, callback
//! `/wechat/callback/<key>`), each with its own crypto, callback mode and WeChat client. Replies,
//! customer-service and template messages go out through the client of the account the citizen
//! wrote to ([`Accounts::messages`]), whoever handles the conversation.

use std::collections::HashMap;
use std::sync::Arc;

use city_notify::wechat::{WechatApi, WechatMessages};
use city_platform::config::{service_accounts, CallbackMode, ServiceAccount};
use city_platform::Settings;
/// An account's crypto (re-exported for those who sign pushes as WeChat does, tests).
pub use city_wechat::crypto::official_account::MessageCrypt;
use city_wechat::crypto::official_account::{EncodingAesKey, ServerToken};

use crate::ChannelError;

/// One Service Account, ready to serve.
pub struct Account {
    /// `city` or the departmental key.
    pub key: String,
    /// Its appid.
    pub appid: String,
    /// `name_zh name_en`.
    pub name: String,
    /// Its signatures and safe mode.
    pub crypt: MessageCrypt,
    /// The mode chosen in WeChat's console.
    pub mode: CallbackMode,
    /// Its message APIs (a test double where the deps give one).
    pub messages: Arc<dyn WechatMessages>,
    /// Its full client (menus, Mini Program links).
    pub api: Arc<WechatApi>,
    /// Its menu file (`None`: the city's built-in seed).
    pub menu: Option<std::path::PathBuf>,
}

/// Every account, the city's first.
pub struct Accounts {
    list: Vec<Arc<Account>>,
    by_appid: HashMap<String, usize>,
}

/// An account's crypto from its settings.
pub fn crypt_of(a: &ServiceAccount) -> Result<MessageCrypt, ChannelError> {
    let what = |e: String| ChannelError::Config(format!("account `{}`: {e}", a.key));
    let token = ServerToken::parse(a.token.expose()).map_err(|e| what(e.to_string()))?;
    let key = EncodingAesKey::parse(a.aes_key.expose()).map_err(|e| what(e.to_string()))?;
    Ok(MessageCrypt::new(token, key, a.appid.clone()))
}

impl Accounts {
    /// The accounts of `settings`; `city_messages` is the city's message client, and
    /// `others` replaces a departmental account's (by appid) where given (tests).
    pub fn from_settings(
        settings: &Settings,
        city_messages: Arc<dyn WechatMessages>,
        others: &HashMap<String, Arc<dyn WechatMessages>>,
    ) -> Result<Self, ChannelError> {
        let mut list = Vec::new();
        for (i, a) in service_accounts(settings).into_iter().enumerate() {
            let api = Arc::new(WechatApi::new(settings.wechat_api_base(), a.appid.clone(), a.secret.expose()));
            let messages: Arc<dyn WechatMessages> = if i == 0 {
                city_messages.clone()
            } else {
                others.get(&a.appid).cloned().unwrap_or_else(|| api.clone())
            };
            list.push(Arc::new(Account {
                crypt: crypt_of(&a)?,
                name: format!("{} {}", a.name_zh, a.name_en),
                mode: a.callback_mode,
                messages,
                api,
                menu: a.menu,
                key: a.key,
                appid: a.appid,
            }));
        }
        let by_appid = list.iter().enumerate().map(|(i, a)| (a.appid.clone(), i)).collect();
        Ok(Self { list, by_appid })
    }

    /// The city's account.
    pub fn city(&self) -> &Arc<Account> {
        &self.list[0]
    }

    /// Every account, the city's first.
    pub fn all(&self) -> &[Arc<Account>] {
        &self.list
    }

    /// The account with this key (`city`, `health`, ...).
    pub fn by_key(&self, key: &str) -> Option<&Arc<Account>> {
        self.list.iter().find(|a| a.key == key)
    }

    /// The account with this appid.
    pub fn by_appid(&self, appid: &str) -> Option<&Arc<Account>> {
        self.by_appid.get(appid).map(|i| &self.list[*i])
    }

    /// The account named by key or appid.
    pub fn find(&self, key_or_appid: &str) -> Option<&Arc<Account>> {
        self.by_key(key_or_appid).or_else(|| self.by_appid(key_or_appid))
    }

    /// The message client of the account with `appid` (the city's for an unknown one: a
    /// conversation of an account since removed still gets an answer attempt).
    pub fn messages(&self, appid: &str) -> Arc<dyn WechatMessages> {
        self.by_appid(appid).unwrap_or_else(|| self.city()).messages.clone()
    }
}
