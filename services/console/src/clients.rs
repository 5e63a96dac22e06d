//! The services' APIs as the console uses them: identity's staff sign-in and profile, the
//! incidents queue and actions, the gateway's districts. Every call carries the clerk's own
//! token, so each service decides what the clerk may see and do, exactly as for any client.

mod announcements;
mod conversations;

pub use conversations::Reply;

use std::sync::Arc;

use serde_json::Value;

use crate::upstream::{Answer, Call, Unreachable, Upstream};

/// Why a call did not give what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The service did not answer.
    #[error(transparent)]
    Unreachable(#[from] Unreachable),
    /// It answered with a problem.
    #[error("the service answered {status}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The problem body.
        problem: Value,
    },
}

impl ApiError {
    /// The refusal's status (502 when nothing answered).
    pub fn status(&self) -> u16 {
        match self {
            Self::Unreachable(_) => 502,
            Self::Refused { status, .. } => *status,
        }
    }
}

/// The services, as the console calls them.
#[derive(Clone)]
pub struct Services {
    up: Arc<dyn Upstream>,
}

/// The queue filters, search and order, as the incidents API takes them.
#[derive(Debug, Clone, Default)]
pub struct ApiQueueFilter {
    /// Comma list of states.
    pub state: Option<String>,
    /// Category code.
    pub category: Option<String>,
    /// District code.
    pub district: Option<String>,
    /// Past due and still open.
    pub overdue: bool,
    /// `me` or a staff id.
    pub assignee: Option<String>,
    /// Text awaiting a decision only.
    pub held: bool,
    /// A reference or words.
    pub q: Option<String>,
    /// `due`, `new` or `updated`.
    pub sort: Option<String>,
}

impl ApiQueueFilter {
    fn query(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("state", &self.state),
            ("category", &self.category),
            ("district", &self.district),
            ("q", &self.q),
            ("sort", &self.sort),
        ] {
            if let Some(v) = v.as_deref().filter(|v| !v.is_empty()) {
                q.append_pair(k, v);
            }
        }
        if self.overdue {
            q.append_pair("overdue", "true");
        }
        if self.held {
            q.append_pair("held", "true");
        }
        if let Some(a) = self.assignee.as_deref() {
            q.append_pair("assignee", a);
        }
        q.finish()
    }
}

fn ok(answer: Answer) -> Result<Answer, ApiError> {
    if answer.is_success() {
        Ok(answer)
    } else {
        let problem = answer.json();
        Err(ApiError::Refused { status: answer.status, problem })
    }
}

impl Services {
    /// Over a transport.
    pub fn new(up: Arc<dyn Upstream>) -> Self {
        Self { up }
    }

    async fn send(&self, call: Call) -> Result<Answer, ApiError> {
        Ok(self.up.send(call).await?)
    }

    /// `POST /v1/staff/sessions`: the staff session (token and profile) or the refusal.
    pub async fn staff_sign_in(&self, username: &str, password: &str) -> Result<Value, ApiError> {
        let body = serde_json::json!({"username": username, "password": password});
        ok(self.send(Call::post("/v1/staff/sessions", body)).await?).map(|a| a.json())
    }

    /// `GET /v1/staff/me`.
    pub async fn staff_me(&self, token: &str) -> Result<Value, ApiError> {
        ok(self.send(Call::get("/v1/staff/me").bearer(token)).await?).map(|a| a.json())
    }

    /// `POST /v1/staff/me/password`: the staff member's own password change.
    pub async fn change_password(&self, token: &str, current: &str, new: &str) -> Result<Value, ApiError> {
        let body = serde_json::json!({"current_password": current, "new_password": new});
        ok(self.send(Call::post("/v1/staff/me/password", body).bearer(token)).await?).map(|a| a.json())
    }

    /// `DELETE /v1/auth/session`: revokes the staff token.
    pub async fn sign_out(&self, token: &str) -> Result<(), ApiError> {
        let call = Call { method: poem::http::Method::DELETE, ..Call::get("/v1/auth/session").bearer(token) };
        ok(self.send(call).await?).map(|_| ())
    }

    /// One page of the clerk's queue under `f`: `limit` rows from `offset`, in `f.sort`'s order.
    pub async fn queue_page(
        &self,
        token: &str,
        f: &ApiQueueFilter,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<Value>, ApiError> {
        let path = format!("/v1/incidents/queue?{}&limit={limit}&offset={offset}", f.query());
        let page = ok(self.send(Call::get(path).bearer(token)).await?)?.json();
        Ok(page.as_array().cloned().unwrap_or_default())
    }

    /// `GET /v1/incidents/queue/counts` under `f`: `matching`, `all` and the counts per filter.
    pub async fn queue_counts(&self, token: &str, f: &ApiQueueFilter) -> Result<Value, ApiError> {
        let path = format!("/v1/incidents/queue/counts?{}", f.query());
        ok(self.send(Call::get(path).bearer(token)).await?).map(|a| a.json())
    }

    /// `GET /v1/incidents/queue/in-scope`: which of `ids` (a map view's pins, at most 300) are
    /// in the clerk's queue, as the API decides; asked per view, so any queue size works.
    pub async fn in_scope(&self, token: &str, ids: &[String]) -> Result<Vec<String>, ApiError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let path = format!("/v1/incidents/queue/in-scope?ids={}", enc(&ids.join(",")));
        let held = ok(self.send(Call::get(path).bearer(token)).await?)?.json();
        Ok(held
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default())
    }

    /// `GET /v1/incidents/queue/colleagues?report=`: the clerks an assignment of `report` may
    /// name, as the API decides.
    pub async fn colleagues(&self, token: &str, report: &str) -> Result<Value, ApiError> {
        let path = format!("/v1/incidents/queue/colleagues?report={}", enc(report));
        ok(self.send(Call::get(path).bearer(token)).await?).map(|a| a.json())
    }

    /// `GET /v1/incidents/queue/export` under `f`: the API's CSV.
    pub async fn export(&self, token: &str, f: &ApiQueueFilter) -> Result<Vec<u8>, ApiError> {
        let path = format!("/v1/incidents/queue/export?{}", f.query());
        Ok(ok(self.send(Call::get(path).bearer(token)).await?)?.body)
    }

    /// `GET /v1/incidents/queue/{id}`: the ticket as the clerk sees it, with its `ETag`.
    pub async fn ticket(&self, token: &str, id: &str) -> Result<(Value, String), ApiError> {
        let a = ok(self.send(Call::get(format!("/v1/incidents/queue/{}", enc(id))).bearer(token)).await?)?;
        let etag = a.etag.clone().unwrap_or_default();
        Ok((a.json(), etag))
    }

    /// One of the clerk's actions (`state`, `assignment`, `notes`, `merge`, `routing`,
    /// `moderation`) on version `etag` of ticket `id`.
    pub async fn act(&self, token: &str, id: &str, action: &str, etag: &str, body: Value) -> Result<Value, ApiError> {
        let mut call = Call::post(format!("/v1/incidents/queue/{}/{action}", enc(id)), body).bearer(token);
        call.if_match = Some(etag.to_owned());
        ok(self.send(call).await?).map(|a| a.json())
    }

    /// `POST /v1/incidents/queue/photos`: the clerk's photo for a public update; its id.
    pub async fn upload_photo(&self, token: &str, filename: &str, bytes: &[u8]) -> Result<String, ApiError> {
        let boundary = format!("city-console-{}", hex::encode(rand::random::<[u8; 12]>()));
        // The file name is the clerk's; only its safe characters go into the header.
        let name: String = filename.chars().filter(|c| c.is_ascii_alphanumeric() || ".-_".contains(*c)).collect();
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"{}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n",
            if name.is_empty() { "photo" } else { &name }
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let ct = format!("multipart/form-data; boundary={boundary}");
        let a = ok(self.send(Call::post_raw("/v1/incidents/queue/photos", ct, body).bearer(token)).await?)?;
        Ok(a.json()["id"].as_str().unwrap_or_default().to_owned())
    }

    /// `GET /v1/incidents/templates`.
    pub async fn templates(&self, token: &str) -> Result<Value, ApiError> {
        ok(self.send(Call::get("/v1/incidents/templates").bearer(token)).await?).map(|a| a.json())
    }

    /// `GET /v1/incidents/categories`.
    pub async fn categories(&self) -> Result<Value, ApiError> {
        ok(self.send(Call::get("/v1/incidents/categories")).await?).map(|a| a.json())
    }

    /// `GET /v1/incidents/nearby`: open reports of `category` near a WGS-84 point.
    pub async fn nearby(&self, lat: f64, lon: f64, category: &str) -> Result<Value, ApiError> {
        let path =
            format!("/v1/incidents/nearby?lat={lat}&lon={lon}&coord=wgs84&category={}&radius_m=500", enc(category));
        ok(self.send(Call::get(path)).await?).map(|a| a.json())
    }

    /// `GET /v1/incidents/{id}`: what the public sees.
    pub async fn public(&self, id: &str) -> Result<Value, ApiError> {
        ok(self.send(Call::get(format!("/v1/incidents/{}", enc(id)))).await?).map(|a| a.json())
    }

    /// `GET /v1/incidents/map` for a viewport in `crs`.
    pub async fn map(&self, bbox: &str, zoom: u8, coord: &str) -> Result<Value, ApiError> {
        let path = format!("/v1/incidents/map?bbox={}&zoom={zoom}&coord={coord}", enc(bbox));
        ok(self.send(Call::get(path)).await?).map(|a| a.json())
    }

    /// `GET /v1/districts` in `coord` (`wgs84` or `gcj02`).
    pub async fn districts(&self, coord: &str) -> Result<Value, ApiError> {
        ok(self.send(Call::get(format!("/v1/districts?coord={coord}"))).await?).map(|a| a.json())
    }
}

/// Percent-encodes one path segment or query value.
pub fn enc(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}
