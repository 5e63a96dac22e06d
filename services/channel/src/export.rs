//! `GET /v1/internal/channel/citizens/{id}/export` (issue #23): the channel's part of a
//! citizen's data export, for identity only (`X-Internal-Token`). Conversations and the
//! follower row are keyed by the Service Account openid, which only identity knows for a
//! citizen, so identity passes it along.

use std::sync::Arc;

use city_platform::auth::InternalAuth;
use city_platform::problem::kind;
use city_platform::time::{from_ms, rfc3339};
use city_platform::{error_set, Failure, Problem};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use crate::state::ChannelState;
use crate::store::export as store;

/// The Service Account follower, as the channel holds it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ExportFollower {
    /// Following now.
    pub subscribed: bool,
    /// When they followed (RFC 3339), if known.
    pub subscribed_at: Option<String>,
    /// Their last message or event (RFC 3339).
    pub last_interaction_at: String,
    /// Last reported location (GCJ-02), `[lat, lon]`.
    pub location: Option<Vec<f64>>,
}

/// A message of theirs the FAQ could not answer, kept for staff.
#[derive(Debug, Object)]
pub struct ExportConversation {
    /// Id.
    pub id: String,
    /// `text`, `voice`, ...
    pub msg_type: String,
    /// What they wrote.
    pub content: String,
    /// When (RFC 3339).
    pub received_at: String,
}

/// A Mini Program subscribe-message grant.
#[derive(Debug, Object)]
pub struct ExportGrant {
    /// The template.
    pub template_id: String,
    /// Sends left.
    pub remaining: i64,
}

/// The channel's part of a citizen's export.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ChannelCitizenExport {
    /// The follower row, when they follow (or followed) the Service Account.
    pub follower: Option<ExportFollower>,
    /// Their kept conversations, oldest first.
    pub conversations: Vec<ExportConversation>,
    /// Their subscribe-message grants.
    pub subscribe_grants: Vec<ExportGrant>,
}

error_set!(
    /// A malformed citizen id or openid.
    pub ExportErrors = [kind::VALIDATION]
);

/// WeChat openids and our ids are short and URL-safe; anything else is refused by name.
fn checked<'a>(field: &str, raw: &'a str) -> Result<&'a str, Problem> {
    let ok =
        !raw.is_empty() && raw.len() <= 128 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(raw)
    } else {
        Err(Problem::invalid(field, "1 to 128 letters, digits, '-' or '_'"))
    }
}

/// The channel's internal export.
pub(crate) struct ExportApi {
    pub(crate) state: Arc<ChannelState>,
}

#[OpenApi(tag = "crate::api::ChannelTags::Wechat")]
impl ExportApi {
    /// Internal: what the channel holds about a citizen
    ///
    /// For identity's `GET /v1/me/export`: the Service Account follower row and kept
    /// conversations of `oa_openid` (the citizen's, as identity knows it; none without it) and
    /// the citizen's subscribe-message grants. Needs `X-Internal-Token`.
    #[oai(
        path = "/v1/internal/channel/citizens/:citizen_id/export",
        method = "get",
        operation_id = "get_internal_channel_citizen_export"
    )]
    async fn export(
        &self,
        _auth: InternalAuth,
        /// The citizen id.
        citizen_id: Path<String>,
        /// The citizen's openid for the Service Account, if they have one.
        oa_openid: Query<Option<String>>,
    ) -> Result<Json<ChannelCitizenExport>, Failure<ExportErrors>> {
        let citizen_id = checked("citizen_id", &citizen_id.0)?;
        let openid = oa_openid.0.as_deref().map(|o| checked("oa_openid", o)).transpose()?;
        let db = &self.state.db;
        let (follower, conversations) = match openid {
            Some(openid) => (store::follower(db, openid).await?, store::conversations(db, openid).await?),
            None => (None, vec![]),
        };
        let grants = store::grants(db, citizen_id).await?;
        Ok(Json(ChannelCitizenExport {
            follower: follower.map(|f| ExportFollower {
                subscribed: f.subscribed,
                subscribed_at: f.subscribed_at.map(|at| rfc3339(from_ms(at))),
                last_interaction_at: rfc3339(from_ms(f.last_interaction_at)),
                location: f.location.map(|(lat, lon)| vec![lat, lon]),
            }),
            conversations: conversations
                .into_iter()
                .map(|c| ExportConversation {
                    id: c.id,
                    msg_type: c.msg_type,
                    content: c.content,
                    received_at: rfc3339(from_ms(c.received_at)),
                })
                .collect(),
            subscribe_grants: grants
                .into_iter()
                .map(|(template_id, remaining)| ExportGrant { template_id, remaining })
                .collect(),
        }))
    }
}
