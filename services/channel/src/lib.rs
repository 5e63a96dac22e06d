//! The WeChat Service Account channel (`/wechat`): the callback WeChat pushes messages and events
//! to, the menu, answers drawn from the other services, and the delivery of notifications
//! (through `city-notify`).
//!
//! Entry points: [`ChannelService::start`] opens the store and returns the API and the plain
//! routes that are not JSON (the XML callback at `/wechat/callback`).
//!
//! Layout: [`callback`] (verification, safe mode, the 5-second budget), [`claim`] (retries
//! recognised in the shared cache), [`followers`] (follower state written in batches off the
//! reply path), [`domain`] (menu limits, FAQ, reply texts, folding follower facts; pure),
//! [`services`] (the other services over their internal APIs, behind a trait), [`store`] (this
//! service's tables). How to try each menu key by hand: `services/channel/README.md`.
//!
//! Invariants: this service reads no other service's tables; it asks them over HTTP with the
//! internal token. A push is acted on at most once per dedupe key, whatever the number of
//! replicas or retries (the cache claim; and what a push writes is idempotent besides). No
//! database write waits on the reply path except keeping a conversation for staff.

mod api;
pub mod callback;
pub mod claim;
pub mod domain;
pub mod followers;
pub mod menu_ops;
pub mod services;
pub mod store;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use city_notify::wechat::{WechatApi, WechatMessages};
use city_platform::time::now_ms;
use city_platform::{Db, Platform};
use city_wechat::crypto::official_account::{EncodingAesKey, MessageCrypt, ServerToken};
use city_wechat::xml::{PushEvent, PushKind, PushMessage};
use poem::EndpointExt;
use serde::Deserialize;
use sqlx::migrate::Migrator;

pub use api::ChannelApi;
use city_notify::{Notifier, NotifySettings};
use domain::faq::Faq;
use domain::followers::FollowerFact;
use domain::replies;
use followers::FollowerWriter;
use services::{CityServices, HttpCityServices, HttpContacts, ServiceBases};

/// The service's name: its SQLite file, PostgreSQL schema and `--only` argument.
pub const NAME: &str = "wechat";

/// The path prefixes this service owns.
pub const PREFIXES: &[&str] = &["/wechat"];

/// This service's migrations.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/wechat");

/// The customer-service window: messages may be sent this long after the follower's last interaction.
pub const CUSTOMER_SERVICE_WINDOW_MS: i64 = 48 * 3600 * 1000;

/// The menu shipped in `seeds/wechat/menu.json`.
pub const MENU_SEED: &str = include_str!("../../../seeds/wechat/menu.json");

/// Replies for menu keys that need no service (`seeds/wechat/keys.json`).
const KEYS_SEED: &str = include_str!("../../../seeds/wechat/keys.json");

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The store could not be opened or migrated.
    #[error(transparent)]
    Db(#[from] city_platform::db::DbError),
    /// The Service Account settings are unusable (token or EncodingAESKey malformed).
    #[error("wechat service account settings: {0}")]
    Config(String),
    /// The mail transport could not be set up.
    #[error(transparent)]
    Mail(#[from] city_notify::email::MailError),
}

#[derive(Debug, Deserialize)]
struct KeyReply {
    zh: String,
    en: String,
}

/// What the channel handlers share.
pub struct ChannelState {
    /// The service's own store.
    pub db: Db,
    /// Cache, bus and reference data.
    pub platform: Platform,
    /// Signatures and safe mode for the Service Account.
    pub crypt: MessageCrypt,
    /// The other services.
    pub services: Arc<dyn CityServices>,
    /// Customer-service, template and subscribe messages.
    pub messages: Arc<dyn WechatMessages>,
    /// How long a push may wait for the services before WeChat gets `success` instead.
    pub reply_budget: Duration,
    /// Notification delivery (runs in the background).
    pub notifier: Arc<Notifier>,
    /// Follower state, written in batches off the reply path.
    pub followers: FollowerWriter,
    faq: Faq,
    keys: HashMap<String, KeyReply>,
}

/// What the service talks to, replaceable in tests.
pub struct ChannelDeps {
    /// The other services.
    pub services: Arc<dyn CityServices>,
    /// WeChat's message APIs.
    pub messages: Arc<dyn WechatMessages>,
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
    /// The real ones: the services over HTTP (the portal itself when all-in-one, `services.*` when
    /// this service runs alone) and WeChat (the sandbox unless configured).
    pub fn from_settings(platform: &Platform) -> Self {
        let s = &platform.settings;
        // Alone (`--only wechat`) this process listens on services.wechat's port; together, every
        // service is behind our own address.
        let alone = s.services.wechat.ends_with(&format!(":{}", s.listen.port())) && s.is_distributed();
        let here = format!("http://{}", s.listen);
        let pick = |url: &String| if alone { url.clone() } else { here.clone() };
        let token = platform.internal_token.expose();
        let services = HttpCityServices::new(
            ServiceBases {
                air: pick(&s.services.air),
                identity: pick(&s.services.identity),
                booking: pick(&s.services.booking),
                payments: pick(&s.services.payments),
            },
            token,
        );
        let messages = WechatApi::new(s.wechat_api_base(), s.wechat.oa_appid.clone(), s.wechat.oa_secret.expose());
        let mp_messages = WechatApi::new(s.wechat_api_base(), s.wechat.mp_appid.clone(), s.wechat.mp_secret.expose());
        Self {
            services: Arc::new(services),
            messages: Arc::new(messages),
            reply_budget: Duration::from_millis(4000),
            mp_messages: Arc::new(mp_messages),
            contacts: Arc::new(HttpContacts::new(pick(&s.services.identity), token)),
            notify: NotifySettings::from_settings(s),
        }
    }
}

/// The Service Account's crypto from the settings.
pub fn message_crypt(settings: &city_platform::Settings) -> Result<MessageCrypt, ChannelError> {
    let token =
        ServerToken::parse(settings.wechat.oa_token.expose()).map_err(|e| ChannelError::Config(e.to_string()))?;
    let key =
        EncodingAesKey::parse(settings.wechat.oa_aes_key.expose()).map_err(|e| ChannelError::Config(e.to_string()))?;
    Ok(MessageCrypt::new(token, key, settings.wechat.oa_appid.clone()))
}

impl ChannelState {
    fn mp_appid(&self) -> &str {
        &self.platform.settings.wechat.mp_appid
    }

    /// The push's effects (follower, location, conversation) and the words to answer, if any.
    /// `dedupe_key` identifies the push, so what it writes is written once.
    pub async fn respond(&self, msg: &PushMessage, dedupe_key: &str) -> Option<String> {
        match self.try_respond(msg, dedupe_key).await {
            Ok(reply) => reply,
            Err(e) => {
                tracing::error!(error = %e, "push effects failed");
                Some(replies::try_later())
            }
        }
    }

    async fn try_respond(&self, msg: &PushMessage, dedupe_key: &str) -> Result<Option<String>, sqlx::Error> {
        let openid = msg.from_user_name.as_str();
        let at = now_ms();
        let interacted = || FollowerFact::Interacted { openid: openid.to_owned(), at };
        Ok(match &msg.kind {
            PushKind::Event(PushEvent::Subscribe { .. }) => {
                self.followers.record(FollowerFact::Subscribed { openid: openid.to_owned(), at }).await;
                Some(replies::welcome(self.mp_appid()))
            }
            PushKind::Event(PushEvent::Unsubscribe) => {
                self.followers.record(FollowerFact::Unsubscribed { openid: openid.to_owned(), at }).await;
                None
            }
            // Periodic location reports are silent; they only tell us where "near me" is.
            PushKind::Event(PushEvent::Location { latitude, longitude, .. }) => {
                self.located(openid, *latitude, *longitude, at).await;
                None
            }
            PushKind::Event(PushEvent::LocationSelect { location, .. }) => {
                self.located(openid, location.latitude, location.longitude, at).await;
                Some(self.air_at(location.latitude, location.longitude).await)
            }
            PushKind::Location { latitude, longitude, .. } => {
                self.located(openid, *latitude, *longitude, at).await;
                Some(self.air_at(*latitude, *longitude).await)
            }
            PushKind::Event(PushEvent::Click { event_key }) => {
                self.followers.record(interacted()).await;
                Some(self.menu_key(openid, event_key).await?)
            }
            PushKind::Event(PushEvent::View { .. } | PushEvent::ViewMiniprogram { .. } | PushEvent::Scan { .. }) => {
                self.followers.record(interacted()).await;
                None
            }
            PushKind::Text { content } => {
                self.followers.record(interacted()).await;
                match self.faq.answer(content) {
                    Some(answer) => Some(answer.to_owned()),
                    None => {
                        // Kept before answering: staff must not miss what we said we would read.
                        store::add_conversation(&self.db, dedupe_key, openid, "text", content, at).await?;
                        Some(replies::acknowledged())
                    }
                }
            }
            PushKind::Image { media_id, .. } | PushKind::Voice { media_id, .. } | PushKind::Video { media_id, .. } => {
                self.followers.record(interacted()).await;
                store::add_conversation(&self.db, dedupe_key, openid, msg.msg_type(), media_id, at).await?;
                Some(replies::acknowledged())
            }
            // Unknown message types and events we do not act on: `success`.
            _ => None,
        })
    }

    async fn located(&self, openid: &str, latitude: f64, longitude: f64, at: i64) {
        followers::cache_location(&*self.platform.cache, openid, latitude, longitude).await;
        self.followers.record(FollowerFact::Located { openid: openid.to_owned(), latitude, longitude, at }).await;
    }

    /// Where the follower was last: the shared cache first (fresh on every replica), then the store.
    async fn location(&self, openid: &str) -> Result<Option<(f64, f64)>, sqlx::Error> {
        if let Some(at) = followers::cached_location(&*self.platform.cache, openid).await {
            return Ok(Some(at));
        }
        Ok(store::follower(&self.db, openid).await?.and_then(|f| f.location))
    }

    async fn air_at(&self, latitude: f64, longitude: f64) -> String {
        match self.services.air_near(latitude, longitude).await {
            Ok(now) => replies::air(now.as_ref()),
            Err(e) => {
                tracing::warn!(error = %e, "air service did not answer");
                replies::try_later()
            }
        }
    }

    async fn menu_key(&self, openid: &str, key: &str) -> Result<String, sqlx::Error> {
        let mp = self.mp_appid();
        Ok(match key {
            "AIR_NEAR_ME" => match self.location(openid).await? {
                Some((lat, lon)) => self.air_at(lat, lon).await,
                None => replies::ask_for_location(),
            },
            "REPORT_INCIDENT" => replies::report_incident(mp),
            "SIGN_IN" => replies::invitation(mp),
            "MY_NEXT_APPOINTMENT" | "MY_UNPAID" => {
                let citizen = match self.services.citizen_for_openid(openid).await {
                    Ok(Some(citizen)) => citizen,
                    Ok(None) => return Ok(replies::invitation(mp)),
                    Err(_) => return Ok(replies::try_later()),
                };
                if key == "MY_NEXT_APPOINTMENT" {
                    match self.services.next_appointment(&citizen).await {
                        Ok(a) => replies::next_appointment(a.as_ref()),
                        Err(_) => replies::try_later(),
                    }
                } else {
                    match self.services.unpaid(&citizen).await {
                        Ok(bills) => replies::unpaid(&bills),
                        Err(_) => replies::try_later(),
                    }
                }
            }
            other => match self.keys.get(other) {
                Some(reply) => format!("{}\n{}", reply.zh, reply.en),
                None => replies::unknown_key(),
            },
        })
    }

    /// Sends an answer that missed the passive-reply budget as a customer-service message, only
    /// inside the 48-hour window of a follower who still follows.
    pub async fn send_late(&self, openid: &str, content: &str) {
        // The window is judged on stored state, so this push's own interaction must be in.
        self.followers.flush().await;
        let within = match store::follower(&self.db, openid).await {
            Ok(Some(f)) => f.subscribed && now_ms() - f.last_interaction_at < CUSTOMER_SERVICE_WINDOW_MS,
            _ => false,
        };
        if !within {
            tracing::info!("late answer dropped: outside the customer-service window");
            return;
        }
        if let Err(e) = self.messages.send_custom_text(openid, content).await {
            tracing::warn!(error = %e, "late answer not delivered");
        }
    }
}

/// The running service.
pub struct ChannelService;

impl ChannelService {
    /// Opens and migrates the store and builds the API, plus plain (non-OpenAPI) routes to be
    /// mounted at the root.
    pub async fn start(platform: Platform) -> Result<(ChannelApi, poem::Route, Db), ChannelError> {
        let deps = ChannelDeps::from_settings(&platform);
        Self::start_with(platform, deps).await
    }

    /// [`ChannelService::start`] with the other services and WeChat given (tests).
    pub async fn start_with(
        platform: Platform,
        deps: ChannelDeps,
    ) -> Result<(ChannelApi, poem::Route, Db), ChannelError> {
        let db = Db::open(&platform.settings, NAME, &MIGRATOR).await?;
        let crypt = message_crypt(&platform.settings)?;
        let keys: HashMap<String, KeyReply> = serde_json::from_str(KEYS_SEED)
            .map_err(|e| ChannelError::Config(format!("seeds/wechat/keys.json: {e}")))?;
        let notifier =
            Arc::new(Notifier::new(db.clone(), deps.notify, deps.messages.clone(), deps.mp_messages, deps.contacts)?);
        notifier.clone().spawn(platform.bus.clone(), Duration::from_secs(2), platform.shutdown.clone());
        let followers = FollowerWriter::spawn(db.clone(), platform.shutdown.clone());
        let state = Arc::new(ChannelState {
            followers,
            db: db.clone(),
            platform,
            notifier,
            crypt,
            services: deps.services,
            messages: deps.messages,
            reply_budget: deps.reply_budget,
            faq: Faq::seed(),
            keys,
        });
        let route = poem::Route::new()
            .at("/wechat/callback", poem::get(callback::verify).post(callback::push).data(state.clone()));
        Ok((ChannelApi::new(state), route, db))
    }
}
