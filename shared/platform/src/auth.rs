//! The authorization toolkit every service uses: who is calling, and what may they do.
//!
//! The identity service owns credentials (tokens, passwords, API keys) and implements
//! [`Authenticator`]; the gateway puts one into every request's data (in-process when the
//! services run together, an HTTP client of identity when apart). Handlers ask through the
//! extractors: [`CitizenAuth`], [`StaffAuth`], [`ApiKeyAuth`], which are also the OpenAPI
//! security schemes. Roles and scopes are checked with [`Staff::require`].
//!
//! Invariant: no service other than identity sees a credential's stored form; they see a
//! [`Principal`] or a 401.

use std::sync::Arc;

use async_trait::async_trait;
use poem::Request;
use poem_openapi::auth::{ApiKey, Bearer};
use poem_openapi::SecurityScheme;
use serde::{Deserialize, Serialize};

use crate::problem::Problem;

/// A staff role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, poem_openapi::Enum)]
#[serde(rename_all = "snake_case")]
#[oai(rename_all = "snake_case")]
pub enum Role {
    /// Manages staff, API keys, stations; reads the audit log.
    Admin,
    /// Resolves incident tickets in their districts / agencies.
    Clerk,
    /// Publishes hospital schedules, checks patients in, stops sessions.
    Scheduler,
    /// Imports bills and fines, refunds, reconciles.
    Finance,
}

/// Where a staff member may act. Empty lists mean "none" except for admins, who act everywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scopes {
    /// District codes (`510104`).
    #[serde(default)]
    pub districts: Vec<String>,
    /// Agency ids (incident routing targets).
    #[serde(default)]
    pub agencies: Vec<String>,
    /// Hospital ids.
    #[serde(default)]
    pub hospitals: Vec<String>,
}

/// A signed-in citizen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citizen {
    /// The citizen's id (UUIDv7 text); never an openid.
    pub citizen_id: String,
    /// The session, so it can be revoked.
    pub session_id: String,
}

/// A signed-in staff member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Staff {
    /// The staff member's id.
    pub staff_id: String,
    /// Their sign-in name, for audit lines.
    pub username: String,
    /// Their roles.
    pub roles: Vec<Role>,
    /// Where they may act.
    pub scopes: Scopes,
    /// The session, so it can be revoked.
    pub session_id: String,
}

/// An integrator's API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Integrator {
    /// The key's id (not the key).
    pub key_id: String,
    /// The integrator's name, for audit lines.
    pub name: String,
    /// What the key may do, e.g. `air-ingest`, `open311`.
    pub scopes: Vec<String>,
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Principal {
    /// A citizen (Mini Program or Service Account sign-in).
    Citizen(Citizen),
    /// A staff member (password sign-in).
    Staff(Staff),
    /// An integrator (API key).
    Integrator(Integrator),
}

/// Checks credentials. Implemented by the identity service.
#[async_trait]
pub trait Authenticator: Send + Sync + 'static {
    /// The principal behind a bearer token, or `None` when it is unknown, expired or revoked.
    async fn bearer(&self, token: &str) -> Result<Option<Principal>, Problem>;
    /// The integrator behind an API key, or `None` when it is unknown or revoked.
    async fn api_key(&self, key: &str) -> Result<Option<Integrator>, Problem>;
}

/// The authenticator as request data.
pub type SharedAuthenticator = Arc<dyn Authenticator>;

impl Staff {
    /// Whether they hold `role` (admins hold every role).
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role) || self.roles.contains(&Role::Admin)
    }

    /// 403 unless they hold one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), Problem> {
        if roles.iter().any(|r| self.has_role(*r)) {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "this needs the role {}",
                roles.iter().map(|r| format!("{r:?}").to_lowercase()).collect::<Vec<_>>().join(" or ")
            )))
        }
    }

    /// Whether they may act in `district` (admins everywhere).
    pub fn may_act_in_district(&self, district: &str) -> bool {
        self.roles.contains(&Role::Admin) || self.scopes.districts.iter().any(|d| d == district)
    }

    /// Whether they may act for `agency`.
    pub fn may_act_for_agency(&self, agency: &str) -> bool {
        self.roles.contains(&Role::Admin) || self.scopes.agencies.iter().any(|a| a == agency)
    }

    /// Whether they may act at `hospital`.
    pub fn may_act_at_hospital(&self, hospital: &str) -> bool {
        self.roles.contains(&Role::Admin) || self.scopes.hospitals.iter().any(|h| h == hospital)
    }
}

impl Integrator {
    /// 403 unless the key carries `scope`.
    pub fn require(&self, scope: &str) -> Result<(), Problem> {
        if self.scopes.iter().any(|s| s == scope) {
            Ok(())
        } else {
            Err(Problem::forbidden(format!("this API key lacks the scope `{scope}`")))
        }
    }
}

fn authenticator(req: &Request) -> Result<&SharedAuthenticator, poem::Error> {
    req.data::<SharedAuthenticator>().ok_or_else(|| {
        tracing::error!("no authenticator in request data; the gateway must add one");
        Problem::internal().into()
    })
}

async fn principal(req: &Request, bearer: &Bearer) -> Result<Principal, poem::Error> {
    match authenticator(req)?.bearer(&bearer.token).await? {
        Some(p) => Ok(p),
        None => Err(Problem::unauthorized("the token is unknown, expired or revoked").into()),
    }
}

/// A citizen's bearer token (from `POST /v1/auth/miniprogram/login` or the Service Account
/// sign-in).
#[derive(SecurityScheme)]
#[oai(ty = "bearer", rename = "CitizenToken", checker = "check_citizen")]
pub struct CitizenAuth(pub Citizen);

async fn check_citizen(req: &Request, bearer: Bearer) -> poem::Result<Citizen> {
    match principal(req, &bearer).await? {
        Principal::Citizen(c) => Ok(c),
        _ => Err(Problem::forbidden("this needs a citizen's sign-in").into()),
    }
}

/// A staff member's bearer token (from `POST /v1/staff/sessions`).
#[derive(SecurityScheme)]
#[oai(ty = "bearer", rename = "StaffToken", checker = "check_staff")]
pub struct StaffAuth(pub Staff);

async fn check_staff(req: &Request, bearer: Bearer) -> poem::Result<Staff> {
    match principal(req, &bearer).await? {
        Principal::Staff(s) => Ok(s),
        _ => Err(Problem::forbidden("this needs a staff sign-in").into()),
    }
}

/// An integrator's API key in the `X-API-Key` header.
#[derive(SecurityScheme)]
#[oai(ty = "api_key", key_in = "header", key_name = "X-API-Key", rename = "ApiKey", checker = "check_api_key")]
pub struct ApiKeyAuth(pub Integrator);

async fn check_api_key(req: &Request, key: ApiKey) -> poem::Result<Integrator> {
    match authenticator(req)?.api_key(&key.key).await? {
        Some(i) => Ok(i),
        None => Err(Problem::unauthorized("the API key is unknown or revoked").into()),
    }
}
