//! The table of error kinds: one line per kind (code, status, title in English and Chinese, what it
//! means), the way meilisearch and crates.io keep theirs. No status or `type` is invented where an
//! error is raised: a service raises a typed error, and its mapping picks a kind from a table.
//!
//! The platform holds the kinds every service shares ([`COMMON`]); each service exports its own
//! (`<service>::errors::KINDS`). The gateway gathers them all for `docs/errors.md` and a test refuses
//! a code defined twice.

use poem::http::StatusCode;

use super::Problem;

/// One kind of error a client can get: the stable `type` is `/problems/<code>`.
#[derive(Debug, PartialEq, Eq)]
pub struct ErrorKind {
    /// The stable part of `type`, e.g. `slot-full`. Clients switch on it.
    pub code: &'static str,
    /// The HTTP status every problem of this kind travels with.
    pub status: u16,
    /// The short English title (`title` of the problem).
    pub title: &'static str,
    /// The same title in Chinese, for the Mini Program and the console.
    pub title_zh: &'static str,
    /// One line on when it happens, for `docs/errors.md` and the OpenAPI response descriptions.
    pub meaning: &'static str,
}

impl ErrorKind {
    /// One row of a table.
    pub const fn new(
        status: u16,
        code: &'static str,
        title: &'static str,
        title_zh: &'static str,
        meaning: &'static str,
    ) -> Self {
        Self { code, status, title, title_zh, meaning }
    }

    /// The status as a `StatusCode`.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The `type` of problems of this kind.
    pub fn type_uri(&self) -> String {
        format!("/problems/{}", self.code)
    }
}

impl Problem {
    /// A problem of a kind from a table, with the kind's status and title.
    pub fn of(kind: &ErrorKind) -> Self {
        Self::new(kind.status_code(), kind.code, kind.title)
    }
}

/// The request could not be read: malformed JSON, a missing or mistyped field or parameter.
pub const MALFORMED: ErrorKind = ErrorKind::new(
    400,
    "malformed-request",
    "The request could not be read",
    "请求无法解析",
    "The body, a parameter or a header could not be parsed; `errors` names it.",
);
/// A well-formed field breaks a rule.
pub const VALIDATION: ErrorKind = ErrorKind::new(
    422,
    "validation",
    "A field is invalid",
    "字段不符合要求",
    "A field is well-formed but breaks a rule (an ID number's check digit, a date in the past); `errors` names it.",
);
/// No or bad credentials.
pub const UNAUTHORIZED: ErrorKind = ErrorKind::new(
    401,
    "unauthorized",
    "Sign-in required",
    "需要登录",
    "No credentials, or an unknown, expired or revoked token or API key.",
);
/// Signed in, but not allowed.
pub const FORBIDDEN: ErrorKind = ErrorKind::new(
    403,
    "forbidden",
    "Not allowed",
    "无权操作",
    "The caller's kind, role or scope (district, hospital, API key scope) does not allow this.",
);
/// The thing does not exist, or the caller may not know that it does.
pub const NOT_FOUND: ErrorKind = ErrorKind::new(
    404,
    "not-found",
    "Not found",
    "未找到",
    "No such resource or route, or one the caller may not see.",
);
/// The path exists but not with that method.
pub const METHOD_NOT_ALLOWED: ErrorKind = ErrorKind::new(
    405,
    "method-not-allowed",
    "Method not allowed",
    "不支持该方法",
    "The path exists but does not accept that HTTP method.",
);
/// The body is over the portal's limit.
pub const PAYLOAD_TOO_LARGE: ErrorKind = ErrorKind::new(
    413,
    "payload-too-large",
    "Request body too large",
    "请求体过大",
    "The body is larger than the configured `max_body_bytes`.",
);
/// The body's content type is not one the operation reads.
pub const UNSUPPORTED_MEDIA_TYPE: ErrorKind = ErrorKind::new(
    415,
    "unsupported-media-type",
    "Unsupported content type",
    "不支持的内容类型",
    "`Content-Type` is missing or not one the operation reads (usually `application/json`).",
);
/// Over a rate limit.
pub const RATE_LIMITED: ErrorKind = ErrorKind::new(
    429,
    "rate-limited",
    "Too many requests",
    "请求过于频繁",
    "Over the per-address or per-credential limit of the window; `Retry-After` says when to try again.",
);
/// A request with the same Idempotency-Key is still running.
pub const IDEMPOTENCY_IN_PROGRESS: ErrorKind = ErrorKind::new(
    409,
    "idempotency-in-progress",
    "A request with this Idempotency-Key is still running",
    "相同幂等键的请求仍在处理",
    "The first request with this `Idempotency-Key` has not finished; retry after `Retry-After`.",
);
/// An Idempotency-Key reused for a different request.
pub const IDEMPOTENCY_KEY_REUSED: ErrorKind = ErrorKind::new(
    422,
    "idempotency-key-reused",
    "Idempotency-Key reused with a different request",
    "幂等键已用于其他请求",
    "The `Idempotency-Key` was already used for a request with another path or body.",
);
/// Our fault.
pub const INTERNAL: ErrorKind = ErrorKind::new(
    500,
    "internal",
    "Internal error",
    "内部错误",
    "Something failed on the server's side; quote `instance` (the request id) when reporting it.",
);
/// A dependency is not answering.
pub const UNAVAILABLE: ErrorKind = ErrorKind::new(
    503,
    "unavailable",
    "Temporarily unavailable",
    "服务暂不可用",
    "A dependency (the database, Redis, WeChat, another service) is not answering; try again shortly.",
);

/// The kinds every service shares.
pub const COMMON: &[&ErrorKind] = &[
    &MALFORMED,
    &VALIDATION,
    &UNAUTHORIZED,
    &FORBIDDEN,
    &NOT_FOUND,
    &METHOD_NOT_ALLOWED,
    &PAYLOAD_TOO_LARGE,
    &UNSUPPORTED_MEDIA_TYPE,
    &RATE_LIMITED,
    &IDEMPOTENCY_IN_PROGRESS,
    &IDEMPOTENCY_KEY_REUSED,
    &INTERNAL,
    &UNAVAILABLE,
];

/// What the edge itself can answer on any operation, whatever its handler does: an unreadable
/// request, a missing credential, a body too large or of the wrong type, the rate limit, and the
/// two server-side failures.
pub const EDGE: &[&ErrorKind] =
    &[&MALFORMED, &UNAUTHORIZED, &PAYLOAD_TOO_LARGE, &UNSUPPORTED_MEDIA_TYPE, &RATE_LIMITED, &INTERNAL, &UNAVAILABLE];

/// What operations that accept `Idempotency-Key` can answer besides their own errors.
pub const IDEMPOTENT: &[&ErrorKind] = &[&IDEMPOTENCY_IN_PROGRESS, &IDEMPOTENCY_KEY_REUSED];

/// Renders kinds as the Markdown table of `docs/errors.md`, grouped by who owns them.
pub fn markdown(groups: &[(&str, &[&ErrorKind])]) -> String {
    let mut out = String::from(
        "# Error kinds\n\nGenerated by `city errors` from the tables in the code (`shared/platform/src/problem/kind.rs` \
         and each service's `errors.rs`); CI fails when this file drifts. Every problem's `type` is \
         `/problems/<kind>`.\n",
    );
    for (owner, kinds) in groups {
        out.push_str(&format!("\n## {owner}\n\n| kind | status | title | 标题 | meaning |\n|---|---|---|---|---|\n"));
        for k in *kinds {
            out.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                k.code,
                k.status,
                k.title,
                k.title_zh,
                k.meaning.replace('|', "\\|")
            ));
        }
    }
    out
}

/// The codes defined more than once across `groups` (with their owners): empty when the tables
/// are sound. A code may appear in several groups only as the very same kind.
pub fn defined_twice(groups: &[(&str, &[&ErrorKind])]) -> Vec<String> {
    let mut seen: Vec<(&str, &ErrorKind)> = Vec::new();
    let mut clashes = Vec::new();
    for (owner, kinds) in groups {
        for k in *kinds {
            if let Some((first, _)) = seen.iter().find(|(_, s)| s.code == k.code) {
                clashes.push(format!("`{}` in {first} and {owner}", k.code));
            } else {
                seen.push((owner, k));
            }
        }
    }
    clashes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platform_table_defines_each_code_once() {
        assert!(defined_twice(&[("platform", COMMON)]).is_empty());
    }

    #[test]
    fn a_code_in_two_tables_is_reported() {
        const OTHER: ErrorKind = ErrorKind::new(409, "not-found", "t", "t", "m");
        let clashes = defined_twice(&[("platform", COMMON), ("booking", &[&OTHER])]);
        assert_eq!(clashes, vec!["`not-found` in platform and booking".to_owned()]);
    }

    #[test]
    fn a_problem_of_a_kind_has_its_type_status_and_title() {
        let p = Problem::of(&RATE_LIMITED);
        assert_eq!(p.kind, "/problems/rate-limited");
        assert_eq!(p.status, 429);
        assert_eq!(p.title, "Too many requests");
    }
}
