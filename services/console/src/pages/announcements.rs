//! `/console/announcements`: the editors' page (issue #21): write an announcement with a
//! cover, preview it to your own openid, approve a colleague's (the approval queue), send an
//! approved one, and the history with WeChat's totals. The channel's API decides every step
//! (editors only, never approving your own, sending once); the page shows its answers.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Form, Multipart, Path, Redirect};
use poem::{handler, IntoResponse, Request, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{check_csrf, html, signed_in, Ctx};
use crate::clients::ApiError;
use crate::i18n::Lang;
use crate::session::ConsoleSession;
use crate::Console;

/// The page's own words: (key, Chinese, English).
const WORDS: &[(&str, &str, &str)] = &[
    ("heading", "服务号公告", "Service Account announcements"),
    ("write", "撰写公告", "Write an announcement"),
    ("title", "标题", "Title"),
    ("digest", "摘要", "Summary"),
    ("body", "正文", "Text"),
    ("cover", "封面图片", "Cover image"),
    ("district", "发送范围", "Send to"),
    ("everyone", "全部粉丝", "Every follower"),
    ("save", "提交审批", "Submit for approval"),
    ("pending", "待审批", "Awaiting approval"),
    ("approved", "待发送", "Approved, not sent"),
    ("history", "发送记录", "History"),
    ("approve", "批准", "Approve"),
    ("send", "发送", "Send"),
    ("preview", "预览到我的微信", "Preview to my WeChat"),
    ("openid", "我的 openid", "My openid"),
    ("author", "撰写人", "Author"),
    ("approver", "审批人", "Approver"),
    ("sent_at", "发送时间", "Sent"),
    ("totals", "送达 / 目标 / 过滤后 / 失败", "Delivered / targeted / after filtering / failed"),
    ("waiting", "等待微信回报", "Waiting for WeChat's report"),
    ("none", "暂无", "None"),
    ("done", "已完成。", "Done."),
    ("refused", "未完成：", "Not done: "),
    ("last_error", "上次发送失败：", "Last attempt failed: "),
    ("article", "图文", "Article"),
    ("more", "可选；未选封面时沿用第一篇的封面", "Optional; without a cover of its own it uses the first one's"),
    ("urgent", "紧急通知（以模板消息发给该区有预约或未结工单的市民，不群发；须选择区）", "Urgent (a template message to the district's citizens with a booking or an open report, not a broadcast; choose a district)"),
    ("urgent_label", "紧急", "Urgent"),
    ("recipients", "收件市民", "Citizens sent to"),
];

/// Article slots the form offers: the channel's default limit (`channel.announcements.max_articles`,
/// 6). A lower configured limit is the channel's to refuse, naming the field.
const ARTICLE_SLOTS: usize = 6;

fn words(lang: Lang) -> Value {
    let zh = lang.code() == "zh";
    let map: serde_json::Map<String, Value> =
        WORDS.iter().map(|(k, z, e)| ((*k).to_owned(), json!(if zh { *z } else { *e }))).collect();
    Value::Object(map)
}

/// The page, with an optional banner (`done`, or the API's refusal).
async fn render(
    console: &Console,
    req: &Request,
    s: &ConsoleSession,
    banner: Option<String>,
    status: StatusCode,
) -> Response {
    let ctx = Ctx::of(console, req);
    let mut c = ctx.base(console, Some(s), "announcements");
    c["w"] = words(ctx.lang);
    c["banner"] = json!(banner);
    c["more"] = json!((1..ARTICLE_SLOTS).collect::<Vec<_>>());
    match console.services.announcements(&s.token).await {
        Ok(list) => {
            let all = list.as_array().cloned().unwrap_or_default();
            let of = |status: &str| -> Vec<Value> { all.iter().filter(|a| a["status"] == status).cloned().collect() };
            c["pending"] = json!(of("pending"));
            c["approved"] = json!(of("approved"));
            let mut history = of("sent");
            history.extend(of("sending"));
            c["history"] = json!(history);
            c["allowed"] = json!(true);
        }
        Err(err) => {
            c["allowed"] = json!(false);
            c["banner"] = json!(why(&err));
        }
    }
    let status = if c["allowed"] == false && status == StatusCode::OK { StatusCode::FORBIDDEN } else { status };
    match console.services.districts("wgs84").await {
        Ok(d) => {
            c["districts"] = json!(d["features"]
                .as_array()
                .map(|f| f.iter().map(|f| f["properties"].clone()).collect::<Vec<_>>())
                .unwrap_or_default())
        }
        Err(err) => tracing::warn!(error = %err, "districts for the announcement form not read"),
    }
    html(status, console.pages.render("announcements.html", &c))
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

fn status_of(err: &ApiError) -> StatusCode {
    StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_GATEWAY)
}

/// `GET /console/announcements`.
#[handler]
pub async fn show(req: &Request, console: Data<&Arc<Console>>) -> Response {
    let (_, s) = match signed_in(&console, req).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let done = req.uri().query().is_some_and(|q| q.contains("done=1"));
    let banner = done.then(|| words(Ctx::of(&console, req).lang)["done"].as_str().unwrap_or_default().to_owned());
    render(&console, req, &s, banner, StatusCode::OK).await
}

/// `POST /console/announcements` (multipart): the cover goes to WeChat, then the announcement.
#[handler]
pub async fn create(req: &Request, console: Data<&Arc<Console>>, mut form: Multipart) -> Response {
    let (_, s) = match signed_in(&console, req).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let mut fields = std::collections::HashMap::new();
    // Covers by article slot: `cover` is the first article's, `cover_<i>` the others'.
    let mut covers = std::collections::BTreeMap::new();
    while let Ok(Some(field)) = form.next_field().await {
        let name = field.name().unwrap_or_default().to_owned();
        let slot = if name == "cover" { Some(0) } else { name.strip_prefix("cover_").and_then(|i| i.parse().ok()) };
        if let Some(slot) = slot.filter(|i: &usize| *i < ARTICLE_SLOTS) {
            let filename = field.file_name().unwrap_or("cover.jpg").to_owned();
            if let Ok(bytes) = field.bytes().await {
                if !bytes.is_empty() {
                    covers.insert(slot, (filename, bytes));
                }
            }
        } else if let Ok(text) = field.text().await {
            fields.insert(name, text);
        }
    }
    let field = |k: &str| fields.get(k).cloned().unwrap_or_default();
    if let Err(resp) = check_csrf(&console, req, &s, Some(field("csrf").as_str())) {
        return resp;
    }
    if !covers.contains_key(&0) {
        return render(&console, req, &s, Some("cover: required".into()), StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let mut media = std::collections::BTreeMap::new();
    for (slot, (filename, bytes)) in &covers {
        match console.services.announcement_cover(&s.token, filename, bytes).await {
            Ok(id) => media.insert(*slot, id),
            Err(err) => return render(&console, req, &s, Some(why(&err)), status_of(&err)).await,
        };
    }
    let mut articles = Vec::new();
    for slot in 0..ARTICLE_SLOTS {
        let key = |k: &str| if slot == 0 { k.to_owned() } else { format!("{k}_{slot}") };
        let (title, body) = (field(&key("title")), field(&key("body")));
        // An extra slot left blank is not an article; the first always is (the API names a gap).
        if slot > 0 && title.trim().is_empty() && body.trim().is_empty() {
            continue;
        }
        let cover = media.get(&slot).or_else(|| media.get(&0)).cloned().unwrap_or_default();
        articles.push(json!({"title": title, "digest": field(&key("digest")), "body": body, "cover_media_id": cover}));
    }
    let mut body = json!({ "articles": articles });
    if !field("district").is_empty() {
        body["district"] = json!(field("district"));
    }
    if field("urgent") == "1" {
        body["urgent"] = json!(true);
    }
    match console.services.create_announcement(&s.token, body).await {
        Ok(_) => Redirect::see_other("/console/announcements?done=1").into_response(),
        Err(err) => render(&console, req, &s, Some(why(&err)), status_of(&err)).await,
    }
}

/// An action's form.
#[derive(Debug, Default, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    openid: String,
}

/// `POST /console/announcements/{id}/{approve|send|preview}`.
#[handler]
pub async fn act(
    req: &Request,
    console: Data<&Arc<Console>>,
    Path((id, action)): Path<(String, String)>,
    form: Option<Form<ActionForm>>,
) -> Response {
    let (_, s) = match signed_in(&console, req).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let f = form.map(|f| f.0).unwrap_or_default();
    if let Err(resp) = check_csrf(&console, req, &s, Some(f.csrf.as_str())) {
        return resp;
    }
    let body = match action.as_str() {
        "approve" | "send" => Value::Null,
        "preview" => json!({ "openid": f.openid.trim() }),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    match console.services.announcement_action(&s.token, &id, &action, body).await {
        Ok(_) => Redirect::see_other("/console/announcements?done=1").into_response(),
        Err(err) => render(&console, req, &s, Some(why(&err)), status_of(&err)).await,
    }
}
