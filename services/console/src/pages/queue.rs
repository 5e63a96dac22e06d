//! The queue: the clerk's tickets as the incidents API scopes them, with filters, counts per
//! filter, search, sorting, paging, the CSV export of exactly the filtered list, a stamp the
//! page polls to pick up new tickets, and the map's data.
//!
//! The incidents API does all of it (issue #19): each page reads one page of the queue and
//! the counts (`/v1/incidents/queue/counts`), so a queue of any size pages the same way.

use std::collections::BTreeSet;
use std::sync::Arc;

use poem::http::{header, StatusCode};
use poem::web::{Data, Query};
use poem::{handler, IntoResponse, Request, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{html, signed_in, Ctx};
use crate::clients::{ApiError, ApiQueueFilter};
use crate::session::ConsoleSession;
use crate::Console;

/// Rows per page.
pub const PER_PAGE: usize = 25;

/// The queue's filters as the page's form sends them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct QueueParams {
    #[serde(default)]
    state: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    district: String,
    #[serde(default)]
    mine: Option<String>,
    #[serde(default)]
    overdue: Option<String>,
    #[serde(default)]
    held: Option<String>,
    #[serde(default)]
    q: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    page: Option<usize>,
    #[serde(default)]
    partial: Option<String>,
}

fn on(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|v| !v.is_empty() && v != "0")
}

impl QueueParams {
    fn api(&self) -> ApiQueueFilter {
        ApiQueueFilter {
            state: Some(self.state.clone()).filter(|s| !s.is_empty()),
            category: Some(self.category.clone()).filter(|s| !s.is_empty()),
            district: Some(self.district.clone()).filter(|s| !s.is_empty()),
            overdue: on(&self.overdue),
            assignee: on(&self.mine).then(|| "me".to_owned()),
            held: on(&self.held),
            q: Some(self.q.trim().to_owned()).filter(|q| !q.is_empty()),
            sort: Some(match self.sort.as_str() {
                "new" => "new".to_owned(),
                "updated" => "updated".to_owned(),
                _ => "due".to_owned(),
            }),
        }
    }

    /// The same filters as a query string (for the export, the stamp and paging links).
    fn query(&self, page: Option<usize>) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("state", &self.state),
            ("category", &self.category),
            ("district", &self.district),
            ("q", &self.q),
            ("sort", &self.sort),
        ] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        for (k, v) in [("mine", &self.mine), ("overdue", &self.overdue), ("held", &self.held)] {
            if on(v) {
                q.append_pair(k, "1");
            }
        }
        if let Some(p) = page {
            q.append_pair("page", &p.to_string());
        }
        q.finish()
    }
}

/// Page `page` (from 1) of the filtered queue, the counts, and the page actually shown (the
/// last one when `page` is past it).
async fn rows(console: &Console, s: &ConsoleSession, p: &QueueParams) -> Result<(Vec<Value>, Value, usize), ApiError> {
    let f = p.api();
    let counts = console.services.queue_counts(&s.token, &f).await?;
    let matching = counts["matching"].as_u64().unwrap_or_default() as usize;
    let pages = matching.div_ceil(PER_PAGE).max(1);
    let page = p.page.unwrap_or(1).clamp(1, pages);
    let shown = console.services.queue_page(&s.token, &f, PER_PAGE, (page - 1) * PER_PAGE).await?;
    Ok((shown, counts, page))
}

/// The counts as the page shows them.
fn counts(c: &Value) -> Value {
    json!({"all": c["all"], "state": c["state"], "category": c["category"], "district": c["district"],
           "mine": c["mine"], "overdue": c["overdue"], "held": c["held"]})
}

/// What the poller compares: the counts (a new or changed ticket moves one) and the rows shown.
fn stamp_of(counts: &Value, rows: &[Value]) -> String {
    let mut h = Sha256::new();
    h.update(counts.to_string().as_bytes());
    for r in rows {
        h.update(r["report"]["id"].as_str().unwrap_or_default().as_bytes());
        h.update(r["version"].as_i64().unwrap_or_default().to_le_bytes());
    }
    hex::encode(&h.finalize()[..8])
}

/// The queue page (or, with `partial=1`, only its results for the poller).
#[handler]
pub async fn list(req: &Request, console: Data<&Arc<Console>>, Query(p): Query<QueueParams>) -> Response {
    let (_, s) = match signed_in(&console, req).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let ctx = Ctx::of(&console, req);
    let (shown, all_counts, page) = match rows(&console, &s, &p).await {
        Ok(found) => found,
        Err(err) => return refused(&console, &ctx, &s, err),
    };
    let total = all_counts["matching"].as_u64().unwrap_or_default() as usize;
    let pages = total.div_ceil(PER_PAGE).max(1);
    let categories = console.services.categories().await.unwrap_or(Value::Null);
    let districts = console.services.districts("wgs84").await.unwrap_or(Value::Null);
    let mut c = ctx.base(&console, Some(&s), "queue");
    c["rows"] = json!(shown);
    c["total"] = json!(total);
    c["page"] = json!(page);
    c["pages"] = json!(pages);
    c["prev_q"] = json!((page > 1).then(|| p.query(Some(page - 1))));
    c["next_q"] = json!((page < pages).then(|| p.query(Some(page + 1))));
    c["query"] = json!(p.query(None));
    c["stamp"] = json!(stamp_of(&all_counts, &shown));
    c["counts"] = counts(&all_counts);
    c["f"] = json!({
        "state": p.state, "category": p.category, "district": p.district, "q": p.q, "sort": p.sort,
        "mine": on(&p.mine), "overdue": on(&p.overdue), "held": on(&p.held),
    });
    c["states"] = json!(STATES);
    c["categories"] = categories;
    c["districts"] = json!(districts["features"]
        .as_array()
        .map(|fs| fs.iter().map(|f| f["properties"].clone()).collect::<Vec<_>>())
        .unwrap_or_default());
    let template = if on(&p.partial) { "queue_results.html" } else { "queue.html" };
    html(StatusCode::OK, console.pages.render(template, &c))
}

/// Every state of a ticket, in workflow order (the incidents API's codes).
pub const STATES: &[&str] = &[
    "open",
    "confirmed",
    "investigating",
    "action_scheduled",
    "in_progress",
    "fixed",
    "closed",
    "duplicate",
    "not_responsible",
    "no_further_action",
];

/// `{stamp, total}` of the filtered queue: the page polls it and reloads its results when the
/// stamp changes.
#[handler]
pub async fn stamp(req: &Request, console: Data<&Arc<Console>>, Query(p): Query<QueueParams>) -> Response {
    let (_, s) = match signed_in(&console, req).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    match rows(&console, &s, &p).await {
        Ok((shown, counts, _)) => {
            let body = json!({"stamp": stamp_of(&counts, &shown), "total": counts["matching"]});
            Response::builder()
                .content_type("application/json")
                .header(header::CACHE_CONTROL, "no-store")
                .body(body.to_string())
        }
        Err(err) => StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_GATEWAY).into_response(),
    }
}

/// The API's CSV of exactly the filtered, searched and sorted queue the page lists.
#[handler]
pub async fn export(req: &Request, console: Data<&Arc<Console>>, Query(p): Query<QueueParams>) -> Response {
    let (_, s) = match signed_in(&console, req).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let ctx = Ctx::of(&console, req);
    let csv = match console.services.export(&s.token, &p.api()).await {
        Ok(csv) => csv,
        Err(err) => return refused(&console, &ctx, &s, err),
    };
    Response::builder()
        .content_type("text/csv; charset=utf-8")
        .header(header::CONTENT_DISPOSITION, "attachment; filename=\"incidents.csv\"")
        .header(header::CACHE_CONTROL, "no-store")
        .body(csv)
}

/// The map's viewport parameters.
#[derive(Debug, Deserialize)]
pub struct MapParams {
    bbox: String,
    zoom: u8,
    /// The datum (`coord`, the portal's one name for it).
    #[serde(default)]
    coord: Option<String>,
}

/// The incidents map for a viewport, each pin marked `in_scope` when it is in the clerk's queue
/// (only those open a ticket).
#[handler]
pub async fn map_data(req: &Request, console: Data<&Arc<Console>>, Query(p): Query<MapParams>) -> Response {
    let (_, s) = match signed_in(&console, req).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let coord = if p.coord.as_deref() == Some("gcj02") { "gcj02" } else { "wgs84" };
    let mut map = match console.services.map(&p.bbox, p.zoom, coord).await {
        Ok(m) => m,
        Err(err) => return StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_GATEWAY).into_response(),
    };
    // Only single pins open a ticket; the API says which are the clerk's.
    let pins: Vec<String> = map["features"]
        .as_array()
        .map(|fs| fs.iter().filter(|f| f["properties"]["kind"] == "report"))
        .into_iter()
        .flatten()
        .filter_map(|f| f["id"].as_str().map(str::to_owned))
        .collect();
    let ids: BTreeSet<String> =
        console.services.in_scope(&s.token, &pins).await.unwrap_or_default().into_iter().collect();
    if let Some(features) = map["features"].as_array_mut() {
        for f in features {
            let id = f["id"].as_str().unwrap_or_default().to_owned();
            f["properties"]["in_scope"] = json!(ids.contains(&id));
        }
    }
    Response::builder()
        .content_type("application/geo+json")
        .header(header::CACHE_CONTROL, "no-store")
        .body(map.to_string())
}

/// The district outlines in the map's datum.
#[handler]
pub async fn district_outlines(req: &Request, console: Data<&Arc<Console>>) -> Response {
    if let Err(resp) = signed_in(&console, req).await {
        return resp;
    }
    let coord = if console.settings.tile_url.is_some() { "gcj02" } else { "wgs84" };
    match console.services.districts(coord).await {
        Ok(d) => Response::builder().content_type("application/geo+json").body(d.to_string()),
        Err(err) => StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_GATEWAY).into_response(),
    }
}

/// A page saying why the API refused (a clerk-only list to someone without the role, say).
pub fn refused(console: &Console, ctx: &Ctx, s: &ConsoleSession, err: ApiError) -> Response {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut c = ctx.base(console, Some(s), "queue");
    let words = ctx.lang.words();
    c["message"] = json!(match &err {
        ApiError::Unreachable(_) => words["unavailable"].to_owned(),
        ApiError::Refused { problem, .. } => format!(
            "{}{}",
            words["failed"],
            problem["detail"].as_str().or(problem["title"].as_str()).unwrap_or_default()
        ),
    });
    html(status, console.pages.render("message.html", &c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_gets_the_search_held_and_a_known_order_only() {
        let p =
            QueueParams { q: " lamp ".into(), held: Some("1".into()), sort: "sideways".into(), ..Default::default() };
        let f = p.api();
        assert_eq!(f.q.as_deref(), Some("lamp"));
        assert!(f.held);
        assert_eq!(f.sort.as_deref(), Some("due"));
        let p = QueueParams { sort: "new".into(), ..Default::default() };
        assert_eq!(p.api().sort.as_deref(), Some("new"));
        assert!(p.api().q.is_none());
    }

    #[test]
    fn the_query_round_trips_the_filters() {
        let p = QueueParams { state: "open".into(), q: "a b".into(), mine: Some("1".into()), ..Default::default() };
        assert_eq!(p.query(Some(2)), "state=open&q=a+b&mine=1&page=2");
    }
}
