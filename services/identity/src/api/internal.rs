//! `/v1/internal/identity`: lookups for the channel service (`X-Internal-Token`). Openids leave
//! identity only this way, to the service that delivers messages to them.

use std::sync::Arc;

use city_platform::auth::InternalAuth;
use city_platform::problem::kind;
use city_platform::{error_set, Failure, Problem};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::IdentityTags;
use crate::domain::citizen_id::CitizenId;
use crate::state::IdentityState;
use crate::store;

/// The citizen behind a Service Account follower (internal).
#[derive(Debug, Object)]
pub struct IdentityOaFollower {
    /// The citizen id.
    pub citizen_id: String,
}

/// The citizen with a unionid (internal).
#[derive(Debug, Object)]
pub struct IdentityUnionCitizen {
    /// The citizen id.
    pub citizen_id: String,
}

/// Where a citizen can be reached (internal; openids leave identity only this way, to the
/// channel service that delivers notifications).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct IdentityCitizenContacts {
    /// The citizen's confirmed e-mail address (issue #23), if any.
    pub email: Option<String>,
    /// The channels the citizen chose per kind of notice (`payments.bill_due` →
    /// `["email"]`); a kind absent: the sending service's choice.
    pub preferences: std::collections::BTreeMap<String, Vec<String>>,
    /// The token of the one-click unsubscribe link every e-mail carries
    /// (`/v1/me/email/unsubscribe?token=...&kind=...`).
    pub unsubscribe_token: String,
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

error_set!(
    /// An internal lookup: a malformed path id, or nobody behind it.
    pub LookupErrors = [kind::VALIDATION, kind::NOT_FOUND]
);

/// Lookups for other services.
pub(super) struct InternalApi {
    pub(super) state: Arc<IdentityState>,
}

#[OpenApi(tag = "IdentityTags::Identity")]
impl InternalApi {
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
    ) -> Result<Json<IdentityOaFollower>, Failure<LookupErrors>> {
        let openid = wechat_id("openid", &openid.0)?;
        let w = &self.state.wechat;
        match store::citizen_by_openid(&self.state.db, &w.oa_appid, openid).await? {
            Some(citizen_id) => Ok(Json(IdentityOaFollower { citizen_id: citizen_id.into_string() })),
            None => Err(Problem::not_found("citizen linked to that Service Account follower").into()),
        }
    }

    /// Internal: the citizen with a unionid
    ///
    /// For the channel's view of a follower across every Service Account: the citizen who signed
    /// in through any of our apps with this unionid (WeChat's `/cgi-bin/user/info` gives it for a
    /// departmental account's follower, whose openid identity never saw). 404 when none. Needs
    /// `X-Internal-Token`.
    #[oai(
        path = "/v1/internal/identity/unionids/:unionid",
        method = "get",
        operation_id = "get_internal_unionid_citizen"
    )]
    async fn internal_unionid_citizen(
        &self,
        _auth: InternalAuth,
        /// The WeChat unionid.
        unionid: Path<String>,
    ) -> Result<Json<IdentityUnionCitizen>, Failure<LookupErrors>> {
        let unionid = wechat_id("unionid", &unionid.0)?;
        match store::citizen_by_unionid(&self.state.db, unionid).await? {
            Some(citizen_id) => Ok(Json(IdentityUnionCitizen { citizen_id: citizen_id.into_string() })),
            None => Err(Problem::not_found("citizen with that unionid").into()),
        }
    }

    /// Internal: how a citizen can be reached
    ///
    /// For notification delivery: the citizen's openids for the Service Account and the Mini
    /// Program (null where they never signed in through it), the confirmed e-mail address, the
    /// channels chosen per kind of notice, and the unsubscribe token mails carry. 404 when there is no such citizen. Needs `X-Internal-Token`.
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
    ) -> Result<Json<IdentityCitizenContacts>, Failure<LookupErrors>> {
        let citizen_id = CitizenId::new(wechat_id("citizen_id", &citizen_id.0)?);
        let Some(openids) = store::openids_of(&self.state.db, &citizen_id).await? else {
            return Err(Problem::not_found("citizen").into());
        };
        let w = &self.state.wechat;
        let openid_in = |appid: &str| openids.iter().find(|(a, _)| a == appid).map(|(_, o)| o.clone());
        let problem = |e: crate::contacts::ContactsError| Problem::internal_from(&e);
        let email = crate::contacts::email_in_clear(&self.state, &citizen_id).await.map_err(problem)?;
        let preferences = crate::contacts::preferences(&self.state, &citizen_id).await.map_err(problem)?;
        Ok(Json(IdentityCitizenContacts {
            email,
            preferences: preferences.into_iter().collect(),
            unsubscribe_token: crate::contacts::unsubscribe_token(&self.state, &citizen_id),
            oa_openid: openid_in(&w.oa_appid),
            mp_openid: openid_in(&w.mp_appid),
        }))
    }
}
