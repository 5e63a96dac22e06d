//! HTTP surface of the identity service.

use std::sync::Arc;
use std::time::Duration;

use city_platform::auth::{CitizenAuth, InternalAuth, Principal, Role, Scopes, StaffAuth};
use city_platform::time::{city_date, from_ms, rfc3339};
use city_platform::{JsonBody, Problem, ProblemResponse};
use city_wechat::client::authorize_url;
use poem::http::StatusCode;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, SecurityScheme, Tags};
use serde::{Deserialize, Serialize};

use crate::admin::{self, Actor, NewStaff};
use crate::domain::id_number::IdNumber;
use crate::domain::{credential, mask};
use crate::store::{self, AddPersonError, ApiKeyRow, CitizenRow, NewPerson, PersonRow, StaffRow};
use crate::{wechat, IdentityState};

#[derive(Tags)]
enum IdentityTags {
    /// Sign-in, your profile and family members, staff sessions, API keys, the audit log.
    Identity,
}

/// The identity service's operations.
pub struct IdentityApi {
    state: Arc<IdentityState>,
}

impl IdentityApi {
    /// The API over shared state.
    pub fn new(state: Arc<IdentityState>) -> Self {
        Self { state }
    }
}

/// At most this many family members per citizen.
pub const MAX_PEOPLE: i64 = 5;
/// Consecutive failed staff sign-ins that lock the account.
pub const LOCKOUT_THRESHOLD: i64 = 5;
/// How long a locked account stays locked.
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// The OAuth browser-binding cookie.
const OAUTH_COOKIE: &str = "city_oauth";
/// How long an OAuth `state` waits for its callback.
const OAUTH_STATE_TTL: Duration = Duration::from_secs(600);

/// A WeChat code from the client (`wx.login`, the phone button, or a Service Account OAuth code).
#[derive(Debug, Object, Deserialize)]
pub struct CodeRequest {
    /// The code, single use, valid five minutes.
    #[oai(validator(min_length = 1, max_length = 256))]
    pub code: String,
}

/// A citizen as they see themselves. No openid, ever.
#[derive(Debug, Object)]
pub struct CitizenView {
    /// The citizen id (UUIDv7), the same through every app when WeChat gives a unionid.
    pub id: String,
    /// The bound phone, masked (`138****8000`).
    pub phone_masked: Option<String>,
    /// Signed in through the Mini Program at least once.
    pub miniprogram: bool,
    /// Signed in through the Service Account at least once.
    pub service_account: bool,
    /// First seen (RFC 3339).
    pub created_at: String,
}

/// A new citizen session.
#[derive(Debug, Object)]
pub struct CitizenSession {
    /// The bearer token: `Authorization: Bearer <token>`.
    pub token: String,
    /// When it stops working (RFC 3339).
    pub expires_at: String,
    /// Who signed in.
    pub citizen: CitizenView,
    /// Where the browser should go next (Service Account sign-in only).
    #[oai(skip_serializing_if_is_none)]
    pub redirect: Option<String>,
}

/// The OAuth redirect to WeChat's consent page.
#[derive(ApiResponse)]
enum AuthorizeResponse {
    /// Go to WeChat; it comes back to `/v1/auth/oa/callback` with a code and this `state`.
    #[oai(status = 302)]
    Found(#[oai(header = "Location")] String, #[oai(header = "Set-Cookie")] String),
}

/// A credential to check.
#[derive(Debug, Object, Deserialize)]
pub struct IntrospectRequest {
    /// A bearer token.
    pub token: Option<String>,
    /// An API key.
    pub api_key: Option<String>,
}

/// Whether the credential given is live, and whose it is (nothing about any other credential).
#[derive(Debug, Object)]
pub struct IntrospectResponse {
    /// Live or not.
    pub active: bool,
    /// The principal behind the token (`kind`: `citizen` / `staff`).
    pub principal: Option<serde_json::Value>,
    /// The integrator behind the API key.
    pub integrator: Option<serde_json::Value>,
    /// When the session ends (UTC ms).
    pub expires_at_ms: Option<i64>,
}

/// How a family member relates to the citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Serialize, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// The citizen themself.
    #[oai(rename = "self")]
    #[serde(rename = "self")]
    Myself,
    /// Husband or wife.
    Spouse,
    /// Father or mother.
    Parent,
    /// Son or daughter.
    Child,
    /// Brother or sister.
    Sibling,
    /// Anyone else.
    Other,
}

impl Relation {
    fn as_str(self) -> &'static str {
        match self {
            Relation::Myself => "self",
            Relation::Spouse => "spouse",
            Relation::Parent => "parent",
            Relation::Child => "child",
            Relation::Sibling => "sibling",
            Relation::Other => "other",
        }
    }
}

/// A family member to add (就诊人).
#[derive(Debug, Object, Deserialize)]
pub struct NewPersonRequest {
    /// Real name as on the ID card.
    #[oai(validator(min_length = 1, max_length = 50))]
    pub name: String,
    /// Resident ID number (GB 11643, 18 characters).
    pub id_number: String,
    /// Relation to you.
    pub relation: Relation,
    /// Mainland mobile number.
    pub phone: Option<String>,
}

/// A family member, masked.
#[derive(Debug, Object)]
pub struct PersonView {
    /// Id.
    pub id: String,
    /// `张*`.
    pub name_masked: String,
    /// Relation to the citizen.
    pub relation: String,
    /// `male` or `female`, from the ID number.
    pub sex: String,
    /// `YYYY-MM-DD`, from the ID number.
    pub birth_date: String,
    /// `110***********002X`.
    pub id_number_masked: String,
    /// Hex HMAC-SHA256 of the ID number under a server key: stable, not reversible.
    pub id_number_hash: String,
    /// `138****8000`.
    pub phone_masked: Option<String>,
    /// Added (RFC 3339).
    pub created_at: String,
}

/// A created resource.
#[derive(ApiResponse)]
enum Created<T: poem_openapi::types::ToJSON> {
    /// Created.
    #[oai(status = 201)]
    Created(Json<T>),
}

/// Nothing to say.
#[derive(ApiResponse)]
enum Done {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}

/// Staff sign-in.
#[derive(Debug, Object, Deserialize)]
pub struct StaffLoginRequest {
    /// Sign-in name.
    #[oai(validator(min_length = 1, max_length = 64))]
    pub username: String,
    /// Password.
    #[oai(validator(min_length = 1, max_length = 1024))]
    pub password: String,
}

/// Where a staff member may act.
#[derive(Debug, Clone, Default, Object, Deserialize)]
pub struct ScopesView {
    /// District codes (`510104`).
    #[oai(default)]
    #[serde(default)]
    pub districts: Vec<String>,
    /// Agency ids.
    #[oai(default)]
    #[serde(default)]
    pub agencies: Vec<String>,
    /// Hospital ids.
    #[oai(default)]
    #[serde(default)]
    pub hospitals: Vec<String>,
}

impl From<Scopes> for ScopesView {
    fn from(s: Scopes) -> Self {
        Self { districts: s.districts, agencies: s.agencies, hospitals: s.hospitals }
    }
}

impl From<ScopesView> for Scopes {
    fn from(s: ScopesView) -> Self {
        Self { districts: s.districts, agencies: s.agencies, hospitals: s.hospitals }
    }
}

/// A staff member.
#[derive(Debug, Object)]
pub struct StaffView {
    /// Id.
    pub id: String,
    /// Sign-in name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Where they may act.
    pub scopes: ScopesView,
    /// Disabled members cannot sign in.
    pub disabled: bool,
    /// Locked after repeated failures until then (RFC 3339).
    pub locked_until: Option<String>,
    /// Created (RFC 3339).
    pub created_at: String,
}

/// A new staff session.
#[derive(Debug, Object)]
pub struct StaffSession {
    /// The bearer token.
    pub token: String,
    /// When it stops working (RFC 3339).
    pub expires_at: String,
    /// Who signed in.
    pub staff: StaffView,
}

/// A staff member to create.
#[derive(Debug, Object, Deserialize)]
pub struct NewStaffRequest {
    /// 3-64 of `a-z 0-9 . _ -`.
    pub username: String,
    /// Shown in the back office; the username when absent.
    #[oai(default)]
    #[serde(default)]
    pub display_name: String,
    /// At least 10 characters.
    pub password: String,
    /// One or more roles.
    pub roles: Vec<Role>,
    /// Where they may act.
    #[oai(default)]
    #[serde(default)]
    pub scopes: ScopesView,
}

/// An API key (never the key itself).
#[derive(Debug, Object)]
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
    /// Scopes such as `air-ingest`, `open311`.
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

/// One audited action.
#[derive(Debug, Object)]
pub struct AuditView {
    /// Entry id.
    pub id: String,
    /// Staff id (or `cli`).
    pub actor_id: String,
    /// Their username then.
    pub actor_name: String,
    /// The service.
    pub service: String,
    /// `<verb>_<resource>`.
    pub action: String,
    /// What was acted on.
    pub target: String,
    /// State before.
    pub before: Option<serde_json::Value>,
    /// State after.
    pub after: Option<serde_json::Value>,
    /// The request.
    pub request_id: Option<String>,
    /// When (RFC 3339).
    pub at: String,
    /// When (UTC ms), for paging with `before`.
    pub at_ms: i64,
}

/// The citizen behind a Service Account follower (internal).
#[derive(Debug, Object)]
pub struct IdentityOaFollower {
    /// The citizen id.
    pub citizen_id: String,
}

/// Where a citizen can be reached (internal; openids leave identity only this way, to the
/// channel service that delivers notifications).
#[derive(Debug, Object)]
pub struct IdentityCitizenContacts {
    /// A verified e-mail address (identity keeps none yet: null).
    pub email: Option<String>,
    /// The citizen's openid for the Service Account, if they signed in through it.
    pub oa_openid: Option<String>,
    /// The citizen's openid for the Mini Program, if they signed in through it.
    pub mp_openid: Option<String>,
}

/// An openid or citizen id from a path: WeChat openids and our UUIDs are short and URL-safe;
/// anything else is refused naming the parameter, before it reaches SQL or logs.
fn wechat_id<'a>(field: &str, raw: &'a str) -> Result<&'a str, Problem> {
    let ok =
        !raw.is_empty() && raw.len() <= 128 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(raw)
    } else {
        Err(Problem::invalid(field, "1 to 128 letters, digits, '-' or '_'"))
    }
}

/// Anyone signed in with a bearer token.
#[derive(SecurityScheme)]
enum AnyToken {
    Citizen(CitizenAuth),
    Staff(StaffAuth),
}

type R<T> = Result<T, ProblemResponse>;

fn ms(at: i64) -> String {
    rfc3339(from_ms(at))
}

fn citizen_view(c: CitizenRow, state: &IdentityState) -> CitizenView {
    let w = &state.wechat;
    CitizenView {
        miniprogram: c.appids.contains(&w.mp_appid),
        service_account: c.appids.contains(&w.oa_appid),
        id: c.id,
        phone_masked: c.phone_masked,
        created_at: ms(c.created_at_ms),
    }
}

fn person_view(p: PersonRow) -> PersonView {
    PersonView {
        id: p.id,
        name_masked: p.name_masked,
        relation: p.relation,
        sex: p.sex,
        birth_date: p.birth_date,
        id_number_masked: p.id_number_masked,
        id_number_hash: p.id_number_hash,
        phone_masked: p.phone_masked,
        created_at: ms(p.created_at_ms),
    }
}

fn staff_view(s: StaffRow) -> StaffView {
    StaffView {
        locked_until: (s.locked_until_ms > city_platform::time::now_ms()).then(|| ms(s.locked_until_ms)),
        id: s.id,
        username: s.username,
        display_name: s.display_name,
        roles: s.roles,
        scopes: s.scopes.into(),
        disabled: s.disabled,
        created_at: ms(s.created_at_ms),
    }
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

fn admin_only(staff: &city_platform::auth::Staff) -> Result<Actor, Problem> {
    staff.require(&[Role::Admin])?;
    Ok(Actor { id: staff.staff_id.clone(), name: staff.username.clone() })
}

/// Only same-site paths: never another host (no open redirect).
fn safe_redirect(redirect: Option<String>) -> Result<String, Problem> {
    match redirect {
        None => Ok("/".into()),
        Some(r) if r.starts_with('/') && !r.starts_with("//") && !r.contains('\\') && r.len() <= 512 => Ok(r),
        Some(_) => Err(Problem::invalid("redirect", "a path on this site, starting with a single '/'")),
    }
}

impl IdentityApi {
    async fn citizen_session(&self, citizen_id: &str, redirect: Option<String>) -> R<Json<CitizenSession>> {
        let s = &self.state;
        let ttl = Duration::from_secs(s.platform.settings.identity.citizen_session_secs);
        let issued = s.sessions.issue(store::CITIZEN, citizen_id, ttl).await?;
        let citizen = store::citizen(&s.db, citizen_id).await?.ok_or_else(Problem::internal)?;
        Ok(Json(CitizenSession {
            token: issued.token,
            expires_at: ms(issued.expires_at_ms),
            citizen: citizen_view(citizen, s),
            redirect,
        }))
    }

    /// The Service Account identity behind an OAuth code: (openid, unionid).
    async fn oauth_identity(&self, code: &str) -> Result<(String, Option<String>), Problem> {
        let w = &self.state.wechat;
        let token = w
            .client
            .oauth_access_token(&w.oa_appid, w.oa_secret.expose(), code)
            .await
            .map_err(|e| wechat::problem(e, "code"))?;
        if token.is_snapshotuser == Some(1) {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                "wechat-snapshot-user",
                "Open the page in WeChat to sign in",
            )
            .with_detail("the page was shown in snapshot mode; the user has not authorised it"));
        }
        let mut unionid = token.unionid.clone();
        if unionid.is_none() && token.scope == "snsapi_userinfo" {
            let info =
                w.client.userinfo(&token.access_token, &token.openid).await.map_err(|e| wechat::problem(e, "code"))?;
            unionid = info.unionid;
        }
        Ok((token.openid, unionid))
    }
}

#[OpenApi(tag = "IdentityTags::Identity")]
impl IdentityApi {
    /// Sign in from the Mini Program
    ///
    /// Exchanges a `wx.login` code with WeChat, finds or creates the citizen (the same one for
    /// the same unionid through any of our apps) and returns a bearer token. A used or expired
    /// code answers 400 with `type` `/problems/wechat-code-used` or `/problems/wechat-invalid-code`.
    #[oai(path = "/v1/auth/miniprogram/login", method = "post", operation_id = "create_miniprogram_session")]
    async fn miniprogram_login(&self, body: JsonBody<CodeRequest>) -> R<Json<CitizenSession>> {
        let w = &self.state.wechat;
        let session = w
            .client
            .code_to_session(&w.mp_appid, w.mp_secret.expose(), body.0.code.trim())
            .await
            .map_err(|e| wechat::problem(e, "code"))?;
        let citizen_id =
            store::find_or_create_citizen(&self.state.db, &w.mp_appid, &session.openid, session.unionid.as_deref())
                .await?;
        self.citizen_session(&citizen_id, None).await
    }

    /// Start the Service Account sign-in
    ///
    /// Redirects the browser to WeChat's consent page with a `state` bound to this browser by a
    /// cookie; WeChat comes back to `/v1/auth/oa/callback`. `redirect` is the page (a path on
    /// this site) to show afterwards.
    #[oai(path = "/v1/auth/oa/authorize", method = "get", operation_id = "start_service_account_sign_in")]
    async fn oa_authorize(
        &self,
        /// A path on this site to return to, e.g. `/h5/bookings`.
        redirect: Query<Option<String>>,
        /// `snsapi_base` (silent) or `snsapi_userinfo` (default; gives the unionid).
        scope: Query<Option<String>>,
    ) -> Result<AuthorizeResponse, ProblemResponse> {
        let redirect = safe_redirect(redirect.0)?;
        let scope = match scope.0.as_deref() {
            None | Some("snsapi_userinfo") => "snsapi_userinfo",
            Some("snsapi_base") => "snsapi_base",
            Some(_) => return Err(Problem::invalid("scope", "snsapi_base or snsapi_userinfo").into()),
        };
        let state = credential::new_token().replace(['-', '_'], "");
        let browser = credential::new_token();
        let bound = serde_json::json!({"browser": credential::hash(&browser), "redirect": redirect});
        self.state
            .platform
            .cache
            .set(&format!("identity:oauth-state:{state}"), bound.to_string().as_bytes(), OAUTH_STATE_TTL)
            .await
            .map_err(|e| Problem::internal_from(&e))?;
        let w = &self.state.wechat;
        let location = authorize_url(&w.authorize_base, &w.oa_appid, &w.callback_url, scope, &state);
        let cookie = format!(
            "{OAUTH_COOKIE}={browser}; Path=/v1/auth/oa; Max-Age={}; HttpOnly; SameSite=Lax",
            OAUTH_STATE_TTL.as_secs()
        );
        Ok(AuthorizeResponse::Found(location, cookie))
    }

    /// Finish the Service Account sign-in
    ///
    /// WeChat's redirect target. Checks that `state` was issued to this browser (the
    /// `city_oauth` cookie), exchanges the code and signs the person in: the same citizen as in
    /// the Mini Program when WeChat gives the same unionid.
    #[oai(path = "/v1/auth/oa/callback", method = "get", operation_id = "finish_service_account_sign_in")]
    async fn oa_callback(
        &self,
        /// The OAuth code from WeChat.
        code: Query<Option<String>>,
        /// The state given at the start.
        state: Query<Option<String>>,
        /// Carries the `city_oauth` browser binding set at the start.
        #[oai(name = "Cookie")]
        cookies: Header<Option<String>>,
    ) -> R<Json<CitizenSession>> {
        let Some(code) = code.0.filter(|c| !c.is_empty()) else {
            return Err(Problem::new(StatusCode::FORBIDDEN, "oauth-declined", "The sign-in was not authorised")
                .with_detail("WeChat returned no code: the user declined")
                .into());
        };
        let state = state.0.unwrap_or_default();
        let mismatch = || {
            Problem::new(StatusCode::BAD_REQUEST, "oauth-state-mismatch", "The sign-in link is stale or not yours")
                .with_detail("start again from /v1/auth/oa/authorize in this browser")
                .with_field("state", "unknown, used, expired, or issued to another browser")
        };
        if state.is_empty() || state.len() > 128 {
            return Err(mismatch().into());
        }
        let key = format!("identity:oauth-state:{state}");
        let cache = &self.state.platform.cache;
        let bound = cache.get(&key).await.map_err(|e| Problem::internal_from(&e))?;
        let Some(bound) = bound.and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()) else {
            return Err(mismatch().into());
        };
        let browser = cookies.0.as_deref().and_then(|c| {
            c.split(';').filter_map(|kv| kv.trim().split_once('=')).find(|(k, _)| *k == OAUTH_COOKIE).map(|(_, v)| v)
        });
        let browser_hash = browser.map(credential::hash).unwrap_or_default();
        if bound["browser"].as_str() != Some(browser_hash.as_str()) {
            return Err(mismatch().into());
        }
        // Single use: a replayed callback URL finds nothing.
        let _ = cache.delete(&key).await;
        let (openid, unionid) = self.oauth_identity(&code).await?;
        let w = &self.state.wechat;
        let citizen_id =
            store::find_or_create_citizen(&self.state.db, &w.oa_appid, &openid, unionid.as_deref()).await?;
        self.citizen_session(&citizen_id, bound["redirect"].as_str().map(str::to_owned)).await
    }

    /// Sign out
    ///
    /// Revokes the session of the token used for this call, at once, everywhere.
    #[oai(path = "/v1/auth/session", method = "delete", operation_id = "delete_session")]
    async fn logout(&self, auth: AnyToken) -> R<Done> {
        let session_id = match auth {
            AnyToken::Citizen(CitizenAuth(c)) => c.session_id,
            AnyToken::Staff(StaffAuth(s)) => s.session_id,
        };
        self.state.sessions.revoke(&session_id).await?;
        Ok(Done::NoContent)
    }

    /// Check a credential
    ///
    /// For services running apart from identity: whether the token or API key in the body is
    /// live and whose it is. It answers only about the credential given, so it tells a caller
    /// nothing they could not learn by using that credential.
    #[oai(path = "/v1/auth/introspect", method = "post", operation_id = "introspect_credential")]
    async fn introspect(&self, body: JsonBody<IntrospectRequest>) -> R<Json<IntrospectResponse>> {
        let b = body.0;
        let i = self.state.sessions.introspect(b.token.as_deref(), b.api_key.as_deref()).await?;
        Ok(Json(IntrospectResponse {
            active: i.active,
            principal: i.principal.map(|p: Principal| serde_json::to_value(p).unwrap_or_default()),
            integrator: i.integrator.map(|x| serde_json::to_value(x).unwrap_or_default()),
            expires_at_ms: i.expires_at_ms,
        }))
    }

    /// Show my profile
    #[oai(path = "/v1/me", method = "get", operation_id = "get_me")]
    async fn me(&self, auth: CitizenAuth) -> R<Json<CitizenView>> {
        let c =
            store::citizen(&self.state.db, &auth.0.citizen_id).await?.ok_or_else(|| Problem::not_found("citizen"))?;
        Ok(Json(citizen_view(c, &self.state)))
    }

    /// Bind my phone number
    ///
    /// Exchanges a phone-number code from the Mini Program's `getPhoneNumber` button. The number
    /// is stored encrypted and shown masked.
    #[oai(path = "/v1/me/phone", method = "post", operation_id = "bind_my_phone")]
    async fn bind_phone(&self, auth: CitizenAuth, body: JsonBody<CodeRequest>) -> R<Json<CitizenView>> {
        let s = &self.state;
        let w = &s.wechat;
        let code = body.0.code.trim().to_owned();
        let info = w
            .mp_tokens
            .call(|token| {
                let code = code.clone();
                async move { w.client.phone_number(&token, &code, &w.mp_appid).await }
            })
            .await
            .map_err(|e| wechat::problem(e, "code"))?;
        let phone = if info.country_code == "86" { info.pure_phone_number.clone() } else { info.phone_number.clone() };
        store::set_phone(&s.db, &auth.0.citizen_id, &s.sealer.seal(&phone), &mask::phone(&phone)).await?;
        self.me(auth).await
    }

    /// Link my Service Account
    ///
    /// While signed in, attaches the Service Account identity behind an OAuth code to this
    /// citizen, for people whose apps give no unionid. 409 when that identity already belongs to
    /// another citizen.
    #[oai(path = "/v1/me/links/service-account", method = "post", operation_id = "link_my_service_account")]
    async fn link_oa(&self, auth: CitizenAuth, body: JsonBody<CodeRequest>) -> R<Json<CitizenView>> {
        let (openid, unionid) = self.oauth_identity(body.0.code.trim()).await?;
        let w = &self.state.wechat;
        let owner =
            store::link_identity(&self.state.db, &auth.0.citizen_id, &w.oa_appid, &openid, unionid.as_deref()).await?;
        if owner != auth.0.citizen_id {
            return Err(Problem::conflict(
                "identity-linked-elsewhere",
                "That WeChat account belongs to another citizen",
            )
            .into());
        }
        self.me(auth).await
    }

    /// List my family members
    #[oai(path = "/v1/me/people", method = "get", operation_id = "list_my_people")]
    async fn list_people(&self, auth: CitizenAuth) -> R<Json<Vec<PersonView>>> {
        let rows = store::people(&self.state.db, &auth.0.citizen_id).await?;
        Ok(Json(rows.into_iter().map(person_view).collect()))
    }

    /// Add a family member
    ///
    /// Real name and resident ID number (checked: GB 11643 check character and a real date of
    /// birth; 422 naming `id_number` otherwise). Sex and date of birth come from the number. At
    /// most 5 per citizen (409 `/problems/people-limit`); the same number twice is 409
    /// `/problems/person-exists`.
    #[oai(path = "/v1/me/people", method = "post", operation_id = "create_my_person")]
    async fn add_person(&self, auth: CitizenAuth, body: JsonBody<NewPersonRequest>) -> R<Created<PersonView>> {
        let s = &self.state;
        let b = body.0;
        let name = b.name.trim();
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(Problem::invalid("name", "the real name as on the ID card").into());
        }
        let today = city_date(chrono::Utc::now());
        let id = IdNumber::parse(&b.id_number, today).map_err(|e| Problem::invalid("id_number", e.to_string()))?;
        let phone = match b.phone.as_deref().filter(|p| !p.trim().is_empty()) {
            Some(p) => Some(mask::parse_mobile(p).map_err(|m| Problem::invalid("phone", m))?),
            None => None,
        };
        let new = NewPerson {
            name_sealed: s.sealer.seal(name),
            name_masked: mask::name(name),
            relation: b.relation.as_str().into(),
            sex: id.sex().as_str().into(),
            birth_date: id.birth_date().format("%Y-%m-%d").to_string(),
            id_number_sealed: s.sealer.seal(id.as_str()),
            id_number_hash: s.sealer.keyed_hash(id.as_str()),
            id_number_masked: id.masked(),
            phone_sealed: phone.as_deref().map(|p| s.sealer.seal(p)),
            phone_masked: phone.as_deref().map(mask::phone),
        };
        match store::add_person(&s.db, &auth.0.citizen_id, &new, MAX_PEOPLE).await {
            Ok(row) => Ok(Created::Created(Json(person_view(row)))),
            Err(AddPersonError::Limit) => Err(Problem::conflict("people-limit", "You already have 5 family members")
                .with_detail("remove one before adding another")
                .into()),
            Err(AddPersonError::Duplicate) => {
                Err(Problem::conflict("person-exists", "This ID number is already on your list")
                    .with_field("id_number", "already added")
                    .into())
            }
            Err(AddPersonError::Db(e)) => Err(e.into()),
        }
    }

    /// Show one of my family members
    ///
    /// 404 for anyone else's.
    #[oai(path = "/v1/me/people/:person_id", method = "get", operation_id = "get_my_person")]
    async fn get_person(&self, auth: CitizenAuth, person_id: Path<String>) -> R<Json<PersonView>> {
        let row = store::person_of(&self.state.db, &auth.0.citizen_id, &person_id.0)
            .await?
            .ok_or_else(|| Problem::not_found("person"))?;
        Ok(Json(person_view(row)))
    }

    /// Remove one of my family members
    #[oai(path = "/v1/me/people/:person_id", method = "delete", operation_id = "delete_my_person")]
    async fn delete_person(&self, auth: CitizenAuth, person_id: Path<String>) -> R<Done> {
        if store::delete_person(&self.state.db, &auth.0.citizen_id, &person_id.0).await? {
            Ok(Done::NoContent)
        } else {
            Err(Problem::not_found("person").into())
        }
    }

    /// Staff sign-in
    ///
    /// Username and password (argon2id). Wrong credentials answer 401 without saying which was
    /// wrong; after 5 failures in a row the account is locked for 15 minutes (429 with
    /// `Retry-After`).
    #[oai(path = "/v1/staff/sessions", method = "post", operation_id = "create_staff_session")]
    async fn staff_login(&self, body: JsonBody<StaffLoginRequest>) -> R<Json<StaffSession>> {
        let s = &self.state;
        let b = body.0;
        let row = store::staff_by_username(&s.db, b.username.trim()).await?;
        let now = city_platform::time::now_ms();
        if let Some(r) = row.as_ref().filter(|r| r.locked_until_ms > now) {
            let mut p = Problem::new(StatusCode::TOO_MANY_REQUESTS, "account-locked", "Too many failed sign-ins")
                .with_detail("the account is locked for a while; try again later or ask an admin");
            p.retry_after = Some(((r.locked_until_ms - now) / 1000).max(1) as u64);
            return Err(p.into());
        }
        let good = s.passwords.verify(b.password, row.as_ref().map(|r| r.password_hash.clone())).await?;
        let refused = || Problem::new(StatusCode::UNAUTHORIZED, "bad-credentials", "Wrong username or password").into();
        let Some(row) = row else { return Err(refused()) };
        if !good {
            store::record_failed_login(&s.db, &row.id, LOCKOUT_THRESHOLD, LOCKOUT.as_millis() as i64).await?;
            return Err(refused());
        }
        if row.disabled {
            return Err(refused());
        }
        store::record_good_login(&s.db, &row.id).await?;
        let ttl = Duration::from_secs(s.platform.settings.identity.staff_session_secs);
        let issued = s.sessions.issue(store::STAFF, &row.id, ttl).await?;
        Ok(Json(StaffSession { token: issued.token, expires_at: ms(issued.expires_at_ms), staff: staff_view(row) }))
    }

    /// Show my staff profile
    #[oai(path = "/v1/staff/me", method = "get", operation_id = "get_staff_me")]
    async fn staff_me(&self, auth: StaffAuth) -> R<Json<StaffView>> {
        let row = store::staff_by_id(&self.state.db, &auth.0.staff_id).await?.ok_or_else(Problem::internal)?;
        Ok(Json(staff_view(row)))
    }

    /// List staff members
    ///
    /// Admins only.
    #[oai(path = "/v1/staff/members", method = "get", operation_id = "list_staff_members")]
    async fn list_staff(&self, auth: StaffAuth) -> R<Json<Vec<StaffView>>> {
        admin_only(&auth.0)?;
        Ok(Json(store::all_staff(&self.state.db).await?.into_iter().map(staff_view).collect()))
    }

    /// Create a staff member
    ///
    /// Admins only. Audited.
    #[oai(path = "/v1/staff/members", method = "post", operation_id = "create_staff_member")]
    async fn create_staff(&self, auth: StaffAuth, body: JsonBody<NewStaffRequest>) -> R<Created<StaffView>> {
        let actor = admin_only(&auth.0)?;
        let b = body.0;
        let new = NewStaff {
            username: b.username.trim().to_owned(),
            display_name: b.display_name,
            password: b.password,
            roles: b.roles,
            scopes: b.scopes.into(),
        };
        admin::check_new_staff(&new)?;
        let hashed = self.state.passwords.hash(new.password.clone()).await?;
        let row = admin::create_staff(&self.state.db, &actor, new, hashed).await?;
        Ok(Created::Created(Json(staff_view(row))))
    }

    /// Disable a staff member
    ///
    /// Admins only. Ends their sessions at once. Audited.
    #[oai(path = "/v1/staff/members/:staff_id/disable", method = "post", operation_id = "disable_staff_member")]
    async fn disable_staff(&self, auth: StaffAuth, staff_id: Path<String>) -> R<Json<StaffView>> {
        let actor = admin_only(&auth.0)?;
        let (row, revoked) = admin::set_disabled(&self.state.db, &actor, &staff_id.0, true).await?;
        self.state.sessions.forget_tokens(&revoked).await;
        Ok(Json(staff_view(row)))
    }

    /// Enable a staff member
    ///
    /// Admins only; also clears a lockout. Audited.
    #[oai(path = "/v1/staff/members/:staff_id/enable", method = "post", operation_id = "enable_staff_member")]
    async fn enable_staff(&self, auth: StaffAuth, staff_id: Path<String>) -> R<Json<StaffView>> {
        let actor = admin_only(&auth.0)?;
        let (row, _) = admin::set_disabled(&self.state.db, &actor, &staff_id.0, false).await?;
        Ok(Json(staff_view(row)))
    }

    /// List API keys
    ///
    /// Admins only. Never shows the keys.
    #[oai(path = "/v1/staff/api-keys", method = "get", operation_id = "list_api_keys")]
    async fn list_keys(&self, auth: StaffAuth) -> R<Json<Vec<ApiKeyView>>> {
        admin_only(&auth.0)?;
        Ok(Json(store::api_keys(&self.state.db).await?.into_iter().map(key_view).collect()))
    }

    /// Create an API key
    ///
    /// Admins only. The key is in this answer only. Audited.
    #[oai(path = "/v1/staff/api-keys", method = "post", operation_id = "create_api_key")]
    async fn create_key(&self, auth: StaffAuth, body: JsonBody<NewApiKeyRequest>) -> R<Created<NewApiKeyResponse>> {
        let actor = admin_only(&auth.0)?;
        let (key, row) = admin::create_api_key(&self.state.db, &actor, &body.0.name, &body.0.scopes).await?;
        Ok(Created::Created(Json(NewApiKeyResponse { key, api_key: key_view(row) })))
    }

    /// Revoke an API key
    ///
    /// Admins only. Takes effect at once. Audited.
    #[oai(path = "/v1/staff/api-keys/:key_id", method = "delete", operation_id = "delete_api_key")]
    async fn revoke_key(&self, auth: StaffAuth, key_id: Path<String>) -> R<Done> {
        let actor = admin_only(&auth.0)?;
        let hash = admin::revoke_api_key(&self.state.db, &actor, &key_id.0).await?;
        self.state.sessions.forget_key(&hash).await;
        Ok(Done::NoContent)
    }

    /// Read the audit log
    ///
    /// Admins only. Every staff action in every service, newest first; page with `before`
    /// (the last entry's `at_ms`).
    #[oai(path = "/v1/staff/audit", method = "get", operation_id = "list_audit_entries")]
    async fn audit(
        &self,
        auth: StaffAuth,
        /// Only entries strictly before this instant (UTC ms).
        before: Query<Option<i64>>,
        /// Only this service's entries.
        service: Query<Option<String>>,
        /// At most this many (1-500, default 100).
        #[oai(validator(minimum(value = "1"), maximum(value = "500")))]
        limit: Query<Option<i64>>,
    ) -> R<Json<Vec<AuditView>>> {
        admin_only(&auth.0)?;
        let rows = store::audit_page(&self.state.db, before.0, service.0.as_deref(), limit.0.unwrap_or(100)).await?;
        Ok(Json(
            rows.into_iter()
                .map(|(id, e)| AuditView {
                    id,
                    actor_id: e.actor_id,
                    actor_name: e.actor_name,
                    service: e.service,
                    action: e.action,
                    target: e.target,
                    before: e.before,
                    after: e.after,
                    request_id: e.request_id,
                    at: ms(e.at_ms),
                    at_ms: e.at_ms,
                })
                .collect(),
        ))
    }

    /// Internal: the citizen behind a Service Account follower
    ///
    /// For the Service Account channel: the citizen who signed in through the Service Account
    /// OAuth as this openid (of the configured Service Account). 404 when no citizen is linked to
    /// it (the follower never signed in). Needs `X-Internal-Token`.
    #[oai(
        path = "/v1/internal/identity/oa-followers/:openid",
        method = "get",
        operation_id = "get_internal_oa_follower"
    )]
    async fn internal_oa_follower(
        &self,
        _auth: InternalAuth,
        /// The follower's openid for our Service Account.
        openid: Path<String>,
    ) -> R<Json<IdentityOaFollower>> {
        let openid = wechat_id("openid", &openid.0)?;
        let w = &self.state.wechat;
        match store::citizen_by_openid(&self.state.db, &w.oa_appid, openid).await? {
            Some(citizen_id) => Ok(Json(IdentityOaFollower { citizen_id })),
            None => Err(Problem::not_found("citizen linked to that Service Account follower").into()),
        }
    }

    /// Internal: how a citizen can be reached
    ///
    /// For notification delivery: the citizen's openids for the Service Account and the Mini
    /// Program (null where they never signed in through it) and e-mail address (identity keeps
    /// none yet: always null). 404 when there is no such citizen. Needs `X-Internal-Token`.
    #[oai(
        path = "/v1/internal/identity/citizens/:citizen_id/contacts",
        method = "get",
        operation_id = "get_internal_citizen_contacts"
    )]
    async fn internal_contacts(
        &self,
        _auth: InternalAuth,
        /// The citizen id.
        citizen_id: Path<String>,
    ) -> R<Json<IdentityCitizenContacts>> {
        let citizen_id = wechat_id("citizen_id", &citizen_id.0)?;
        let Some(openids) = store::openids_of(&self.state.db, citizen_id).await? else {
            return Err(Problem::not_found("citizen").into());
        };
        let w = &self.state.wechat;
        let openid_in = |appid: &str| openids.iter().find(|(a, _)| a == appid).map(|(_, o)| o.clone());
        Ok(Json(IdentityCitizenContacts {
            email: None,
            oa_openid: openid_in(&w.oa_appid),
            mp_openid: openid_in(&w.mp_appid),
        }))
    }
}
