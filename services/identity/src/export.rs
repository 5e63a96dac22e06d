//! The citizen's own data (issue #23, PIPL art. 45): one JSON document of what every service
//! holds about them.
//!
//! Each part is read through the owning service's own "mine" route with the citizen's own
//! `Authorization` header, forwarded unchanged (as booking reads identity's people): a service
//! can then only ever hand over this citizen's records, and the views are the masked ones the
//! citizen already sees. A part that cannot be read fails the whole export with 503: a download
//! that silently lacks a service would look complete to the citizen.

use city_platform::audit::{self, AuditEntry};
use city_platform::peers::{trace_headers, Peer};
use city_platform::time::{from_ms, now_ms, rfc3339};
use city_platform::Problem;
use serde_json::{Map, Value};

use city_platform::auth::INTERNAL_TOKEN_HEADER;

use crate::domain::citizen_id::CitizenId;
use crate::state::IdentityState;
use crate::{store, NAME};

/// One part of the document: its key, the service that owns it, the route that lists it.
struct Part {
    key: &'static str,
    service: &'static str,
    path: &'static str,
}

/// Every part, in the document's order.
const PARTS: &[Part] = &[
    Part { key: "profile", service: "identity", path: "/v1/me" },
    Part { key: "people", service: "identity", path: "/v1/me/people" },
    Part { key: "preferences", service: "identity", path: "/v1/me/preferences" },
    Part { key: "appointments", service: "booking", path: "/v1/booking/appointments" },
    Part { key: "waitlist", service: "booking", path: "/v1/booking/waitlist" },
    Part { key: "payment_accounts", service: "payments", path: "/v1/payments/accounts" },
    Part { key: "vehicles", service: "payments", path: "/v1/payments/vehicles" },
    Part { key: "orders", service: "payments", path: "/v1/payments/orders" },
    Part { key: "incidents", service: "incidents", path: "/v1/incidents/mine" },
    Part { key: "air_alerts", service: "air", path: "/v1/air/alerts" },
];

/// The document for the citizen whose `authorization` header this is.
pub async fn export(s: &IdentityState, citizen_id: &str, authorization: &str) -> Result<Map<String, Value>, Problem> {
    let settings = &s.platform.settings;
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new());
    let mut doc = Map::new();
    let now = now_ms();
    doc.insert("citizen_id".into(), Value::String(citizen_id.to_owned()));
    doc.insert("generated_at".into(), Value::String(rfc3339(from_ms(now))));
    for part in PARTS {
        // Every part names a service of the table, so the address is always there.
        let Some(addr) = settings.services.of(part.service) else { continue };
        let peer = settings.peer(part.service, addr);
        let base = peer.base();
        let req = http.get(format!("{base}{}", part.path)).header("authorization", authorization);
        doc.insert(part.key.into(), fetch(req, &peer, &base, part).await?);
    }
    doc.insert("channel".into(), channel_part(s, &http, citizen_id).await?);
    audit_export(s, citizen_id, now).await.map_err(|e| Problem::internal_from(&e))?;
    Ok(doc)
}

/// The channel's part has no citizen route (conversations are keyed by the Service Account
/// openid, which only identity maps to a citizen): its internal one, given that openid.
async fn channel_part(s: &IdentityState, http: &reqwest::Client, citizen_id: &str) -> Result<Value, Problem> {
    let settings = &s.platform.settings;
    let peer = settings.peer("channel", &settings.services.channel);
    let openids = store::openids_of(&s.db, &CitizenId::new(citizen_id.to_owned())).await?.unwrap_or_default();
    let oa_appid = &s.wechat.oa_appid;
    let base = peer.base();
    let mut url = format!("{base}/v1/internal/channel/citizens/{citizen_id}/export");
    if let Some((_, openid)) = openids.iter().find(|(appid, _)| appid == oa_appid) {
        url.push_str(&format!("?oa_openid={openid}"));
    }
    let req = http.get(url).header(INTERNAL_TOKEN_HEADER, s.platform.internal_token.expose());
    let part = Part { key: "channel", service: "channel", path: "/v1/internal/channel/citizens/{id}/export" };
    fetch(req, &peer, &base, &part).await
}

/// Sends `req` (to `peer`'s replica at `base`); the part's JSON, or 503 naming the service.
async fn fetch(mut req: reqwest::RequestBuilder, peer: &Peer, base: &str, part: &Part) -> Result<Value, Problem> {
    for (name, value) in trace_headers() {
        req = req.header(name, value);
    }
    let unavailable =
        || Problem::unavailable(format!("the {} service could not give its part of the export", part.service));
    let res = req.send().await.map_err(|err| {
        if err.is_connect() || err.is_timeout() {
            peer.failed(base);
        }
        tracing::warn!(error = %err, service = part.service, part = part.key, "export: no answer");
        unavailable()
    })?;
    let status = res.status().as_u16();
    if status != 200 {
        tracing::warn!(status, service = part.service, part = part.key, "export: part refused");
        return Err(unavailable());
    }
    res.json::<Value>().await.map_err(|err| {
        tracing::error!(error = %err, service = part.service, part = part.key, "export: unreadable part");
        unavailable()
    })
}

/// The export in the audit log: who took their data, when (nothing of the data itself).
async fn audit_export(s: &IdentityState, citizen_id: &str, at_ms: i64) -> Result<(), sqlx::Error> {
    let entry = AuditEntry {
        actor_id: citizen_id.to_owned(),
        actor_name: "citizen".into(),
        service: NAME.into(),
        action: "export_citizen_data".into(),
        target: format!("citizen:{citizen_id}"),
        before: None,
        after: Some(serde_json::json!({ "parts": PARTS.iter().map(|p| p.key).collect::<Vec<_>>() })),
        request_id: city_platform::request_id::current(),
        at_ms,
    };
    let mut tx = s.db.begin_write().await?;
    audit::record(&mut tx, &entry).await?;
    tx.commit().await
}

/// The export as a ZIP (issue #23): `export.json` (the same document) and every photo of the
/// citizen's reports under `photos/<report id>/<photo id>.jpg`, each read from incidents' own
/// photo route. A photo that cannot be read fails the whole archive with 503, as a part does.
pub async fn export_zip(s: &IdentityState, citizen_id: &str, authorization: &str) -> Result<Vec<u8>, Problem> {
    use std::io::Write as _;
    use zip::write::SimpleFileOptions;

    let doc = export(s, citizen_id, authorization).await?;
    let settings = &s.platform.settings;
    let Some(addr) = settings.services.of("incidents") else {
        return Err(Problem::unavailable("the incidents service is not configured"));
    };
    let peer = settings.peer("incidents", addr);
    let base = peer.base();
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new());
    let broken = |err: zip::result::ZipError| Problem::internal_from(&err);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let deflated = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let json = serde_json::to_vec_pretty(&Value::Object(doc.clone())).map_err(|e| Problem::internal_from(&e))?;
    zip.start_file("export.json", deflated).map_err(broken)?;
    zip.write_all(&json).map_err(|e| Problem::internal_from(&e))?;
    // JPEGs are compressed already: stored as they are.
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let part = Part { key: "photos", service: "incidents", path: "/v1/incidents/photos/{id}" };
    for (incident_id, photo_id) in photo_ids(&doc) {
        let mut req = http.get(format!("{base}/v1/incidents/photos/{photo_id}")).header("authorization", authorization);
        for (name, value) in trace_headers() {
            req = req.header(name, value);
        }
        let unavailable = || Problem::unavailable("the incidents service could not give a photo of the export");
        let res = req.send().await.map_err(|err| {
            if err.is_connect() || err.is_timeout() {
                peer.failed(&base);
            }
            tracing::warn!(error = %err, service = part.service, part = part.key, "export: no photo");
            unavailable()
        })?;
        if res.status().as_u16() != 200 {
            tracing::warn!(status = res.status().as_u16(), part = part.key, "export: photo refused");
            return Err(unavailable());
        }
        let bytes = res.bytes().await.map_err(|_| unavailable())?;
        zip.start_file(format!("photos/{incident_id}/{photo_id}.jpg"), stored).map_err(broken)?;
        zip.write_all(&bytes).map_err(|e| Problem::internal_from(&e))?;
    }
    Ok(zip.finish().map_err(broken)?.into_inner())
}

/// (report id, photo id) of every photo in the document's `incidents` part; ids that are not
/// plain tokens are skipped, as they become a URL path and a file name.
fn photo_ids(doc: &Map<String, Value>) -> Vec<(String, String)> {
    let token = |v: &Value| {
        v.as_str()
            .filter(|s| !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
            .map(str::to_owned)
    };
    let mut out = Vec::new();
    for incident in doc.get("incidents").and_then(Value::as_array).into_iter().flatten() {
        let Some(incident_id) = token(&incident["id"]) else { continue };
        for photo in incident["photos"].as_array().into_iter().flatten() {
            if let Some(photo_id) = token(&photo["id"]) {
                out.push((incident_id.clone(), photo_id));
            }
        }
    }
    out
}
