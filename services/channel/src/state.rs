//! What the channel's handlers and background tasks share ([`ChannelState`]), and what the
//! service talks to ([`ChannelDeps`]), replaceable in tests.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use city_notify::wechat::{WechatApi, WechatMessages};
use city_notify::{Notifier, NotifySettings};
use city_platform::{Db, Platform};
use city_wechat::crypto::official_account::MessageCrypt;
use serde::Deserialize;

use crate::domain::faq::Faq;
use crate::followers::FollowerWriter;
use crate::services::{CityServices, HttpCityServices, HttpContacts, ServiceBases};

/// A reply for a menu key that needs no service (`seeds/wechat/keys.json`).
#[derive(Debug, Deserialize)]
pub(crate) struct KeyReply {
    pub(crate) zh: String,
    pub(crate) en: String,
}

/// What the channel handlers share.
pub struct ChannelState {
    /// The service's own store.
    pub db: Db,
    /// Cache, bus and reference data.
    pub platform: Platform,
    /// Signatures and safe mode for the city's Service Account.
    pub crypt: MessageCrypt,
    /// Every Service Account handled (the city's first), each with its crypto and clients.
    pub accounts: Arc<crate::accounts::Accounts>,
    /// The other services.
    pub services: Arc<dyn CityServices>,
    /// The city's account's customer-service, template and subscribe messages.
    pub messages: Arc<dyn WechatMessages>,
    /// How long a push may wait for the services before WeChat gets `success` instead.
    pub reply_budget: Duration,
    /// Notification delivery (runs in the background).
    pub notifier: Arc<Notifier>,
    /// Follower state, written in batches off the reply path.
    pub followers: FollowerWriter,
    /// Announcements: drafts, approval, broadcasts (`/v1/announcements`).
    pub announcements: Arc<crate::announcements::Announcements>,
    /// Conversations with agents (`/v1/conversations`, `/v1/agents`).
    pub conversations: Arc<crate::conversations::Conversations>,
    pub(crate) faq: Faq,
    pub(crate) keys: HashMap<String, KeyReply>,
}

/// What the service talks to, replaceable in tests.
pub struct ChannelDeps {
    /// The other services.
    pub services: Arc<dyn CityServices>,
    /// WeChat's message APIs of the city's Service Account.
    pub messages: Arc<dyn WechatMessages>,
    /// Those of departmental accounts, by appid, where a test replaces them (the real client
    /// of each account otherwise).
    pub account_messages: HashMap<String, Arc<dyn WechatMessages>>,
    /// The passive-reply budget (WeChat allows 5 s; the default keeps a margin).
    pub reply_budget: Duration,
    /// The Mini Program's message API (subscribe messages).
    pub mp_messages: Arc<dyn WechatMessages>,
    /// Where citizens' e-mail addresses and openids come from.
    pub contacts: Arc<dyn city_notify::Contacts>,
    /// Notification delivery settings.
    pub notify: NotifySettings,
}

impl ChannelDeps {
    /// The real ones: the services over HTTP (the portal itself when all-in-one, their replicas
    /// at `services.*` when apart: the mode the process runs in says which, never its port) and
    /// WeChat (the sandbox unless configured).
    pub fn from_settings(platform: &Platform) -> Self {
        let s = &platform.settings;
        let token = platform.internal_token.expose();
        let services = HttpCityServices::new(
            ServiceBases {
                air: s.peer("air", &s.services.air),
                identity: s.peer("identity", &s.services.identity),
                booking: s.peer("booking", &s.services.booking),
                payments: s.peer("payments", &s.services.payments),
                incidents: s.peer("incidents", &s.services.incidents),
            },
            token,
        );
        let messages = WechatApi::new(s.wechat_api_base(), s.wechat.oa_appid.clone(), s.wechat.oa_secret.expose());
        let mp_messages = WechatApi::new(s.wechat_api_base(), s.wechat.mp_appid.clone(), s.wechat.mp_secret.expose());
        Self {
            services: Arc::new(services),
            messages: Arc::new(messages),
            account_messages: HashMap::new(),
            reply_budget: Duration::from_millis(4000),
            mp_messages: Arc::new(mp_messages),
            contacts: Arc::new(HttpContacts::new(s.peer("identity", &s.services.identity), token)),
            notify: NotifySettings::from_settings(s),
        }
    }
}
