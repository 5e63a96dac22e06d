//! The queue: the clerk's tickets as the incidents API scopes them, with filters, counts per
//! filter, search, sorting, paging, the CSV export of exactly the filtered list, a stamp the
//! page polls to pick up new tickets, and the map's data.
//!
//! The API filters by state, category, district, assignee and overdue itself; search and
//! "held text" are applied here to the API's answer (the API has no such parameters), over at
//! most `clients::QUEUE_CAP` rows.

use std::collections::{BTreeMap, BTreeSet};
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

    /// Whether a row passes the filters the API does not know.
    fn keeps(&self, row: &Value) -> bool {
        if on(&self.held) && row["moderation"].as_str() == Some("pass") {
            return false;
        }
        let q = self.q.trim().to_lowercase();
        if q.is_empty() {
            return true;
        }
        let r = &row["report"];
        let id = r["id"].as_str().unwrap_or_default().to_lowercase();
        id == q
            || id.contains(&q)
            || r["description"].as_str().unwrap_or_default().to_lowercase().contains(&q)
            || r["address"].as_str().unwrap_or_default().to_lowercase().contains(&q)
    }
}

/// The filtered, sorted rows and the whole scope (for counts), or the API's refusal.
async fn rows(
    console: &Console,
    s: &ConsoleSession,
    p: &QueueParams,
) -> Result<(Vec<Value>, Vec<Value>, bool), ApiError> {
    let (scope, capped) = console.services.queue(&s.token, &ApiQueueFilter::default()).await?;
    Ok((filtered(console, s, p).await?, scope, capped))
}

/// The filtered, sorted rows only (what the poller and the export need).
async fn filtered(console: &Console, s: &ConsoleSession, p: &QueueParams) -> Result<Vec<Value>, ApiError> {
    let (filtered, _) = console.services.queue(&s.token, &p.api()).await?;
    let mut kept: Vec<Value> = filtered.into_iter().filter(|r| p.keeps(r)).collect();
    let key = |r: &Value, f: &str| r["report"][f].as_str().unwrap_or_default().to_owned();
    match p.sort.as_str() {
        "new" => kept.sort_by_key(|r| std::cmp::Reverse(key(r, "created_at"))),
        "updated" => kept.sort_by_key(|r| std::cmp::Reverse(key(r, "updated_at"))),
        _ => {} // the API's order: earliest due first
    }
    Ok(kept)
}

/// Counts over the clerk's whole scope, per filter value.
fn counts(scope: &[Value], me: &str) -> Value {
    let mut by_state: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_category: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_district: BTreeMap<String, usize> = BTreeMap::new();
    let (mut mine, mut overdue, mut held) = (0, 0, 0);
    for r in scope {
        let rep = &r["report"];
        *by_state.entry(rep["state"].as_str().unwrap_or_default().into()).or_default() += 1;
        *by_category.entry(rep["category"].as_str().unwrap_or_default().into()).or_default() += 1;
        *by_district.entry(rep["district"].as_str().unwrap_or_default().into()).or_default() += 1;
        mine += usize::from(r["assignee_id"].as_str() == Some(me));
        overdue += usize::from(r["overdue"].as_bool() == Some(true));
        held += usize::from(r["moderation"].as_str().is_some_and(|m| m != "pass"));
    }
    json!({"all": scope.len(), "state": by_state, "category": by_category, "district": by_district,
           "mine": mine, "overdue": overdue, "held": held})
}

fn stamp_of(rows: &[Value]) -> String {
    let mut h = Sha256::new();
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
    let (kept, scope, capped) = match rows(&console, &s, &p).await {
        Ok(found) => found,
        Err(err) => return refused(&console, &ctx, &s, err),
    };
    let pages = kept.len().div_ceil(PER_PAGE).max(1);
    let page = p.page.unwrap_or(1).clamp(1, pages);
    let shown: Vec<Value> = kept.iter().skip((page - 1) * PER_PAGE).take(PER_PAGE).cloned().collect();
    let categories = console.services.categories().await.unwrap_or(Value::Null);
    let districts = console.services.districts("wgs84").await.unwrap_or(Value::Null);
    let mut c = ctx.base(&console, Some(&s), "queue");
    c["rows"] = json!(shown);
    c["total"] = json!(kept.len());
    c["page"] = json!(page);
    c["pages"] = json!(pages);
    c["prev_q"] = json!((page > 1).then(|| p.query(Some(page - 1))));
    c["next_q"] = json!((page < pages).then(|| p.query(Some(page + 1))));
    c["query"] = json!(p.query(None));
    c["stamp"] = json!(stamp_of(&kept));
    c["counts"] = counts(&scope, &s.staff_id);
    c["capped"] = json!(capped);
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
    match filtered(&console, &s, &p).await {
        Ok(kept) => {
            let body = json!({"stamp": stamp_of(&kept), "total": kept.len()});
            Response::builder()
                .content_type("application/json")
                .header(header::CACHE_CONTROL, "no-store")
                .body(body.to_string())
        }
        Err(err) => StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_GATEWAY).into_response(),
    }
}

/// The API's CSV of the filtered queue; with a search or "held" filter, only the rows the page
/// lists (so the file is exactly what the screen shows).
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
    let csv = if p.q.trim().is_empty() && !on(&p.held) {
        csv
    } else {
        let kept = match filtered(&console, &s, &p).await {
            Ok(kept) => kept,
            Err(err) => return refused(&console, &ctx, &s, err),
        };
        let ids: BTreeSet<String> = kept.iter().filter_map(|r| r["report"]["id"].as_str().map(str::to_owned)).collect();
        keep_rows(&csv, &ids)
    };
    Response::builder()
        .content_type("text/csv; charset=utf-8")
        .header(header::CONTENT_DISPOSITION, "attachment; filename=\"incidents.csv\"")
        .header(header::CACHE_CONTROL, "no-store")
        .body(csv)
}

/// The header and the rows of `csv` whose first cell is in `ids`, re-written as RFC 4180.
fn keep_rows(csv: &[u8], ids: &BTreeSet<String>) -> Vec<u8> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(csv);
    let mut out = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    for (i, rec) in reader.records().enumerate() {
        let Ok(rec) = rec else { continue };
        if i == 0 || rec.get(0).is_some_and(|id| ids.contains(id)) {
            let _ = out.write_record(&rec);
        }
    }
    out.into_inner().unwrap_or_default()
}

/// The map's viewport parameters.
#[derive(Debug, Deserialize)]
pub struct MapParams {
    bbox: String,
    zoom: u8,
    #[serde(default)]
    crs: Option<String>,
}

/// The incidents map for a viewport, each pin marked `in_scope` when it is in the clerk's queue
/// (only those open a ticket).
#[handler]
pub async fn map_data(req: &Request, console: Data<&Arc<Console>>, Query(p): Query<MapParams>) -> Response {
    let (_, s) = match signed_in(&console, req).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let crs = if p.crs.as_deref() == Some("gcj02") { "gcj02" } else { "wgs84" };
    let mut map = match console.services.map(&p.bbox, p.zoom, crs).await {
        Ok(m) => m,
        Err(err) => return StatusCode::from_u16(err.status()).unwrap_or(StatusCode::BAD_GATEWAY).into_response(),
    };
    let ids: BTreeSet<String> = match console.services.queue(&s.token, &ApiQueueFilter::default()).await {
        Ok((rows, _)) => rows.iter().filter_map(|r| r["report"]["id"].as_str().map(str::to_owned)).collect(),
        Err(_) => BTreeSet::new(),
    };
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
    fn the_export_keeps_the_header_and_the_listed_rows_only() {
        let csv = b"id,description\r\nA1,\"pot, hole\"\r\nB2,lamp\r\n";
        let ids = BTreeSet::from(["A1".to_owned()]);
        assert_eq!(String::from_utf8(keep_rows(csv, &ids)).unwrap(), "id,description\r\nA1,\"pot, hole\"\r\n");
    }

    #[test]
    fn search_matches_reference_and_text_and_held_drops_passed_text() {
        let row = json!({"moderation": "pass", "report": {"id": "R-2026-0001", "description": "Broken lamp", "address": "Chunxi Road"}});
        let p = |q: &str, held: bool| QueueParams { q: q.into(), held: held.then(|| "1".into()), ..Default::default() };
        assert!(p("r-2026-0001", false).keeps(&row));
        assert!(p("lamp", false).keeps(&row));
        assert!(p("chunxi", false).keeps(&row));
        assert!(!p("pothole", false).keeps(&row));
        assert!(!p("", true).keeps(&row));
    }

    #[test]
    fn the_query_round_trips_the_filters() {
        let p = QueueParams { state: "open".into(), q: "a b".into(), mine: Some("1".into()), ..Default::default() };
        assert_eq!(p.query(Some(2)), "state=open&q=a+b&mine=1&page=2");
    }
}
