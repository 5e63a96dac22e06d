//! HTTP surface of the channel service (JSON); the XML callback is in [`crate::callback`].

use std::sync::Arc;

use city_platform::auth::CitizenAuth;
use city_platform::problem::{kind, ErrorKind, ErrorSet};
use city_platform::{Failure, IntoProblem, JsonBody, Problem};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};
use serde::Deserialize;

use crate::announcements::api::AnnouncementsApi;
use crate::conversations::api::{AgentsApi, ConversationsApi};
use crate::state::ChannelState;
use crate::subscriptions::{self, GrantError};

#[derive(Tags)]
pub(crate) enum ChannelTags {
    /// The WeChat Service Account channel: menu, messages, subscribe-message grants.
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

impl IntoProblem for GrantError {
    fn into_problem(self) -> Problem {
        match self {
            GrantError::Invalid { field, message } => Problem::invalid(field, message),
            GrantError::Store(e) => e.into_problem(),
        }
    }
}

impl ErrorSet for GrantError {
    fn kinds() -> Vec<&'static ErrorKind> {
        vec![&kind::VALIDATION]
    }
}

city_platform::error_set!(
    /// What recording subscribe-message grants can fail with: a staff token (403) or a bad
    /// template id (422).
    pub GrantErrors = [kind::FORBIDDEN] + GrantError
);

/// The JSON operations; [`ChannelApi`] describes them with the callback's.
struct JsonOps {
    state: Arc<ChannelState>,
}

// One `OpenApi` over the JSON operations and the callback's description; the callback is
// routed apart (`callback::routes`, mounted at `/wechat/callback` only), so it is not added here.
impl OpenApi for ChannelApi {
    fn meta() -> Vec<poem_openapi::registry::MetaApi> {
        <(
            JsonOps,
            crate::callback::CallbackApi,
            AnnouncementsApi,
            crate::export::ExportApi,
            ConversationsApi,
            AgentsApi,
            crate::links::LinksApi,
        )>::meta()
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        <(
            JsonOps,
            crate::callback::CallbackApi,
            AnnouncementsApi,
            crate::export::ExportApi,
            ConversationsApi,
            AgentsApi,
            crate::links::LinksApi,
        )>::register(registry)
    }

    fn add_routes(
        self,
        route_table: &mut std::collections::HashMap<
            String,
            std::collections::HashMap<poem::http::Method, poem::endpoint::BoxEndpoint<'static>>,
        >,
    ) {
        let announcements = AnnouncementsApi { announcements: self.state.announcements.clone() };
        let export = crate::export::ExportApi { state: self.state.clone() };
        let conversations = ConversationsApi { conversations: self.state.conversations.clone() };
        let agents = AgentsApi { conversations: self.state.conversations.clone() };
        let links = crate::links::LinksApi { state: self.state.clone() };
        (JsonOps { state: self.state }, announcements, export, conversations, agents, links).add_routes(route_table)
    }
}

#[OpenApi(prefix_path = "/wechat", tag = "ChannelTags::Wechat")]
impl JsonOps {
    /// Record subscribe-message authorizations
    ///
    /// Records what `wx.requestSubscribeMessage` accepted in the Mini Program: each accepted
    /// template allows one subscribe message to this citizen; each notification sent uses one.
    #[oai(path = "/subscriptions", method = "post", operation_id = "create_subscriptions")]
    async fn create_subscriptions(
        &self,
        CitizenAuth(citizen): CitizenAuth,
        body: JsonBody<SubscriptionGrant>,
    ) -> Result<Json<Vec<SubscriptionView>>, Failure<GrantErrors>> {
        let granted = subscriptions::grant(&self.state.db, &citizen.citizen_id, body.0.template_ids).await?;
        Ok(Json(
            granted
                .into_iter()
                .map(|g| SubscriptionView { template_id: g.template_id, remaining: g.remaining })
                .collect(),
        ))
    }
}
