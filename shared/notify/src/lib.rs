//! Notifications: the `notify.requested` events services emit through their outbox, delivered
//! once per (event, channel, recipient) with retries, backoff and a dead-letter record.
//!
//! - [`Notifier::accept`] plans one delivery row per (notification, channel, recipient) with
//!   `ON CONFLICT DO NOTHING`, so an event delivered twice is planned once.
//! - [`Notifier::deliver_due`] claims due rows with a conditional update (one replica wins each),
//!   sends, and either marks them sent, schedules the next attempt from the retry schedule, or
//!   moves them to `notify_dead_letters` (retries used up, or an error retrying cannot fix).
//! - Channels: `email` ([`email`]), `oa_template` (Service Account template message to a
//!   follower), `miniprogram` (subscribe message, only with an authorization the citizen granted;
//!   each send uses one).
//! - [`wechat`]: the WeChat message and menu client.
//!
//! The tables live in the channel service's store (`migrations/wechat`).

pub mod email;
pub mod wechat;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use city_platform::bus::{Event, Handler};
use city_platform::config::Secret;
use city_platform::shutdown::Shutdown;
use city_platform::time::now_ms;
use city_platform::Db;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::Row;

use email::{MailError, Mailer};
use wechat::{WechatApiError, WechatMessages};

/// The topic services emit notifications on.
pub const TOPIC: &str = "notify.requested";

/// Message templates per service (`seeds/wechat/templates.json`).
pub const TEMPLATES_SEED: &str = include_str!("../../../seeds/wechat/templates.json");

/// The `notify.requested` payload agreed by every service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Stable per logical notification (`booking:<id>:cancelled`).
    pub notification_id: String,
    /// Who is told.
    pub citizen_id: String,
    /// `<service>.<what>`.
    pub kind: String,
    /// Title in Chinese.
    pub title_zh: String,
    /// Title in English.
    pub title_en: String,
    /// Text in Chinese.
    pub body_zh: String,
    /// Text in English.
    pub body_en: String,
    /// Fields templates may use.
    #[serde(default)]
    pub data: Value,
    /// Preferred channels: `miniprogram`, `oa_template`, `email`. The citizen's own choice for
    /// this `kind` (identity's preferences, issue #23) wins over it.
    #[serde(default)]
    pub channels: Vec<String>,
}

/// `data` fields the notifier itself reads (issue #23).
pub mod data_fields {
    /// An address to mail instead of the citizen's confirmed one: identity's confirmation mail,
    /// sent before the address is confirmed.
    pub const TO_EMAIL: &str = "to_email";
    /// Set by the notifier when it plans an e-mail: the one-click unsubscribe link.
    pub const UNSUBSCRIBE_URL: &str = "unsubscribe_url";
}

/// How a citizen can be reached.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    /// A verified e-mail address.
    pub email: Option<String>,
    /// The citizen's openid for the Service Account, while following.
    pub oa_openid: Option<String>,
    /// The citizen's openid for the Mini Program.
    pub mp_openid: Option<String>,
    /// The channels the citizen chose per kind of notice; a kind absent: the sender's choice.
    pub preferences: std::collections::BTreeMap<String, Vec<String>>,
    /// The token of the one-click unsubscribe link every e-mail to them carries.
    pub unsubscribe_token: Option<String>,
}

impl Contact {
    /// The channels `n` goes on: the citizen's choice for its kind, else the sender's.
    pub fn channels_for<'a>(&'a self, n: &'a Notification) -> &'a [String] {
        self.preferences.get(&n.kind).map_or(&n.channels[..], |chosen| &chosen[..])
    }
}

/// Where contacts come from (identity owns them).
#[async_trait]
pub trait Contacts: Send + Sync + 'static {
    /// The citizen's contact points; `Err` when identity cannot answer now (retried later).
    async fn contact(&self, citizen_id: &str) -> Result<Contact, String>;
}

/// Delivery configuration, from the platform's `notify` settings section.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    /// `smtp://[user:pass@]host[:port]`; unset: `.eml` files in `outbox_dir`. A secret: the
    /// URL may carry a password.
    pub smtp_url: Option<Secret>,
    /// Sender address.
    pub from: String,
    /// Seconds to wait before each retry; after the last, the delivery is dead-lettered.
    pub retry_secs: Vec<u64>,
    /// Where mail files go without SMTP.
    pub outbox_dir: PathBuf,
    /// Where browsers reach the portal, for the unsubscribe links in mails.
    pub public_base_url: String,
}

impl NotifySettings {
    /// From `settings.notify` (`CITY_NOTIFY__*`); the outbox defaults to `<data_dir>/outbox`.
    pub fn from_settings(settings: &city_platform::Settings) -> Self {
        let n = &settings.notify;
        Self {
            smtp_url: n.smtp_url.clone(),
            from: n.from.clone(),
            retry_secs: n.retry_secs.clone(),
            outbox_dir: n.outbox_dir.clone().unwrap_or_else(|| settings.data_dir.join("outbox")),
            public_base_url: settings.public_base_url(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Template {
    oa_template_id: String,
    mp_template_id: String,
    page: String,
    fields: std::collections::BTreeMap<String, String>,
}

/// Why a send failed: worth retrying or not.
enum SendError {
    Retry(String),
    Permanent(String),
}

/// WeChat errcodes no retry can fix: not following, no authorization, bad openid or template.
const PERMANENT_ERRCODES: [i64; 6] = [43004, 43101, 40003, 40037, 47003, 45015];

impl From<WechatApiError> for SendError {
    fn from(e: WechatApiError) -> Self {
        match e.errcode() {
            Some(code) if PERMANENT_ERRCODES.contains(&code) => Self::Permanent(e.to_string()),
            _ => Self::Retry(e.to_string()),
        }
    }
}

impl From<MailError> for SendError {
    fn from(e: MailError) -> Self {
        match e {
            MailError::Permanent(m) => Self::Permanent(m),
            MailError::Transient(m) => Self::Retry(m),
        }
    }
}

/// Delivers notifications.
pub struct Notifier {
    db: Db,
    settings: NotifySettings,
    mailer: Mailer,
    oa: Arc<dyn WechatMessages>,
    mp: Arc<dyn WechatMessages>,
    contacts: Arc<dyn Contacts>,
    templates: std::collections::HashMap<String, Template>,
}

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The notification.
    pub notification_id: String,
    /// `email`, `oa_template`, `miniprogram`.
    pub channel: String,
    /// Address or openid.
    pub recipient: String,
    /// `pending`, `sent`, `dead`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
}

impl Notifier {
    /// A notifier over the channel service's store.
    pub fn new(
        db: Db,
        settings: NotifySettings,
        oa: Arc<dyn WechatMessages>,
        mp: Arc<dyn WechatMessages>,
        contacts: Arc<dyn Contacts>,
    ) -> Result<Self, MailError> {
        let mailer = Mailer::new(settings.smtp_url.as_ref().map(Secret::expose), settings.outbox_dir.clone())?;
        let templates = serde_json::from_str(TEMPLATES_SEED).unwrap_or_default();
        Ok(Self { db, settings, mailer, oa, mp, contacts, templates })
    }

    fn template(&self, kind: &str) -> Option<&Template> {
        self.templates.get(kind.split('.').next().unwrap_or(kind))
    }

    /// Plans the deliveries of one notification; returns how many rows are new.
    pub async fn accept(&self, n: &Notification) -> Result<u64, String> {
        let contact = self.contacts.contact(&n.citizen_id).await?;
        let to_email = n.data.get(data_fields::TO_EMAIL).and_then(Value::as_str).map(str::to_owned);
        let mut n = n.clone();
        let (channels, email) = match to_email {
            // A confirmation goes to the address being confirmed, whatever the preferences.
            Some(address) => (n.channels.clone(), Some(address)),
            None => (contact.channels_for(&n).to_vec(), contact.email.clone()),
        };
        if let Some(token) = &contact.unsubscribe_token {
            let base = self.settings.public_base_url.trim_end_matches('/');
            let url = format!("{base}/v1/me/email/unsubscribe?token={token}&kind={}", n.kind);
            if !n.data.is_object() {
                n.data = json!({});
            }
            if let Value::Object(data) = &mut n.data {
                data.insert(data_fields::UNSUBSCRIBE_URL.into(), Value::String(url));
            }
        }
        let payload = serde_json::to_string(&n).map_err(|e| e.to_string())?;
        let now = now_ms();
        let mut planned = 0;
        for channel in &channels {
            let recipient = match channel.as_str() {
                "email" => email.clone(),
                "oa_template" => contact.oa_openid.clone(),
                "miniprogram" => contact.mp_openid.clone(),
                _ => None,
            };
            let Some(recipient) = recipient else { continue };
            planned += sqlx::query(
                "INSERT INTO notify_deliveries (notification_id, channel, recipient, status, attempts, next_attempt_at, \
                 payload, created_at, updated_at) VALUES ($1, $2, $3, 'pending', 0, $4, $5, $4, $4) \
                 ON CONFLICT (notification_id, channel, recipient) DO NOTHING",
            )
            .bind(&n.notification_id)
            .bind(channel)
            .bind(&recipient)
            .bind(now)
            .bind(&payload)
            .execute(&self.db.pool)
            .await
            .map_err(|e| e.to_string())?
            .rows_affected();
        }
        Ok(planned)
    }

    /// Sends every due delivery once; returns how many were attempted.
    pub async fn deliver_due(&self) -> Result<usize, sqlx::Error> {
        let now = now_ms();
        let rows = sqlx::query(
            "SELECT notification_id, channel, recipient, attempts, next_attempt_at, payload FROM notify_deliveries \
             WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT 100",
        )
        .bind(now)
        .fetch_all(&self.db.pool)
        .await?;
        let mut attempted = 0;
        for row in rows {
            let id: String = row.try_get("notification_id")?;
            let channel: String = row.try_get("channel")?;
            let recipient: String = row.try_get("recipient")?;
            let attempts: i64 = row.try_get("attempts")?;
            let due: i64 = row.try_get("next_attempt_at")?;
            let payload: String = row.try_get("payload")?;
            // Claim: push the due time a lease ahead; only the replica whose update matched sends.
            let claimed = sqlx::query(
                "UPDATE notify_deliveries SET next_attempt_at = $1 WHERE notification_id = $2 AND channel = $3 \
                 AND recipient = $4 AND status = 'pending' AND next_attempt_at = $5",
            )
            .bind(now + 60_000)
            .bind(&id)
            .bind(&channel)
            .bind(&recipient)
            .bind(due)
            .execute(&self.db.pool)
            .await?
            .rows_affected();
            if claimed != 1 {
                continue;
            }
            attempted += 1;
            let result = match serde_json::from_str::<Notification>(&payload) {
                Ok(n) => self.send(&channel, &recipient, &n).await,
                Err(e) => Err(SendError::Permanent(format!("payload: {e}"))),
            };
            self.record(&id, &channel, &recipient, attempts + 1, &payload, result).await?;
        }
        Ok(attempted)
    }

    async fn record(
        &self,
        id: &str,
        channel: &str,
        recipient: &str,
        attempts: i64,
        payload: &str,
        result: Result<(), SendError>,
    ) -> Result<(), sqlx::Error> {
        let now = now_ms();
        let retry_at = usize::try_from(attempts - 1)
            .ok()
            .and_then(|i| self.settings.retry_secs.get(i))
            .map(|secs| now + i64::try_from(*secs).unwrap_or(i64::MAX / 2) * 1000);
        let (status, next, error) = match result {
            Ok(()) => ("sent", now, None),
            Err(SendError::Retry(e)) => match retry_at {
                Some(at) => ("pending", at, Some(e)),
                None => ("dead", now, Some(e)),
            },
            Err(SendError::Permanent(e)) => ("dead", now, Some(e)),
        };
        if let Some(e) = &error {
            tracing::warn!(channel, attempts, status, error = %e, "notification delivery failed");
        }
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "UPDATE notify_deliveries SET status = $1, attempts = $2, next_attempt_at = $3, last_error = $4, \
             updated_at = $5 WHERE notification_id = $6 AND channel = $7 AND recipient = $8",
        )
        .bind(status)
        .bind(attempts)
        .bind(next)
        .bind(error.clone())
        .bind(now)
        .bind(id)
        .bind(channel)
        .bind(recipient)
        .execute(&mut *tx)
        .await?;
        if status == "dead" {
            sqlx::query(
                "INSERT INTO notify_dead_letters (notification_id, channel, recipient, attempts, last_error, payload, dead_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (notification_id, channel, recipient) DO NOTHING",
            )
            .bind(id)
            .bind(channel)
            .bind(recipient)
            .bind(attempts)
            .bind(error.unwrap_or_default())
            .bind(payload)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }

    async fn send(&self, channel: &str, recipient: &str, n: &Notification) -> Result<(), SendError> {
        match channel {
            "email" => {
                let subject = format!("{} / {}", n.title_zh, n.title_en);
                let unsubscribe = n.data.get(data_fields::UNSUBSCRIBE_URL).and_then(Value::as_str);
                let mut body = format!("{}\n\n{}\n\n---\n{}\n\n{}\n", n.title_zh, n.body_zh, n.title_en, n.body_en);
                if let Some(url) = unsubscribe {
                    body.push_str(&format!("\n---\n退订此类邮件 / Unsubscribe from these e-mails: {url}\n"));
                }
                Ok(self.mailer.send(&self.settings.from, recipient, &subject, &body, unsubscribe).await?)
            }
            "oa_template" => {
                let t = self
                    .template(&n.kind)
                    .ok_or_else(|| SendError::Permanent(format!("no template for {}", n.kind)))?;
                let body = json!({
                    "template_id": t.oa_template_id,
                    "client_msg_id": n.notification_id,
                    "data": template_data(t, n),
                });
                Ok(self.oa.send_template(recipient, body).await?)
            }
            "miniprogram" => {
                let t = self
                    .template(&n.kind)
                    .ok_or_else(|| SendError::Permanent(format!("no template for {}", n.kind)))?;
                if !self
                    .use_authorization(&n.citizen_id, &t.mp_template_id)
                    .await
                    .map_err(|e| SendError::Retry(e.to_string()))?
                {
                    return Err(SendError::Permanent("no subscribe-message authorization left".into()));
                }
                let body = json!({
                    "template_id": t.mp_template_id,
                    "page": t.page,
                    "miniprogram_state": "formal",
                    "lang": "zh_CN",
                    "data": template_data(t, n),
                });
                Ok(self.mp.send_subscribe(recipient, body).await?)
            }
            other => Err(SendError::Permanent(format!("unknown channel {other}"))),
        }
    }

    /// Uses one subscribe-message authorization, if the citizen has one left.
    async fn use_authorization(&self, citizen_id: &str, template_id: &str) -> Result<bool, sqlx::Error> {
        Ok(sqlx::query(
            "UPDATE wechat_subscriptions SET remaining = remaining - 1, updated_at = $1 \
             WHERE citizen_id = $2 AND template_id = $3 AND remaining > 0",
        )
        .bind(now_ms())
        .bind(citizen_id)
        .bind(template_id)
        .execute(&self.db.pool)
        .await?
        .rows_affected()
            == 1)
    }

    /// Every delivery of a notification (tests, staff views).
    pub async fn deliveries(&self, notification_id: &str) -> Result<Vec<Delivery>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT notification_id, channel, recipient, status, attempts FROM notify_deliveries \
             WHERE notification_id = $1 ORDER BY channel, recipient",
        )
        .bind(notification_id)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Delivery {
                    notification_id: r.try_get("notification_id")?,
                    channel: r.try_get("channel")?,
                    recipient: r.try_get("recipient")?,
                    status: r.try_get("status")?,
                    attempts: r.try_get("attempts")?,
                })
            })
            .collect()
    }

    /// Consumes `notify.requested` and delivers due rows every `interval`, until shutdown.
    pub fn spawn(self: Arc<Self>, bus: Arc<dyn city_platform::bus::EventBus>, interval: Duration, shutdown: Shutdown) {
        let this = self.clone();
        let handler: Handler = Arc::new(move |event: Event| {
            let this = this.clone();
            Box::pin(async move {
                let n: Notification = match serde_json::from_value(event.payload) {
                    Ok(n) => n,
                    Err(e) => {
                        // A malformed event will not get better; log it and move on.
                        tracing::error!(error = %e, event_id = %event.id, "malformed notify.requested event");
                        return Ok(());
                    }
                };
                this.accept(&n).await.map(drop).map_err(Into::into)
            })
        });
        bus.subscribe(TOPIC, "wechat-notify", handler, shutdown.clone());
        let mut shutdown = shutdown;
        tokio::spawn(async move {
            loop {
                if let Err(e) = self.deliver_due().await {
                    tracing::warn!(error = %e, "notification delivery pass failed");
                }
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = shutdown.wait() => break,
                }
            }
        });
    }
}

/// Template fields from the notification: `title_zh`, `body_zh`, or `data.<field>`.
fn template_data(t: &Template, n: &Notification) -> Value {
    let mut data = serde_json::Map::new();
    for (key, source) in &t.fields {
        let value = match source.as_str() {
            "title_zh" => n.title_zh.clone(),
            "body_zh" => n.body_zh.clone(),
            "title_en" => n.title_en.clone(),
            "body_en" => n.body_en.clone(),
            other => match other.strip_prefix("data.").map(|f| &n.data[f]) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(v) => v.to_string(),
            },
        };
        // `thing` values are limited to 20 characters.
        let value = if key.starts_with("thing") { value.chars().take(20).collect() } else { value };
        data.insert(key.clone(), json!({ "value": value }));
    }
    Value::Object(data)
}
