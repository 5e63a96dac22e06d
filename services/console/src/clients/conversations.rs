//! The channel's `/v1/conversations` and `/v1/agents` (issue #20) as the agents' pages use
//! them, with the agent's own token: the channel decides who may see, accept, reply, transfer
//! and close, and the page shows its answers.

use serde_json::{json, Value};

use super::{enc, ok, ApiError, Services};
use crate::upstream::Call;

/// What an agent sends as a reply: their own words or a canned reply by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Free text.
    Text(String),
    /// A reply from the shared library.
    Canned(String),
}

impl Services {
    /// `GET /v1/agents/me`: the agent's status, groups and load.
    pub async fn agent_me(&self, token: &str) -> Result<Value, ApiError> {
        ok(self.send(Call::get("/v1/agents/me").bearer(token)).await?).map(|a| a.json())
    }

    /// `PUT /v1/agents/me/status` (`online` or `away`).
    pub async fn agent_status(&self, token: &str, status: &str) -> Result<Value, ApiError> {
        let call = Call {
            method: poem::http::Method::PUT,
            ..Call::post("/v1/agents/me/status", json!({ "status": status })).bearer(token)
        };
        ok(self.send(call).await?).map(|a| a.json())
    }

    /// `GET /v1/agents`: the pool, for transfers.
    pub async fn agents(&self, token: &str) -> Result<Vec<Value>, ApiError> {
        let list = ok(self.send(Call::get("/v1/agents").bearer(token)).await?)?.json();
        Ok(list["items"].as_array().cloned().unwrap_or_default())
    }

    /// `GET /v1/conversations?view=` (`mine`, `queue`, `all`), optionally of one `state`.
    pub async fn conversations(
        &self,
        token: &str,
        view: &str,
        state: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Value>, ApiError> {
        let mut path = format!("/v1/conversations?view={}&limit={limit}", enc(view));
        if let Some(state) = state {
            path.push_str(&format!("&state={}", enc(state)));
        }
        let page = ok(self.send(Call::get(path).bearer(token)).await?)?.json();
        Ok(page["items"].as_array().cloned().unwrap_or_default())
    }

    /// `GET /v1/conversations/{id}`: messages, transfers and the follower's context.
    pub async fn conversation(&self, token: &str, id: &str) -> Result<Value, ApiError> {
        ok(self.send(Call::get(format!("/v1/conversations/{}", enc(id))).bearer(token)).await?).map(|a| a.json())
    }

    /// `GET /v1/conversations/canned-replies`.
    pub async fn canned_replies(&self, token: &str) -> Result<Vec<Value>, ApiError> {
        let list = ok(self.send(Call::get("/v1/conversations/canned-replies").bearer(token)).await?)?.json();
        Ok(list["items"].as_array().cloned().unwrap_or_default())
    }

    /// `POST /v1/conversations/{id}/{action}` (`accept`, `transfer`, `close`, `template`).
    pub async fn conversation_action(
        &self,
        token: &str,
        id: &str,
        action: &str,
        body: Value,
    ) -> Result<Value, ApiError> {
        let call = Call::post(format!("/v1/conversations/{}/{action}", enc(id)), body).bearer(token);
        ok(self.send(call).await?).map(|a| a.json())
    }

    /// `POST /v1/conversations/{id}/messages`: the agent's reply, as a customer-service message.
    pub async fn reply(&self, token: &str, id: &str, reply: &Reply) -> Result<Value, ApiError> {
        let body = match reply {
            Reply::Text(text) => json!({ "text": text }),
            Reply::Canned(canned) => json!({ "canned_reply_id": canned }),
        };
        self.conversation_action(token, id, "messages", body).await
    }
}
