//! Identity's typed errors as problems: one `match` per error type, each variant a kind from
//! `crate::errors` or the platform's table; store and infrastructure causes are logged and
//! become the opaque 500 (or 503 when a dependency is not answering).

use city_platform::cache::CacheError;
use city_platform::problem::{kind, ErrorKind, ErrorSet};
use city_platform::{IntoProblem, Problem};
use city_wechat::client::ClientError;
use city_wechat::WechatError;

use crate::admin::AdminError;
use crate::errors;
use crate::password::PasswordError;
use crate::people::PeopleError;
use crate::signin::{AuthorizeError, LinkError, OauthError, OauthIdentityError, SignInError};
use crate::staff_login::StaffLoginError;
use crate::staff_password::PasswordChangeError;
use crate::wechat::WechatRefusal;

fn cache_failed(e: CacheError) -> Problem {
    Problem::internal_from(&e)
}

fn password_failed(e: PasswordError) -> Problem {
    Problem::internal_from(&e)
}

impl IntoProblem for WechatRefusal {
    /// A refused code is the client's (4xx, `type` naming the WeChat error); configuration and
    /// outages are ours (500 / 503).
    fn into_problem(self) -> Problem {
        let field = self.field;
        match self.cause {
            ClientError::Wechat(e) => match &e {
                WechatError::InvalidCode { .. }
                | WechatError::CodeUsed { .. }
                | WechatError::OauthCodeExpired { .. } => {
                    let kind = match e {
                        WechatError::InvalidCode { .. } => &errors::WECHAT_INVALID_CODE,
                        WechatError::CodeUsed { .. } => &errors::WECHAT_CODE_USED,
                        _ => &errors::WECHAT_OAUTH_CODE_EXPIRED,
                    };
                    Problem::of(kind)
                        .with_detail(format!("{e}; get a new code and try again"))
                        .with_field(field, "expired, already used, or not a code of this app")
                }
                WechatError::HighRiskUser { .. } => {
                    Problem::of(&errors::WECHAT_HIGH_RISK_USER).with_detail("WeChat considers this account high-risk")
                }
                WechatError::RateLimited { .. } => {
                    let mut p = Problem::of(&errors::WECHAT_RATE_LIMITED).with_detail("try again in a minute");
                    p.retry_after = Some(60);
                    p
                }
                WechatError::SystemBusy { .. } => Problem::unavailable("WeChat is busy; try again shortly"),
                // Configuration (a wrong appid or secret, an IP not whitelisted) or an errcode
                // nobody expected: WeChat's answer, not the client's mistake nor our crash. Only
                // our configuration is an ERROR for the operator.
                _ => {
                    if matches!(
                        e,
                        WechatError::InvalidAppid { .. }
                            | WechatError::InvalidAppSecret { .. }
                            | WechatError::InvalidCredential { .. }
                            | WechatError::IpNotWhitelisted { .. }
                    ) {
                        tracing::error!(error = %e, field, "WeChat refused our credentials; check the app configuration");
                    } else {
                        tracing::warn!(error = %e, field, "WeChat refused our call with an unexpected errcode");
                    }
                    Problem::of(&errors::WECHAT_UPSTREAM_ERROR)
                        .with_detail("WeChat could not handle the request; try again later")
                }
            },
            ClientError::Transport(t) => {
                tracing::warn!(error = %t, "WeChat unreachable");
                Problem::unavailable("WeChat is not answering; try again shortly")
            }
            other => Problem::internal_from(&other),
        }
    }
}

impl ErrorSet for WechatRefusal {
    fn kinds() -> Vec<&'static ErrorKind> {
        vec![
            &errors::WECHAT_INVALID_CODE,
            &errors::WECHAT_CODE_USED,
            &errors::WECHAT_OAUTH_CODE_EXPIRED,
            &errors::WECHAT_HIGH_RISK_USER,
            &errors::WECHAT_RATE_LIMITED,
            &errors::WECHAT_UPSTREAM_ERROR,
        ]
    }
}

impl IntoProblem for SignInError {
    fn into_problem(self) -> Problem {
        match self {
            SignInError::BadCode { field } => Problem::invalid(field, crate::signin::CODE_RULE),
            SignInError::Wechat(e) => e.into_problem(),
            SignInError::Store(e) => e.into_problem(),
        }
    }
}

impl ErrorSet for SignInError {
    fn kinds() -> Vec<&'static ErrorKind> {
        let mut k = vec![&kind::VALIDATION];
        k.extend(WechatRefusal::kinds());
        k
    }
}

impl IntoProblem for OauthIdentityError {
    fn into_problem(self) -> Problem {
        match self {
            OauthIdentityError::BadCode { field } => Problem::invalid(field, crate::signin::CODE_RULE),
            OauthIdentityError::SnapshotUser => Problem::of(&errors::WECHAT_SNAPSHOT_USER)
                .with_detail("the page was shown in snapshot mode; the user has not authorised it"),
            OauthIdentityError::Wechat(e) => e.into_problem(),
        }
    }
}

impl ErrorSet for OauthIdentityError {
    fn kinds() -> Vec<&'static ErrorKind> {
        let mut k = vec![&kind::VALIDATION, &errors::WECHAT_SNAPSHOT_USER];
        k.extend(WechatRefusal::kinds());
        k
    }
}

impl IntoProblem for AuthorizeError {
    fn into_problem(self) -> Problem {
        match self {
            AuthorizeError::Invalid { field, message } => Problem::invalid(field, message),
            AuthorizeError::Cache(e) => cache_failed(e),
        }
    }
}

impl ErrorSet for AuthorizeError {
    fn kinds() -> Vec<&'static ErrorKind> {
        vec![&kind::VALIDATION]
    }
}

impl IntoProblem for OauthError {
    fn into_problem(self) -> Problem {
        match self {
            OauthError::Declined => {
                Problem::of(&errors::OAUTH_DECLINED).with_detail("WeChat returned no code: the user declined")
            }
            OauthError::StateMismatch => Problem::of(&errors::OAUTH_STATE_MISMATCH)
                .with_detail("start again from /v1/auth/oa/authorize in this browser")
                .with_field("state", "unknown, used, expired, or issued to another browser"),
            OauthError::Identity(e) => e.into_problem(),
            OauthError::Cache(e) => cache_failed(e),
            OauthError::Store(e) => e.into_problem(),
        }
    }
}

impl ErrorSet for OauthError {
    fn kinds() -> Vec<&'static ErrorKind> {
        let mut k = vec![&errors::OAUTH_DECLINED, &errors::OAUTH_STATE_MISMATCH];
        k.extend(OauthIdentityError::kinds());
        k
    }
}

impl IntoProblem for LinkError {
    fn into_problem(self) -> Problem {
        match self {
            LinkError::LinkedElsewhere => Problem::of(&errors::IDENTITY_LINKED_ELSEWHERE),
            LinkError::Identity(e) => e.into_problem(),
            LinkError::Store(e) => e.into_problem(),
        }
    }
}

impl ErrorSet for LinkError {
    fn kinds() -> Vec<&'static ErrorKind> {
        let mut k = vec![&errors::IDENTITY_LINKED_ELSEWHERE];
        k.extend(OauthIdentityError::kinds());
        k
    }
}

impl IntoProblem for PeopleError {
    fn into_problem(self) -> Problem {
        match self {
            PeopleError::Invalid { field, message } => Problem::invalid(field, message),
            PeopleError::Limit => Problem::of(&errors::PEOPLE_LIMIT).with_detail("remove one before adding another"),
            PeopleError::Duplicate => Problem::of(&errors::PERSON_EXISTS).with_field("id_number", "already added"),
            PeopleError::RealNameMismatch => {
                Problem::of(&errors::REAL_NAME_MISMATCH).with_field("name", "not the name of this ID number's holder")
            }
            PeopleError::RealNameUnavailable(e) => {
                tracing::warn!(error = %e, "real-name check unavailable");
                Problem::unavailable("the real-name check is not answering; try again shortly")
            }
            PeopleError::TooManyAccounts(n) => Problem::of(&errors::ID_NUMBER_ACCOUNTS_LIMIT)
                .with_detail(if n > 0 { format!("at most {n} accounts per ID number") } else { "no place left".into() })
                .with_field("id_number", "on too many accounts"),
            PeopleError::PhoneProofRequired => Problem::of(&errors::PHONE_PROOF_REQUIRED)
                .with_field("phone_code", "needed: this ID number is on another account"),
            PeopleError::PhoneMismatch => Problem::of(&errors::PHONE_MISMATCH)
                .with_field("phone_code", "not the phone recorded for this ID number"),
            PeopleError::Wechat(e) => e.into_problem(),
            PeopleError::Store(e) => e.into_problem(),
        }
    }
}

impl ErrorSet for PeopleError {
    fn kinds() -> Vec<&'static ErrorKind> {
        let mut k = vec![
            &kind::VALIDATION,
            &errors::PEOPLE_LIMIT,
            &errors::PERSON_EXISTS,
            &errors::REAL_NAME_MISMATCH,
            &errors::ID_NUMBER_ACCOUNTS_LIMIT,
            &errors::PHONE_PROOF_REQUIRED,
            &errors::PHONE_MISMATCH,
        ];
        k.extend(WechatRefusal::kinds());
        k
    }
}

impl IntoProblem for StaffLoginError {
    fn into_problem(self) -> Problem {
        match self {
            StaffLoginError::BadCredentials => Problem::of(&errors::BAD_CREDENTIALS),
            StaffLoginError::Password(e) => password_failed(e),
            StaffLoginError::Store(e) => e.into_problem(),
        }
    }
}

impl ErrorSet for StaffLoginError {
    fn kinds() -> Vec<&'static ErrorKind> {
        vec![&errors::BAD_CREDENTIALS]
    }
}

impl IntoProblem for PasswordChangeError {
    fn into_problem(self) -> Problem {
        match self {
            PasswordChangeError::Invalid { field, message } => Problem::invalid(field, message),
            PasswordChangeError::Locked { retry_after_secs } => {
                let mut p = Problem::of(&errors::ACCOUNT_LOCKED)
                    .with_detail("the account is locked for a while; try again later or ask an admin");
                p.retry_after = Some(retry_after_secs);
                p
            }
            PasswordChangeError::Password(e) => password_failed(e),
            PasswordChangeError::Store(e) => e.into_problem(),
        }
    }
}

impl ErrorSet for PasswordChangeError {
    fn kinds() -> Vec<&'static ErrorKind> {
        vec![&kind::VALIDATION, &errors::ACCOUNT_LOCKED]
    }
}

impl IntoProblem for AdminError {
    fn into_problem(self) -> Problem {
        match self {
            AdminError::Invalid { field, message } => Problem::invalid(field, message),
            AdminError::UsernameTaken => Problem::of(&errors::USERNAME_TAKEN).with_field("username", "taken"),
            AdminError::Refused(why) => Problem::of(&errors::STAFF_CHANGE_REFUSED).with_detail(why),
            AdminError::NotFound(what) => Problem::not_found(what),
            AdminError::Password(e) => password_failed(e),
            AdminError::Store(e) => e.into_problem(),
            AdminError::StoreUnavailable(cause) => {
                tracing::error!(error = %cause, "cannot open the identity store");
                Problem::unavailable("the identity store cannot be opened")
            }
        }
    }
}

impl ErrorSet for AdminError {
    fn kinds() -> Vec<&'static ErrorKind> {
        vec![&kind::VALIDATION, &errors::USERNAME_TAKEN, &kind::NOT_FOUND, &errors::STAFF_CHANGE_REFUSED]
    }
}
