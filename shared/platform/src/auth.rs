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
    /// Writes Service Account announcements and approves other editors' (issue #21).
    Editor,
    /// Answers citizens' Service Account conversations (issue #20); a clerk may hold it too.
    Agent,
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

/// The principal the edge's limiter already verified for this request's bearer token, kept in
/// the request's extensions (which only the server writes) so the operation's own check does
/// not ask the token store a second time (issue #24: a booking looked its token up thrice).
#[derive(Debug, Clone)]
pub struct VerifiedBearer {
    token: Arc<str>,
    principal: Principal,
}

impl VerifiedBearer {
    /// `principal`, verified for `token` by this request's edge.
    pub fn new(token: &str, principal: Principal) -> Self {
        Self { token: token.into(), principal }
    }
}

async fn principal(req: &Request, bearer: &Bearer) -> Result<Principal, poem::Error> {
    // Only for the very token the edge checked: a request carries one Authorization header.
    if let Some(v) = req.extensions().get::<VerifiedBearer>() {
        if *v.token == *bearer.token {
            return Ok(v.principal.clone());
        }
    }
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

/// The secret that services present to each other's internal endpoints (`/v1/internal/...`),
/// in the `X-Internal-Token` header. Kept as its SHA-256 so comparisons take the same time
/// whatever the guess, and the value itself stays in one place.
#[derive(Clone)]
pub struct InternalToken {
    value: Arc<str>,
    digest: [u8; 32],
}

impl std::fmt::Debug for InternalToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InternalToken(****)")
    }
}

/// The header an internal call carries its token in.
pub const INTERNAL_TOKEN_HEADER: &str = "x-internal-token";

impl InternalToken {
    /// The configured token, or a random one for this process when none is set (all-in-one,
    /// where every caller lives in the same process).
    pub fn from_settings(settings: &crate::config::Settings) -> Self {
        match &settings.internal_token {
            Some(secret) => Self::new(secret.expose()),
            None => {
                if settings.is_distributed() {
                    tracing::warn!(
                        "CITY_INTERNAL_TOKEN is unset: services running apart cannot call each other's internal endpoints"
                    );
                }
                Self::new(&crate::ids::token(32))
            }
        }
    }

    /// A token with this value.
    pub fn new(value: &str) -> Self {
        use sha2::{Digest, Sha256};
        Self { value: value.into(), digest: Sha256::digest(value.as_bytes()).into() }
    }

    /// The value, for the one place that sends it (a service's HTTP client of another).
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Whether `presented` is this token.
    pub fn matches(&self, presented: &str) -> bool {
        use sha2::{Digest, Sha256};
        let other: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.digest.iter().zip(other.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// A call from another City Services service (`X-Internal-Token`), for `/v1/internal/...`
/// endpoints that answer service-to-service questions (a follower's citizen, a citizen's next
/// appointment). Never given to citizens, staff or integrators.
#[derive(SecurityScheme)]
#[oai(
    ty = "api_key",
    key_in = "header",
    key_name = "X-Internal-Token",
    rename = "InternalToken",
    checker = "check_internal"
)]
pub struct InternalAuth(pub ());

async fn check_internal(req: &Request, key: ApiKey) -> poem::Result<()> {
    let expected = req.data::<InternalToken>().ok_or_else(|| {
        tracing::error!("no internal token in request data; the gateway must add one");
        poem::Error::from(Problem::internal())
    })?;
    if expected.matches(&key.key) {
        Ok(())
    } else {
        Err(Problem::unauthorized("the internal token is wrong").into())
    }
}

#[cfg(test)]
mod tests {
    use super::InternalToken;

    #[test]
    fn an_internal_token_matches_only_itself() {
        let token = InternalToken::new("s3cret-token");
        assert!(token.matches("s3cret-token"));
        assert!(!token.matches("s3cret-tokeN"));
        assert!(!token.matches(""));
        assert_eq!(format!("{token:?}"), "InternalToken(****)");
    }

    #[test]
    fn an_unset_token_is_random_per_process() {
        let settings = crate::config::Settings::default();
        let a = InternalToken::from_settings(&settings);
        let b = InternalToken::from_settings(&settings);
        assert_eq!(a.expose().len(), 64);
        assert_ne!(a.expose(), b.expose());
    }
}
