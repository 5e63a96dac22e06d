//! HTTP surface of the channel service (JSON); the XML callback is in [`crate::callback`].

use std::sync::Arc;

use city_platform::auth::CitizenAuth;
use city_platform::time::now_ms;
use city_platform::{JsonBody, Problem, ProblemResponse};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};
use serde::Deserialize;

use crate::ChannelState;

#[derive(Tags)]
enum ChannelTags {
    /// The WeChat Service Account channel: callback, menu, messages.
    Wechat,
}

/// The channel service's operations.
pub struct ChannelApi {
    state: Arc<ChannelState>,
}

impl ChannelApi {
    /// The API over shared state.
    pub fn new(state: Arc<ChannelState>) -> Self {
        Self { state }
    }

    /// The state behind the API (tests flush follower writes through it).
    pub fn state(&self) -> &Arc<ChannelState> {
        &self.state
    }
}

/// What `wx.requestSubscribeMessage` accepted.
#[derive(Debug, Object, Deserialize)]
pub struct SubscriptionGrant {
    /// The template ids the citizen accepted (one send each).
    pub template_ids: Vec<String>,
}

/// One template's remaining sends.
#[derive(Debug, Object)]
pub struct SubscriptionView {
    /// The subscribe-message template.
    pub template_id: String,
    /// Sends left.
    pub remaining: i64,
}

fn internal(e: impl std::fmt::Display) -> ProblemResponse {
    tracing::error!(error = %e, "channel store failed");
    Problem::internal().into()
}

#[OpenApi(prefix_path = "/wechat", tag = "ChannelTags::Wechat")]
impl ChannelApi {
    /// Record subscribe-message authorizations
    ///
    /// Records what `wx.requestSubscribeMessage` accepted in the Mini Program: each accepted
    /// template allows one subscribe message to this citizen; each notification sent uses one.
    #[oai(path = "/subscriptions", method = "post", operation_id = "create_subscriptions")]
    async fn create_subscriptions(
        &self,
        CitizenAuth(citizen): CitizenAuth,
        body: JsonBody<SubscriptionGrant>,
    ) -> Result<Json<Vec<SubscriptionView>>, ProblemResponse> {
        let ids = body.0.template_ids;
        if ids.is_empty() || ids.len() > 20 {
            return Err(Problem::invalid("template_ids", "1 to 20 template ids").into());
        }
        for (i, id) in ids.iter().enumerate() {
            if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(Problem::invalid(format!("template_ids[{i}]"), "a WeChat template id").into());
            }
        }
        let now = now_ms();
        let mut views = Vec::new();
        let mut tx = self.state.db.begin_write().await.map_err(internal)?;
        for id in ids {
            let remaining: i64 = sqlx::query_scalar(
                "INSERT INTO wechat_subscriptions (citizen_id, template_id, remaining, updated_at) VALUES ($1, $2, 1, $3) \
                 ON CONFLICT (citizen_id, template_id) DO UPDATE SET remaining = wechat_subscriptions.remaining + 1, \
                 updated_at = $3 RETURNING remaining",
            )
            .bind(&citizen.citizen_id)
            .bind(&id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(internal)?;
            views.push(SubscriptionView { template_id: id, remaining });
        }
        tx.commit().await.map_err(internal)?;
        Ok(Json(views))
    }
}
