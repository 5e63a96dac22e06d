//! Simulated Mini Program content security: `POST /wxa/msg_sec_check?access_token=` (version 2).
//!
//! Demo keywords decide the verdict, so tests and demos can see every outcome: text containing
//! `risky-demo`, `赌博` or `诈骗` is `risky` (label 20006 / 20008), `review-demo` or `广告` is
//! `review` (label 10001), anything else `pass` (100). Until the identity engineer's access
//! tokens land in `platform`, any non-empty `access_token` is accepted.

use city_platform::config::Settings;
use poem::http::StatusCode;
use poem::web::{Json, Query};
use poem::{handler, post, IntoResponse, Response, Route};
use serde::Deserialize;

/// The content-security routes, for mounting alone (tests).
pub fn routes(_settings: &Settings) -> Route {
    Route::new().at("/wxa/msg_sec_check", msg_sec_check_endpoint())
}

/// `POST /wxa/msg_sec_check`, as the sandbox mounts it next to the platform routes.
pub fn msg_sec_check_endpoint() -> impl poem::Endpoint<Output = poem::Response> {
    poem::EndpointExt::map_to_response(post(msg_sec_check))
}

#[derive(Deserialize)]
struct TokenQuery {
    access_token: Option<String>,
}

/// Verdicts for the demo keywords: (keyword, suggest, label).
const KEYWORDS: &[(&str, &str, u32)] = &[
    ("risky-demo", "risky", 20006),
    ("赌博", "risky", 20006),
    ("诈骗", "risky", 20008),
    ("review-demo", "review", 10001),
    ("广告", "review", 10001),
];

fn reply(body: serde_json::Value) -> Response {
    Json(body).with_status(StatusCode::OK).into_response()
}

fn errcode(code: i64, msg: &str) -> Response {
    reply(serde_json::json!({"errcode": code, "errmsg": msg}))
}

#[handler]
fn msg_sec_check(Query(q): Query<TokenQuery>, body: Option<Json<serde_json::Value>>) -> Response {
    if q.access_token.as_deref().is_none_or(str::is_empty) {
        return errcode(41001, "access_token missing");
    }
    let Some(Json(body)) = body else {
        return errcode(47001, "data format error");
    };
    if body.get("version").and_then(|v| v.as_i64()) != Some(2) {
        return errcode(40003, "invalid version; use version 2");
    }
    let scene = body.get("scene").and_then(|v| v.as_i64()).unwrap_or(0);
    if !(1..=4).contains(&scene) {
        return errcode(40003, "invalid scene");
    }
    if body.get("openid").and_then(|v| v.as_str()).is_none_or(str::is_empty) {
        return errcode(40003, "invalid openid");
    }
    let Some(content) = body.get("content").and_then(|v| v.as_str()) else {
        return errcode(47001, "data format error: content");
    };
    if content.chars().count() > 2500 {
        return errcode(87015, "content too long");
    }
    let hit = KEYWORDS.iter().find(|(k, _, _)| content.contains(k));
    let (suggest, label, keyword) = match hit {
        Some((k, s, l)) => (*s, *l, *k),
        None => ("pass", 100, ""),
    };
    let trace_id = format!("sandbox-{:x}", content.len() * 2_654_435_761 % 0xffff_ffff);
    reply(serde_json::json!({
        "errcode": 0,
        "errmsg": "ok",
        "result": {"suggest": suggest, "label": label},
        "detail": [
            {"strategy": "content_model", "errcode": 0, "suggest": suggest, "label": label, "prob": 90},
            {"strategy": "keyword", "errcode": 0, "suggest": suggest, "label": label, "level": 20, "keyword": keyword}
        ],
        "trace_id": trace_id
    }))
}
