//! Sign-in and sign-out. The form carries a CSRF token matched against a short-lived cookie
//! (there is no session yet); identity checks the password, and every refusal gets the same
//! one message.

use std::sync::Arc;

use poem::http::{header, StatusCode};
use poem::web::{Data, Form};
use poem::{handler, IntoResponse, Request, Response};
use serde::Deserialize;
use serde_json::json;

use super::{check_csrf, html, is_local, signed_in, Ctx};
use crate::i18n;
use crate::session::{self, ConsoleSession};
use crate::Console;

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    username: String,
    password: String,
    csrf: String,
    #[serde(default)]
    next: String,
}

fn next_of(req: &Request) -> String {
    req.uri()
        .query()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "next").map(|(_, v)| v.into_owned()))
        .filter(|n| is_local(n))
        .unwrap_or_default()
}

fn form_page(
    console: &Console,
    ctx: &Ctx,
    status: StatusCode,
    error: Option<&str>,
    notice: Option<&str>,
    next: &str,
) -> Response {
    let token = session::random_token();
    let mut c = ctx.base(console, None, "login");
    c["login_csrf"] = json!(token);
    c["error"] = json!(error);
    c["notice"] = json!(notice.map(|k| ctx.lang.words()[k]));
    c["next"] = json!(next);
    let mut resp = html(status, console.pages.render("login.html", &c));
    let cookie = session::set_cookie(session::LOGIN_COOKIE, &token, ctx.secure, Some(1800));
    if let Ok(v) = cookie.parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

#[handler]
pub async fn show_form(req: &Request, console: Data<&Arc<Console>>) -> Response {
    let ctx = Ctx::of(&console, req);
    let notice = req
        .uri()
        .query()
        .and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "bye").map(|_| "signed_out"));
    form_page(&console, &ctx, StatusCode::OK, None, notice, &next_of(req))
}

#[handler]
pub async fn submit(req: &Request, console: Data<&Arc<Console>>, form: Option<Form<SignInForm>>) -> Response {
    let ctx = Ctx::of(&console, req);
    let cookie_token = session::cookie(req.header(header::COOKIE), session::LOGIN_COOKIE);
    let Some(Form(f)) = form else {
        return super::message(&console, &ctx, None, StatusCode::FORBIDDEN, "csrf");
    };
    if !cookie_token.is_some_and(|t| session::same_token(t, &f.csrf)) {
        tracing::warn!("console sign-in without a valid CSRF token refused");
        return super::message(&console, &ctx, None, StatusCode::FORBIDDEN, "csrf");
    }
    let next = if is_local(&f.next) { f.next.clone() } else { String::new() };
    let signed = match console.services.staff_sign_in(f.username.trim(), &f.password).await {
        Ok(v) => v,
        Err(crate::clients::ApiError::Unreachable(err)) => {
            tracing::warn!(error = %err, "identity unreachable from the console");
            return form_page(
                &console,
                &ctx,
                StatusCode::BAD_GATEWAY,
                Some(ctx.lang.words()["unavailable"]),
                None,
                &next,
            );
        }
        // Wrong password, unknown user, disabled, locked, malformed: one answer for all.
        Err(_) => {
            return form_page(&console, &ctx, StatusCode::UNAUTHORIZED, Some(i18n::refusal(ctx.lang)), None, &next)
        }
    };
    let staff = &signed["staff"];
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()).unwrap_or_default()
    };
    let s = ConsoleSession {
        token: signed["token"].as_str().unwrap_or_default().to_owned(),
        csrf: session::random_token(),
        staff_id: staff["id"].as_str().unwrap_or_default().to_owned(),
        username: staff["username"].as_str().unwrap_or_default().to_owned(),
        display_name: staff["display_name"].as_str().unwrap_or_default().to_owned(),
        roles: strings(&staff["roles"]),
        districts: strings(&staff["scopes"]["districts"]),
        agencies: strings(&staff["scopes"]["agencies"]),
        must_change: staff["must_change_password"].as_bool().unwrap_or(false),
    };
    let id = match console.sessions.create(&s).await {
        Ok(id) => id,
        Err(err) => {
            tracing::error!(error = %err, "console session store failed");
            let _ = console.services.sign_out(&s.token).await;
            return form_page(
                &console,
                &ctx,
                StatusCode::SERVICE_UNAVAILABLE,
                Some(ctx.lang.words()["unavailable"]),
                None,
                &next,
            );
        }
    };
    tracing::info!(staff_id = %s.staff_id, "staff signed in to the console");
    let to = if s.must_change {
        "/console/password".to_owned()
    } else if next.is_empty() {
        s.home().to_owned()
    } else {
        next
    };
    let mut resp = Response::builder().status(StatusCode::SEE_OTHER).header(header::LOCATION, to).finish();
    for c in [
        session::set_cookie(session::COOKIE, &id, ctx.secure, None),
        session::set_cookie(session::LOGIN_COOKIE, "", ctx.secure, Some(0)),
    ] {
        if let Ok(v) = c.parse() {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// The sign-out form.
#[derive(Debug, Deserialize)]
pub struct SignOutForm {
    #[serde(default)]
    csrf: String,
}

#[handler]
pub async fn sign_out(req: &Request, console: Data<&Arc<Console>>, form: Option<Form<SignOutForm>>) -> Response {
    let (id, s) = match signed_in(&console, req).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let token = form.as_ref().map(|f| f.0.csrf.as_str());
    if let Err(resp) = check_csrf(&console, req, &s, token) {
        return resp;
    }
    let ctx = Ctx::of(&console, req);
    if let Err(err) = console.sessions.end(&id).await {
        tracing::warn!(error = %err, "ending a console session failed");
    }
    if let Err(err) = console.services.sign_out(&s.token).await {
        tracing::warn!(error = %err, staff_id = %s.staff_id, "revoking the staff token at sign-out failed");
    }
    tracing::info!(staff_id = %s.staff_id, "staff signed out of the console");
    let mut resp =
        Response::builder().status(StatusCode::SEE_OTHER).header(header::LOCATION, "/console/login?bye=1").finish();
    if let Ok(v) = session::set_cookie(session::COOKIE, "", ctx.secure, Some(0)).parse() {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    resp
}

/// The password change form.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    repeat: String,
}

fn password_page(
    console: &Console,
    ctx: &Ctx,
    s: &ConsoleSession,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let mut c = ctx.base(console, Some(s), "password");
    c["error"] = json!(error);
    c["forced"] = json!(s.must_change);
    html(status, console.pages.render("password.html", &c))
}

#[handler]
pub async fn password_form(req: &Request, console: Data<&Arc<Console>>) -> Response {
    let (_, s) = match signed_in(&console, req).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let ctx = Ctx::of(&console, req);
    password_page(&console, &ctx, &s, StatusCode::OK, None)
}

#[handler]
pub async fn change_password(
    req: &Request,
    console: Data<&Arc<Console>>,
    form: Option<Form<PasswordForm>>,
) -> Response {
    let (id, mut s) = match signed_in(&console, req).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let Some(Form(f)) = form else {
        let ctx = Ctx::of(&console, req);
        return super::message(&console, &ctx, Some(&s), StatusCode::FORBIDDEN, "csrf");
    };
    if let Err(resp) = check_csrf(&console, req, &s, Some(f.csrf.as_str())) {
        return resp;
    }
    let ctx = Ctx::of(&console, req);
    let words = ctx.lang.words();
    if f.new != f.repeat {
        return password_page(&console, &ctx, &s, StatusCode::UNPROCESSABLE_ENTITY, Some(words["pw_mismatch"].into()));
    }
    match console.services.change_password(&s.token, &f.current, &f.new).await {
        Ok(_) => {
            s.must_change = false;
            if let Err(err) = console.sessions.update(&id, &s).await {
                tracing::warn!(error = %err, "updating a console session failed");
            }
            tracing::info!(staff_id = %s.staff_id, "staff changed their password in the console");
            poem::web::Redirect::see_other(format!("{}?password=changed", s.home())).into_response()
        }
        Err(crate::clients::ApiError::Refused { status, problem }) => {
            let why = match problem["errors"][0]["field"].as_str() {
                Some("current_password") => words["pw_wrong"].to_owned(),
                Some("new_password") => words["pw_rule"].to_owned(),
                _ => problem["title"].as_str().unwrap_or_default().to_owned(),
            };
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            password_page(&console, &ctx, &s, status, Some(why))
        }
        Err(err) => {
            tracing::warn!(error = %err, "identity unreachable from the console");
            password_page(&console, &ctx, &s, StatusCode::BAD_GATEWAY, Some(words["unavailable"].into()))
        }
    }
}
