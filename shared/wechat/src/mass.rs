//! The Service Account's broadcast (群发) calls: the cover upload
//! (`/cgi-bin/material/add_material?type=image`, multipart), `/cgi-bin/draft/add`,
//! `/cgi-bin/message/mass/preview`, `/cgi-bin/message/mass/sendall` (all followers or a tag),
//! and the tags (`/cgi-bin/tags/create|get`, `/cgi-bin/tags/members/batchtagging`).
//!
//! Every call takes the account's access token from [`AccessTokens`] (shared by replicas) and
//! retries once on a stale token. A send carries a `clientmsgid`: WeChat answers a repeated one
//! with 45065 and the first send's `msg_id`, which [`MassClient::send_all`] turns into that
//! `msg_id`, so a retried send is one broadcast.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::client::{AccessTokens, ClientError, TokenStore};
use crate::error::WechatError;

/// One article of a draft, as `/cgi-bin/draft/add` takes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DraftArticle {
    /// Title (64 bytes at most).
    pub title: String,
    /// The summary shown under the title.
    pub digest: String,
    /// The body (HTML).
    pub content: String,
    /// The cover: a permanent image material's `media_id`.
    pub thumb_media_id: String,
}

/// Who a broadcast goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Every follower.
    All,
    /// The followers carrying this tag.
    Tag(i64),
}

/// A tag of the account.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Tag {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
}

/// Errcode of a `clientmsgid` already used (the answer carries the first send's `msg_id`).
const CLIENT_MSG_ID_EXISTS: i64 = 45065;
/// Errcode of a tag name already taken.
const TAG_NAME_TAKEN: i64 = 45157;

/// The broadcast calls of one Service Account.
pub struct MassClient<S> {
    base: String,
    http: reqwest::Client,
    tokens: AccessTokens<S>,
}

impl<S> std::fmt::Debug for MassClient<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MassClient").field("base", &self.base).finish_non_exhaustive()
    }
}

impl<S: TokenStore> MassClient<S> {
    /// The calls at `base` with the account's `tokens`.
    pub fn new(base: impl Into<String>, tokens: AccessTokens<S>) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
        Self { base: base.into().trim_end_matches('/').to_owned(), http, tokens }
    }

    /// Uploads a cover image as permanent material; its `media_id`.
    pub async fn upload_image(&self, filename: &str, bytes: &[u8]) -> Result<String, ClientError> {
        let (content_type, body) = multipart_image(filename, bytes);
        let answer = self
            .tokens
            .call(|token| {
                let req = self
                    .http
                    .post(format!("{}/cgi-bin/material/add_material", self.base))
                    .query(&[("access_token", token.as_str()), ("type", "image")])
                    .header("content-type", content_type.clone())
                    .body(body.clone());
                async move { checked(send(req).await?) }
            })
            .await?;
        field_str(&answer, "media_id")
    }

    /// Saves `articles` as a draft; its `media_id`.
    pub async fn add_draft(&self, articles: &[DraftArticle]) -> Result<String, ClientError> {
        let answer = self.post("/cgi-bin/draft/add", &json!({ "articles": articles })).await?;
        field_str(&answer, "media_id")
    }

    /// Previews the draft to one follower (does not count towards the monthly limit).
    pub async fn preview(&self, openid: &str, draft_media_id: &str) -> Result<(), ClientError> {
        let body = json!({"touser": openid, "mpnews": {"media_id": draft_media_id}, "msgtype": "mpnews"});
        self.post("/cgi-bin/message/mass/preview", &body).await.map(drop)
    }

    /// Broadcasts the draft; the job's `msg_id`. `client_msg_id` makes a repeat one broadcast:
    /// WeChat's 45065 answer carries the first send's `msg_id`, returned as success.
    pub async fn send_all(
        &self,
        audience: Audience,
        draft_media_id: &str,
        client_msg_id: &str,
    ) -> Result<i64, ClientError> {
        let filter = match audience {
            Audience::All => json!({"is_to_all": true}),
            Audience::Tag(tag_id) => json!({"is_to_all": false, "tag_id": tag_id}),
        };
        let body = json!({
            "filter": filter, "mpnews": {"media_id": draft_media_id}, "msgtype": "mpnews",
            "send_ignore_reprint": 0, "clientmsgid": client_msg_id,
        });
        let answer = self.post_raw("/cgi-bin/message/mass/sendall", &body).await?;
        let code = answer["errcode"].as_i64().unwrap_or(0);
        if code == 0 || code == CLIENT_MSG_ID_EXISTS {
            if let Some(id) = answer["msg_id"].as_i64() {
                return Ok(id);
            }
        }
        checked(answer)
            .and_then(|a| a["msg_id"].as_i64().ok_or_else(|| ClientError::Decode("sendall without msg_id".into())))
    }

    /// The account's tags.
    pub async fn tags(&self) -> Result<Vec<Tag>, ClientError> {
        let answer = self
            .tokens
            .call(|token| {
                let req = self.http.get(format!("{}/cgi-bin/tags/get", self.base)).query(&[("access_token", token)]);
                async move { checked(send(req).await?) }
            })
            .await?;
        serde_json::from_value(answer["tags"].clone()).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// The tag named `name`: created, or found when it already exists (another replica made it).
    pub async fn ensure_tag(&self, name: &str) -> Result<i64, ClientError> {
        match self.post("/cgi-bin/tags/create", &json!({"tag": {"name": name}})).await {
            Ok(answer) => answer["tag"]["id"].as_i64().ok_or_else(|| ClientError::Decode("tag without id".into())),
            Err(ClientError::Wechat(e)) if e.errcode() == Some(TAG_NAME_TAKEN) => self
                .tags()
                .await?
                .into_iter()
                .find(|t| t.name == name)
                .map(|t| t.id)
                .ok_or_else(|| ClientError::Decode(format!("tag {name} taken but not listed"))),
            Err(e) => Err(e),
        }
    }

    /// Tags `openids` (50 per call, as WeChat allows).
    pub async fn tag_followers(&self, tag_id: i64, openids: &[String]) -> Result<(), ClientError> {
        for chunk in openids.chunks(50) {
            let body = json!({"openid_list": chunk, "tagid": tag_id});
            self.post("/cgi-bin/tags/members/batchtagging", &body).await?;
        }
        Ok(())
    }

    /// Removes the tag from `openids` (50 per call).
    pub async fn untag_followers(&self, tag_id: i64, openids: &[String]) -> Result<(), ClientError> {
        for chunk in openids.chunks(50) {
            let body = json!({"openid_list": chunk, "tagid": tag_id});
            self.post("/cgi-bin/tags/members/batchuntagging", &body).await?;
        }
        Ok(())
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        checked(self.post_raw(path, body).await?)
    }

    /// The answer whatever its errcode, except a stale token, which is refreshed and retried once.
    async fn post_raw(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.tokens
            .call(|token| {
                let req = self.http.post(format!("{}{path}", self.base)).query(&[("access_token", token)]).json(body);
                async move {
                    let answer = send(req).await?;
                    match answer["errcode"].as_i64() {
                        Some(code @ (40001 | 40014 | 42001)) => Err(ClientError::Wechat(WechatError::from_errcode(
                            code,
                            answer["errmsg"].as_str().unwrap_or_default(),
                        ))),
                        _ => Ok(answer),
                    }
                }
            })
            .await
    }
}

async fn send(req: reqwest::RequestBuilder) -> Result<Value, ClientError> {
    let resp = req.send().await.map_err(|e| ClientError::Transport(e.without_url().to_string()))?;
    if !resp.status().is_success() {
        return Err(ClientError::Transport(format!("HTTP {}", resp.status())));
    }
    resp.json().await.map_err(|e| ClientError::Decode(e.to_string()))
}

fn checked(answer: Value) -> Result<Value, ClientError> {
    match answer["errcode"].as_i64().unwrap_or(0) {
        0 => Ok(answer),
        code => Err(WechatError::from_errcode(code, answer["errmsg"].as_str().unwrap_or_default()).into()),
    }
}

fn field_str(answer: &Value, field: &str) -> Result<String, ClientError> {
    answer[field].as_str().map(str::to_owned).ok_or_else(|| ClientError::Decode(format!("answer without {field}")))
}

/// A `multipart/form-data` body with the image in the field `media`, as WeChat's upload takes
/// it: (content type with the boundary, body).
pub fn multipart_image(filename: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("----citymass{:016x}", rand::random::<u64>());
    let safe_name: String = filename.chars().filter(|c| c.is_ascii_alphanumeric() || ".-_".contains(*c)).collect();
    let mime = if bytes.starts_with(b"\x89PNG") { "image/png" } else { "image/jpeg" };
    let mut body = Vec::with_capacity(bytes.len() + 256);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"media\"; filename=\"{safe_name}\"\r\nContent-Type: {mime}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_multipart_body_carries_the_image_whole_between_boundaries() {
        let image = b"\x89PNG\r\n\x1a\nrest";
        let (content_type, body) = multipart_image("cover \"x\".png", image);
        let boundary = content_type.strip_prefix("multipart/form-data; boundary=").unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(&format!("--{boundary}\r\n")));
        assert!(text.contains("name=\"media\"; filename=\"coverx.png\""));
        assert!(text.contains("Content-Type: image/png"));
        assert!(body.windows(image.len()).any(|w| w == image));
        assert!(text.ends_with(&format!("\r\n--{boundary}--\r\n")));
    }
}
