//! `/v1/channel/accounts/{account}/miniprograms` (issue #20): the Mini Programs linked to a
//! Service Account, through WeChat's `wxamplink`, `wxamplinkget` and `wxampunlink` with the
//! account's own client. WeChat allows a limited number (`channel.miniprogram_links_max`, 10);
//! one more is refused here with 409 naming `appid` before WeChat is asked, and WeChat's own
//! refusal (89016, when its count and ours differ) is answered the same way. Admins only.

use std::sync::Arc;

use city_notify::wechat::WechatApiError;
use city_platform::auth::{Role, StaffAuth};
use city_platform::problem::{kind, ErrorKind, ErrorSet};
use city_platform::{Failure, IntoProblem, JsonBody, Matching, Problem};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::accounts::Account;
use crate::state::ChannelState;

city_platform::pattern!(
    /// A Mini Program appid's shape.
    pub AppidShape = "^wx[0-9A-Za-z]{1,30}$"
);

/// The account key names no Service Account of this deployment.
pub const UNKNOWN_ACCOUNT: ErrorKind = ErrorKind::new(
    404,
    "unknown-service-account",
    "No such Service Account",
    "服务号不存在",
    "Use `city` or the key of a departmental account (`channel.accounts`).",
);
/// The account links WeChat's maximum of Mini Programs already.
pub const LINKS_FULL: ErrorKind = ErrorKind::new(
    409,
    "miniprogram-links-full",
    "The account links its maximum of Mini Programs",
    "关联小程序数量已达上限",
    "Unlink one first; WeChat allows a limited number per Service Account (channel.miniprogram_links_max).",
);
/// The Mini Program is linked already.
pub const ALREADY_LINKED: ErrorKind = ErrorKind::new(
    409,
    "miniprogram-already-linked",
    "The Mini Program is linked already",
    "该小程序已关联",
    "Nothing to do; it is in the list.",
);
/// Unlinking one that is not linked.
pub const NOT_LINKED: ErrorKind = ErrorKind::new(
    404,
    "miniprogram-not-linked",
    "The Mini Program is not linked",
    "该小程序未关联",
    "See the list of linked Mini Programs.",
);

/// WeChat's errcodes for these calls (the sandbox answers the same).
const WX_ALREADY_LINKED: i64 = 89015;
const WX_LINKS_FULL: i64 = 89016;
const WX_NOT_LINKED: i64 = 89014;

#[derive(Tags)]
enum LinkTags {
    /// Service Accounts: the Mini Programs linked to each.
    ServiceAccounts,
}

/// A linked Mini Program.
#[derive(Debug, Clone, Object)]
#[oai(rename = "LinkedMiniProgram")]
pub struct LinkView {
    /// Its appid.
    pub appid: String,
    /// WeChat's status of the link (1: linked).
    pub status: i64,
    /// Whether followers were told of the link.
    pub notify_users: bool,
    /// Whether it shows on the account's profile.
    pub show_profile: bool,
}

/// The Mini Programs linked to an account.
#[derive(Debug, Object)]
#[oai(rename = "LinkedMiniProgramList")]
pub struct LinkList {
    /// The account's key.
    pub account: String,
    /// Linked, in linking order.
    pub items: Vec<LinkView>,
    /// How many may be linked (`channel.miniprogram_links_max`).
    pub max: i64,
}

/// A Mini Program to link.
#[derive(Debug, Object, Deserialize)]
#[oai(rename = "MiniProgramLinkInput")]
pub struct LinkInput {
    /// Its appid (`wx` and letters or digits).
    pub appid: Matching<AppidShape>,
    /// Tell followers of the link.
    #[oai(default)]
    #[serde(default)]
    pub notify_users: bool,
    /// Show it on the account's profile.
    #[oai(default)]
    #[serde(default)]
    pub show_profile: bool,
}

/// A link made.
#[derive(ApiResponse)]
pub enum Linked {
    /// Linked; the list as it is now.
    #[oai(status = 201)]
    Created(Json<LinkList>),
}

/// What the link operations fail with.
#[derive(Debug)]
pub enum LinkError {
    /// Not an admin.
    Forbidden(String),
    /// No such account.
    UnknownAccount,
    /// At the limit.
    Full(i64),
    /// Linked already.
    Already,
    /// Not linked.
    NotLinked,
    /// WeChat refused otherwise, or could not be reached.
    Wechat(WechatApiError),
}

impl From<Problem> for LinkError {
    fn from(p: Problem) -> Self {
        LinkError::Forbidden(p.detail.unwrap_or_default())
    }
}

impl IntoProblem for LinkError {
    fn into_problem(self) -> Problem {
        match self {
            LinkError::Forbidden(why) => Problem::forbidden(why),
            LinkError::UnknownAccount => Problem::of(&UNKNOWN_ACCOUNT).with_field("account", "no such account"),
            LinkError::Full(max) => {
                Problem::of(&LINKS_FULL).with_field("appid", format!("the account links {max} already, WeChat's limit"))
            }
            LinkError::Already => Problem::of(&ALREADY_LINKED).with_field("appid", "linked already"),
            LinkError::NotLinked => Problem::of(&NOT_LINKED).with_field("appid", "not linked to this account"),
            LinkError::Wechat(e) => {
                tracing::warn!(error = %e, "a Mini Program link call failed");
                Problem::unavailable("WeChat did not take the request; try again shortly")
            }
        }
    }
}

impl ErrorSet for LinkError {
    fn kinds() -> Vec<&'static ErrorKind> {
        vec![&kind::FORBIDDEN, &UNKNOWN_ACCOUNT, &kind::UNAVAILABLE]
    }
}

city_platform::error_set!(
    /// Linking: at the limit, or linked already.
    pub LinkErrors = [LINKS_FULL, ALREADY_LINKED, kind::VALIDATION] + LinkError
);
city_platform::error_set!(
    /// Unlinking: not linked.
    pub UnlinkErrors = [NOT_LINKED] + LinkError
);

/// The link operations over the channel's accounts.
pub struct LinksApi {
    pub(crate) state: Arc<ChannelState>,
}

fn flag(v: &Value) -> bool {
    v.as_bool().unwrap_or_else(|| v.as_i64() == Some(1) || v.as_str() == Some("1"))
}

impl LinksApi {
    fn account(&self, staff: &city_platform::auth::Staff, key: &str) -> Result<Arc<Account>, LinkError> {
        staff.require(&[Role::Admin])?;
        self.state.accounts.by_key(key).cloned().ok_or(LinkError::UnknownAccount)
    }

    fn max(&self) -> i64 {
        i64::from(self.state.platform.settings.channel.miniprogram_links_max)
    }

    async fn list_of(&self, account: &Account) -> Result<LinkList, LinkError> {
        let answer = account
            .api
            .api(reqwest::Method::POST, "/cgi-bin/wxopen/wxamplinkget", Some(&json!({})))
            .await
            .map_err(LinkError::Wechat)?;
        let items = answer["wxopens"]["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|i| LinkView {
                        appid: i["appid"].as_str().unwrap_or_default().to_owned(),
                        status: i["status"].as_i64().unwrap_or_default(),
                        notify_users: flag(&i["notify_users"]),
                        show_profile: flag(&i["show_profile"]),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(LinkList { account: account.key.clone(), items, max: self.max() })
    }
}

#[OpenApi(prefix_path = "/v1/channel/accounts", tag = "LinkTags::ServiceAccounts")]
impl LinksApi {
    /// List the Mini Programs linked to a Service Account
    ///
    /// As WeChat reports them (`wxamplinkget`). `account`: `city` or a departmental key. Admins only.
    #[oai(path = "/:account/miniprograms", method = "get", operation_id = "list_linked_miniprograms")]
    async fn list(&self, auth: StaffAuth, account: Path<String>) -> Result<Json<LinkList>, Failure<LinkError>> {
        let account = self.account(&auth.0, &account.0)?;
        Ok(Json(self.list_of(&account).await?))
    }

    /// Link a Mini Program to a Service Account
    ///
    /// Through WeChat's `wxamplink`. With `channel.miniprogram_links_max` linked already (WeChat
    /// allows 10), the answer is 409 `/problems/miniprogram-links-full` naming `appid`, and
    /// WeChat is not asked. Admins only.
    #[oai(path = "/:account/miniprograms", method = "post", operation_id = "link_miniprogram")]
    async fn link(
        &self,
        auth: StaffAuth,
        account: Path<String>,
        body: JsonBody<LinkInput>,
    ) -> Result<Linked, Failure<LinkErrors>> {
        let account = self.account(&auth.0, &account.0)?;
        let before = self.list_of(&account).await?;
        if before.items.iter().any(|l| l.appid == *body.0.appid) {
            return Err(LinkError::Already.into());
        }
        if i64::try_from(before.items.len()).unwrap_or(i64::MAX) >= self.max() {
            return Err(LinkError::Full(self.max()).into());
        }
        let req = json!({
            "appid": body.0.appid,
            "notify_users": if body.0.notify_users { "1" } else { "0" },
            "show_profile": if body.0.show_profile { "1" } else { "0" },
        });
        match account.api.api(reqwest::Method::POST, "/cgi-bin/wxopen/wxamplink", Some(&req)).await {
            Ok(_) => {}
            Err(e) if e.errcode() == Some(WX_LINKS_FULL) => return Err(LinkError::Full(self.max()).into()),
            Err(e) if e.errcode() == Some(WX_ALREADY_LINKED) => return Err(LinkError::Already.into()),
            Err(e) => return Err(LinkError::Wechat(e).into()),
        }
        tracing::info!(account = %account.key, miniprogram = %body.0.appid, staff = %auth.0.staff_id, "Mini Program linked");
        Ok(Linked::Created(Json(self.list_of(&account).await?)))
    }

    /// Unlink a Mini Program from a Service Account
    ///
    /// Through WeChat's `wxampunlink`. Admins only.
    #[oai(path = "/:account/miniprograms/:appid", method = "delete", operation_id = "unlink_miniprogram")]
    async fn unlink(
        &self,
        auth: StaffAuth,
        account: Path<String>,
        appid: Path<String>,
    ) -> Result<Json<LinkList>, Failure<UnlinkErrors>> {
        let account = self.account(&auth.0, &account.0)?;
        let req = json!({"appid": appid.0});
        match account.api.api(reqwest::Method::POST, "/cgi-bin/wxopen/wxampunlink", Some(&req)).await {
            Ok(_) => {}
            Err(e) if e.errcode() == Some(WX_NOT_LINKED) => return Err(LinkError::NotLinked.into()),
            Err(e) => return Err(LinkError::Wechat(e).into()),
        }
        tracing::info!(account = %account.key, miniprogram = %appid.0, staff = %auth.0.staff_id, "Mini Program unlinked");
        Ok(Json(self.list_of(&account).await?))
    }
}
