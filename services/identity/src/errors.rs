//! Identity's own error kinds: one row each (code, status, English and Chinese title, what it
//! means), for the problems its operations answer, `docs/errors.md` and the OpenAPI document.
//! The platform's common kinds (`validation`, `not-found`, `forbidden`, ...) are not repeated.
//!
//! Use cases raise typed errors (`SignInError`, `StaffLoginError`, `PeopleError`, ...); the API
//! layer (`api/problems.rs`) turns each variant into a problem of one of these kinds.

use city_platform::problem::ErrorKind;

/// Staff sign-in with a wrong username or password (which one is never said).
pub const BAD_CREDENTIALS: ErrorKind = ErrorKind::new(
    401,
    "bad-credentials",
    "Wrong username or password",
    "用户名或密码错误",
    "The username is unknown, the password is wrong, or the account is locked or disabled; which one is not said (admins see the state, and the audit log the reason).",
);
/// Too many failed staff sign-ins in a row.
pub const ACCOUNT_LOCKED: ErrorKind = ErrorKind::new(
    429,
    "account-locked",
    "Too many failed sign-ins",
    "登录失败次数过多",
    "Five failed password checks in a row lock the account for 15 minutes; changing one's own password answers this while locked (`Retry-After` says when to try again). Sign-in answers `bad-credentials` instead.",
);
/// A staff username already in use.
pub const USERNAME_TAKEN: ErrorKind = ErrorKind::new(
    409,
    "username-taken",
    "That username is taken",
    "用户名已被占用",
    "Another staff member already signs in with this username.",
);
/// A staff change that would lock the admins out.
pub const STAFF_CHANGE_REFUSED: ErrorKind = ErrorKind::new(
    409,
    "staff-change-refused",
    "That change would lock the admins out",
    "该操作会导致无管理员可用",
    "Nobody disables their own account, and the last enabled admin stays enabled.",
);
/// WeChat answered with an error this portal does not expect.
pub const WECHAT_UPSTREAM_ERROR: ErrorKind = ErrorKind::new(
    502,
    "wechat-upstream-error",
    "WeChat answered with an error",
    "微信接口返回错误",
    "WeChat refused our call with an error code we do not expect from a client's input; the log has it. Try again later.",
);
/// The same ID number twice on one citizen's list.
pub const PERSON_EXISTS: ErrorKind = ErrorKind::new(
    409,
    "person-exists",
    "This ID number is already on your list",
    "该身份证号已在就诊人列表中",
    "The citizen already added a family member with this resident ID number.",
);
/// The family-member limit reached.
pub const PEOPLE_LIMIT: ErrorKind = ErrorKind::new(
    409,
    "people-limit",
    "You already have 5 family members",
    "就诊人数量已达上限（5人）",
    "A citizen keeps at most 5 family members; remove one before adding another.",
);
/// An ID number already on the most accounts allowed (issue #15).
pub const ID_NUMBER_ACCOUNTS_LIMIT: ErrorKind = ErrorKind::new(
    409,
    "id-number-accounts-limit",
    "This ID number is on too many accounts",
    "该身份证号已被过多账户添加",
    "One resident ID number may be a family member on at most `identity.max_accounts_per_id_number` accounts (3 by default).",
);
/// An ID number on another account, added without a phone-number code (issue #15).
pub const PHONE_PROOF_REQUIRED: ErrorKind = ErrorKind::new(
    409,
    "phone-proof-required",
    "This ID number is on another account: confirm its phone",
    "该身份证号已在其他账户中，请验证手机号",
    "Send `phone_code` from the Mini Program's getPhoneNumber button for the phone first recorded for this ID number.",
);
/// The phone-number code's phone is not the one recorded for the ID number (issue #15).
pub const PHONE_MISMATCH: ErrorKind = ErrorKind::new(
    403,
    "phone-mismatch",
    "The phone does not match this ID number",
    "手机号与该身份证号登记的不一致",
    "The phone behind `phone_code` is not the phone first recorded for this resident ID number.",
);
/// The real-name authority says the name is not the ID number's holder's.
pub const REAL_NAME_MISMATCH: ErrorKind = ErrorKind::new(
    422,
    "real-name-mismatch",
    "The name does not match the ID number",
    "姓名与身份证号不一致",
    "The real-name check (WeChat identity verification or the public-security service) did not confirm this name for this number.",
);
/// A Service Account sign-in whose `state` is unknown, used, expired or another browser's.
pub const OAUTH_STATE_MISMATCH: ErrorKind = ErrorKind::new(
    400,
    "oauth-state-mismatch",
    "The sign-in link is stale or not yours",
    "登录链接已失效或不属于当前浏览器",
    "The OAuth `state` is unknown, used, expired, or was issued to another browser; start again.",
);
/// The person declined the Service Account sign-in.
pub const OAUTH_DECLINED: ErrorKind = ErrorKind::new(
    403,
    "oauth-declined",
    "The sign-in was not authorised",
    "用户未授权登录",
    "WeChat came back without a code: the person declined the Service Account sign-in.",
);
/// A WeChat page opened in snapshot mode (the person has not authorised it).
pub const WECHAT_SNAPSHOT_USER: ErrorKind = ErrorKind::new(
    403,
    "wechat-snapshot-user",
    "Open the page in WeChat to sign in",
    "请在微信中打开页面登录",
    "The page was shown in WeChat's snapshot mode; the person has not authorised the sign-in.",
);
/// A WeChat identity already linked to another citizen.
pub const IDENTITY_LINKED_ELSEWHERE: ErrorKind = ErrorKind::new(
    409,
    "identity-linked-elsewhere",
    "That WeChat account belongs to another citizen",
    "该微信账号已绑定其他用户",
    "The Service Account identity behind the code already belongs to another citizen.",
);
/// A WeChat code (`wx.login`, phone button) WeChat does not know.
pub const WECHAT_INVALID_CODE: ErrorKind = ErrorKind::new(
    400,
    "wechat-invalid-code",
    "The WeChat code was refused",
    "微信登录凭证无效",
    "WeChat does not know the code (errcode 40029): expired or not a code of this app; get a new one.",
);
/// A WeChat code used before.
pub const WECHAT_CODE_USED: ErrorKind = ErrorKind::new(
    400,
    "wechat-code-used",
    "The WeChat code was refused",
    "微信登录凭证已被使用",
    "The code was already exchanged (errcode 40163); each code works once.",
);
/// A Service Account OAuth code past its five minutes.
pub const WECHAT_OAUTH_CODE_EXPIRED: ErrorKind = ErrorKind::new(
    400,
    "wechat-oauth-code-expired",
    "The WeChat code was refused",
    "微信授权码已过期",
    "The Service Account OAuth code is older than five minutes (errcode 42003); sign in again.",
);
/// WeChat considers the account high-risk.
pub const WECHAT_HIGH_RISK_USER: ErrorKind = ErrorKind::new(
    403,
    "wechat-high-risk-user",
    "WeChat blocked this sign-in",
    "微信拦截了此次登录",
    "WeChat refuses to sign in an account it considers high-risk (errcode 40226).",
);
/// WeChat's own rate limit on sign-ins.
pub const WECHAT_RATE_LIMITED: ErrorKind = ErrorKind::new(
    429,
    "wechat-rate-limited",
    "Too many WeChat sign-ins",
    "微信登录过于频繁",
    "WeChat limits how often an app may exchange codes (errcode 45011); try again in a minute.",
);
/// Closing an account while something is pending (issue #23).
pub const ACCOUNT_CLOSE_PENDING: ErrorKind = ErrorKind::new(
    409,
    "account-close-pending",
    "Something is still pending on this account",
    "账户仍有未完成事项，暂不能注销",
    "A payment is in flight (field `orders`) or an upcoming appointment is past its cancellation deadline (field `appointments`); the field lists their ids. The account stays open (with a payment in flight nothing changed; other appointments may have been cancelled).",
);

/// Every kind of identity's own.
pub const KINDS: &[&ErrorKind] = &[
    &BAD_CREDENTIALS,
    &ACCOUNT_LOCKED,
    &USERNAME_TAKEN,
    &STAFF_CHANGE_REFUSED,
    &WECHAT_UPSTREAM_ERROR,
    &PERSON_EXISTS,
    &PEOPLE_LIMIT,
    &ID_NUMBER_ACCOUNTS_LIMIT,
    &PHONE_PROOF_REQUIRED,
    &PHONE_MISMATCH,
    &REAL_NAME_MISMATCH,
    &OAUTH_STATE_MISMATCH,
    &OAUTH_DECLINED,
    &WECHAT_SNAPSHOT_USER,
    &IDENTITY_LINKED_ELSEWHERE,
    &WECHAT_INVALID_CODE,
    &WECHAT_CODE_USED,
    &WECHAT_OAUTH_CODE_EXPIRED,
    &WECHAT_HIGH_RISK_USER,
    &WECHAT_RATE_LIMITED,
    &ACCOUNT_CLOSE_PENDING,
];
