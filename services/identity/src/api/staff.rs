//! `/v1/staff`: staff sign-in and profile, the admins' staff management, and the audit log.

use std::sync::Arc;

use city_platform::auth::{Role, Scopes, StaffAuth};
use city_platform::problem::kind;
use city_platform::{error_set, Failure, JsonBody, Problem};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde::Deserialize;

use super::{admin_only, ms, Created, IdentityTags};
use crate::admin::{self, NewStaff};
use crate::errors;
use crate::staff_login::{self, StaffLoginError};
use crate::staff_password::{self, PasswordChangeError};
use crate::state::IdentityState;
use crate::store::{self, StaffRow};

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
#[oai(skip_serializing_if_is_none)]
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
    /// Locked after repeated failures until then (RFC 3339). Sign-in does not say so; admins see it here.
    pub locked_until: Option<String>,
    /// Failed password checks in a row since the last good one.
    pub failed_logins: i64,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Their password is temporary: they must change it (`POST /v1/staff/me/password`) first.
    pub must_change_password: bool,
}

/// A staff member's change of their own password.
#[derive(Debug, Object, Deserialize)]
pub struct StaffPasswordChange {
    /// The password they signed in with.
    #[oai(validator(min_length = 1, max_length = 1024))]
    pub current_password: String,
    /// The new one: at least 10 characters, not the current one.
    #[oai(validator(min_length = 1, max_length = 1024))]
    pub new_password: String,
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
    /// The password is temporary, to be changed at the first sign-in (the default).
    #[oai(default = "yes")]
    #[serde(default = "yes")]
    pub temporary_password: bool,
}

fn yes() -> bool {
    true
}

/// One audited action.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
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

fn staff_view(s: StaffRow) -> StaffView {
    StaffView {
        locked_until: (s.locked_until_ms > city_platform::time::now_ms()).then(|| ms(s.locked_until_ms)),
        id: s.id,
        username: s.username,
        display_name: s.display_name,
        roles: s.roles,
        scopes: s.scopes.into(),
        disabled: s.disabled,
        failed_logins: s.failed_logins,
        created_at: ms(s.created_at_ms),
        must_change_password: s.must_change_password,
    }
}

error_set!(
    /// Staff sign-in: the field rules, and one answer for every refusal.
    pub StaffLoginErrors = [kind::VALIDATION] + StaffLoginError
);
error_set!(
    /// A staff route called with a citizen's token, or by a staff member without the role.
    pub StaffOnly = [kind::FORBIDDEN]
);
error_set!(
    /// Changing one's own password: the field rules (a wrong current password names
    /// `current_password`), a locked account, a caller who is not staff.
    pub ChangePasswordErrors = [kind::FORBIDDEN] + PasswordChangeError
);
error_set!(
    /// Creating a staff member (admins only).
    pub CreateStaffErrors = [kind::FORBIDDEN, kind::VALIDATION, errors::USERNAME_TAKEN]
);
error_set!(
    /// Changing a staff member who may not exist (admins only); never oneself or the last admin.
    pub ChangeStaffErrors = [kind::FORBIDDEN, kind::NOT_FOUND, errors::STAFF_CHANGE_REFUSED]
);

/// Staff sessions and members.
pub(super) struct StaffApi {
    pub(super) state: Arc<IdentityState>,
}

#[OpenApi(tag = "IdentityTags::Identity")]
impl StaffApi {
    /// Staff sign-in
    ///
    /// Username and password (argon2id). An unknown username, a wrong password, a locked and a
    /// disabled account all answer the same 401: which one is not said. After 5 failures in a
    /// row the account is locked for 15 minutes; attempts are counted before the password is
    /// checked, so parallel guesses get no more tries. Admins see the state in the staff list,
    /// and the audit log records each refusal of a known account.
    #[oai(path = "/v1/staff/sessions", method = "post", operation_id = "create_staff_session")]
    async fn staff_login(
        &self,
        body: JsonBody<StaffLoginRequest>,
    ) -> Result<Json<StaffSession>, Failure<StaffLoginErrors>> {
        let b = body.0;
        let s = staff_login::sign_in(&self.state, b.username.trim(), b.password).await?;
        Ok(Json(StaffSession { token: s.token, expires_at: ms(s.expires_at_ms), staff: staff_view(s.staff) }))
    }

    /// Show my staff profile
    #[oai(path = "/v1/staff/me", method = "get", operation_id = "get_staff_me")]
    async fn staff_me(&self, auth: StaffAuth) -> Result<Json<StaffView>, Failure<StaffOnly>> {
        // Their session was just checked: a missing row is the store's fault.
        let row = store::staff_by_id(&self.state.db, &auth.0.staff_id).await?.ok_or_else(Problem::internal)?;
        Ok(Json(staff_view(row)))
    }

    /// Change my password
    ///
    /// With the current one; a temporary password set by an admin stops being temporary.
    /// A wrong current password counts towards the lockout, as at sign-in. Audited.
    #[oai(path = "/v1/staff/me/password", method = "post", operation_id = "change_staff_password")]
    async fn change_password(
        &self,
        auth: StaffAuth,
        body: JsonBody<StaffPasswordChange>,
    ) -> Result<Json<StaffView>, Failure<ChangePasswordErrors>> {
        let b = body.0;
        let row = staff_password::change_own(&self.state, &auth.0.staff_id, b.current_password, b.new_password).await?;
        Ok(Json(staff_view(row)))
    }

    /// List staff members
    ///
    /// Admins only.
    #[oai(path = "/v1/staff/members", method = "get", operation_id = "list_staff_members")]
    async fn list_staff(&self, auth: StaffAuth) -> Result<Json<Vec<StaffView>>, Failure<StaffOnly>> {
        admin_only(&auth.0)?;
        Ok(Json(store::all_staff(&self.state.db).await?.into_iter().map(staff_view).collect()))
    }

    /// Create a staff member
    ///
    /// Admins only. Audited.
    #[oai(path = "/v1/staff/members", method = "post", operation_id = "create_staff_member")]
    async fn create_staff(
        &self,
        auth: StaffAuth,
        body: JsonBody<NewStaffRequest>,
    ) -> Result<Created<StaffView>, Failure<CreateStaffErrors>> {
        let actor = admin_only(&auth.0)?;
        let b = body.0;
        let new = NewStaff {
            username: b.username.trim().to_owned(),
            display_name: b.display_name,
            password: b.password,
            roles: b.roles,
            scopes: b.scopes.into(),
        };
        let row = admin::hash_and_create_staff(&self.state, &actor, new, b.temporary_password).await?;
        Ok(Created::Created(Json(staff_view(row))))
    }

    /// Disable a staff member
    ///
    /// Admins only. Ends their sessions at once. Nobody disables their own account, and the
    /// last enabled admin stays enabled (409). Audited.
    #[oai(path = "/v1/staff/members/:staff_id/disable", method = "post", operation_id = "disable_staff_member")]
    async fn disable_staff(
        &self,
        auth: StaffAuth,
        staff_id: Path<String>,
    ) -> Result<Json<StaffView>, Failure<ChangeStaffErrors>> {
        let actor = admin_only(&auth.0)?;
        let row = admin::disable_staff(&self.state, &actor, &staff_id.0).await?;
        Ok(Json(staff_view(row)))
    }

    /// Enable a staff member
    ///
    /// Admins only; also clears a lockout. Audited.
    #[oai(path = "/v1/staff/members/:staff_id/enable", method = "post", operation_id = "enable_staff_member")]
    async fn enable_staff(
        &self,
        auth: StaffAuth,
        staff_id: Path<String>,
    ) -> Result<Json<StaffView>, Failure<ChangeStaffErrors>> {
        let actor = admin_only(&auth.0)?;
        let (row, _) = admin::set_disabled(&self.state.db, &actor, &staff_id.0, false).await?;
        Ok(Json(staff_view(row)))
    }
}

/// The audit log (listed after the API keys, as it always was).
pub(super) struct AuditApi {
    pub(super) state: Arc<IdentityState>,
}

#[OpenApi(tag = "IdentityTags::Identity")]
impl AuditApi {
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
    ) -> Result<Json<Vec<AuditView>>, Failure<StaffOnly>> {
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
}
