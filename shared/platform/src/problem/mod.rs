//! The single edge where errors become HTTP: RFC 9457 `application/problem+json`.
//!
//! Every error a client can see, including poem's and poem-openapi's own rejections (bad JSON, a
//! missing parameter, an unknown route, a wrong method), is rendered here, with a stable `type`
//! per kind and the request id as `instance`. 5xx bodies never echo the cause; the log has it.

use std::fmt;

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

use crate::request_id;

mod failure;
pub mod kind;

pub use failure::{documented_kinds, ErrorSet, Failure, IntoProblem};
pub use kind::ErrorKind;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// One field that failed to parse or validate.
#[derive(Debug, Clone, PartialEq, Eq, Object, serde::Serialize, serde::Deserialize)]
pub struct FieldError {
    /// The field, as the client named it: `slot_id`, `people[0].id_card_number`, or a
    /// parameter name (`date`), or a header (`Idempotency-Key`).
    pub field: String,
    /// What is wrong with it, in words a developer can act on.
    pub message: String,
}

/// An RFC 9457 problem detail.
#[derive(Debug, Clone, Object, serde::Serialize, serde::Deserialize)]
#[oai(example)]
pub struct Problem {
    /// Stable per error kind, e.g. `/problems/slot-full`. Clients switch on this, not on `title`.
    #[oai(rename = "type")]
    #[serde(rename = "type")]
    pub kind: String,
    /// A short, human-readable summary of the kind.
    pub title: String,
    /// The HTTP status code, repeated for clients that lose it.
    pub status: u16,
    /// What happened this time, when there is more to say than the title.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
    /// The request id, so a citizen's screenshot leads straight to the log line.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub instance: Option<String>,
    /// Field-level errors: `[{"field": "phone", "message": "not a mobile number"}]`. Absent when
    /// no field is to blame (the portal's rule: a field without a value is left out, never null).
    #[oai(default, skip_serializing_if_is_empty)]
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<FieldError>,
    /// Seconds to wait before retrying (rate limits, in-progress duplicates); also sent as `Retry-After`.
    #[oai(skip)]
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem of a kind from the platform table or a service's own (`slot-full`).
    pub fn new(status: StatusCode, kind: &str, title: impl Into<String>) -> Self {
        Self {
            kind: format!("/problems/{kind}"),
            title: title.into(),
            status: status.as_u16(),
            detail: None,
            instance: request_id::current(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// Adds what happened this time.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds a field error.
    pub fn with_field(mut self, field: impl Into<String>, message: impl Into<String>) -> Self {
        self.errors.push(FieldError { field: field.into(), message: message.into() });
        self
    }

    /// A request that could not be parsed at all (syntax, type, missing field): 400.
    pub fn malformed(field: Option<&str>, message: impl Into<String>) -> Self {
        let message = message.into();
        let p = Self::of(&kind::MALFORMED).with_detail(message.clone());
        match field {
            Some(f) => p.with_field(f, message),
            None => p,
        }
    }

    /// A well-formed request whose field breaks a rule (an invalid ID number): 422.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::of(&kind::VALIDATION).with_detail(message.clone()).with_field(field, message)
    }

    /// Several invalid fields at once: 422.
    pub fn invalid_fields(errors: Vec<FieldError>) -> Self {
        let mut p = Self::of(&kind::VALIDATION);
        p.title = "Some fields are invalid".into();
        p.errors = errors;
        p
    }

    /// The thing does not exist, or the caller may not know that it does: 404.
    pub fn not_found(what: &str) -> Self {
        Self::of(&kind::NOT_FOUND).with_detail(format!("no such {what}"))
    }

    /// No or bad credentials: 401.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::of(&kind::UNAUTHORIZED).with_detail(detail)
    }

    /// Signed in, but this role or scope may not do this: 403.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::of(&kind::FORBIDDEN).with_detail(detail)
    }

    /// The request conflicts with the current state: 409.
    pub fn conflict(kind: &str, title: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, kind, title)
    }

    /// Our fault. The body says nothing about the cause: log it where this is built.
    pub fn internal() -> Self {
        Self::of(&kind::INTERNAL).with_detail("something went wrong on our side; quote the instance when reporting it")
    }

    /// A dependency (database, Redis, WeChat) is not answering: 503.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::of(&kind::UNAVAILABLE).with_detail(detail)
    }

    /// Logs `cause` with its chain and returns the opaque 500.
    pub fn internal_from(cause: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = cause.to_string();
        let mut source = cause.source();
        while let Some(s) = source {
            chain.push_str(": ");
            chain.push_str(&s.to_string());
            source = s.source();
        }
        tracing::error!(error = %chain, "request failed");
        Self::internal()
    }

    /// The HTTP status as a `StatusCode`.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl poem_openapi::types::Example for Problem {
    fn example() -> Self {
        Self {
            kind: "/problems/validation".into(),
            title: "A field is invalid".into(),
            status: 422,
            detail: Some("check character does not match".into()),
            instance: Some("01JD8Q5R2W6T4Y3X9Z0ABCDEF".into()),
            errors: vec![FieldError {
                field: "id_card_number".into(),
                message: "check character does not match".into(),
            }],
            retry_after: None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.kind)?;
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let retry_after = self.retry_after;
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{\"type\":\"/problems/internal\"}".to_vec());
        let mut resp = Response::builder().status(status).content_type(PROBLEM_JSON).body(body);
        if let Some(secs) = retry_after {
            if let Ok(v) = secs.to_string().parse() {
                resp.headers_mut().insert(poem::http::header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

/// The error half of every operation's result. Each variant is one documented response; the
/// body is always a [`Problem`].
#[derive(Debug, ApiResponse)]
pub enum ProblemResponse {
    /// The request could not be read: malformed JSON, a missing or mistyped field or parameter.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// No credentials, or expired, revoked or malformed ones.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>),
    /// The caller's role or scope does not allow this.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>),
    /// No such resource, or not one the caller may see.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The request conflicts with the current state (already paid, slot full, stale version).
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// A field is well-formed but breaks a rule; `errors` names it.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// Too many requests; `Retry-After` says when to try again.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>),
    /// Our fault; quote `instance` when reporting it.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
    /// A dependency is not answering; try again shortly.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>),
}

impl From<Problem> for ProblemResponse {
    fn from(p: Problem) -> Self {
        match p.status {
            400 => Self::BadRequest(Json(p)),
            401 => Self::Unauthorized(Json(p)),
            403 => Self::Forbidden(Json(p)),
            404 => Self::NotFound(Json(p)),
            409 => Self::Conflict(Json(p)),
            422 => Self::Unprocessable(Json(p)),
            429 => Self::TooManyRequests(Json(p)),
            503 => Self::Unavailable(Json(p)),
            _ => Self::Internal(Json(p)),
        }
    }
}

impl ProblemResponse {
    /// The problem inside, whichever status it travels as.
    pub fn problem(&self) -> &Problem {
        match self {
            Self::BadRequest(p)
            | Self::Unauthorized(p)
            | Self::Forbidden(p)
            | Self::NotFound(p)
            | Self::Conflict(p)
            | Self::Unprocessable(p)
            | Self::TooManyRequests(p)
            | Self::Internal(p)
            | Self::Unavailable(p) => &p.0,
        }
    }
}

impl From<sqlx::Error> for Problem {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => {
                tracing::error!(error = %err, "database unavailable");
                Problem::unavailable("the database is not answering")
            }
            other => Problem::internal_from(&other),
        }
    }
}

impl From<sqlx::Error> for ProblemResponse {
    fn from(err: sqlx::Error) -> Self {
        Problem::from(err).into()
    }
}

/// Turns any error that reached the top of the route tree into a problem response.
/// poem and poem-openapi reject requests with typed errors; each becomes its 4xx here.
pub fn render_error(err: poem::Error) -> Response {
    if err.is_from_response() {
        // A handler's own ApiResponse error, already a problem body: pass it on untouched.
        return err.into_response();
    }
    problem_from_error(err).into_response()
}

/// The problem for an error that escaped a handler (see [`render_error`]).
pub fn problem_from_error(err: poem::Error) -> Problem {
    use poem_openapi::error::{
        ContentTypeError, ParseMultipartError, ParseParamError, ParsePathError, ParseRequestPayloadError,
    };

    if let Some(p) = err.downcast_ref::<Problem>() {
        return p.clone();
    }
    if let Some(e) = err.downcast_ref::<ParseParamError>() {
        return Problem::malformed(Some(e.name), tidy_param_reason(&e.reason));
    }
    if let Some(e) = err.downcast_ref::<ParsePathError>() {
        return Problem::malformed(Some(e.name), e.reason.clone());
    }
    if let Some(e) = err.downcast_ref::<ParseRequestPayloadError>() {
        let field = field_in_reason(&e.reason);
        return Problem::malformed(field.as_deref().or(Some("body")), e.reason.clone());
    }
    if let Some(e) = err.downcast_ref::<ParseMultipartError>() {
        return Problem::malformed(Some("body"), e.reason.clone());
    }
    if let Some(e) = err.downcast_ref::<ContentTypeError>() {
        return Problem::of(&kind::UNSUPPORTED_MEDIA_TYPE)
            .with_detail(e.to_string())
            .with_field("Content-Type", e.to_string());
    }
    if err.is::<poem_openapi::error::AuthorizationError>() {
        return Problem::unauthorized("missing or malformed credentials");
    }
    let status = err.status();
    match status {
        StatusCode::NOT_FOUND => Problem::of(&kind::NOT_FOUND).with_detail("no such route"),
        StatusCode::METHOD_NOT_ALLOWED => {
            Problem::of(&kind::METHOD_NOT_ALLOWED).with_detail("this path does not accept that method")
        }
        StatusCode::PAYLOAD_TOO_LARGE => Problem::of(&kind::PAYLOAD_TOO_LARGE).with_detail(err.to_string()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Problem::of(&kind::UNSUPPORTED_MEDIA_TYPE).with_detail(err.to_string()),
        s if s.is_client_error() => {
            let kind = s.canonical_reason().unwrap_or("client-error").to_ascii_lowercase().replace(' ', "-");
            Problem::new(s, &kind, s.canonical_reason().unwrap_or("Bad request")).with_detail(err.to_string())
        }
        s if s == StatusCode::SERVICE_UNAVAILABLE => Problem::unavailable(err.to_string()),
        _ => {
            tracing::error!(error = %err, "unhandled error");
            Problem::internal()
        }
    }
}

/// A parameter's reason without poem-openapi's wrapping that says nothing the field name does not:
/// `failed to parse "string": ` before a string's own message, and `(occurred while parsing
/// "optional_string")` after it. Other types keep their prefix, which names the expected type.
fn tidy_param_reason(reason: &str) -> String {
    let mut text = reason.strip_prefix("failed to parse \"string\": ").unwrap_or(reason);
    if let Some(at) = text.rfind(" (occurred while parsing \"") {
        if text.ends_with("\")") {
            text = &text[..at];
        }
    }
    text.to_owned()
}

/// poem-openapi says which field failed in its reason text (`failed to parse "Foo": field `bar`…`
/// or `… (occurred while parsing "Foo" at "bar")`); pull the name out so clients get `errors[].field`.
pub(crate) fn field_in_reason(reason: &str) -> Option<String> {
    for (open, close) in [("field `", "`"), ("field \"", "\""), ("missing field `", "`")] {
        if let Some(start) = reason.find(open) {
            let rest = &reason[start + open.len()..];
            if let Some(end) = rest.find(close) {
                return Some(rest[..end].to_owned());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_serialises_with_type_and_without_empty_parts() {
        let p = Problem::new(StatusCode::CONFLICT, "slot-full", "The slot is full");
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "/problems/slot-full");
        assert_eq!(v["status"], 409);
        assert!(v.get("errors").is_none());
        assert!(v.get("detail").is_none());
    }

    #[test]
    fn the_schema_does_not_require_what_an_answer_may_leave_out() {
        use poem_openapi::types::Type;
        let mut registry = poem_openapi::registry::Registry::new();
        Problem::register(&mut registry);
        let schema = &registry.schemas["Problem"];
        assert_eq!(schema.required, vec!["type", "title", "status"]);
    }

    #[test]
    fn an_invalid_field_is_named_in_errors() {
        let p = Problem::invalid("id_card_number", "check character does not match");
        assert_eq!(p.status, 422);
        assert_eq!(p.errors[0].field, "id_card_number");
    }

    #[test]
    fn field_names_are_found_in_poem_openapi_reasons() {
        assert_eq!(field_in_reason("failed to parse \"X\": field `slot_id` missing").as_deref(), Some("slot_id"));
        assert_eq!(
            tidy_param_reason(
                "failed to parse \"string\": must match the pattern ^(us)$ (occurred while parsing \"optional_string\")"
            ),
            "must match the pattern ^(us)$"
        );
        let number = "failed to parse \"integer(uint32)\": invalid digit found in string";
        assert_eq!(tidy_param_reason(number), number);
        assert_eq!(field_in_reason("expects an object"), None);
    }

    #[test]
    fn an_unknown_route_is_a_404_problem() {
        let p = problem_from_error(poem::error::NotFoundError.into());
        assert_eq!(p.status, 404);
        assert_eq!(p.kind, "/problems/not-found");
    }
}
