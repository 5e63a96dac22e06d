//! The sandbox's own OpenAPI document (issue #16), served at `/sandbox/wechat/openapi.json` in
//! the demo profile only: the sandbox exists only there, so a production portal has neither it
//! nor its description. It is apart from the portal's `/openapi.json` because these are
//! WeChat's paths and shapes (errcode bodies, XML), not the portal's contract.
//!
//! Written from a table rather than poem-openapi: the handlers mirror WeChat's wire formats
//! with plain poem routes, and the table is checked against the served routes by
//! `tests/api/production.rs` (every operation here answers in a demo, none in production).

use serde_json::{json, Map, Value};

/// What a route takes as its body.
#[derive(Clone, Copy)]
enum Body {
    None,
    Json,
    Multipart,
}

/// One documented route: method, path under `/sandbox/wechat`, summary, body.
const OPERATIONS: &[(&str, &str, &str, Body)] = &[
    ("get", "/sns/jscode2session", "Mini Program: exchange a login code for the openid and session", Body::None),
    ("post", "/cgi-bin/stable_token", "An access token for the server APIs", Body::Json),
    ("post", "/wxa/business/getuserphonenumber", "Mini Program: the phone number behind a phone code", Body::Json),
    ("get", "/connect/oauth2/authorize", "Service Account web sign-in: the consent page", Body::None),
    ("get", "/sns/oauth2/access_token", "Service Account web sign-in: exchange the OAuth code", Body::None),
    ("get", "/sns/userinfo", "Service Account web sign-in: the follower's profile", Body::None),
    ("post", "/wxa/msg_sec_check", "Content-safety check of a text", Body::Json),
    ("post", "/cgi-bin/message/custom/send", "Send a customer-service message", Body::Json),
    ("post", "/cgi-bin/message/template/send", "Send a template message", Body::Json),
    ("post", "/cgi-bin/message/subscribe/send", "Send a subscribe message", Body::Json),
    ("post", "/cgi-bin/menu/create", "Set the Service Account menu", Body::Json),
    ("get", "/cgi-bin/menu/get", "Read the Service Account menu", Body::None),
    ("get", "/cgi-bin/menu/delete", "Delete the Service Account menu", Body::None),
    ("get", "/cgi-bin/user/info", "A Service Account follower: subscribe, openid, unionid", Body::None),
    (
        "post",
        "/cgi-bin/material/add_material",
        "Upload a permanent material (an announcement's cover)",
        Body::Multipart,
    ),
    ("post", "/cgi-bin/draft/add", "Add a draft article", Body::Json),
    ("post", "/cgi-bin/message/mass/preview", "Preview a broadcast to one follower", Body::Json),
    ("post", "/cgi-bin/message/mass/sendall", "Broadcast to all followers or a tag (monthly limit)", Body::Json),
    ("post", "/cgi-bin/wxopen/wxamplink", "Link a Mini Program to the Service Account (limit)", Body::Json),
    ("post", "/cgi-bin/wxopen/wxamplinkget", "The Mini Programs linked to the Service Account", Body::None),
    ("post", "/cgi-bin/wxopen/wxampunlink", "Unlink a Mini Program", Body::Json),
    ("post", "/cgi-bin/tags/create", "Create a follower tag", Body::Json),
    ("get", "/cgi-bin/tags/get", "List the follower tags", Body::None),
    ("post", "/cgi-bin/tags/members/batchtagging", "Tag followers", Body::Json),
    ("post", "/cgi-bin/tags/members/batchuntagging", "Untag followers", Body::Json),
    ("post", "/cgi-bin/user/tag/get", "The followers with a tag", Body::Json),
    ("post", "/pay/v3/pay/transactions/jsapi", "WeChat Pay: place a JSAPI order", Body::Json),
    ("get", "/pay/v3/pay/transactions/out-trade-no/{no}", "WeChat Pay: query an order", Body::None),
    ("post", "/pay/v3/pay/transactions/out-trade-no/{no}/close", "WeChat Pay: close an order", Body::Json),
    ("post", "/pay/v3/refund/domestic/refunds", "WeChat Pay: refund", Body::Json),
    ("get", "/pay/v3/refund/domestic/refunds/{no}", "WeChat Pay: query a refund", Body::None),
    ("get", "/pay/v3/bill/tradebill", "WeChat Pay: the day's trade bill (a download URL)", Body::None),
    ("get", "/pay/v3/billdownload/file", "WeChat Pay: download a bill file", Body::None),
    ("post", "/_test/mp/codes", "Test helper: mint a Mini Program login code for a unionid", Body::Json),
    ("post", "/_test/oa/oauth-codes", "Test helper: mint a Service Account OAuth code", Body::Json),
    ("post", "/_test/mp/phone-codes", "Test helper: mint a phone-number code", Body::Json),
    ("post", "/_test/mp/subscriptions", "Test helper: grant subscribe-message sends", Body::Json),
    ("post", "/_test/oa/interactions", "Test helper: record a follower's interaction (48-hour window)", Body::Json),
    (
        "post",
        "/_test/oa/say",
        "Test helper: a follower writes to the Service Account (text or location), pushed to the callback",
        Body::Json,
    ),
    ("post", "/_test/oa/unfollow", "Test helper: a follower unfollows", Body::Json),
    ("get", "/_test/messages", "Test helper: the messages sent so far", Body::None),
    ("post", "/_test/messages/clear", "Test helper: forget the messages sent", Body::None),
    ("post", "/_test/clock/advance", "Test helper: move the sandbox's clock forward", Body::Json),
    ("post", "/_test/access-tokens/revoke", "Test helper: revoke the access tokens issued", Body::Json),
    ("post", "/_test/oa/followers", "Test helper: a user follows the Service Account", Body::Json),
    ("get", "/_test/mass/received", "Test helper: the broadcasts each follower received", Body::None),
    ("post", "/_test/mass/limits", "Test helper: set the monthly broadcast limit", Body::Json),
    ("post", "/_test/oa/miniprogram-links/limit", "Test helper: set the Mini Program linking limit", Body::Json),
    (
        "post",
        "/pay/_test/transactions/{no}/pay",
        "Test helper: the citizen pays an order (notification follows)",
        Body::None,
    ),
    ("post", "/pay/_test/transactions/{no}/renotify", "Test helper: send an order's notification again", Body::None),
    ("get", "/pay/_test/deliveries", "Test helper: the payment notifications delivered", Body::None),
];

/// The document, as JSON text; `base` is where the sandbox is mounted (`/sandbox/wechat`).
pub fn openapi(base: &str) -> String {
    let mut paths = Map::new();
    for (method, path, summary, body) in OPERATIONS {
        let mut op = json!({
            "tags": [if path.contains("/_test/") { "Sandbox test helpers" } else { "WeChat (simulated)" }],
            "summary": summary,
            "operationId": operation_id(method, path),
            "responses": {
                "200": {"description": "WeChat's answer: JSON (`errcode` 0 or absent), a page, or a file."},
                "default": {"description": "WeChat's refusal: JSON with `errcode` and `errmsg`, or a Pay error."}
            }
        });
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        match body {
            Body::None => {}
            Body::Json => {
                op["requestBody"] = json!({"content": {"application/json": {"schema": {"type": "object"}}}});
            }
            Body::Multipart => {
                op["requestBody"] = json!({"content": {"multipart/form-data": {"schema": {"type": "object",
                    "properties": {"media": {"type": "string", "format": "binary"}}}}}});
            }
        }
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[*method] = op;
    }
    let doc = json!({
        "openapi": "3.0.0",
        "info": {
            "title": "City Services WeChat sandbox",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A local simulator of WeChat's servers for the demo profile: the same paths, \
                wire formats, signatures and encryption as WeChat (see WeChat's own documentation for \
                each body), plus `_test` helpers that play the citizen's side. Never in production."
        },
        "servers": [{"url": base}],
        "paths": paths,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

fn operation_id(method: &str, path: &str) -> String {
    let words: Vec<String> = path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    format!("{method}_{}", words.join("_"))
}

/// The documented routes, `(METHOD, path under the mount)`, for tests.
pub fn documented_routes() -> Vec<(String, String)> {
    OPERATIONS.iter().map(|(m, p, _, _)| (m.to_ascii_uppercase(), (*p).to_owned())).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_is_openapi_with_unique_operation_ids() {
        let doc: serde_json::Value = serde_json::from_str(&super::openapi("/sandbox/wechat")).unwrap();
        assert_eq!(doc["openapi"], "3.0.0");
        let mut ids: Vec<String> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|p| p.as_object().unwrap().values().map(|o| o["operationId"].as_str().unwrap().to_owned()))
            .collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "operation ids repeat");
        assert_eq!(n, super::OPERATIONS.len());
    }
}
