//! `/v1/announcements`: handlers, DTOs and the problems of announcements. Every operation is
//! an editor's (staff with the `editor` role; admins hold every role).

use std::sync::Arc;

use city_platform::auth::StaffAuth;
use city_platform::problem::{kind, ErrorKind, ErrorSet, IntoProblem};
use city_platform::time::{from_ms, rfc3339};
use city_platform::{Failure, JsonBody, Problem};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::multipart::Upload;
use poem_openapi::{ApiResponse, Multipart, Object, OpenApi, Tags};
use serde::Deserialize;

use super::domain::Article;
use super::kinds::*;
use super::{AnnouncementError, AnnouncementRow, Announcements};

#[derive(Tags)]
enum AnnouncementTags {
    /// Service Account announcements: written by an editor, approved by another, broadcast once.
    Announcements,
}

/// The announcement operations.
pub struct AnnouncementsApi {
    pub(crate) announcements: Arc<Announcements>,
}

/// One article as the editor writes it.
#[derive(Debug, Clone, Object, Deserialize)]
pub struct ArticleInput {
    /// Title: 1 to 64 bytes (about 21 Chinese characters).
    #[oai(validator(min_length = 1, max_length = 64))]
    pub title: String,
    /// The summary under the title, up to 120 characters.
    #[oai(default, validator(max_length = 120))]
    #[serde(default)]
    pub digest: String,
    /// The text; each line becomes a paragraph.
    #[oai(validator(min_length = 1, max_length = 20000))]
    pub body: String,
    /// The cover's media id from `POST /v1/announcements/covers`.
    #[oai(validator(min_length = 1, max_length = 128))]
    pub cover_media_id: String,
}

/// A new announcement.
#[derive(Debug, Clone, Object, Deserialize)]
pub struct NewAnnouncement {
    /// 1 to `channel.announcements.max_articles` articles (a setting: 6 unless configured,
    /// never above 8, the bound checked here; the configured one is checked by the channel).
    #[oai(validator(min_items = 1, max_items = 8))]
    pub articles: Vec<ArticleInput>,
    /// A district code (`GET /v1/districts`): only followers last located there receive it.
    /// Absent: every follower.
    #[oai(validator(max_length = 12))]
    pub district: Option<String>,
    /// Urgent: not broadcast, but sent as a template message to each citizen concerned in the
    /// district (required): an appointment at one of its hospitals from today to 3 days ahead
    /// (Beijing), or an incident report still open there. Same two-person approval.
    #[oai(default)]
    #[serde(default)]
    pub urgent: bool,
}

/// Where a preview goes.
#[derive(Debug, Clone, Object, Deserialize)]
pub struct PreviewRequest {
    /// Your own openid for the Service Account (you must follow it).
    #[oai(validator(min_length = 1, max_length = 64))]
    pub openid: String,
}

/// A cover image.
#[derive(Debug, Multipart)]
pub struct CoverUpload {
    /// JPEG, PNG or GIF, at most 10 MB.
    pub cover: Upload,
}

/// An uploaded cover.
#[derive(Debug, Object)]
pub struct CoverView {
    /// Name it as an article's `cover_media_id`.
    pub cover_media_id: String,
}

/// WeChat's `MASSSENDJOBFINISH` totals.
#[derive(Debug, Object)]
pub struct JobTotalsView {
    /// WeChat's status, e.g. `send success`.
    pub status: String,
    /// Followers targeted.
    pub total_count: i64,
    /// Left after WeChat's filtering (the monthly limit among others).
    pub filter_count: i64,
    /// Delivered.
    pub sent_count: i64,
    /// Failed.
    pub error_count: i64,
    /// When the result arrived (RFC 3339, UTC).
    pub finished_at: String,
}

/// One article as stored.
#[derive(Debug, Object)]
pub struct ArticleView {
    /// Title.
    pub title: String,
    /// Summary.
    pub digest: String,
    /// Text.
    pub body: String,
    /// Cover media id.
    pub cover_media_id: String,
}

/// An announcement.
#[derive(Debug, Object)]
pub struct AnnouncementView {
    /// Its id.
    pub id: String,
    /// `pending` (awaiting a second editor), `approved`, `sending` or `sent`.
    pub status: String,
    /// The district it goes to; absent when it goes to every follower.
    #[oai(skip_serializing_if_is_none)]
    pub district: Option<String>,
    /// Urgent: template messages to the citizens concerned, never a broadcast.
    pub urgent: bool,
    /// Citizens an urgent one was sent to (a template message planned for each), once sent.
    #[oai(skip_serializing_if_is_none)]
    pub recipients: Option<i64>,
    /// The articles.
    pub articles: Vec<ArticleView>,
    /// Who wrote it.
    pub author: String,
    /// Who approved it.
    #[oai(skip_serializing_if_is_none)]
    pub approver: Option<String>,
    /// When it was written (RFC 3339, UTC).
    pub created_at: String,
    /// When it was approved.
    #[oai(skip_serializing_if_is_none)]
    pub approved_at: Option<String>,
    /// When WeChat accepted the broadcast.
    #[oai(skip_serializing_if_is_none)]
    pub sent_at: Option<String>,
    /// WeChat's job id.
    #[oai(skip_serializing_if_is_none)]
    pub msg_id: Option<i64>,
    /// Why the last send attempt failed (it may be sent again).
    #[oai(skip_serializing_if_is_none)]
    pub last_error: Option<String>,
    /// WeChat's totals, once the job finished.
    #[oai(skip_serializing_if_is_none)]
    pub totals: Option<JobTotalsView>,
}

fn at(ms: i64) -> String {
    rfc3339(from_ms(ms))
}

impl From<AnnouncementRow> for AnnouncementView {
    fn from(r: AnnouncementRow) -> Self {
        let articles: Vec<Article> = serde_json::from_str(&r.articles).unwrap_or_default();
        Self {
            id: r.id,
            status: r.status.as_str().to_owned(),
            district: Some(r.district).filter(|d| !d.is_empty()),
            urgent: r.urgent,
            recipients: r.recipients,
            articles: articles
                .into_iter()
                .map(|a| ArticleView {
                    title: a.title,
                    digest: a.digest,
                    body: a.body,
                    cover_media_id: a.cover_media_id,
                })
                .collect(),
            author: r.author_name,
            approver: r.approver_name,
            created_at: at(r.created_at),
            approved_at: r.approved_at.map(at),
            sent_at: r.sent_at.map(at),
            msg_id: r.msg_id,
            last_error: r.last_error.filter(|e| !e.is_empty()),
            totals: r.job.map(|j| JobTotalsView {
                status: j.status,
                total_count: j.total_count,
                filter_count: j.filter_count,
                sent_count: j.sent_count,
                error_count: j.error_count,
                finished_at: at(j.finished_at),
            }),
        }
    }
}

impl IntoProblem for AnnouncementError {
    fn into_problem(self) -> Problem {
        match self {
            AnnouncementError::Forbidden(why) => Problem::forbidden(why),
            AnnouncementError::Invalid(i) => Problem::invalid(i.field, i.message),
            AnnouncementError::NotFound => Problem::of(&UNKNOWN_ANNOUNCEMENT),
            AnnouncementError::OwnAnnouncement => Problem::of(&OWN_ANNOUNCEMENT),
            AnnouncementError::AlreadyDecided(s) => {
                Problem::of(&ANNOUNCEMENT_DECIDED).with_detail(format!("it is {}", s.as_str()))
            }
            AnnouncementError::NotApproved => Problem::of(&ANNOUNCEMENT_NOT_APPROVED),
            AnnouncementError::QuotaUsed => Problem::of(&BROADCAST_QUOTA_USED),
            AnnouncementError::NotFollowing => {
                Problem::of(&NOT_A_FOLLOWER).with_field("openid", "does not follow the Service Account")
            }
            AnnouncementError::BadMedia(why) => {
                tracing::info!(reason = %why, "wechat refused a cover");
                Problem::of(&BAD_COVER).with_field("cover", "not an image WeChat accepts")
            }
            AnnouncementError::Wechat(why) => {
                tracing::error!(reason = %why, "wechat refused an announcement call");
                Problem::unavailable("WeChat did not take the request; try again shortly")
            }
            AnnouncementError::Services(why) => {
                tracing::error!(reason = %why, "could not find whom an urgent announcement concerns");
                Problem::unavailable("the city's services did not answer; try again shortly")
            }
            AnnouncementError::Store(e) => e.into_problem(),
        }
    }
}

impl ErrorSet for AnnouncementError {
    fn kinds() -> Vec<&'static ErrorKind> {
        vec![&kind::FORBIDDEN, &kind::VALIDATION, &UNKNOWN_ANNOUNCEMENT]
    }
}

city_platform::error_set!(
    /// Uploading a cover: not an editor, or an image WeChat refuses.
    pub CoverErrors = [kind::FORBIDDEN, BAD_COVER]
);
city_platform::error_set!(
    /// Writing an announcement: not an editor, or a bad field.
    pub CreateErrors = [kind::FORBIDDEN, kind::VALIDATION]
);
city_platform::error_set!(
    /// Reading announcements.
    pub ReadErrors = [kind::FORBIDDEN, kind::VALIDATION, UNKNOWN_ANNOUNCEMENT]
);
city_platform::error_set!(
    /// Previewing: the openid does not follow, or WeChat refused the draft.
    pub PreviewErrors = [NOT_A_FOLLOWER, BAD_COVER] + AnnouncementError
);
city_platform::error_set!(
    /// Approving: the author's own, or decided already.
    pub ApproveErrors = [OWN_ANNOUNCEMENT, ANNOUNCEMENT_DECIDED] + AnnouncementError
);
city_platform::error_set!(
    /// Sending: not approved, or nobody targeted may receive another broadcast this month.
    pub SendErrors = [ANNOUNCEMENT_NOT_APPROVED, BROADCAST_QUOTA_USED, BAD_COVER] + AnnouncementError
);

/// A new announcement.
#[derive(ApiResponse)]
pub enum Created {
    /// Written; it awaits a second editor's approval.
    #[oai(status = 201)]
    Created(Json<AnnouncementView>),
}

/// A preview was sent.
#[derive(Debug, Object)]
pub struct PreviewView {
    /// Always true: WeChat took the preview.
    pub previewed: bool,
}

#[OpenApi(prefix_path = "/v1/announcements", tag = "AnnouncementTags::Announcements")]
impl AnnouncementsApi {
    /// Upload a cover image
    ///
    /// Uploads the image to WeChat as permanent material; name the answer's `cover_media_id`
    /// in an article. Editors only.
    #[oai(path = "/covers", method = "post", operation_id = "upload_announcement_cover")]
    async fn upload_cover(&self, auth: StaffAuth, body: CoverUpload) -> Result<Json<CoverView>, Failure<CoverErrors>> {
        let filename = body.cover.file_name().unwrap_or("cover.jpg").to_owned();
        let bytes = body.cover.into_vec().await.map_err(|e| Problem::malformed(Some("cover"), e.to_string()))?;
        let cover_media_id = self.announcements.upload_cover(&auth.0, &filename, &bytes).await?;
        Ok(Json(CoverView { cover_media_id }))
    }

    /// Write an announcement
    ///
    /// Up to the configured article limit (6 by default), to every follower or to a district's. It awaits a second editor's
    /// approval (`POST /v1/announcements/{id}/approve`). Editors only.
    #[oai(path = "/", method = "post", operation_id = "create_announcement")]
    async fn create_announcement(
        &self,
        auth: StaffAuth,
        body: JsonBody<NewAnnouncement>,
    ) -> Result<Created, Failure<CreateErrors>> {
        let new = body.0;
        let articles = new
            .articles
            .into_iter()
            .map(|a| Article { title: a.title, digest: a.digest, body: a.body, cover_media_id: a.cover_media_id })
            .collect();
        let row = self.announcements.create(&auth.0, articles, new.district, new.urgent).await?;
        Ok(Created::Created(Json(row.into())))
    }

    /// List announcements
    ///
    /// The latest first, with their state and, once WeChat finished, the totals. Editors only.
    #[oai(path = "/", method = "get", operation_id = "list_announcements")]
    async fn list_announcements(
        &self,
        auth: StaffAuth,
        /// How many (1 to 200; 50 by default).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<i64>>,
    ) -> Result<Json<Vec<AnnouncementView>>, Failure<ReadErrors>> {
        let rows = self.announcements.list(&auth.0, limit.0.unwrap_or(50)).await?;
        Ok(Json(rows.into_iter().map(Into::into).collect()))
    }

    /// Read an announcement
    #[oai(path = "/:id", method = "get", operation_id = "get_announcement")]
    async fn get_announcement(
        &self,
        auth: StaffAuth,
        id: Path<String>,
    ) -> Result<Json<AnnouncementView>, Failure<ReadErrors>> {
        Ok(Json(self.announcements.get(&auth.0, &id.0).await?.into()))
    }

    /// Preview an announcement
    ///
    /// Sends the articles to one follower, your own openid, to look at on your phone. A preview
    /// is not a broadcast and does not count towards the monthly limit. Editors only.
    #[oai(path = "/:id/preview", method = "post", operation_id = "preview_announcement")]
    async fn preview_announcement(
        &self,
        auth: StaffAuth,
        id: Path<String>,
        body: JsonBody<PreviewRequest>,
    ) -> Result<Json<PreviewView>, Failure<PreviewErrors>> {
        self.announcements.preview(&auth.0, &id.0, &body.0.openid).await?;
        Ok(Json(PreviewView { previewed: true }))
    }

    /// Approve an announcement
    ///
    /// A second editor, never the author, approves it for sending (recorded in the audit log).
    #[oai(path = "/:id/approve", method = "post", operation_id = "approve_announcement")]
    async fn approve_announcement(
        &self,
        auth: StaffAuth,
        id: Path<String>,
    ) -> Result<Json<AnnouncementView>, Failure<ApproveErrors>> {
        Ok(Json(self.announcements.approve(&auth.0, &id.0).await?.into()))
    }

    /// Send an announcement
    ///
    /// Broadcasts an approved announcement through WeChat, once: repeating the call (a double
    /// click, a retry) answers its state without sending again. WeChat skips followers who had
    /// their 4 broadcasts this month and refuses a send none of them may receive. An urgent one
    /// is not broadcast: each citizen concerned gets one template message (`recipients`).
    #[oai(path = "/:id/send", method = "post", operation_id = "send_announcement")]
    async fn send_announcement(
        &self,
        auth: StaffAuth,
        id: Path<String>,
    ) -> Result<Json<AnnouncementView>, Failure<SendErrors>> {
        Ok(Json(self.announcements.send(&auth.0, &id.0).await?.into()))
    }
}
