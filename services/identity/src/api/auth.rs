//! `/v1/auth`: citizen sign-in through the Mini Program and the Service Account, sign-out, and
//! the credential check services running apart ask.

use std::sync::Arc;

use city_platform::auth::{CitizenAuth, Principal, StaffAuth};
use city_platform::problem::kind;
use city_platform::{error_set, Failure, JsonBody, Matching};
use poem_openapi::param::{Header, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, SecurityScheme};
use serde::Deserialize;

use super::{ms, Done, IdentityTags};
use crate::signin::{self, AuthorizeError, OauthError, SignInError};
use crate::state::IdentityState;
use crate::store::CitizenRow;

city_platform::pattern!(
    /// Visible ASCII, as WeChat's codes are.
    pub VisibleAscii = "^[!-~]+$"
);

/// A WeChat code from the client (`wx.login`, the phone button, or a Service Account OAuth code).
#[derive(Debug, Object, Deserialize)]
pub struct CodeRequest {
    /// The code, single use, valid five minutes: visible ASCII, as WeChat issues them (a blank
    /// code would reach WeChat as a missing one).
    #[oai(validator(min_length = 1, max_length = 256))]
    pub code: Matching<VisibleAscii>,
}

/// A citizen as they see themselves. No openid, ever.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
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
#[oai(skip_serializing_if_is_none)]
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
pub(super) enum AuthorizeResponse {
    /// Go to WeChat; it comes back to `/v1/auth/oa/callback` with a code and this `state`.
    #[oai(status = 302)]
    Found(#[oai(header = "Location")] String, #[oai(header = "Set-Cookie")] String),
}

/// The end of the Service Account sign-in: back to the page it started from.
#[derive(ApiResponse)]
pub(super) enum CallbackResponse {
    /// Signed in: go to the page asked for at the start (a path on this portal; `/h5/me` when
    /// none was). The session is in the `city_session` cookie (`HttpOnly`, `SameSite=Lax`,
    /// `Secure` when the portal is served over https), never in the URL.
    #[oai(status = 302)]
    Found(
        #[oai(header = "Location")] String,
        #[oai(header = "Set-Cookie")] String,
        #[oai(header = "Cache-Control")] String,
    ),
}

/// The cookie that carries a citizen's session after the Service Account sign-in.
pub const SESSION_COOKIE: &str = "city_session";

/// A credential to check.
#[derive(Debug, Object, Deserialize)]
#[oai(skip_serializing_if_is_none)]
pub struct IntrospectRequest {
    /// A bearer token.
    pub token: Option<String>,
    /// An API key.
    pub api_key: Option<String>,
}

/// Whether the credential given is live, and whose it is (nothing about any other credential).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
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

/// Anyone signed in with a bearer token.
#[derive(SecurityScheme)]
pub(super) enum AnyToken {
    Citizen(CitizenAuth),
    Staff(StaffAuth),
}

/// The citizen as they see themselves: which of our apps they signed in through, never openids.
pub(super) fn citizen_view(c: CitizenRow, state: &IdentityState) -> CitizenView {
    let w = &state.wechat;
    CitizenView {
        miniprogram: c.appids.contains(&w.mp_appid),
        service_account: c.appids.contains(&w.oa_appid),
        id: c.id.into_string(),
        phone_masked: c.phone_masked,
        created_at: ms(c.created_at_ms),
    }
}

fn session_view(s: signin::CitizenSession, state: &IdentityState) -> Json<CitizenSession> {
    Json(CitizenSession {
        token: s.token,
        expires_at: ms(s.expires_at_ms),
        citizen: citizen_view(s.citizen, state),
        redirect: s.redirect,
    })
}

error_set!(
    /// A Mini Program sign-in: a code that breaks the field rules, or one WeChat refuses.
    pub MiniprogramLoginErrors = [kind::VALIDATION] + SignInError
);
error_set!(
    /// Operations that only the edge can refuse.
    pub EdgeOnly = []
);

/// Sign-in, sign-out and credential checks.
pub(super) struct AuthApi {
    pub(super) state: Arc<IdentityState>,
}

#[OpenApi(tag = "IdentityTags::Identity")]
impl AuthApi {
    /// Sign in from the Mini Program
    ///
    /// Exchanges a `wx.login` code with WeChat, finds or creates the citizen (the same one for
    /// the same unionid through any of our apps) and returns a bearer token. A used or expired
    /// code answers 400 with `type` `/problems/wechat-code-used` or `/problems/wechat-invalid-code`.
    #[oai(path = "/v1/auth/miniprogram/login", method = "post", operation_id = "create_miniprogram_session")]
    async fn miniprogram_login(
        &self,
        body: JsonBody<CodeRequest>,
    ) -> Result<Json<CitizenSession>, Failure<MiniprogramLoginErrors>> {
        let session = signin::miniprogram(&self.state, body.0.code.trim()).await?;
        Ok(session_view(session, &self.state))
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
    ) -> Result<AuthorizeResponse, Failure<AuthorizeError>> {
        let go = signin::authorize(&self.state, redirect.0, scope.0.as_deref()).await?;
        Ok(AuthorizeResponse::Found(go.location, go.cookie))
    }

    /// Finish the Service Account sign-in
    ///
    /// WeChat's redirect target. Checks that `state` was issued to this browser (the
    /// `city_oauth` cookie), exchanges the code and signs the person in: the same citizen as in
    /// the Mini Program when WeChat gives the same unionid. Answers 302 to the page the sign-in
    /// started from, with the session in the `city_session` cookie.
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
    ) -> Result<CallbackResponse, Failure<OauthError>> {
        let browser = signin::browser_cookie(cookies.0.as_deref());
        let state_param = state.0.unwrap_or_default();
        let session = signin::oauth_callback(&self.state, code.0, &state_param, browser).await?;
        // The page was checked when the sign-in started (`safe_redirect`: a path on this site),
        // so the Location is relative and stays on the portal's own origin.
        let to = match session.redirect.as_deref() {
            None | Some("/") => "/h5/me".to_owned(),
            Some(path) => path.to_owned(),
        };
        let settings = &self.state.platform.settings;
        let secure = if settings.public_base_url().starts_with("https://") { "; Secure" } else { "" };
        let max_age = settings.identity.citizen_session_secs;
        let cookie =
            format!("{SESSION_COOKIE}={}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}", session.token);
        Ok(CallbackResponse::Found(to, cookie, "no-store".into()))
    }

    /// Sign out
    ///
    /// Revokes the session of the token used for this call, at once, everywhere.
    #[oai(path = "/v1/auth/session", method = "delete", operation_id = "delete_session")]
    async fn logout(&self, auth: AnyToken) -> Result<Done, Failure<EdgeOnly>> {
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
    async fn introspect(
        &self,
        body: JsonBody<IntrospectRequest>,
    ) -> Result<Json<IntrospectResponse>, Failure<EdgeOnly>> {
        let b = body.0;
        let i = self.state.sessions.introspect(b.token.as_deref(), b.api_key.as_deref()).await?;
        Ok(Json(IntrospectResponse {
            active: i.active,
            principal: i.principal.map(|p: Principal| serde_json::to_value(p).unwrap_or_default()),
            integrator: i.integrator.map(|x| serde_json::to_value(x).unwrap_or_default()),
            expires_at_ms: i.expires_at_ms,
        }))
    }
}
