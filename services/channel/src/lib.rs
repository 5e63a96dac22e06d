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
//! service's tables: all its SQL), `state` ([`ChannelState`], [`ChannelDeps`]), `push` (a push's
//! effects and answer), `subscriptions` (subscribe-message grants), `api` (the JSON operations),
//! [`errors`] (its error kinds), [`announcements`] (Service Account broadcasts under
//! `/v1/announcements`), [`conversations`] (chats handed to city agents under
//! `/v1/conversations` and `/v1/agents`), `accounts` (the city's and departmental Service
//! Accounts), [`links`] (Mini Programs linked to them, `/v1/channel/accounts`). How to try each menu key by hand:
//! `services/channel/README.md`.
//!
//! Invariants: this service reads no other service's tables; it asks them over HTTP with the
//! internal token. A push is acted on at most once per dedupe key, whatever the number of
//! replicas or retries (the cache claim; and what a push writes is idempotent besides). No
//! database write waits on the reply path except keeping a conversation for staff.

pub mod accounts;
pub mod announcements;
mod api;
pub mod callback;
pub mod claim;
pub mod conversations;
pub mod domain;
mod erasure;
pub mod errors;
mod export;
pub mod followers;
pub mod links;
pub mod menu_ops;
mod push;
pub mod services;
mod state;
pub mod store;
mod subscriptions;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use city_notify::Notifier;
use city_platform::{Db, Platform};
use city_wechat::crypto::official_account::{EncodingAesKey, MessageCrypt, ServerToken};
use sqlx::migrate::Migrator;

pub use api::ChannelApi;
use domain::faq::Faq;
pub use errors::KINDS as ERROR_KINDS;
use followers::FollowerWriter;
use state::KeyReply;
pub use state::{ChannelDeps, ChannelState};

/// The service's name: its SQLite file, PostgreSQL schema and `--only` argument.
pub const NAME: &str = "wechat";

/// The path prefixes this service owns.
pub const PREFIXES: &[&str] = &["/wechat", "/v1/announcements", "/v1/conversations", "/v1/agents", "/v1/channel"];

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

/// The Service Account's crypto from the settings.
pub fn message_crypt(settings: &city_platform::Settings) -> Result<MessageCrypt, ChannelError> {
    let token =
        ServerToken::parse(settings.wechat.oa_token.expose()).map_err(|e| ChannelError::Config(e.to_string()))?;
    let key =
        EncodingAesKey::parse(settings.wechat.oa_aes_key.expose()).map_err(|e| ChannelError::Config(e.to_string()))?;
    Ok(MessageCrypt::new(token, key, settings.wechat.oa_appid.clone()))
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
        let accounts = Arc::new(accounts::Accounts::from_settings(
            &platform.settings,
            deps.messages.clone(),
            &deps.account_messages,
        )?);
        // The views name accounts by key and name (set here: the accounts module stays below conversations).
        conversations::views::register_accounts(
            accounts.all().iter().map(|a| (a.appid.clone(), a.key.clone(), a.name.clone())),
        );
        let keys: HashMap<String, KeyReply> = serde_json::from_str(KEYS_SEED)
            .map_err(|e| ChannelError::Config(format!("seeds/wechat/keys.json: {e}")))?;
        let notifier =
            Arc::new(Notifier::new(db.clone(), deps.notify, deps.messages.clone(), deps.mp_messages, deps.contacts)?);
        notifier.clone().spawn(platform.bus.clone(), Duration::from_secs(2), platform.shutdown.clone());
        let followers = FollowerWriter::spawn(db.clone(), platform.shutdown.clone());
        let conversations =
            conversations::Conversations::new(db.clone(), platform.clone(), accounts.clone(), deps.services.clone());
        conversations.spawn_sweeper(Duration::from_secs(30));
        let state = Arc::new(ChannelState {
            announcements: Arc::new(announcements::Announcements::new(
                db.clone(),
                platform.clone(),
                followers.clone(),
                deps.services.clone(),
                notifier.clone(),
            )),
            followers,
            conversations,
            db: db.clone(),
            platform,
            notifier,
            crypt,
            accounts,
            services: deps.services,
            messages: deps.messages,
            reply_budget: deps.reply_budget,
            faq: Faq::seed(),
            keys,
        });
        erasure::start(&state);
        let route = callback::routes(state.clone());
        Ok((ChannelApi::new(state), route, db))
    }
}
