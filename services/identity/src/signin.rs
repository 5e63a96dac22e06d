//! Citizen sign-in through WeChat: the Mini Program's `wx.login` code, the Service Account's
//! OAuth (a `state` bound to the browser by a cookie, single use), linking a Service Account
//! identity to a signed-in citizen, and binding a phone number. One citizen per person: the
//! same unionid through any of our apps finds the same citizen.

use std::time::Duration;

use city_platform::cache::CacheError;
use city_wechat::client::authorize_url;
use tracing::field::Empty;

use crate::domain::citizen_id::CitizenId;
use crate::domain::{credential, mask};
use crate::state::IdentityState;
use crate::store::{self, CitizenRow};
use crate::wechat::WechatRefusal;

/// The OAuth browser-binding cookie.
pub const OAUTH_COOKIE: &str = "city_oauth";
/// How long an OAuth `state` waits for its callback.
pub const OAUTH_STATE_TTL: Duration = Duration::from_secs(600);

/// A WeChat code as the client sent it, trimmed: 1 to 256 visible ASCII characters, as WeChat
/// issues them, or `None`. Checked before WeChat is asked, so a blank or absurd code is the
/// client's mistake (4xx naming the field), never a call upstream.
pub fn clean_code(code: &str) -> Option<&str> {
    let code = code.trim();
    ((1..=256).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_graphic())).then_some(code)
}

/// What [`clean_code`] asks, for the problem naming the field.
pub const CODE_RULE: &str = "a WeChat code: 1 to 256 visible ASCII characters";

/// Why a Mini Program sign-in or a phone binding failed.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The code is blank or could not be one of WeChat's.
    #[error("{field}: not a WeChat code")]
    BadCode {
        /// The request field.
        field: &'static str,
    },
    /// WeChat refused the code or did not answer.
    #[error(transparent)]
    Wechat(#[from] WechatRefusal),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

/// Why a Service Account identity could not be read from an OAuth code.
#[derive(Debug, thiserror::Error)]
pub enum OauthIdentityError {
    /// The code is blank or could not be one of WeChat's.
    #[error("{field}: not a WeChat code")]
    BadCode {
        /// The request field.
        field: &'static str,
    },
    /// The page was shown in WeChat's snapshot mode: the person has not authorised it.
    #[error("the page was shown in snapshot mode")]
    SnapshotUser,
    /// WeChat refused the code or did not answer.
    #[error(transparent)]
    Wechat(#[from] WechatRefusal),
}

/// Why starting the Service Account sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    /// A parameter breaks a rule.
    #[error("{field}: {message}")]
    Invalid {
        /// The parameter.
        field: &'static str,
        /// What is wrong with it.
        message: &'static str,
    },
    /// The shared cache (where the `state` waits) failed.
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// Why finishing the Service Account sign-in failed.
#[derive(Debug, thiserror::Error)]
pub enum OauthError {
    /// WeChat came back without a code: the person declined.
    #[error("the sign-in was declined")]
    Declined,
    /// The `state` is unknown, used, expired, or was issued to another browser.
    #[error("the OAuth state is stale or another browser's")]
    StateMismatch,
    /// No identity behind the code.
    #[error(transparent)]
    Identity(#[from] OauthIdentityError),
    /// The shared cache failed.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

/// Why linking a Service Account identity failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// That WeChat identity already belongs to another citizen.
    #[error("the identity belongs to another citizen")]
    LinkedElsewhere,
    /// No identity behind the code.
    #[error(transparent)]
    Identity(#[from] OauthIdentityError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

/// A new citizen session.
pub struct CitizenSession {
    /// The bearer token (shown once).
    pub token: String,
    /// When it stops working (UTC ms).
    pub expires_at_ms: i64,
    /// Who signed in.
    pub citizen: CitizenRow,
    /// Where the browser goes next (Service Account sign-in only).
    pub redirect: Option<String>,
}

/// Where to send the browser to start the Service Account sign-in.
pub struct Authorize {
    /// WeChat's consent page, with our `state`.
    pub location: String,
    /// The browser-binding cookie to set.
    pub cookie: String,
}

fn state_key(state: &str) -> String {
    format!("identity:oauth-state:{state}")
}

/// Only same-site paths: never another host (no open redirect). Judged by parsing the value as
/// a browser would (WHATWG URL, against a stand-in origin), since browsers drop tabs and
/// newlines and read `\\` as `/`: `/\t/evil.example/x` is `//evil.example/x` to them. The
/// path as parsed is what is kept and later returned, so the client gets the browser's reading.
pub fn safe_redirect(redirect: Option<String>) -> Result<String, AuthorizeError> {
    let refuse =
        || AuthorizeError::Invalid { field: "redirect", message: "a path on this site, starting with a single '/'" };
    let Some(r) = redirect else { return Ok("/".into()) };
    if !r.starts_with('/') || r.len() > 512 || r.chars().any(char::is_control) {
        return Err(refuse());
    }
    let origin = url::Url::parse("https://portal.invalid/").map_err(|_| refuse())?;
    let parsed = origin.join(&r).map_err(|_| refuse())?;
    if parsed.origin() != origin.origin() || parsed.username() != "" || parsed.password().is_some() {
        return Err(refuse());
    }
    Ok(parsed[url::Position::BeforePath..].to_owned())
}

/// The citizen's session, issued now.
async fn session_of(
    s: &IdentityState,
    citizen_id: &CitizenId,
    redirect: Option<String>,
) -> Result<CitizenSession, sqlx::Error> {
    tracing::Span::current().record("citizen_id", tracing::field::display(citizen_id));
    let ttl = Duration::from_secs(s.platform.settings.identity.citizen_session_secs);
    let issued = s.sessions.issue(store::CITIZEN, citizen_id.as_str(), ttl).await?;
    // Just found or created: a missing row is the store's fault.
    let citizen = store::citizen(&s.db, citizen_id).await?.ok_or(sqlx::Error::RowNotFound)?;
    tracing::info!(citizen_id = %citizen_id, "citizen signed in");
    Ok(CitizenSession { token: issued.token, expires_at_ms: issued.expires_at_ms, citizen, redirect })
}

/// Signs a citizen in with a Mini Program `wx.login` code, creating the citizen on first sight.
#[tracing::instrument(skip_all, fields(citizen_id = Empty))]
pub async fn miniprogram(s: &IdentityState, code: &str) -> Result<CitizenSession, SignInError> {
    let code = clean_code(code).ok_or(SignInError::BadCode { field: "code" })?;
    let w = &s.wechat;
    let session =
        w.client.code_to_session(&w.mp_appid, w.mp_secret.expose(), code).await.map_err(WechatRefusal::of("code"))?;
    let citizen_id =
        store::find_or_create_citizen(&s.db, &w.mp_appid, &session.openid, session.unionid.as_deref()).await?;
    Ok(session_of(s, &citizen_id, None).await?)
}

/// Starts the Service Account sign-in: a fresh `state` bound to this browser, kept in the shared
/// cache for [`OAUTH_STATE_TTL`], and the consent page to go to.
pub async fn authorize(
    s: &IdentityState,
    redirect: Option<String>,
    scope: Option<&str>,
) -> Result<Authorize, AuthorizeError> {
    let redirect = safe_redirect(redirect)?;
    let scope = match scope {
        None | Some("snsapi_userinfo") => "snsapi_userinfo",
        Some("snsapi_base") => "snsapi_base",
        Some(_) => return Err(AuthorizeError::Invalid { field: "scope", message: "snsapi_base or snsapi_userinfo" }),
    };
    let state = credential::new_token().replace(['-', '_'], "");
    let browser = credential::new_token();
    let bound = serde_json::json!({"browser": credential::hash(&browser), "redirect": redirect});
    s.platform.cache.set(&state_key(&state), bound.to_string().as_bytes(), OAUTH_STATE_TTL).await?;
    let w = &s.wechat;
    Ok(Authorize {
        location: authorize_url(&w.authorize_base, &w.oa_appid, &w.callback_url, scope, &state),
        cookie: format!(
            "{OAUTH_COOKIE}={browser}; Path=/v1/auth/oa; Max-Age={}; HttpOnly; SameSite=Lax",
            OAUTH_STATE_TTL.as_secs()
        ),
    })
}

/// The `city_oauth` cookie's value in a `Cookie` header.
pub fn browser_cookie(cookies: Option<&str>) -> Option<&str> {
    cookies.and_then(|c| {
        c.split(';').filter_map(|kv| kv.trim().split_once('=')).find(|(k, _)| *k == OAUTH_COOKIE).map(|(_, v)| v)
    })
}

/// Finishes the Service Account sign-in: the `state` must have been issued to this browser
/// (single use), then the code's identity signs in, creating the citizen on first sight.
#[tracing::instrument(skip_all, fields(citizen_id = Empty))]
pub async fn oauth_callback(
    s: &IdentityState,
    code: Option<String>,
    state: &str,
    browser: Option<&str>,
) -> Result<CitizenSession, OauthError> {
    let Some(code) = code.filter(|c| !c.is_empty()) else {
        return Err(OauthError::Declined);
    };
    if state.is_empty() || state.len() > 128 {
        return Err(OauthError::StateMismatch);
    }
    let key = state_key(state);
    let cache = &s.platform.cache;
    let bound = cache.get(&key).await?;
    let Some(bound) = bound.and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()) else {
        return Err(OauthError::StateMismatch);
    };
    let browser_hash = browser.map(credential::hash).unwrap_or_default();
    if bound["browser"].as_str() != Some(browser_hash.as_str()) {
        return Err(OauthError::StateMismatch);
    }
    // Single use: a replayed callback URL finds nothing.
    let _ = cache.delete(&key).await;
    let (openid, unionid) = oauth_identity(s, &code).await?;
    let citizen_id = store::find_or_create_citizen(&s.db, &s.wechat.oa_appid, &openid, unionid.as_deref()).await?;
    Ok(session_of(s, &citizen_id, bound["redirect"].as_str().map(str::to_owned)).await?)
}

/// Attaches the Service Account identity behind an OAuth code to this citizen (for people whose
/// apps give no unionid), unless it already belongs to another.
#[tracing::instrument(skip_all, fields(citizen_id = %citizen_id))]
pub async fn link_service_account(s: &IdentityState, citizen_id: &CitizenId, code: &str) -> Result<(), LinkError> {
    let (openid, unionid) = oauth_identity(s, code).await?;
    let owner = store::link_identity(&s.db, citizen_id, &s.wechat.oa_appid, &openid, unionid.as_deref()).await?;
    if &owner != citizen_id {
        return Err(LinkError::LinkedElsewhere);
    }
    Ok(())
}

/// Binds the phone number behind a Mini Program `getPhoneNumber` code: stored sealed, shown
/// masked.
#[tracing::instrument(skip_all, fields(citizen_id = %citizen_id))]
pub async fn bind_phone(s: &IdentityState, citizen_id: &CitizenId, code: &str) -> Result<(), SignInError> {
    let code = clean_code(code).ok_or(SignInError::BadCode { field: "code" })?;
    let w = &s.wechat;
    let code = code.to_owned();
    let info = w
        .mp_tokens
        .call(|token| {
            let code = code.clone();
            async move { w.client.phone_number(&token, &code, &w.mp_appid).await }
        })
        .await
        .map_err(WechatRefusal::of("code"))?;
    let phone = if info.country_code == "86" { info.pure_phone_number.clone() } else { info.phone_number.clone() };
    store::set_phone(&s.db, citizen_id, &s.sealer.seal(&phone), &mask::phone(&phone)).await?;
    Ok(())
}

/// The Service Account identity behind an OAuth code: (openid, unionid).
async fn oauth_identity(s: &IdentityState, code: &str) -> Result<(String, Option<String>), OauthIdentityError> {
    let code = clean_code(code).ok_or(OauthIdentityError::BadCode { field: "code" })?;
    let w = &s.wechat;
    let token = w
        .client
        .oauth_access_token(&w.oa_appid, w.oa_secret.expose(), code)
        .await
        .map_err(WechatRefusal::of("code"))?;
    if token.is_snapshotuser == Some(1) {
        return Err(OauthIdentityError::SnapshotUser);
    }
    let mut unionid = token.unionid.clone();
    if unionid.is_none() && token.scope == "snsapi_userinfo" {
        let info = w.client.userinfo(&token.access_token, &token.openid).await.map_err(WechatRefusal::of("code"))?;
        unionid = info.unionid;
    }
    Ok((token.openid, unionid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(r: &str) -> Option<String> {
        safe_redirect(Some(r.to_owned())).ok()
    }

    #[test]
    fn redirects_that_a_browser_reads_as_another_host_are_refused() {
        for evil in [
            "//evil.example/x",
            "/\t/evil.example/x",
            "/\\evil.example",
            "\\\\evil",
            "https:evil.example",
            "https://evil.example/",
            "/\n/evil.example",
            " /x",
            "javascript:alert(1)",
            "/\\/evil",
            "//@evil",
        ] {
            assert_eq!(verdict(evil), None, "{evil:?}");
        }
    }

    #[test]
    fn paths_on_this_site_are_kept_as_a_browser_reads_them() {
        assert_eq!(verdict("/h5/bookings?tab=next#top").as_deref(), Some("/h5/bookings?tab=next#top"));
        assert_eq!(verdict("/a/../b").as_deref(), Some("/b"));
        assert_eq!(verdict("/%2F%2Fevil.example").as_deref(), Some("/%2F%2Fevil.example"));
        assert_eq!(safe_redirect(None).ok().as_deref(), Some("/"));
    }

    #[test]
    fn codes_are_trimmed_and_must_look_like_codes() {
        assert_eq!(clean_code("  0a1b2c  "), Some("0a1b2c"));
        for bad in ["", "   ", "\t\n", "a b", "码"] {
            assert_eq!(clean_code(bad), None, "{bad:?}");
        }
        assert_eq!(clean_code(&"x".repeat(257)), None);
    }
}
