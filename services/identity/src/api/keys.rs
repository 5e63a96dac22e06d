//! `/v1/staff/api-keys`: integrators' API keys (admins only; the key is shown once).

use std::sync::Arc;

use city_platform::auth::StaffAuth;
use city_platform::problem::kind;
use city_platform::{error_set, Failure, JsonBody};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;

use super::staff::StaffOnly;
use super::{admin_only, ms, Created, Done, IdentityTags};
use crate::admin;
use crate::state::IdentityState;
use crate::store::{self, ApiKeyRow};

/// An API key (never the key itself).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ApiKeyView {
    /// Id.
    pub id: String,
    /// The integrator.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<String>,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Revoked (RFC 3339), when it was.
    pub revoked_at: Option<String>,
}

/// An API key to create.
#[derive(Debug, Object, Deserialize)]
pub struct NewApiKeyRequest {
    /// The integrator's name.
    pub name: String,
    /// One to 20 of a fixed list: `open311` (file Open311 requests), `air-ingest` (push station
    /// readings), or `air-ingest:<station or network>` to bind a feed to what it feeds. Any
    /// other scope is refused (422 naming `scopes`).
    pub scopes: Vec<String>,
}

/// A new API key: shown this once.
#[derive(Debug, Object)]
pub struct NewApiKeyResponse {
    /// The key, for the `X-API-Key` header. Not stored; cannot be shown again.
    pub key: String,
    /// Its record.
    pub api_key: ApiKeyView,
}

fn key_view(k: ApiKeyRow) -> ApiKeyView {
    ApiKeyView {
        id: k.id,
        name: k.name,
        scopes: k.scopes,
        created_at: ms(k.created_at_ms),
        revoked_at: k.revoked_at_ms.map(ms),
    }
}

error_set!(
    /// Creating an API key (admins only): the name and scope rules.
    pub CreateKeyErrors = [kind::FORBIDDEN, kind::VALIDATION]
);
error_set!(
    /// Revoking an API key that may not exist or be live (admins only).
    pub RevokeKeyErrors = [kind::FORBIDDEN, kind::NOT_FOUND]
);

/// API keys.
pub(super) struct ApiKeysApi {
    pub(super) state: Arc<IdentityState>,
}

#[OpenApi(tag = "IdentityTags::Identity")]
impl ApiKeysApi {
    /// List API keys
    ///
    /// Admins only. Never shows the keys.
    #[oai(path = "/v1/staff/api-keys", method = "get", operation_id = "list_api_keys")]
    async fn list_keys(&self, auth: StaffAuth) -> Result<Json<Vec<ApiKeyView>>, Failure<StaffOnly>> {
        admin_only(&auth.0)?;
        Ok(Json(store::api_keys(&self.state.db).await?.into_iter().map(key_view).collect()))
    }

    /// Create an API key
    ///
    /// Admins only. The key is in this answer only. Audited.
    #[oai(path = "/v1/staff/api-keys", method = "post", operation_id = "create_api_key")]
    async fn create_key(
        &self,
        auth: StaffAuth,
        body: JsonBody<NewApiKeyRequest>,
    ) -> Result<Created<NewApiKeyResponse>, Failure<CreateKeyErrors>> {
        let actor = admin_only(&auth.0)?;
        let (key, row) = admin::create_api_key(&self.state.db, &actor, &body.0.name, &body.0.scopes).await?;
        Ok(Created::Created(Json(NewApiKeyResponse { key, api_key: key_view(row) })))
    }

    /// Revoke an API key
    ///
    /// Admins only. Takes effect at once. Audited.
    #[oai(path = "/v1/staff/api-keys/:key_id", method = "delete", operation_id = "delete_api_key")]
    async fn revoke_key(&self, auth: StaffAuth, key_id: Path<String>) -> Result<Done, Failure<RevokeKeyErrors>> {
        let actor = admin_only(&auth.0)?;
        admin::revoke_and_forget_api_key(&self.state, &actor, &key_id.0).await?;
        Ok(Done::NoContent)
    }
}
