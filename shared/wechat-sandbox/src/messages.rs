//! Simulated Service Account / Mini Program message and menu endpoints:
//! `/cgi-bin/message/custom/send` (45015 outside the 48-hour window),
//! `/cgi-bin/message/template/send` (43004 to a follower who left),
//! `/cgi-bin/message/subscribe/send` (43101 without a one-time authorization; each send uses one),
//! `/cgi-bin/menu/create|get|delete` (WeChat's limits and errcodes).
//!
//! `/cgi-bin/wxopen/wxamplink|wxamplinkget|wxampunlink` (Mini Programs linked to a Service
//! Account, up to a limit: `channel.miniprogram_links_max`, 10 by default).
//!
//! Every Service Account (the city's and the departmental ones, issue #20) has its own access
//! token, followers' 48-hour windows, unfollows, menu and links; what was sent records the
//! `appid` it went out from.
//!
//! Helpers WeChat does not have, under `/_test/`: `GET /_test/messages?touser&kind&appid` (what
//! was "sent"), `POST /_test/oa/interactions {"openid","appid"?}` (opens the 48-hour window, as a
//! user message would; the city's account unless `appid`), `POST /_test/oa/unfollow {"openid","appid"?}`,
//! `POST /_test/oa/miniprogram-links/limit {"max"}` (the linking limit, for tests), `POST /_test/mp/subscriptions {"openid","template_id","count"?}`
//! (as `wx.requestSubscribeMessage` accepted), `POST /_test/messages/clear`.
//!
//! Access tokens: only tokens [`crate::platform`] issued through `stable_token` are accepted
//! (41001 missing, 42001 expired, 40001 never issued or revoked), and only the right app's:
//! the Service Account's for custom, template and menu calls, the Mini Program's for subscribe
//! messages (48001 otherwise, as WeChat answers an app without that API).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use city_platform::time::now_ms;
use parking_lot::Mutex;
use poem::web::{Data, Json, Query};
use poem::{get, handler, post, EndpointExt, IntoResponse, Response, Route};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::platform::IssuedTokens;

const WINDOW_MS: i64 = 48 * 3600 * 1000;

struct State {
    tokens: IssuedTokens,
    /// Menus by Service Account appid.
    menu: Mutex<HashMap<String, Value>>,
    sent: Mutex<Vec<Value>>,
    interactions: crate::follower::Interactions,
    /// (appid, openid) of followers who left.
    unfollowed: Mutex<HashSet<(String, String)>>,
    /// Mini Programs linked, by Service Account appid, in linking order.
    links: Mutex<HashMap<String, Vec<Value>>>,
    links_max: Mutex<usize>,
    subscriptions: Mutex<HashMap<(String, String), u64>>,
    next_msgid: Mutex<u64>,
}

#[derive(Deserialize)]
struct TokenQuery {
    access_token: Option<String>,
}

fn errcode(code: i64, msg: &str) -> Response {
    Json(json!({"errcode": code, "errmsg": msg})).into_response()
}

fn ok_with(extra: Value) -> Response {
    let mut body = json!({"errcode": 0, "errmsg": "ok"});
    if let (Some(map), Some(more)) = (body.as_object_mut(), extra.as_object()) {
        map.extend(more.clone());
    }
    Json(body).into_response()
}

/// Which app an endpoint belongs to.
#[derive(Clone, Copy)]
enum App {
    ServiceAccount,
    MiniProgram,
}

/// The appid of a live token of `app` (any Service Account for [`App::ServiceAccount`]), or the
/// errcode answer.
fn token_app(s: &State, q: &TokenQuery, app: App) -> Result<String, Response> {
    let appid = s.tokens.appid_of(q.access_token.as_deref())?;
    let fits = match app {
        App::ServiceAccount => s.tokens.is_service_account(&appid),
        App::MiniProgram => appid == s.tokens.mp_appid(),
    };
    if fits {
        Ok(appid)
    } else {
        Err(errcode(48001, "api unauthorized"))
    }
}

/// Adds the message and menu endpoints to the sandbox's routes; they accept the access tokens
/// in `tokens`.
pub fn mount(
    route: Route,
    tokens: IssuedTokens,
    interactions: crate::follower::Interactions,
    links_max: usize,
) -> Route {
    let state = Arc::new(State {
        tokens,
        menu: Mutex::default(),
        sent: Mutex::default(),
        interactions,
        unfollowed: Mutex::default(),
        links: Mutex::default(),
        links_max: Mutex::new(links_max),
        subscriptions: Mutex::default(),
        next_msgid: Mutex::default(),
    });
    route
        .at("/cgi-bin/message/custom/send", post(custom_send).data(state.clone()))
        .at("/cgi-bin/message/template/send", post(template_send).data(state.clone()))
        .at("/cgi-bin/message/subscribe/send", post(subscribe_send).data(state.clone()))
        .at("/cgi-bin/menu/create", post(menu_create).data(state.clone()))
        .at("/cgi-bin/menu/get", get(menu_get).data(state.clone()))
        .at("/cgi-bin/menu/delete", get(menu_delete).data(state.clone()))
        .at("/cgi-bin/wxopen/wxamplink", post(mp_link).data(state.clone()))
        .at("/cgi-bin/wxopen/wxamplinkget", post(mp_links).data(state.clone()))
        .at("/cgi-bin/wxopen/wxampunlink", post(mp_unlink).data(state.clone()))
        .at("/_test/oa/miniprogram-links/limit", post(set_links_max).data(state.clone()))
        .at("/_test/messages", get(list_sent).data(state.clone()))
        .at("/_test/messages/clear", post(clear_sent).data(state.clone()))
        .at("/_test/oa/interactions", post(interaction).data(state.clone()))
        .at("/_test/oa/unfollow", post(unfollow).data(state.clone()))
        .at("/_test/mp/subscriptions", post(grant_subscription).data(state))
}

fn record(s: &State, kind: &str, appid: &str, body: &Value) -> u64 {
    let mut next = s.next_msgid.lock();
    *next += 1;
    let msgid = 200_000_000 + *next;
    s.sent.lock().push(
        json!({"kind": kind, "msgid": msgid, "appid": appid, "touser": body["touser"], "body": body, "at": now_ms()}),
    );
    msgid
}

fn key(appid: &str, openid: &str) -> (String, String) {
    (appid.to_owned(), openid.to_owned())
}

fn touser(body: &Value) -> Option<String> {
    body["touser"].as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

#[handler]
fn custom_send(Query(q): Query<TokenQuery>, Data(s): Data<&Arc<State>>, body: Json<Value>) -> Response {
    let appid = match token_app(s, &q, App::ServiceAccount) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let Some(openid) = touser(&body) else { return errcode(40003, "invalid openid") };
    if body["msgtype"].as_str().is_none() {
        return errcode(47001, "data format error: msgtype");
    }
    if body["msgtype"] == "text" && body["text"]["content"].as_str().is_some_and(|c| c.len() > 2048) {
        return errcode(45002, "content size out of limit");
    }
    // The window is the follower's with this account: writing to another opens nothing here.
    let last = s.interactions.lock().get(&key(&appid, &openid)).copied();
    if s.unfollowed.lock().contains(&key(&appid, &openid)) || last.is_none_or(|at| now_ms() - at > WINDOW_MS) {
        return errcode(45015, "response out of time limit or subscription is canceled");
    }
    record(s, "custom", &appid, &body);
    ok_with(json!({}))
}

#[handler]
fn template_send(Query(q): Query<TokenQuery>, Data(s): Data<&Arc<State>>, body: Json<Value>) -> Response {
    let appid = match token_app(s, &q, App::ServiceAccount) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let Some(openid) = touser(&body) else { return errcode(40003, "invalid openid") };
    if body["template_id"].as_str().is_none_or(str::is_empty) {
        return errcode(40037, "invalid template_id");
    }
    if s.unfollowed.lock().contains(&key(&appid, &openid)) {
        return errcode(43004, "require subscribe");
    }
    let msgid = record(s, "template", &appid, &body);
    ok_with(json!({"msgid": msgid}))
}

#[handler]
fn subscribe_send(Query(q): Query<TokenQuery>, Data(s): Data<&Arc<State>>, body: Json<Value>) -> Response {
    let appid = match token_app(s, &q, App::MiniProgram) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let Some(openid) = touser(&body) else { return errcode(40003, "invalid openid") };
    let Some(template) = body["template_id"].as_str().filter(|t| !t.is_empty()) else {
        return errcode(40037, "invalid template_id");
    };
    {
        let mut subs = s.subscriptions.lock();
        match subs.get_mut(&(openid, template.to_owned())) {
            Some(n) if *n > 0 => *n -= 1,
            _ => return errcode(43101, "user refuse to accept the msg"),
        }
    }
    record(s, "subscribe", &appid, &body);
    ok_with(json!({}))
}

/// WeChat's menu limits, with its errcodes (UTF-8 bytes for names). `linked_mp` is the one
/// Mini Program linked to the account: a `miniprogram` button must name it, give a page and a
/// fallback url for clients that cannot open Mini Programs.
fn check_menu(menu: &Value, linked_mp: &str) -> Option<(i64, &'static str)> {
    const TYPES: [&str; 13] = [
        "click",
        "view",
        "miniprogram",
        "scancode_push",
        "scancode_waitmsg",
        "pic_sysphoto",
        "pic_photo_or_album",
        "pic_weixin",
        "location_select",
        "media_id",
        "view_limited",
        "article_id",
        "article_view_limited",
    ];
    let Some(buttons) = menu["button"].as_array() else { return Some((40016, "invalid button size")) };
    if buttons.is_empty() || buttons.len() > 3 {
        return Some((40016, "invalid button size"));
    }
    let str_len = |b: &Value, f: &str| b[f].as_str().map(str::len);
    for b in buttons {
        if str_len(b, "name").is_none_or(|n| n == 0 || n > 16) {
            return Some((40018, "invalid button name size"));
        }
        if let Some(subs) = b["sub_button"].as_array() {
            if subs.is_empty() || subs.len() > 5 {
                return Some((40023, "invalid sub button size"));
            }
            for sub in subs {
                if !sub["type"].as_str().is_some_and(|t| TYPES.contains(&t)) {
                    return Some((40024, "invalid sub button type"));
                }
                if str_len(sub, "name").is_none_or(|n| n == 0 || n > 60) {
                    return Some((40025, "invalid sub button name size"));
                }
                if str_len(sub, "key").is_some_and(|n| n > 128) {
                    return Some((40026, "invalid sub button key size"));
                }
                if str_len(sub, "url").is_some_and(|n| n > 1024) {
                    return Some((40027, "invalid sub button url size"));
                }
                if let Some(e) = check_miniprogram(sub, linked_mp, 40027) {
                    return Some(e);
                }
            }
        } else {
            if !b["type"].as_str().is_some_and(|t| TYPES.contains(&t)) {
                return Some((40017, "invalid button type"));
            }
            if str_len(b, "key").is_some_and(|n| n > 128) {
                return Some((40019, "invalid button key size"));
            }
            if let Some(e) = check_miniprogram(b, linked_mp, 40055) {
                return Some(e);
            }
        }
    }
    None
}

/// A `miniprogram` button: the linked Mini Program's appid, a pagepath and a fallback url.
fn check_miniprogram(b: &Value, linked_mp: &str, url_code: i64) -> Option<(i64, &'static str)> {
    if b["type"].as_str() != Some("miniprogram") {
        return None;
    }
    if b["appid"].as_str() != Some(linked_mp) {
        return Some((40166, "invalid weapp appid: mini program not linked"));
    }
    if b["pagepath"].as_str().is_none_or(str::is_empty) {
        return Some((40165, "invalid weapp pagepath"));
    }
    if !b["url"].as_str().is_some_and(|u| u.starts_with("http://") || u.starts_with("https://")) {
        return Some((url_code, "invalid button url"));
    }
    None
}

#[handler]
fn menu_create(Query(q): Query<TokenQuery>, Data(s): Data<&Arc<State>>, body: Json<Value>) -> Response {
    let appid = match token_app(s, &q, App::ServiceAccount) {
        Ok(a) => a,
        Err(e) => return e,
    };
    if let Some((code, msg)) = check_menu(&body, s.tokens.mp_appid()) {
        return errcode(code, msg);
    }
    s.menu.lock().insert(appid, json!({"button": body["button"], "menuid": now_ms()}));
    ok_with(json!({}))
}

#[handler]
fn menu_get(Query(q): Query<TokenQuery>, Data(s): Data<&Arc<State>>) -> Response {
    let appid = match token_app(s, &q, App::ServiceAccount) {
        Ok(a) => a,
        Err(e) => return e,
    };
    match s.menu.lock().get(&appid).cloned() {
        Some(menu) => Json(json!({"menu": menu})).into_response(),
        None => errcode(46003, "menu no exist"),
    }
}

#[handler]
fn menu_delete(Query(q): Query<TokenQuery>, Data(s): Data<&Arc<State>>) -> Response {
    let appid = match token_app(s, &q, App::ServiceAccount) {
        Ok(a) => a,
        Err(e) => return e,
    };
    s.menu.lock().remove(&appid);
    ok_with(json!({}))
}

/// Linking errcodes. 89015 (already linked) and 89016 (the account's linked Mini Programs at
/// the limit) follow WeChat's documented codes for `wxamplink` as far as we know them; 89014
/// for unlinking one that is not linked is the sandbox's choice.
const ALREADY_LINKED: i64 = 89015;
const LINKS_FULL: i64 = 89016;
const NOT_LINKED: i64 = 89014;

#[derive(Deserialize)]
struct LinkBody {
    appid: Option<String>,
    notify_users: Option<String>,
    show_profile: Option<String>,
}

/// `POST /cgi-bin/wxopen/wxamplink {"appid","notify_users","show_profile"}`: links a Mini Program
/// to the calling Service Account (sandbox: at once, no admin confirmation).
#[handler]
fn mp_link(Query(q): Query<TokenQuery>, Data(s): Data<&Arc<State>>, body: poem::Result<Json<LinkBody>>) -> Response {
    let oa = match token_app(s, &q, App::ServiceAccount) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let Some(b) = body.ok().map(|Json(b)| b) else { return errcode(47001, "data format error") };
    let Some(mp) =
        b.appid.filter(|a| a.starts_with("wx") && a.len() <= 32 && a.bytes().all(|c| c.is_ascii_alphanumeric()))
    else {
        return errcode(40013, "invalid appid");
    };
    let max = *s.links_max.lock();
    let mut links = s.links.lock();
    let linked = links.entry(oa).or_default();
    if linked.iter().any(|l| l["appid"] == mp.as_str()) {
        return errcode(ALREADY_LINKED, "already linked");
    }
    if linked.len() >= max {
        return errcode(LINKS_FULL, "linked miniprogram count reaches the limit");
    }
    linked.push(json!({
        "appid": mp,
        "status": 1,
        "username": format!("gh_{}", &mp[2..mp.len().min(14)]),
        "nickname": "",
        "notify_users": b.notify_users.as_deref() == Some("1"),
        "show_profile": b.show_profile.as_deref() == Some("1"),
    }));
    ok_with(json!({}))
}

/// `POST /cgi-bin/wxopen/wxamplinkget`: the Mini Programs linked to the calling account.
#[handler]
fn mp_links(Query(q): Query<TokenQuery>, Data(s): Data<&Arc<State>>) -> Response {
    let oa = match token_app(s, &q, App::ServiceAccount) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let items = s.links.lock().get(&oa).cloned().unwrap_or_default();
    ok_with(json!({"wxopens": {"items": items}}))
}

/// `POST /cgi-bin/wxopen/wxampunlink {"appid"}`.
#[handler]
fn mp_unlink(Query(q): Query<TokenQuery>, Data(s): Data<&Arc<State>>, body: poem::Result<Json<LinkBody>>) -> Response {
    let oa = match token_app(s, &q, App::ServiceAccount) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let Some(mp) = body.ok().and_then(|Json(b)| b.appid) else { return errcode(40013, "invalid appid") };
    let mut links = s.links.lock();
    let linked = links.entry(oa).or_default();
    let before = linked.len();
    linked.retain(|l| l["appid"] != mp.as_str());
    if linked.len() == before {
        return errcode(NOT_LINKED, "miniprogram not linked");
    }
    ok_with(json!({}))
}

#[derive(Deserialize)]
struct LimitBody {
    max: usize,
}

/// `POST /_test/oa/miniprogram-links/limit {"max"}`: the sandbox's linking limit from now on.
#[handler]
fn set_links_max(Data(s): Data<&Arc<State>>, body: Json<LimitBody>) -> Response {
    *s.links_max.lock() = body.max;
    ok_with(json!({"max": body.max}))
}

#[derive(Deserialize)]
struct SentQuery {
    touser: Option<String>,
    kind: Option<String>,
    appid: Option<String>,
}

#[handler]
fn list_sent(Query(q): Query<SentQuery>, Data(s): Data<&Arc<State>>) -> Response {
    let sent: Vec<Value> = s
        .sent
        .lock()
        .iter()
        .filter(|m| q.touser.as_deref().is_none_or(|t| m["touser"] == t))
        .filter(|m| q.kind.as_deref().is_none_or(|k| m["kind"] == k))
        .filter(|m| q.appid.as_deref().is_none_or(|a| m["appid"] == a))
        .cloned()
        .collect();
    Json(sent).into_response()
}

#[handler]
fn clear_sent(Data(s): Data<&Arc<State>>) -> Response {
    s.sent.lock().clear();
    ok_with(json!({}))
}

#[derive(Deserialize)]
struct OpenidBody {
    openid: String,
    /// The Service Account; the city's when absent.
    appid: Option<String>,
}

impl OpenidBody {
    fn key(&self, s: &State) -> (String, String) {
        key(self.appid.as_deref().unwrap_or(s.tokens.oa_appid()), &self.openid)
    }
}

#[handler]
fn interaction(Data(s): Data<&Arc<State>>, body: Json<OpenidBody>) -> Response {
    s.unfollowed.lock().remove(&body.key(s));
    s.interactions.lock().insert(body.key(s), now_ms());
    ok_with(json!({}))
}

#[handler]
fn unfollow(Data(s): Data<&Arc<State>>, body: Json<OpenidBody>) -> Response {
    s.unfollowed.lock().insert(body.key(s));
    ok_with(json!({}))
}

#[derive(Deserialize)]
struct GrantBody {
    openid: String,
    template_id: String,
    count: Option<u64>,
}

#[handler]
fn grant_subscription(Data(s): Data<&Arc<State>>, body: Json<GrantBody>) -> Response {
    let mut subs = s.subscriptions.lock();
    let n = subs.entry((body.openid.clone(), body.template_id.clone())).or_insert(0);
    *n += body.count.unwrap_or(1);
    ok_with(json!({"remaining": *n}))
}
