//! `/console/conversations`: the agents' pages (issue #20). The inbox (the agent's status,
//! their conversations and their groups' queue, each with the 48-hour window's time left,
//! refreshed without a reload) and one conversation (messages, the follower's context, accept,
//! reply free or canned, the template fallback once the window has closed, transfer, close).
//!
//! The channel's API decides everything: who is an agent, who may accept (409 when taken),
//! whether a reply may go out (409 when WeChat says the window has closed). A refusal is shown
//! on the page it came from, as a banner, never as an error page.

use std::sync::Arc;

use city_platform::time::now_ms;
use poem::http::{header, StatusCode};
use poem::web::{Data, Form, Path, Query, Redirect};
use poem::{handler, IntoResponse, Request, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{check_csrf, html, signed_in, Ctx};
use crate::clients::{ApiError, Reply};
use crate::i18n::Lang;
use crate::session::ConsoleSession;
use crate::Console;

/// The pages' own words: (key, Chinese, English).
const WORDS: &[(&str, &str, &str)] = &[
    ("inbox", "客服会话", "Conversations"),
    ("my_status", "我的状态", "My status"),
    ("online", "在线", "Online"),
    ("away", "离开", "Away"),
    ("go_online", "上线接待", "Go online"),
    ("go_away", "暂时离开", "Go away"),
    ("load", "接待中 / 上限", "Active / maximum"),
    ("groups", "技能组", "Groups"),
    ("mine", "我的会话", "My conversations"),
    ("queue", "排队中（我的技能组）", "Waiting in my groups"),
    ("follower", "粉丝", "Follower"),
    ("account", "服务号", "Account"),
    ("handled_by", "接待服务号", "Handled by"),
    ("group", "技能组", "Group"),
    ("preview", "最新消息", "Last message"),
    ("waiting", "已等待", "Waiting"),
    ("last_at", "最后消息", "Last message at"),
    ("window", "48小时窗口剩余", "48-hour window left"),
    ("window_closed", "已关闭", "closed"),
    ("position", "排队位置", "Position"),
    ("open", "打开", "Open"),
    ("none", "暂无", "None"),
    ("signed_in", "已登录", "Signed in"),
    ("not_signed_in", "未登录", "Not signed in"),
    ("live", "列表每隔几秒自动更新。", "The lists update by themselves every few seconds."),
    ("changed", "列表已更新。", "The lists have been updated."),
    ("messages", "消息", "Messages"),
    ("from_citizen", "市民", "Citizen"),
    ("from_agent", "坐席", "Agent"),
    ("from_assistant", "智能助手", "Assistant"),
    ("from_system", "系统", "System"),
    ("not_delivered", "未送达：回复窗口已关闭", "Not delivered: the reply window had closed"),
    ("failed", "发送失败", "Sending failed"),
    ("context", "粉丝信息", "About the follower"),
    ("appointment", "下一个预约", "Next appointment"),
    ("unpaid", "待缴费项目", "Unpaid items"),
    ("tickets", "未办结工单", "Open tickets"),
    ("district", "所在区县", "District"),
    ("air", "空气质量", "Air quality"),
    ("accept", "接入会话", "Accept"),
    ("reply", "回复", "Reply"),
    ("your_reply", "回复内容", "Your reply"),
    ("canned", "快捷回复", "Canned reply"),
    ("canned_none", "（不使用快捷回复）", "(no canned reply)"),
    (
        "canned_hint",
        "选择快捷回复且不填写内容时，发送所选的快捷回复。",
        "With a canned reply chosen and no text, the canned reply is sent.",
    ),
    ("send", "发送", "Send"),
    ("window_left", "回复窗口剩余：", "Reply window left: "),
    ("template_title", "模板消息", "Template message"),
    (
        "template_why",
        "粉丝最后一条消息已超过48小时，微信不再允许发送客服消息。可以发送一条模板消息，或等待粉丝再次来信。",
        "The follower wrote more than 48 hours ago, so WeChat no longer accepts customer-service messages. \
         You may send a template message, or wait for the follower to write again.",
    ),
    ("template_send", "发送模板消息", "Send template message"),
    ("transfer", "转接", "Transfer"),
    ("transfer_to", "转接给", "Transfer to"),
    ("to_agent", "坐席", "Agent"),
    ("to_group", "技能组", "Group"),
    ("note", "备注（给接手的同事）", "Note (for the colleague taking over)"),
    ("close", "结束会话", "Close"),
    ("outcome", "结果", "Outcome"),
    ("oc_resolved", "已解决", "Resolved"),
    ("oc_referred", "已转办", "Referred"),
    ("oc_no-reply", "粉丝未回复", "No reply"),
    ("oc_spam", "骚扰信息", "Spam"),
    ("g_booking", "预约挂号", "Booking"),
    ("g_payments", "缴费", "Payments"),
    ("g_incidents", "问题上报", "Incidents"),
    ("g_air", "空气质量", "Air"),
    ("g_general", "综合", "General"),
    ("st_waiting", "排队中", "Waiting"),
    ("st_assigned", "接待中", "Assigned"),
    ("st_closed", "已结束", "Closed"),
    ("state", "状态", "State"),
    ("agent", "坐席", "Agent"),
    ("transfers", "转接记录", "Transfers"),
    ("satisfaction", "满意度", "Satisfaction"),
    ("done_accept", "已接入。", "Accepted."),
    ("done_messages", "已发送。", "Sent."),
    ("done_template", "模板消息已发送。", "Template message sent."),
    ("done_transfer", "已转接。", "Transferred."),
    ("done_close", "会话已结束。", "Conversation closed."),
    ("done_status", "状态已更新。", "Status updated."),
    ("refused", "未完成：", "Not done: "),
    ("text_required", "请填写回复内容或选择快捷回复。", "Write a reply or choose a canned reply."),
    ("to_required", "请选择转接对象。", "Choose whom to transfer to."),
    ("agents_only", "此页面仅供客服坐席使用。", "Only agents may use this page."),
    ("back", "返回会话列表", "Back to the conversations"),
    // The context's fields, as the channel names them.
    ("f_place", "地点", "Place"),
    ("f_when", "时间", "When"),
    ("f_patient", "就诊人", "Patient"),
    ("f_kind", "类别", "Kind"),
    ("f_description", "事项", "What"),
    ("f_amount", "金额", "Amount"),
    ("f_due_date", "缴费截止", "Due"),
    ("f_id", "编号", "Reference"),
    ("f_summary", "内容", "About"),
    ("f_status", "状态", "Status"),
];

/// The skill groups and close outcomes the API knows.
const GROUPS: &[&str] = &["booking", "payments", "incidents", "air", "general"];
const OUTCOMES: &[&str] = &["resolved", "referred", "no-reply", "spam"];

/// How often the pages ask for changes, at most (agents answer people: faster than tickets).
const POLL_CAP_SECS: u64 = 5;

fn words(lang: Lang) -> Value {
    let zh = lang == Lang::Zh;
    let map: serde_json::Map<String, Value> =
        WORDS.iter().map(|(k, z, e)| ((*k).to_owned(), json!(if zh { *z } else { *e }))).collect();
    Value::Object(map)
}

/// A span of milliseconds as the page shows it: `2小时05分` / `2 h 05 min`, or minutes alone.
fn span(ms: i64, lang: Lang) -> String {
    let minutes = ms.max(0) / 60_000;
    let (h, m) = (minutes / 60, minutes % 60);
    match (lang, h) {
        (Lang::Zh, 0) => format!("{m}分钟"),
        (Lang::Zh, _) => format!("{h}小时{m:02}分"),
        (Lang::En, 0) => format!("{m} min"),
        (Lang::En, _) => format!("{h} h {m:02} min"),
    }
}

/// A UTC instant in ms as Beijing time (`2026-12-03 20:29`): what agents read on the wall clock.
fn beijing(ms: i64) -> String {
    let beijing = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&beijing).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// A summary with what the page shows computed at `now`: time waiting, the window's time left.
fn decorate(mut c: Value, now: i64, lang: Lang) -> Value {
    let opened = c["opened_at_ms"].as_i64().unwrap_or(now);
    let last = c["last_message_at_ms"].as_i64().unwrap_or(opened);
    let closes = c["window_closes_at_ms"].as_i64().unwrap_or(now);
    c["waiting_text"] = json!(span(now - opened, lang));
    c["last_text"] = json!(beijing(last));
    c["window_open"] = json!(closes > now);
    c["window_text"] = json!(span(closes - now, lang));
    c
}

/// What the poller compares: which conversations, in which state, with which last message.
fn stamp_of(lists: &[&[Value]]) -> String {
    let mut h = Sha256::new();
    for list in lists {
        h.update(b"|");
        for c in *list {
            for k in ["id", "state", "agent_id", "group"] {
                h.update(c[k].as_str().unwrap_or_default().as_bytes());
            }
            h.update(c["last_message_at_ms"].as_i64().unwrap_or_default().to_le_bytes());
        }
    }
    hex::encode(&h.finalize()[..8])
}

/// The refusal in words: the field's message, else the problem's detail or title.
fn why(err: &ApiError) -> String {
    match err {
        ApiError::Refused { problem, .. } => problem["errors"][0]["message"]
            .as_str()
            .map(|m| format!("{m} ({})", problem["errors"][0]["field"].as_str().unwrap_or_default()))
            .or_else(|| problem["detail"].as_str().map(str::to_owned))
            .or_else(|| problem["title"].as_str().map(str::to_owned))
            .unwrap_or_default(),
        ApiError::Unreachable(e) => e.to_string(),
    }
}

/// Whether the refusal is WeChat's closed reply window (the page then offers the template).
fn window_closed(err: &ApiError) -> bool {
    matches!(err, ApiError::Refused { status: 409, problem }
        if problem["type"].as_str().is_some_and(|t| t.ends_with("/reply-window-closed")))
}

fn status_of(err: &ApiError) -> StatusCode {
    StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_GATEWAY)
}

/// The page for someone the API does not take as an agent (or when it cannot be reached).
fn not_an_agent(console: &Console, ctx: &Ctx, s: &ConsoleSession, err: &ApiError) -> Response {
    let mut c = ctx.base(console, Some(s), "conversations");
    let w = words(ctx.lang);
    c["message"] = match err {
        ApiError::Refused { status: 401 | 403, .. } => w["agents_only"].clone(),
        _ => json!(format!("{}{}", w["refused"].as_str().unwrap_or_default(), why(err))),
    };
    html(status_of(err), console.pages.render("message.html", &c))
}

/// The inbox's query: `partial=1` for the poller's fragment, `done=` after an action.
#[derive(Debug, Default, Deserialize)]
pub struct InboxParams {
    #[serde(default)]
    partial: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

/// `GET /console/conversations`: the inbox (or, with `partial=1`, only its lists).
#[handler]
pub async fn inbox(req: &Request, console: Data<&Arc<Console>>, Query(p): Query<InboxParams>) -> Response {
    let (_, s) = match signed_in(&console, req).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let banner = p.done.as_deref().map(|d| words(Ctx::of(&console, req).lang)[format!("done_{d}")].clone());
    let partial = p.partial.as_deref().is_some_and(|v| v == "1");
    render_inbox(&console, req, &s, partial, banner.filter(|b| b.is_string()), StatusCode::OK).await
}

async fn render_inbox(
    console: &Console,
    req: &Request,
    s: &ConsoleSession,
    partial: bool,
    banner: Option<Value>,
    status: StatusCode,
) -> Response {
    let ctx = Ctx::of(console, req);
    let agent = match console.services.agent_me(&s.token).await {
        Ok(agent) => agent,
        Err(err) if partial => return status_of(&err).into_response(),
        Err(err) => return not_an_agent(console, &ctx, s, &err),
    };
    let token = &s.token;
    let (mine, queue) = tokio::join!(
        console.services.conversations(token, "mine", Some("assigned"), 100),
        console.services.conversations(token, "queue", Some("waiting"), 100),
    );
    let (mine, queue) = match (mine, queue) {
        (Ok(mine), Ok(queue)) => (mine, queue),
        (Err(err), _) | (_, Err(err)) if partial => return status_of(&err).into_response(),
        (Err(err), _) | (_, Err(err)) => return not_an_agent(console, &ctx, s, &err),
    };
    let now = now_ms();
    let stamp = stamp_of(&[&mine, &queue]);
    let mut c = ctx.base(console, Some(s), "conversations");
    c["w"] = words(ctx.lang);
    c["agent"] = agent;
    c["mine"] = json!(mine.into_iter().map(|x| decorate(x, now, ctx.lang)).collect::<Vec<_>>());
    c["waiting"] = json!(queue.into_iter().map(|x| decorate(x, now, ctx.lang)).collect::<Vec<_>>());
    c["stamp"] = json!(stamp);
    c["banner"] = json!(banner);
    c["poll"] = json!(console.settings.poll_secs.min(POLL_CAP_SECS));
    let template = if partial { "conversations_lists.html" } else { "conversations.html" };
    html(status, console.pages.render(template, &c))
}

/// Every form of these pages: the CSRF token and whichever fields the action reads.
#[derive(Debug, Default, Deserialize)]
pub struct ConversationForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    canned: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    outcome: String,
}

/// `POST /console/conversations/status`: online or away.
#[handler]
pub async fn set_status(req: &Request, console: Data<&Arc<Console>>, form: Option<Form<ConversationForm>>) -> Response {
    let (_, s) = match signed_in(&console, req).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let f = form.map(|f| f.0).unwrap_or_default();
    if let Err(resp) = check_csrf(&console, req, &s, Some(f.csrf.as_str())) {
        return resp;
    }
    match console.services.agent_status(&s.token, &f.status).await {
        Ok(_) => Redirect::see_other("/console/conversations?done=status").into_response(),
        Err(err) => {
            let lang = Ctx::of(&console, req).lang;
            let text = format!("{}{}", words(lang)["refused"].as_str().unwrap_or_default(), why(&err));
            render_inbox(&console, req, &s, false, Some(json!(text)), status_of(&err)).await
        }
    }
}

/// What the conversation page shows above the messages.
struct Banner {
    text: String,
    failed: bool,
}

/// The conversation page's query.
#[derive(Debug, Default, Deserialize)]
pub struct ShowParams {
    #[serde(default)]
    partial: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

/// `GET /console/conversations/{id}` (with `partial=1`, only the messages, for the poller).
#[handler]
pub async fn show(
    req: &Request,
    console: Data<&Arc<Console>>,
    Path(id): Path<String>,
    Query(p): Query<ShowParams>,
) -> Response {
    let (_, s) = match signed_in(&console, req).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let lang = Ctx::of(&console, req).lang;
    let banner = p
        .done
        .as_deref()
        .and_then(|d| words(lang)[format!("done_{d}")].as_str().map(|t| Banner { text: t.to_owned(), failed: false }));
    let partial = p.partial.as_deref().is_some_and(|v| v == "1");
    render(&console, req, &s, &id, banner, false, partial, StatusCode::OK).await
}

#[allow(clippy::too_many_arguments)]
async fn render(
    console: &Console,
    req: &Request,
    s: &ConsoleSession,
    id: &str,
    banner: Option<Banner>,
    force_closed: bool,
    partial: bool,
    status: StatusCode,
) -> Response {
    let ctx = Ctx::of(console, req);
    let conversation = match console.services.conversation(&s.token, id).await {
        Ok(found) => found,
        Err(err) if partial => return status_of(&err).into_response(),
        Err(err @ ApiError::Refused { status: 404, .. }) => {
            let _ = err;
            return super::message(console, &ctx, Some(s), StatusCode::NOT_FOUND, "not_found");
        }
        Err(err) => return not_an_agent(console, &ctx, s, &err),
    };
    let now = now_ms();
    let mut c = ctx.base(console, Some(s), "conversations");
    c["w"] = words(ctx.lang);
    let mut conv = decorate(conversation, now, ctx.lang);
    if let Some(messages) = conv["messages"].as_array_mut() {
        for m in messages {
            m["at_text"] = json!(beijing(m["at_ms"].as_i64().unwrap_or_default()));
        }
    }
    if let Some(transfers) = conv["transfers"].as_array_mut() {
        for t in transfers {
            t["at_text"] = json!(beijing(t["at_ms"].as_i64().unwrap_or_default()));
        }
    }
    let stamp = stamp_of(&[std::slice::from_ref(&conv), conv["messages"].as_array().map_or(&[][..], Vec::as_slice)]);
    c["stamp"] = json!(format!("{stamp}{}", conv["messages"].as_array().map_or(0, Vec::len)));
    c["context"] = context(&conv["context"], ctx.lang);
    if force_closed {
        conv["window_open"] = json!(false);
    }
    c["mine"] = json!(conv["agent_id"].as_str() == Some(s.staff_id.as_str()));
    c["conv"] = conv;
    c["poll"] = json!(console.settings.poll_secs.min(POLL_CAP_SECS));
    if partial {
        return html(status, console.pages.render("conversation_messages.html", &c));
    }
    let (canned, agents) = tokio::join!(console.services.canned_replies(&s.token), console.services.agents(&s.token));
    c["canned"] = json!(canned.unwrap_or_else(|err| {
        tracing::warn!(error = %err, "canned replies not read");
        Vec::new()
    }));
    let agents: Vec<Value> =
        agents.unwrap_or_default().into_iter().filter(|a| a["staff_id"].as_str() != Some(&s.staff_id)).collect();
    c["agents"] = json!(agents);
    c["groups"] = json!(GROUPS);
    c["outcomes"] = json!(OUTCOMES);
    c["banner"] = json!(banner.map(|b| json!({"text": b.text, "failed": b.failed})));
    html(status, console.pages.render("conversation.html", &c))
}

/// The follower's context as the panel lists it: each part as (label, value) lines, instants
/// in Beijing time and fen as yuan, whatever fields the channel's answer carries.
fn context(ctx: &Value, lang: Lang) -> Value {
    let items = |v: &Value| -> Vec<Value> {
        match v {
            Value::Array(list) => list.iter().map(|x| json!(facts(x, lang))).collect(),
            Value::Object(_) => vec![json!(facts(v, lang))],
            _ => Vec::new(),
        }
    };
    json!({
        "signed_in": ctx["signed_in"].as_bool().unwrap_or(false),
        "appointment": items(&ctx["next_appointment"]),
        "unpaid": items(&ctx["unpaid"]),
        "tickets": items(&ctx["open_tickets"]),
        "district": ctx["district"]["name"].as_str().or(ctx["district"]["code"].as_str()),
        "air": (!ctx["air"].is_null()).then(|| {
            let level = ctx["air"]["level"].as_str().unwrap_or_default();
            ctx["air"]["aqi"].as_i64().map_or(level.to_owned(), |aqi| format!("AQI {aqi} · {level}"))
        }),
    })
}

/// One object's fields as `[label, text]` pairs.
fn facts(v: &Value, lang: Lang) -> Vec<(String, String)> {
    let Some(map) = v.as_object() else {
        return vec![(String::new(), scalar(v))];
    };
    map.iter()
        .filter(|(_, x)| !x.is_null())
        .map(|(k, x)| {
            if let (Some(stem), Some(ms)) = (k.strip_suffix("_ms"), x.as_i64()) {
                (label(stem, lang), beijing(ms))
            } else if let (Some(stem), Some(fen)) = (k.strip_suffix("_fen"), x.as_i64()) {
                (label(stem, lang), format!("¥{}.{:02}", fen / 100, (fen % 100).abs()))
            } else if let Some(inner) = x.as_object() {
                let zh = inner.get(if lang == Lang::Zh { "zh" } else { "en" }).or_else(|| inner.get("name"));
                (
                    label(k, lang),
                    zh.map(scalar).unwrap_or_else(|| inner.values().map(scalar).collect::<Vec<_>>().join(" ")),
                )
            } else {
                (label(k, lang), scalar(x))
            }
        })
        .collect()
}

/// The field's name in the page's words, else the key as it came.
fn label(key: &str, lang: Lang) -> String {
    let zh = lang == Lang::Zh;
    WORDS
        .iter()
        .find(|(k, _, _)| k.strip_prefix("f_") == Some(key))
        .map(|(_, z, e)| (if zh { *z } else { *e }).to_owned())
        .unwrap_or_else(|| key.replace('_', " "))
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `POST /console/conversations/{id}/{accept|reply|template|transfer|close}`.
#[handler]
pub async fn act(
    req: &Request,
    console: Data<&Arc<Console>>,
    Path((id, action)): Path<(String, String)>,
    form: Option<Form<ConversationForm>>,
) -> Response {
    let (_, s) = match signed_in(&console, req).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let f = form.map(|f| f.0).unwrap_or_default();
    if let Err(resp) = check_csrf(&console, req, &s, Some(f.csrf.as_str())) {
        return resp;
    }
    let lang = Ctx::of(&console, req).lang;
    let w = words(lang);
    let refuse = |key: &str| Banner { text: w[key].as_str().unwrap_or_default().to_owned(), failed: true };
    let token = &s.token;
    let services = &console.services;
    let done = match action.as_str() {
        "accept" => services.conversation_action(token, &id, "accept", json!({})).await,
        "reply" => match reply_of(&f) {
            Some(reply) => services.reply(token, &id, &reply).await,
            None => {
                let banner = Some(refuse("text_required"));
                return render(&console, req, &s, &id, banner, false, false, StatusCode::UNPROCESSABLE_ENTITY).await;
            }
        },
        "template" => services.conversation_action(token, &id, "template", json!({ "text": f.text.trim() })).await,
        "transfer" => match transfer_of(&f) {
            Some(body) => services.conversation_action(token, &id, "transfer", body).await,
            None => {
                let banner = Some(refuse("to_required"));
                return render(&console, req, &s, &id, banner, false, false, StatusCode::UNPROCESSABLE_ENTITY).await;
            }
        },
        "close" => services.conversation_action(token, &id, "close", json!({ "outcome": f.outcome })).await,
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match done {
        // Transferred or closed, the conversation leaves the agent's hands: back to the inbox.
        Ok(_) if matches!(action.as_str(), "transfer" | "close") => {
            Redirect::see_other(format!("/console/conversations?done={action}")).into_response()
        }
        Ok(_) => {
            let key = if action == "reply" { "messages" } else { action.as_str() };
            let to = format!("/console/conversations/{}?done={key}", crate::clients::enc(&id));
            Redirect::see_other(to).into_response()
        }
        Err(err) => {
            let text = format!("{}{}", w["refused"].as_str().unwrap_or_default(), why(&err));
            let banner = Some(Banner { text, failed: true });
            render(&console, req, &s, &id, banner, window_closed(&err), false, status_of(&err)).await
        }
    }
}

/// The reply the form asks for: the agent's text, else the chosen canned reply.
fn reply_of(f: &ConversationForm) -> Option<Reply> {
    let text = f.text.trim();
    if !text.is_empty() {
        Some(Reply::Text(text.to_owned()))
    } else if !f.canned.trim().is_empty() {
        Some(Reply::Canned(f.canned.trim().to_owned()))
    } else {
        None
    }
}

/// The transfer the form asks for: `agent:<staff id>` or `group:<group>`, with the note.
fn transfer_of(f: &ConversationForm) -> Option<Value> {
    let note = f.note.trim();
    match f.to.split_once(':') {
        Some(("agent", to)) if !to.is_empty() => Some(json!({ "to_agent_id": to, "note": note })),
        Some(("group", to)) if !to.is_empty() => Some(json!({ "to_group": to, "note": note })),
        _ => None,
    }
}

/// `GET /console/assets/conversations.js` and `.css` are served with the other assets; this
/// is the script's cache header's reason: it changes with the binary only.
pub const SCRIPT: &[u8] = include_bytes!("../../assets/conversations.js");
/// The pages' own styles.
pub const STYLE: &[u8] = include_bytes!("../../assets/conversations.css");

/// `GET /console/conversations/assets/{name}`: this page's script and styles.
#[handler]
pub fn asset(Path(name): Path<String>) -> Response {
    let (mime, bytes) = match name.as_str() {
        "conversations.js" => ("text/javascript; charset=utf-8", SCRIPT),
        "conversations.css" => ("text/css; charset=utf-8", STYLE),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    Response::builder()
        .content_type(mime)
        .header(header::CACHE_CONTROL, "public, max-age=3600")
        .header("x-content-type-options", "nosniff")
        .body(bytes.to_vec())
}

#[cfg(test)]
#[path = "conversations_tests.rs"]
mod tests;
