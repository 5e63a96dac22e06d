//! Simulated Service Account broadcasts (群发) and what they need:
//! `/cgi-bin/material/add_material?type=image` (a cover, multipart field `media`),
//! `/cgi-bin/draft/add` (articles → a draft's `media_id`), `/cgi-bin/message/mass/preview`
//! (to one follower; does not count), `/cgi-bin/message/mass/sendall` (to all followers or a
//! tag), and the tags: `/cgi-bin/tags/create|get`, `/cgi-bin/tags/members/batchtagging|batchuntagging`,
//! `/cgi-bin/user/tag/get`.
//!
//! Rules, with WeChat's errcodes: a follower receives at most `monthly` broadcasts per calendar
//! month in Asia/Shanghai (default `channel.announcements.monthly_broadcasts`, 4; those who had theirs are filtered out, and a send nobody
//! may receive is refused with 45028); a draft holds 1..=`articles` articles (default
//! `channel.announcements.max_articles`, 6; 45008
//! beyond), each with a title (45003 over 64 bytes), content (44004 empty) and a cover this
//! account uploaded (40007); a `clientmsgid` already used answers 45065 with the first send's
//! `msg_id`, so a retried send goes out once. After a send, the `MASSSENDJOBFINISH` event with
//! the totals is pushed to the account's callback (`/wechat/callback` of the channel), signed
//! with the account's token (encrypted in safe mode), up to three deliveries.
//!
//! Helpers WeChat does not have, under `/_test/`: `POST /_test/oa/followers {"openid"}` (a
//! follow), `GET /_test/mass/received?touser=` (what each follower received, previews with
//! `"preview": true`), `POST /_test/mass/limits {"monthly"?, "articles"?}` (the two settings).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use city_platform::config::Settings;
use city_platform::time::{city_date, from_ms, now_ms};
use parking_lot::Mutex;
use poem::web::{Data, Json, Multipart, Query};
use poem::{get, handler, post, EndpointExt, IntoResponse, Response, Route};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::follower::{Callback, OA_ID};
use crate::platform::IssuedTokens;

/// Who the job-finished event comes from (WeChat sends it from a system account).
const SYSTEM_OPENID: &str = "oMassSendJobSystem000000000";

#[derive(Default)]
struct Book {
    followers: BTreeSet<String>,
    tags: BTreeMap<i64, String>,
    next_id: i64,
    members: HashMap<String, BTreeSet<i64>>,
    media: HashSet<String>,
    drafts: HashMap<String, Value>,
    received: Vec<Value>,
    /// (openid, "YYYY-MM" in Asia/Shanghai) → broadcasts received.
    monthly_count: HashMap<(String, String), u32>,
    client_ids: HashMap<String, i64>,
    monthly: u32,
    articles: usize,
}

struct State {
    tokens: IssuedTokens,
    book: Mutex<Book>,
    /// Where WeChat pushes events: the channel's callback.
    callback: Callback,
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

/// `Some(errcode answer)` unless the token is a live one of the Service Account.
fn check_token(s: &State, q: &TokenQuery) -> Option<Response> {
    match s.tokens.appid_of(q.access_token.as_deref()) {
        Ok(appid) if appid == s.tokens.oa_appid() => None,
        Ok(_) => Some(errcode(48001, "api unauthorized")),
        Err(answer) => Some(answer),
    }
}

fn month_of(ms: i64) -> String {
    city_date(from_ms(ms)).format("%Y-%m").to_string()
}

/// Adds the broadcast, draft, material and tag endpoints; they accept the access tokens in
/// `tokens` and push job results to the channel's callback as `settings` place it.
pub fn mount(route: Route, tokens: IssuedTokens, settings: &Settings) -> Route {
    let state = Arc::new(State {
        tokens,
        // The demo's WeChat keeps the limits the portal is configured for (WeChat's own may change).
        book: Mutex::new(Book {
            monthly: settings.channel.announcements.monthly_broadcasts,
            articles: settings.channel.announcements.max_articles,
            ..Book::default()
        }),
        callback: Callback::from_settings(settings),
    });
    route
        .at("/cgi-bin/material/add_material", post(add_material).data(state.clone()))
        .at("/cgi-bin/draft/add", post(draft_add).data(state.clone()))
        .at("/cgi-bin/message/mass/preview", post(preview).data(state.clone()))
        .at("/cgi-bin/message/mass/sendall", post(sendall).data(state.clone()))
        .at("/cgi-bin/tags/create", post(tag_create).data(state.clone()))
        .at("/cgi-bin/tags/get", get(tag_list).data(state.clone()))
        .at("/cgi-bin/tags/members/batchtagging", post(batch_tagging).data(state.clone()))
        .at("/cgi-bin/tags/members/batchuntagging", post(batch_untagging).data(state.clone()))
        .at("/cgi-bin/user/tag/get", post(tag_members).data(state.clone()))
        .at("/_test/oa/followers", post(follow).data(state.clone()))
        .at("/_test/mass/received", get(received).data(state.clone()))
        .at("/_test/mass/limits", post(limits).data(state))
}

#[handler]
async fn add_material(Query(q): Query<TokenQuery>, Data(s): Data<&Arc<State>>, mut form: Multipart) -> Response {
    if let Some(e) = check_token(s, &q) {
        return e;
    }
    let mut image = None;
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some("media") {
            image = field.bytes().await.ok();
        }
    }
    let Some(bytes) = image.filter(|b| !b.is_empty()) else { return errcode(41005, "media data missing") };
    // JPEG, PNG or GIF, as WeChat's image material accepts; 10 MB at most.
    let is_image =
        bytes.starts_with(&[0xFF, 0xD8, 0xFF]) || bytes.starts_with(b"\x89PNG\r\n\x1a\n") || bytes.starts_with(b"GIF8");
    if !is_image {
        return errcode(40005, "invalid file type");
    }
    if bytes.len() > 10 * 1024 * 1024 {
        return errcode(40009, "invalid image size");
    }
    let media_id = format!("MEDIA_{:016x}", rand::random::<u64>());
    s.book.lock().media.insert(media_id.clone());
    Json(json!({"media_id": media_id, "url": format!("http://mmbiz.sandbox/{media_id}")})).into_response()
}

#[handler]
fn draft_add(Query(q): Query<TokenQuery>, Data(s): Data<&Arc<State>>, body: Json<Value>) -> Response {
    if let Some(e) = check_token(s, &q) {
        return e;
    }
    let mut book = s.book.lock();
    let Some(articles) = body["articles"].as_array().filter(|a| !a.is_empty()) else {
        return errcode(44003, "empty news data");
    };
    if articles.len() > book.articles {
        return errcode(45008, "article size out of limit");
    }
    for a in articles {
        if a["title"].as_str().is_none_or(|t| t.is_empty() || t.len() > 64) {
            return errcode(45003, "title size out of limit");
        }
        if a["content"].as_str().is_none_or(str::is_empty) {
            return errcode(44004, "empty content");
        }
        if !a["thumb_media_id"].as_str().is_some_and(|m| book.media.contains(m)) {
            return errcode(40007, "invalid media_id");
        }
    }
    let media_id = format!("DRAFT_{:016x}", rand::random::<u64>());
    book.drafts.insert(media_id.clone(), Value::Array(articles.clone()));
    Json(json!({"media_id": media_id})).into_response()
}

fn draft_of(body: &Value, book: &Book) -> Option<String> {
    body["mpnews"]["media_id"].as_str().filter(|m| book.drafts.contains_key(*m)).map(str::to_owned)
}

#[handler]
fn preview(Query(q): Query<TokenQuery>, Data(s): Data<&Arc<State>>, body: Json<Value>) -> Response {
    if let Some(e) = check_token(s, &q) {
        return e;
    }
    let mut book = s.book.lock();
    let Some(openid) = body["touser"].as_str().filter(|o| !o.is_empty()).map(str::to_owned) else {
        return errcode(40003, "invalid openid");
    };
    if body["msgtype"] != "mpnews" {
        return errcode(40008, "invalid message type");
    }
    let Some(media_id) = draft_of(&body, &book) else { return errcode(40007, "invalid media_id") };
    if !book.followers.contains(&openid) {
        return errcode(43004, "require subscribe");
    }
    book.next_id += 1;
    let msg_id = 1_000_000 + book.next_id;
    book.received
        .push(json!({"touser": openid, "msg_id": msg_id, "media_id": media_id, "preview": true, "at": now_ms()}));
    ok_with(json!({"msg_id": msg_id}))
}

#[handler]
fn sendall(Query(q): Query<TokenQuery>, Data(s): Data<&Arc<State>>, body: Json<Value>) -> Response {
    if let Some(e) = check_token(s, &q) {
        return e;
    }
    let now = now_ms();
    let (msg_id, totals) = {
        let mut book = s.book.lock();
        if body["msgtype"] != "mpnews" {
            return errcode(40008, "invalid message type");
        }
        let Some(media_id) = draft_of(&body, &book) else { return errcode(40007, "invalid media_id") };
        let client_id = body["clientmsgid"].as_str().filter(|c| !c.is_empty()).map(str::to_owned);
        if let Some(first) = client_id.as_ref().and_then(|c| book.client_ids.get(c)) {
            return Json(json!({"errcode": 45065, "errmsg": "clientmsgid exist", "msg_id": first})).into_response();
        }
        let filter = &body["filter"];
        let targets: Vec<String> = if filter["is_to_all"].as_bool() == Some(true) {
            book.followers.iter().cloned().collect()
        } else {
            let Some(tag) = filter["tag_id"].as_i64().filter(|t| book.tags.contains_key(t)) else {
                return errcode(40050, "invalid tag id");
            };
            book.followers
                .iter()
                .filter(|o| book.members.get(*o).is_some_and(|tags| tags.contains(&tag)))
                .cloned()
                .collect()
        };
        let month = month_of(now);
        let limit = book.monthly;
        let eligible: Vec<String> = targets
            .iter()
            .filter(|o| book.monthly_count.get(&((*o).clone(), month.clone())).copied().unwrap_or(0) < limit)
            .cloned()
            .collect();
        if eligible.is_empty() {
            return errcode(45028, "has no masssend quota");
        }
        book.next_id += 1;
        let msg_id = 1_000_000 + book.next_id;
        for openid in &eligible {
            *book.monthly_count.entry((openid.clone(), month.clone())).or_insert(0) += 1;
            book.received.push(json!({"touser": openid, "msg_id": msg_id, "media_id": media_id, "at": now}));
        }
        if let Some(c) = client_id {
            book.client_ids.insert(c, msg_id);
        }
        (msg_id, (targets.len(), eligible.len()))
    };
    let state = s.clone();
    tokio::spawn(async move { state.push_job_finished(msg_id, totals.0, totals.1).await });
    Json(json!({"errcode": 0, "errmsg": "send job submission success", "msg_id": msg_id, "msg_data_id": msg_id}))
        .into_response()
}

impl State {
    /// `MASSSENDJOBFINISH` to the callback, as WeChat pushes it, up to three deliveries.
    async fn push_job_finished(&self, msg_id: i64, total: usize, filtered: usize) {
        let ts = now_ms() / 1000;
        let xml = format!(
            "<xml><ToUserName><![CDATA[{gh}]]></ToUserName><FromUserName><![CDATA[{SYSTEM_OPENID}]]></FromUserName>\
             <CreateTime>{ts}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[MASSSENDJOBFINISH]]></Event>\
             <MsgID>{msg_id}</MsgID><Status><![CDATA[send success]]></Status><TotalCount>{total}</TotalCount>\
             <FilterCount>{filtered}</FilterCount><SentCount>{filtered}</SentCount><ErrorCount>0</ErrorCount></xml>",
            gh = OA_ID,
        );
        for attempt in 0..3u64 {
            match self.callback.push(&xml, SYSTEM_OPENID).await {
                Ok((status, _)) if (200..300).contains(&status) => return,
                Ok((status, _)) => tracing::warn!(status, "sandbox: callback refused MASSSENDJOBFINISH"),
                Err(e) => tracing::warn!(error = %e, "sandbox: MASSSENDJOBFINISH not pushed"),
            }
            tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
        }
    }
}

#[derive(Deserialize)]
struct TagCreate {
    tag: TagName,
}

#[derive(Deserialize)]
struct TagName {
    name: String,
}

#[handler]
fn tag_create(Query(q): Query<TokenQuery>, Data(s): Data<&Arc<State>>, body: Json<TagCreate>) -> Response {
    if let Some(e) = check_token(s, &q) {
        return e;
    }
    let name = body.0.tag.name;
    if name.is_empty() || name.len() > 30 {
        return errcode(45158, "tag name too long");
    }
    let mut book = s.book.lock();
    if book.tags.values().any(|n| *n == name) {
        return errcode(45157, "invalid tag name");
    }
    book.next_id += 1;
    let id = 100 + book.next_id;
    book.tags.insert(id, name.clone());
    Json(json!({"tag": {"id": id, "name": name}})).into_response()
}

#[handler]
fn tag_list(Query(q): Query<TokenQuery>, Data(s): Data<&Arc<State>>) -> Response {
    if let Some(e) = check_token(s, &q) {
        return e;
    }
    let book = s.book.lock();
    let tags: Vec<Value> = book
        .tags
        .iter()
        .map(|(id, name)| {
            let count = book.members.values().filter(|t| t.contains(id)).count();
            json!({"id": id, "name": name, "count": count})
        })
        .collect();
    Json(json!({"tags": tags})).into_response()
}

#[derive(Deserialize)]
struct Tagging {
    openid_list: Vec<String>,
    tagid: i64,
}

fn tagging(s: &State, q: &TokenQuery, body: Tagging, add: bool) -> Response {
    if let Some(e) = check_token(s, q) {
        return e;
    }
    if body.openid_list.is_empty() || body.openid_list.len() > 50 {
        return errcode(40032, "invalid openid list size");
    }
    let mut book = s.book.lock();
    if !book.tags.contains_key(&body.tagid) {
        return errcode(45159, "invalid tag id");
    }
    if body.openid_list.iter().any(|o| !book.followers.contains(o)) {
        return errcode(40003, "invalid openid");
    }
    for openid in body.openid_list {
        let tags = book.members.entry(openid).or_default();
        if add {
            if tags.len() >= 20 && !tags.contains(&body.tagid) {
                return errcode(45059, "tag count of user out of limit");
            }
            tags.insert(body.tagid);
        } else {
            tags.remove(&body.tagid);
        }
    }
    ok_with(json!({}))
}

#[handler]
fn batch_tagging(Query(q): Query<TokenQuery>, Data(s): Data<&Arc<State>>, body: Json<Tagging>) -> Response {
    tagging(s, &q, body.0, true)
}

#[handler]
fn batch_untagging(Query(q): Query<TokenQuery>, Data(s): Data<&Arc<State>>, body: Json<Tagging>) -> Response {
    tagging(s, &q, body.0, false)
}

#[derive(Deserialize)]
struct TagMembersQuery {
    tagid: i64,
}

#[handler]
fn tag_members(Query(q): Query<TokenQuery>, Data(s): Data<&Arc<State>>, body: Json<TagMembersQuery>) -> Response {
    if let Some(e) = check_token(s, &q) {
        return e;
    }
    let book = s.book.lock();
    if !book.tags.contains_key(&body.tagid) {
        return errcode(45159, "invalid tag id");
    }
    let openids: Vec<&String> = book.members.iter().filter(|(_, t)| t.contains(&body.tagid)).map(|(o, _)| o).collect();
    Json(json!({"count": openids.len(), "data": {"openid": openids}, "next_openid": ""})).into_response()
}

#[derive(Deserialize)]
struct OpenidBody {
    openid: String,
}

#[handler]
fn follow(Data(s): Data<&Arc<State>>, body: Json<OpenidBody>) -> Response {
    s.book.lock().followers.insert(body.0.openid);
    ok_with(json!({}))
}

#[derive(Deserialize)]
struct ReceivedQuery {
    touser: Option<String>,
}

#[handler]
fn received(Query(q): Query<ReceivedQuery>, Data(s): Data<&Arc<State>>) -> Response {
    let book = s.book.lock();
    let list: Vec<&Value> =
        book.received.iter().filter(|m| q.touser.as_deref().is_none_or(|t| m["touser"] == t)).collect();
    Json(list).into_response()
}

#[derive(Deserialize)]
struct Limits {
    monthly: Option<u32>,
    articles: Option<usize>,
}

#[handler]
fn limits(Data(s): Data<&Arc<State>>, body: Json<Limits>) -> Response {
    let mut book = s.book.lock();
    if let Some(m) = body.monthly {
        book.monthly = m;
    }
    if let Some(a) = body.articles {
        book.articles = a;
    }
    ok_with(json!({"monthly": book.monthly, "articles": book.articles}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_month_is_the_citys_calendar_month() {
        // 2026-11-30T16:30Z is already 1 December in Asia/Shanghai (UTC+8).
        let ms = chrono::DateTime::parse_from_rfc3339("2026-11-30T16:30:00Z").unwrap().timestamp_millis();
        assert_eq!(month_of(ms), "2026-12");
        assert_eq!(month_of(ms - 3600 * 1000), "2026-11");
    }
}
