//! Announcements from the Service Account (`/v1/announcements`, issue #21): an editor writes up
//! to `channel.announcements.max_articles` (setting; 6) articles with covers, previews them to a follower's openid (their
//! own), a second editor approves (two-person rule, audited), and one send broadcasts them to
//! every follower or to a district's tag through WeChat (`draft/add`, then `mass/sendall`).
//! WeChat's `MASSSENDJOBFINISH` event brings the totals ([`record_job_finished`], from the
//! callback).
//!
//! Rooms: [`domain`] (article limits, states; pure), `crate::store::announcements` (SQL, audit
//! lines), `api` (handlers, DTOs, problems), [`kinds`] (error kinds); the use cases are below.
//!
//! Invariants: an announcement is broadcast at most once: the conditional update
//! approved → sending admits one sender whatever the clicks, retries or replicas, and the
//! announcement id is WeChat's `clientmsgid`, so a sender that died after WeChat took the send
//! is answered with the first job (45065) when the claim is taken over. The author never
//! approves their own announcement (the update's condition and a check constraint). District
//! tags at WeChat are kept equal to the followers whose last location is in the district; the
//! per-follower monthly limit is WeChat's to enforce (it filters, and refuses a send nobody may
//! receive with 45028).
//!
//! An urgent announcement (it names a district) is never broadcast: its send asks booking and
//! incidents who is concerned (an appointment at one of the district's hospitals in the next
//! [`URGENT_DAYS`] Beijing days, a report still open there) and plans one template message per
//! citizen through the notifier, under the id `announcement:<id>:urgent:<citizen>`, so a retry,
//! a double click or another replica plans nobody twice.

pub mod api;
pub mod domain;
pub mod kinds;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use city_notify::{Notification, Notifier};
use city_platform::auth::{Role, Staff};
use city_platform::cache::Cache;
use city_platform::coords::Gcj02;
use city_platform::ids::new_id;
use city_platform::time::now_ms;
use city_platform::{Db, Platform};
use city_wechat::client::{AccessTokens, ClientError, TokenStore, WechatClient};
use city_wechat::mass::{Audience, DraftArticle, MassClient};

use crate::followers::FollowerWriter;
use crate::services::CityServices;
use crate::store::announcements as store;

use domain::{Article, Invalid, Status};
pub use store::{AnnouncementRow, JobTotals};

/// Why an announcement operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AnnouncementError {
    /// The caller is not an editor.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A field is wrong.
    #[error("invalid {}: {}", .0.field, .0.message)]
    Invalid(Invalid),
    /// No announcement has this id.
    #[error("no such announcement")]
    NotFound,
    /// The author tried to approve their own announcement.
    #[error("the author cannot approve their own announcement")]
    OwnAnnouncement,
    /// It was approved (or sent) already.
    #[error("already {}", .0.as_str())]
    AlreadyDecided(Status),
    /// It has not been approved.
    #[error("not approved")]
    NotApproved,
    /// WeChat refused: every follower targeted had their broadcasts for the month (45028).
    #[error("no follower targeted may receive another broadcast this month")]
    QuotaUsed,
    /// The preview's openid does not follow the account (43004, 40003).
    #[error("that openid does not follow the Service Account")]
    NotFollowing,
    /// WeChat refused the cover (40005, 40009) or a draft's cover is unknown (40007).
    #[error("wechat refused the media: {0}")]
    BadMedia(String),
    /// WeChat could not be reached or refused otherwise.
    #[error("wechat: {0}")]
    Wechat(String),
    /// Booking, incidents or identity could not say who an urgent notice concerns.
    #[error("services: {0}")]
    Services(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

/// What the announcement handlers share.
pub struct Announcements {
    db: Db,
    platform: Platform,
    mass: MassClient<CacheStore>,
    followers: FollowerWriter,
    services: Arc<dyn CityServices>,
    notifier: Arc<Notifier>,
}

/// Beijing days after today whose appointments make a citizen concerned by an urgent notice.
pub const URGENT_DAYS: u32 = 3;

/// The platform cache as the WeChat token store (one Service Account token for every replica).
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

fn editor(staff: &Staff) -> Result<(), AnnouncementError> {
    staff.require(&[Role::Editor]).map_err(|p| AnnouncementError::Forbidden(p.detail.unwrap_or_default()))
}

fn wechat_error(e: ClientError) -> AnnouncementError {
    let code = match &e {
        ClientError::Wechat(w) => w.errcode(),
        _ => None,
    };
    match code {
        Some(45028) => AnnouncementError::QuotaUsed,
        Some(43004 | 40003) => AnnouncementError::NotFollowing,
        Some(40005 | 40007 | 40009) => AnnouncementError::BadMedia(e.to_string()),
        _ => AnnouncementError::Wechat(e.to_string()),
    }
}

impl Announcements {
    /// Over the channel's store, with the Service Account's broadcast calls at the configured base;
    /// urgent ones ask `services` who is concerned and go through `notifier`.
    pub fn new(
        db: Db,
        platform: Platform,
        followers: FollowerWriter,
        services: Arc<dyn CityServices>,
        notifier: Arc<Notifier>,
    ) -> Self {
        let s = &platform.settings;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
        let tokens = AccessTokens::new(
            WechatClient::new(s.wechat_api_base(), http),
            s.wechat.oa_appid.clone(),
            s.wechat.oa_secret.expose(),
            CacheStore(platform.cache.clone()),
        );
        let mass = MassClient::new(s.wechat_api_base(), tokens);
        Self { db, platform, mass, followers, services, notifier }
    }

    /// Uploads a cover image to WeChat; the media id articles name.
    pub async fn upload_cover(&self, staff: &Staff, filename: &str, bytes: &[u8]) -> Result<String, AnnouncementError> {
        editor(staff)?;
        // Refused here rather than by WeChat, so a bad file is a 422 and costs no call.
        if !domain::is_cover_image(bytes) {
            return Err(AnnouncementError::BadMedia("not a JPEG, PNG or GIF of at most 10 MB".into()));
        }
        self.mass.upload_image(filename, bytes).await.map_err(wechat_error)
    }

    /// Writes an announcement awaiting a second editor's approval.
    pub async fn create(
        &self,
        staff: &Staff,
        articles: Vec<Article>,
        district: Option<String>,
        urgent: bool,
    ) -> Result<AnnouncementRow, AnnouncementError> {
        editor(staff)?;
        let articles = domain::parse_articles(articles, self.platform.settings.channel.announcements.max_articles)
            .map_err(AnnouncementError::Invalid)?;
        let district = district.map(|d| d.trim().to_owned()).unwrap_or_default();
        if !district.is_empty() && self.platform.districts.get(&district).is_none() {
            return Err(AnnouncementError::Invalid(Invalid {
                field: "district".into(),
                message: "not a district code of this city (see GET /v1/districts)".into(),
            }));
        }
        if urgent && district.is_empty() {
            return Err(AnnouncementError::Invalid(Invalid {
                field: "district".into(),
                message: "an urgent announcement goes to those concerned in one district: name it".into(),
            }));
        }
        let id = new_id();
        let json = serde_json::to_string(&articles).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        store::insert(&self.db, staff, &id, &json, &district, urgent, now_ms()).await?;
        tracing::info!(announcement_id = %id, "announcement {id} written by {}", staff.username);
        self.get(staff, &id).await
    }

    /// One announcement.
    pub async fn get(&self, staff: &Staff, id: &str) -> Result<AnnouncementRow, AnnouncementError> {
        editor(staff)?;
        store::get(&self.db, id).await?.ok_or(AnnouncementError::NotFound)
    }

    /// The latest announcements.
    pub async fn list(&self, staff: &Staff, limit: i64) -> Result<Vec<AnnouncementRow>, AnnouncementError> {
        editor(staff)?;
        Ok(store::list(&self.db, limit).await?)
    }

    /// A second editor approves (audited); never the author.
    #[tracing::instrument(skip_all, fields(announcement_id = %id))]
    pub async fn approve(&self, staff: &Staff, id: &str) -> Result<AnnouncementRow, AnnouncementError> {
        editor(staff)?;
        if store::approve(&self.db, staff, id, now_ms()).await? {
            return self.get(staff, id).await;
        }
        let row = store::get(&self.db, id).await?.ok_or(AnnouncementError::NotFound)?;
        Err(if row.status != Status::Pending {
            AnnouncementError::AlreadyDecided(row.status)
        } else {
            AnnouncementError::OwnAnnouncement
        })
    }

    /// Sends the articles to one follower to look at (WeChat's preview; not counted as a broadcast).
    #[tracing::instrument(skip_all, fields(announcement_id = %id))]
    pub async fn preview(&self, staff: &Staff, id: &str, openid: &str) -> Result<(), AnnouncementError> {
        editor(staff)?;
        let openid = openid.trim();
        if openid.is_empty()
            || openid.len() > 64
            || !openid.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(AnnouncementError::Invalid(Invalid {
                field: "openid".into(),
                message: "your openid for the Service Account".into(),
            }));
        }
        let row = store::get(&self.db, id).await?.ok_or(AnnouncementError::NotFound)?;
        let draft = self.draft(&row).await?;
        self.mass.preview(openid, &draft).await.map_err(wechat_error)
    }

    /// Broadcasts an approved announcement, once: a second call (a double click, a retry, another
    /// replica) answers the announcement as it stands without sending again.
    #[tracing::instrument(skip_all, fields(announcement_id = %id))]
    pub async fn send(&self, staff: &Staff, id: &str) -> Result<AnnouncementRow, AnnouncementError> {
        editor(staff)?;
        let row = store::get(&self.db, id).await?.ok_or(AnnouncementError::NotFound)?;
        if row.status == Status::Pending {
            return Err(AnnouncementError::NotApproved);
        }
        if !store::claim_send(&self.db, id, now_ms()).await? {
            return self.get(staff, id).await;
        }
        if row.urgent {
            return match self.notify_concerned(&row).await {
                Ok(recipients) => {
                    store::mark_urgent_sent(&self.db, staff, id, recipients, now_ms()).await?;
                    tracing::info!(recipients, "urgent announcement {id} planned for {recipients} citizens");
                    self.get(staff, id).await
                }
                Err(e) => {
                    tracing::warn!(error = %e, "urgent announcement {id} not sent");
                    store::release(&self.db, id, &e.to_string()).await?;
                    Err(e)
                }
            };
        }
        match self.broadcast(&row).await {
            Ok(msg_id) => {
                store::mark_sent(&self.db, staff, id, msg_id, now_ms()).await?;
                tracing::info!(msg_id, "announcement {id} broadcast as WeChat job {msg_id}");
                self.get(staff, id).await
            }
            Err(e) => {
                tracing::warn!(error = %e, "announcement {id} not sent");
                store::release(&self.db, id, &e.to_string()).await?;
                Err(e)
            }
        }
    }

    /// Plans one template message per citizen concerned by urgent `row`; how many citizens have
    /// one planned.
    async fn notify_concerned(&self, row: &AnnouncementRow) -> Result<i64, AnnouncementError> {
        let unavailable = |e: crate::services::ServiceError| AnnouncementError::Services(e.to_string());
        let (patients, reporters) = tokio::join!(
            self.services.district_patients(&row.district, URGENT_DAYS),
            self.services.district_reporters(&row.district)
        );
        let concerned: BTreeSet<String> =
            patients.map_err(unavailable)?.into_iter().chain(reporters.map_err(unavailable)?).collect();
        let articles: Vec<Article> =
            serde_json::from_str(&row.articles).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        let Some(first) = articles.first() else { return Ok(0) };
        let digest = domain::notice_digest(first);
        for citizen_id in &concerned {
            let n = Notification {
                notification_id: format!("{}{citizen_id}", store::urgent_notification_prefix(&row.id)),
                citizen_id: citizen_id.clone(),
                kind: "announcement.urgent".into(),
                title_zh: first.title.clone(),
                title_en: first.title.clone(),
                body_zh: digest.clone(),
                body_en: digest.clone(),
                data: serde_json::json!({"announcement_id": row.id, "title": first.title, "digest": digest}),
                channels: vec!["oa_template".into()],
            };
            self.notifier.accept(&n).await.map_err(AnnouncementError::Services)?;
        }
        Ok(store::urgent_recipients(&self.db, &row.id).await?)
    }

    async fn draft(&self, row: &AnnouncementRow) -> Result<String, AnnouncementError> {
        let articles: Vec<Article> =
            serde_json::from_str(&row.articles).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        let drafts: Vec<DraftArticle> = articles
            .into_iter()
            .map(|a| DraftArticle {
                title: a.title,
                digest: a.digest,
                content: domain::body_html(&a.body),
                thumb_media_id: a.cover_media_id,
            })
            .collect();
        self.mass.add_draft(&drafts).await.map_err(wechat_error)
    }

    async fn broadcast(&self, row: &AnnouncementRow) -> Result<i64, AnnouncementError> {
        let audience = if row.district.is_empty() {
            Audience::All
        } else {
            Audience::Tag(self.sync_district_tag(&row.district).await?)
        };
        let draft = self.draft(row).await?;
        self.mass.send_all(audience, &draft, &row.id).await.map_err(wechat_error)
    }

    /// Makes the district's WeChat tag hold exactly the followers last located in it; its id.
    pub async fn sync_district_tag(&self, district: &str) -> Result<i64, AnnouncementError> {
        let tag_id = match store::district_tag(&self.db, district).await? {
            Some(id) => id,
            None => {
                let id = self.mass.ensure_tag(&domain::district_tag_name(district)).await.map_err(wechat_error)?;
                store::set_district_tag(&self.db, district, id).await?;
                store::district_tag(&self.db, district).await?.unwrap_or(id)
            }
        };
        // Locations this replica has queued are stored first, so a follower who just shared
        // theirs is in the tag.
        self.followers.flush().await;
        let districts = &self.platform.districts;
        let wanted: BTreeSet<String> = store::located_followers(&self.db)
            .await?
            .into_iter()
            .filter(|(_, lat, lon)| {
                Gcj02::parse(*lat, *lon)
                    .ok()
                    .and_then(|p| districts.locate(p.to_wgs84()))
                    .is_some_and(|d| d.code == district)
            })
            .map(|(openid, _, _)| openid)
            .collect();
        let tagged: BTreeSet<String> = store::tag_members(&self.db, district).await?.into_iter().collect();
        let added: Vec<String> = wanted.difference(&tagged).cloned().collect();
        let removed: Vec<String> = tagged.difference(&wanted).cloned().collect();
        self.mass.tag_followers(tag_id, &added).await.map_err(wechat_error)?;
        if let Err(e) = self.mass.untag_followers(tag_id, &removed).await {
            // One who unfollowed cannot be untagged (40003); WeChat sends them nothing anyway.
            tracing::warn!(error = %e, "some followers could not be untagged from district {district}");
        }
        store::change_tag_members(&self.db, district, &added, &removed).await?;
        Ok(tag_id)
    }
}

/// Records WeChat's `MASSSENDJOBFINISH` totals for job `msg_id` (a repeat changes nothing).
pub async fn record_job_finished(db: &Db, msg_id: u64, totals: JobTotals) {
    let Ok(msg_id) = i64::try_from(msg_id) else { return };
    match store::record_job(db, msg_id, &totals).await {
        Ok(()) => tracing::info!(msg_id, sent = totals.sent_count, "broadcast job {msg_id} finished"),
        Err(e) => tracing::error!(error = %e, msg_id, "could not record a broadcast job's totals"),
    }
}
