//! The ticket page and its actions. Each action posts the version the clerk read (as
//! `If-Match`); when someone changed the ticket since, the API refuses (412), nothing changes,
//! and the page says so with the fresh ticket.

use std::sync::Arc;

use city_platform::coords::{Crs, LatLon};
use city_platform::time::now_ms;
use poem::http::StatusCode;
use poem::web::{Data, Form, Multipart, Path, Redirect};
use poem::{handler, IntoResponse, Request, Response};
use serde_json::{json, Value};

use super::queue::{refused, STATES};
use super::{check_csrf, html, signed_in, Ctx};
use crate::clients::ApiError;
use crate::session::ConsoleSession;
use crate::Console;

/// What a page shows above the ticket after an action.
enum Banner {
    None,
    Done,
    Conflict,
    Failed(String),
}

#[handler]
pub async fn show(req: &Request, console: Data<&Arc<Console>>, Path(id): Path<String>) -> Response {
    let (_, s) = match signed_in(&console, req).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let done = req.uri().query().is_some_and(|q| q.contains("done=1"));
    render(&console, req, &s, &id, if done { Banner::Done } else { Banner::None }, StatusCode::OK).await
}

async fn render(
    console: &Console,
    req: &Request,
    s: &ConsoleSession,
    id: &str,
    banner: Banner,
    status: StatusCode,
) -> Response {
    let ctx = Ctx::of(console, req);
    let (ticket, etag) = match console.services.ticket(&s.token, id).await {
        Ok(found) => found,
        Err(ApiError::Refused { status: 404 | 403, .. }) => {
            return super::message(console, &ctx, Some(s), StatusCode::NOT_FOUND, "not_found");
        }
        Err(err) => return refused(console, &ctx, s, err),
    };
    let r = &ticket["report"];
    let templates = console.services.templates(&s.token).await.unwrap_or(Value::Null);
    let categories = console.services.categories().await.unwrap_or(Value::Null);
    let category = r["category"].as_str().unwrap_or_default();
    let templates: Vec<Value> = templates
        .as_array()
        .map(|ts| {
            ts.iter()
                .filter(|t| {
                    let cats = t["categories"].as_array().map(Vec::len).unwrap_or(0);
                    cats == 0 || t["categories"].as_array().is_some_and(|c| c.iter().any(|x| x == category))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let (lat, lon) = (r["location"]["lat"].as_f64().unwrap_or(0.0), r["location"]["lon"].as_f64().unwrap_or(0.0));
    let nearby: Vec<Value> = console
        .services
        .nearby(lat, lon, category)
        .await
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n["report"]["id"] != r["id"])
        .collect();
    // Colleagues: the clerks the API says an assignment of this ticket may name.
    let colleagues: Vec<Value> = console
        .services
        .colleagues(&s.token, id)
        .await
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .map(|c| json!({"id": c["staff_id"], "name": c["username"]}))
        .collect();
    let due_ms = chrono::DateTime::parse_from_rfc3339(r["due_at"].as_str().unwrap_or_default())
        .ok()
        .map(|d| d.timestamp_millis());
    let hours_left = due_ms.map(|d| (d - now_ms()) as f64 / 3_600_000.0);
    let words = ctx.lang.words();
    let mut c = ctx.base(console, Some(s), "queue");
    c["ticket"] = ticket.clone();
    c["r"] = r.clone();
    c["etag"] = json!(etag);
    c["reporter"] = json!(r["reporter_name"].as_str().map(mask_name));
    c["templates"] = json!(templates);
    c["categories"] = categories;
    c["states"] = json!(STATES);
    c["nearby"] = json!(nearby);
    c["colleagues"] = json!(colleagues);
    c["hours_left"] = json!(hours_left.map(|h| (h * 10.0).round() / 10.0));
    c["late_hours"] = json!(hours_left.filter(|h| *h < 0.0).map(|h| (-h * 10.0).round() / 10.0));
    c["held"] = json!(ticket["moderation"].as_str().is_some_and(|m| m != "pass"));
    c["map_at"] = map_point(&r["location"], console.settings.tile_url.is_some());
    c["banner"] = match banner {
        Banner::None => Value::Null,
        Banner::Done => json!({"kind": "done", "text": words["done"]}),
        Banner::Conflict => json!({"kind": "conflict", "text": words["conflict"]}),
        Banner::Failed(why) => json!({"kind": "failed", "text": format!("{}{why}", words["failed"])}),
    };
    html(status, console.pages.render("ticket.html", &c))
}

/// Where the small map puts the ticket's pin: the report's WGS-84 location as the API gives it,
/// or its GCJ-02 point when street tiles are configured, since those tiles (and the district
/// outlines drawn over them) are in GCJ-02 and a WGS-84 pin would sit some hundred metres off.
fn map_point(location: &Value, gcj02_tiles: bool) -> Value {
    let (lat, lon) = (location["lat"].as_f64().unwrap_or(0.0), location["lon"].as_f64().unwrap_or(0.0));
    match LatLon::new(lat, lon) {
        Some(p) if gcj02_tiles => {
            let (lat, lon) = p.to_crs(Crs::Gcj02);
            json!({"lat": lat, "lon": lon, "coord": "gcj02"})
        }
        _ => json!({"lat": lat, "lon": lon, "coord": "wgs84"}),
    }
}

/// A reporter's name as the console shows it: the first character, the rest masked.
fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        None => String::new(),
        Some(first) => format!("{first}{}", "*".repeat(chars.count().clamp(1, 3))),
    }
}

/// Every action form's fields (each form sends the ones it has).
#[derive(Debug, Default, serde::Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    template: String,
    #[serde(default)]
    public_update: String,
    #[serde(default)]
    internal_note: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    public: Option<String>,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    into: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    agency: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    note: String,
}

fn text(v: &str) -> Option<String> {
    Some(v.trim().to_owned()).filter(|t| !t.is_empty())
}

/// The API call an action form stands for: its path segment and JSON body.
fn call_of(action: &str, f: &ActionForm) -> Option<(&'static str, Value)> {
    Some(match action {
        "state" => {
            // The template's text, edited or not, is what the clerk sends; the template id only
            // when they left the text empty.
            let public = text(&f.public_update);
            (
                "state",
                json!({
                    "state": f.state,
                    "template": if public.is_none() { text(&f.template) } else { None },
                    "public_update": public,
                    "internal_note": text(&f.internal_note),
                }),
            )
        }
        "note" => {
            ("notes", json!({"text": f.text.trim(), "public": f.public.as_deref().is_some_and(|p| !p.is_empty())}))
        }
        "assign" => match f.assignee.as_str() {
            "me" => ("assignment", json!({})),
            "" | "none" => ("assignment", json!({"unassign": true})),
            // A colleague's option value is `id|name`; the name is what the queue shows.
            other => {
                let (sid, name) = other.split_once('|').unwrap_or((other, other));
                ("assignment", json!({"staff_id": sid, "staff_name": name}))
            }
        },
        "merge" => ("merge", json!({"into": f.into.trim()})),
        "reroute" => ("routing", json!({"category": text(&f.category), "agency": text(&f.agency)})),
        "moderate" => ("moderation", json!({"approve": f.decision == "approve", "note": text(&f.note)})),
        _ => return None,
    })
}

/// A photo the clerk attached to a public update: its file name and bytes.
type Attached = Option<(String, Vec<u8>)>;

/// The fields of a multipart form (the forms that may carry a photo) and its `photo` file, if
/// one was chosen; `None` when the form cannot be read.
async fn read_multipart(mut m: Multipart) -> Option<(ActionForm, Attached)> {
    let mut fields = serde_json::Map::new();
    let mut photo = None;
    while let Ok(Some(field)) = m.next_field().await {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "photo" {
            let filename = field.file_name().unwrap_or_default().to_owned();
            let bytes = field.bytes().await.ok()?;
            if !bytes.is_empty() {
                photo = Some((filename, bytes));
            }
        } else {
            fields.insert(name, Value::String(field.text().await.ok()?));
        }
    }
    let form = serde_json::from_value(Value::Object(fields)).ok()?;
    Some((form, photo))
}

#[handler]
pub async fn act(
    req: &Request,
    console: Data<&Arc<Console>>,
    Path((id, action)): Path<(String, String)>,
    multipart: Option<Multipart>,
    form: Option<Form<ActionForm>>,
) -> Response {
    let (_, s) = match signed_in(&console, req).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let (f, photo) = match (multipart, form) {
        (Some(m), _) => read_multipart(m).await.unwrap_or_default(),
        (None, Some(f)) => (f.0, None),
        (None, None) => Default::default(),
    };
    if let Err(resp) = check_csrf(&console, req, &s, Some(f.csrf.as_str())) {
        return resp;
    }
    let Some((segment, mut body)) = call_of(&action, &f) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Some((filename, bytes)) = photo {
        // Uploaded first; the API then checks the update may carry it (public words, unused).
        match console.services.upload_photo(&s.token, &filename, &bytes).await {
            Ok(photo_id) => body["photo_id"] = json!(photo_id),
            Err(err) => return failed(&console, req, &s, &id, err).await,
        }
    }
    match console.services.act(&s.token, &id, segment, &f.version, body).await {
        Ok(_) => Redirect::see_other(format!("/console/tickets/{}?done=1", crate::clients::enc(&id))).into_response(),
        Err(ApiError::Refused { status: 412, .. }) => {
            tracing::info!(report_id = %id, staff_id = %s.staff_id, "console action refused: the ticket changed since it was read");
            render(&console, req, &s, &id, Banner::Conflict, StatusCode::CONFLICT).await
        }
        Err(err) => failed(&console, req, &s, &id, err).await,
    }
}

/// The ticket again with why the API refused, or the refusal page when it did not answer.
async fn failed(console: &Console, req: &Request, s: &ConsoleSession, id: &str, err: ApiError) -> Response {
    match err {
        ApiError::Refused { status, problem } => {
            let why = problem["errors"][0]["message"]
                .as_str()
                .map(|m| format!("{} ({})", m, problem["errors"][0]["field"].as_str().unwrap_or_default()))
                .or_else(|| problem["detail"].as_str().map(str::to_owned))
                .or_else(|| problem["title"].as_str().map(str::to_owned))
                .unwrap_or_default();
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            render(console, req, s, id, Banner::Failed(why), status).await
        }
        err => {
            let ctx = Ctx::of(console, req);
            refused(console, &ctx, s, err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_masked_after_the_first_character() {
        assert_eq!(mask_name("王小明"), "王**");
        assert_eq!(mask_name("Li"), "L*");
        assert_eq!(mask_name(""), "");
    }

    #[test]
    fn the_pin_is_in_the_datum_of_the_tiles() {
        let at = json!({"lat": 30.6552, "lon": 104.0811, "crs": "wgs84"});
        let plain = map_point(&at, false);
        assert_eq!((plain["lat"].as_f64(), plain["lon"].as_f64()), (Some(30.6552), Some(104.0811)));
        assert_eq!(plain["coord"], "wgs84");
        let tiled = map_point(&at, true);
        assert_eq!(tiled["coord"], "gcj02");
        let (lat, lon) = LatLon::new(30.6552, 104.0811).unwrap().to_crs(Crs::Gcj02);
        assert_eq!((tiled["lat"].as_f64(), tiled["lon"].as_f64()), (Some(lat), Some(lon)));
        // In Chengdu GCJ-02 lies a few hundred metres off WGS-84, so a pin left in WGS-84 shows.
        let off_m = LatLon::new(lat, lon).unwrap().distance_m(LatLon::new(30.6552, 104.0811).unwrap());
        assert!((100.0..1000.0).contains(&off_m), "{off_m} m");
    }

    #[test]
    fn a_state_change_sends_the_edited_text_rather_than_the_template() {
        let f = ActionForm {
            state: "fixed".into(),
            template: "fixed-generic".into(),
            public_update: " Done. ".into(),
            ..Default::default()
        };
        let (seg, body) = call_of("state", &f).unwrap();
        assert_eq!(seg, "state");
        assert_eq!(body["public_update"], "Done.");
        assert!(body["template"].is_null());
        let f = ActionForm { state: "fixed".into(), template: "fixed-generic".into(), ..Default::default() };
        assert_eq!(call_of("state", &f).unwrap().1["template"], "fixed-generic");
        assert!(call_of("delete", &f).is_none());
    }
}
