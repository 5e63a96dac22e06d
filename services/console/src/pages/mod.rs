//! The console's routes and what every page shares: the session gate, the CSRF check, the
//! language, and rendering. Layout: `login` (sign-in and sign-out), `queue` (list, counts,
//! export, polling, map data), `ticket` (the ticket page and its actions), `conversations` (the
//! agents' inbox and conversation pages), `assets` (embedded CSS, JavaScript and Leaflet).

mod announcements;
mod assets;
mod conversations;
mod login;
mod queue;
mod ticket;

use std::sync::Arc;

use minijinja::Environment;
use poem::http::{header, StatusCode};
use poem::web::Redirect;
use poem::{get, handler, post, EndpointExt, IntoResponse, Request, Response, Route};
use serde_json::{json, Value};

use crate::i18n::{self, Lang};
use crate::session::{self, ConsoleSession};
use crate::Console;

/// The compiled templates.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    /// Every template of the console, compiled in (HTML autoescaped).
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.add_filter("local", local_time);
        for (name, text) in [
            ("layout.html", include_str!("../../templates/layout.html")),
            ("login.html", include_str!("../../templates/login.html")),
            ("queue.html", include_str!("../../templates/queue.html")),
            ("queue_results.html", include_str!("../../templates/queue_results.html")),
            ("ticket.html", include_str!("../../templates/ticket.html")),
            ("message.html", include_str!("../../templates/message.html")),
            ("password.html", include_str!("../../templates/password.html")),
            ("announcements.html", include_str!("../../templates/announcements.html")),
            ("conversations.html", include_str!("../../templates/conversations.html")),
            ("conversations_lists.html", include_str!("../../templates/conversations_lists.html")),
            ("conversation.html", include_str!("../../templates/conversation.html")),
            ("conversation_messages.html", include_str!("../../templates/conversation_messages.html")),
        ] {
            if let Err(err) = env.add_template(name, text) {
                // A template that does not compile is a build mistake the tests catch at once.
                panic!("console template {name} does not compile: {err}");
            }
        }
        Self { env }
    }

    /// `name` rendered with `ctx`, or a plain error page (logged).
    pub fn render(&self, name: &str, ctx: &Value) -> String {
        match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(html) => html,
            Err(err) => {
                tracing::error!(error = %err, template = name, "console page failed to render");
                "<!doctype html><title>error</title><p>internal error</p>".into()
            }
        }
    }
}

/// An RFC 3339 instant as Beijing time (`2026-12-02 20:29`): China keeps UTC+8 all year.
fn local_time(at: String) -> String {
    match chrono::DateTime::parse_from_rfc3339(&at) {
        Ok(t) => match chrono::FixedOffset::east_opt(8 * 3600) {
            Some(beijing) => t.with_timezone(&beijing).format("%Y-%m-%d %H:%M").to_string(),
            None => at,
        },
        Err(_) => at,
    }
}

/// Every console route, with the console's state as request data (mounted at `/console`).
pub fn routes(console: Arc<Console>) -> impl poem::Endpoint {
    Route::new()
        .at("/", get(home))
        .at("/login", get(login::show_form).post(login::submit))
        .at("/logout", post(login::sign_out))
        .at("/password", get(login::password_form).post(login::change_password))
        .at("/lang/:code", get(language))
        .at("/queue", get(queue::list))
        .at("/queue/stamp", get(queue::stamp))
        .at("/queue/export.csv", get(queue::export))
        .at("/map.json", get(queue::map_data))
        .at("/districts.json", get(queue::district_outlines))
        .at("/tickets/:id", get(ticket::show))
        .at("/tickets/:id/:action", post(ticket::act))
        .at("/conversations", get(conversations::inbox))
        .at("/conversations/status", post(conversations::set_status))
        .at("/conversations/assets/:name", get(conversations::asset))
        .at("/conversations/:id", get(conversations::show))
        .at("/conversations/:id/:action", post(conversations::act))
        .at("/announcements", get(announcements::show).post(announcements::create))
        .at("/announcements/:id/:action", post(announcements::act))
        .at("/assets/*path", get(assets::serve))
        .data(console)
}

/// What a page knows about its request.
pub struct Ctx {
    /// The page language.
    pub lang: Lang,
    /// Whether cookies must be `Secure` (https, directly or through a trusted proxy).
    pub secure: bool,
    /// This page's path and query, for the language switch to come back to.
    pub here: String,
}

impl Ctx {
    /// Reads the language cookie and the scheme.
    pub fn of(console: &Console, req: &Request) -> Self {
        let cookies = req.header(header::COOKIE);
        let lang = Lang::from_code(session::cookie(cookies, i18n::COOKIE));
        let via_trusted_https = city_platform::edge::forwarded_https(req, &console.trusted_proxies);
        let secure = req.scheme() == &poem::http::uri::Scheme::HTTPS || via_trusted_https;
        let here = req.original_uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
        let here =
            if req.method() == poem::http::Method::GET && is_local(&here) { here } else { "/console/queue".into() };
        Self { lang, secure, here }
    }

    /// The context every template gets: words, language, and the signed-in staff member.
    pub fn base(&self, console: &Console, me: Option<&ConsoleSession>, nav: &str) -> Value {
        json!({
            "t": self.lang.words(),
            "lang": self.lang.code(),
            "html_lang": self.lang.html(),
            "nav": nav,
            "back": crate::clients::enc(&self.here),
            "me": me.map(|s| json!({
                "name": s.display_name, "username": s.username, "roles": s.roles.join(", "),
                "scope": scope_text(s),
            })),
            "csrf": me.map(|s| s.csrf.clone()),
            "poll_secs": console.settings.poll_secs,
            "tile_url": console.settings.tile_url,
            "tile_attribution": console.settings.tile_attribution,
        })
    }
}

fn scope_text(s: &ConsoleSession) -> String {
    let mut parts: Vec<String> = s.districts.clone();
    parts.extend(s.agencies.iter().cloned());
    if s.roles.iter().any(|r| r == "admin") {
        parts.push("*".into());
    }
    parts.join(", ")
}

/// The signed-in clerk, or the response that sends them to sign in.
pub async fn signed_in(console: &Console, req: &Request) -> Result<(String, ConsoleSession), Response> {
    let id = session::cookie(req.header(header::COOKIE), session::COOKIE).map(str::to_owned);
    let found = match &id {
        Some(id) => console.sessions.touch(id).await.unwrap_or_else(|err| {
            tracing::warn!(error = %err, "console session store failed");
            None
        }),
        None => None,
    };
    match (id, found) {
        // A temporary password is changed before anything else.
        (Some(_), Some(s)) if s.must_change && !matches!(req.uri().path(), "/password" | "/logout") => {
            if req.method() == poem::http::Method::GET {
                Err(Redirect::see_other("/console/password").into_response())
            } else {
                Err(StatusCode::FORBIDDEN.with_body("change your temporary password first").into_response())
            }
        }
        (Some(id), Some(s)) => Ok((id, s)),
        _ if req.method() == poem::http::Method::GET && !req.uri().path().ends_with(".json") => {
            let back = req.original_uri().path_and_query().map(|p| p.as_str()).unwrap_or("/console/queue");
            let to = format!("/console/login?next={}", crate::clients::enc(back));
            Err(Redirect::see_other(to).into_response())
        }
        _ => Err(StatusCode::UNAUTHORIZED.with_body("sign in first").into_response()),
    }
}

/// Refuses an unsafe request whose CSRF token (form field `csrf` or `X-CSRF-Token`) is not the
/// session's.
pub fn check_csrf(
    console: &Console,
    req: &Request,
    s: &ConsoleSession,
    form_token: Option<&str>,
) -> Result<(), Response> {
    let sent = form_token.or_else(|| req.header("x-csrf-token"));
    if sent.is_some_and(|t| session::same_token(t, &s.csrf)) {
        Ok(())
    } else {
        tracing::warn!(staff_id = %s.staff_id, path = %req.uri().path(), "console request without a valid CSRF token refused");
        let ctx = Ctx::of(console, req);
        Err(message(console, &ctx, Some(s), StatusCode::FORBIDDEN, "csrf"))
    }
}

/// A page with one message (`key` in the words) and a link back.
pub fn message(console: &Console, ctx: &Ctx, me: Option<&ConsoleSession>, status: StatusCode, key: &str) -> Response {
    let mut c = ctx.base(console, me, "");
    c["message"] = json!(ctx.lang.words().get(key).copied().unwrap_or(key));
    html(status, console.pages.render("message.html", &c))
}

/// An HTML response that no cache keeps (pages show personal data).
pub fn html(status: StatusCode, body: String) -> Response {
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header(header::CACHE_CONTROL, "no-store")
        .body(body)
}

#[handler]
fn home() -> Redirect {
    Redirect::see_other("/console/queue")
}

/// Sets the language cookie and goes back to the page the switch was on.
#[handler]
fn language(req: &Request, console: poem::web::Data<&Arc<Console>>, code: poem::web::Path<String>) -> Response {
    let ctx = Ctx::of(&console, req);
    let lang = Lang::from_code(Some(code.0.as_str()));
    let back = req
        .uri()
        .query()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "back").map(|(_, v)| v.into_owned()))
        .filter(|b| is_local(b))
        .unwrap_or_else(|| "/console/queue".into());
    // Not HttpOnly-sensitive, but kept to the console like the others; a year.
    let cookie = format!(
        "{}={}; Path=/console; SameSite=Strict; Max-Age=31536000{}",
        i18n::COOKIE,
        lang.code(),
        if ctx.secure { "; Secure" } else { "" }
    );
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, back)
        .header(header::SET_COOKIE, cookie)
        .finish()
}

#[cfg(test)]
mod tests;

/// Only paths inside the console may be redirect targets (no open redirect).
pub fn is_local(path: &str) -> bool {
    path.starts_with("/console") && !path.starts_with("//") && !path.contains("://") && !path.contains('\\')
}
