//! The channel's `/v1/announcements` as the console's editors use it, with their own token:
//! the channel decides who may write, approve and send.

use serde_json::Value;

use super::{enc, ok, ApiError, Services};
use crate::upstream::Call;

impl Services {
    /// `GET /v1/announcements`: the latest announcements.
    pub async fn announcements(&self, token: &str) -> Result<Value, ApiError> {
        ok(self.send(Call::get("/v1/announcements?limit=100").bearer(token)).await?).map(|a| a.json())
    }

    /// `POST /v1/announcements/covers`: the cover's media id.
    pub async fn announcement_cover(&self, token: &str, filename: &str, bytes: &[u8]) -> Result<String, ApiError> {
        let boundary = format!("city-console-{}", hex::encode(rand::random::<[u8; 12]>()));
        let name: String = filename.chars().filter(|c| c.is_ascii_alphanumeric() || ".-_".contains(*c)).collect();
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"cover\"; filename=\"{}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n",
            if name.is_empty() { "cover" } else { &name }
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let ct = format!("multipart/form-data; boundary={boundary}");
        let a = ok(self.send(Call::post_raw("/v1/announcements/covers", ct, body).bearer(token)).await?)?;
        Ok(a.json()["cover_media_id"].as_str().unwrap_or_default().to_owned())
    }

    /// `POST /v1/announcements`: a new announcement awaiting approval.
    pub async fn create_announcement(&self, token: &str, body: Value) -> Result<Value, ApiError> {
        ok(self.send(Call::post("/v1/announcements", body).bearer(token)).await?).map(|a| a.json())
    }

    /// `POST /v1/announcements/{id}/{action}` (`approve`, `send`, `preview`).
    pub async fn announcement_action(
        &self,
        token: &str,
        id: &str,
        action: &str,
        body: Value,
    ) -> Result<Value, ApiError> {
        let call = Call::post(format!("/v1/announcements/{}/{action}", enc(id)), body).bearer(token);
        ok(self.send(call).await?).map(|a| a.json())
    }
}
