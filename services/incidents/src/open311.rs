//! Open311 GeoReport v2 at `/open311/v2`: discovery, services, service definitions, requests
//! (create, search, one), tokens; each as `.json` (Spark convention: list resources are bare
//! arrays) and `.xml` (UTF-8, no namespace). Errors are Open311's own error lists with 400, 403
//! or 404. Plain poem routes, because the formats are chosen by path suffix.
//!
//! Never exposes personal data: no reporter name, contact, or account; text still held by the
//! content-safety check is left out.

use std::collections::BTreeMap;
use std::sync::Arc;

use city_platform::auth::SharedAuthenticator;
use city_platform::coords::Crs;
use city_platform::time::{from_ms, now_ms, rfc3339};
use city_platform::{IntoProblem, Problem};
use poem::http::{Method, StatusCode};
use poem::web::{Form, Multipart, Query};
use poem::{Endpoint, FromRequest, Request, RequestBody, Response, Route};
use quick_xml::escape::escape;

use crate::domain::access::{self, Field, Principal, Refusal};
use crate::domain::catalogue::ServiceType;
use crate::domain::{ReportId, State};
use crate::reports::read::{self, Seen};
use crate::reports::{self, uploads, Submission, UploadError};
use crate::store::{Open311Filter, StoreError};
use crate::{photos, IncidentsState};

const SPEC_URL: &str = "http://wiki.open311.org/GeoReport_v2";
const DAY_MS: i64 = 86_400_000;
/// Open311's default and largest page.
const MAX_PAGE: i64 = 1000;

mod api;

pub use api::Open311Api;

/// The routes, with their full paths (`/open311/v2/...`), for `nest_no_strip`: the documented
/// operations of [`Open311Api`], served by poem-openapi itself (so what is described is what
/// answers), and for any other file at the top (`foo.json`, `services` without a suffix)
/// Open311's own 404 instead of the portal's problem.
pub fn routes(state: Arc<IncidentsState>) -> Route {
    // The paths in poem's form, from the same table poem-openapi routes by.
    let mut table = std::collections::HashMap::new();
    poem_openapi::OpenApi::add_routes(Open311Api { state: state.clone() }, &mut table);
    let served = Arc::new(poem::IntoEndpoint::into_endpoint(poem_openapi::OpenApiService::new(
        Open311Api { state: state.clone() },
        "Open311",
        "v2",
    )));
    let mut route = Route::new();
    for path in table.into_keys() {
        route = route.at(path, served.clone());
    }
    route.at("/open311/v2/:file", handler_for(state, Kind::Top))
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// `discovery`, `services` or `requests`, by the file's stem.
    Top,
    Discovery,
    Services,
    Definition,
    Requests,
    Request,
    Token,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Format {
    Json,
    Xml,
}

fn handler_for(state: Arc<IncidentsState>, kind: Kind) -> Open311Endpoint {
    Open311Endpoint { state, kind }
}

struct Open311Endpoint {
    state: Arc<IncidentsState>,
    kind: Kind,
}

impl Endpoint for Open311Endpoint {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let mut body = RequestBody::new(req.take_body());
        Ok(dispatch(&self.state, self.kind, &req, &mut body).await)
    }
}

async fn dispatch(state: &IncidentsState, kind: Kind, req: &Request, body: &mut RequestBody) -> Response {
    // The format is the suffix of the last path segment.
    let last = req.uri().path().rsplit('/').next().unwrap_or("").to_owned();
    let (stem, fmt) = match last.rsplit_once('.') {
        Some((stem, "json")) => (stem.to_owned(), Format::Json),
        Some((stem, "xml")) => (stem.to_owned(), Format::Xml),
        _ => return error(Format::Xml, StatusCode::NOT_FOUND, "404", "add the format suffix .xml or .json"),
    };
    let stem = percent_decode(&stem);
    let kind = match (kind, stem.as_str()) {
        (Kind::Top, "discovery") => Kind::Discovery,
        (Kind::Top, "services") => Kind::Services,
        (Kind::Top, "requests") => Kind::Requests,
        (Kind::Top, _) => return error(fmt, StatusCode::NOT_FOUND, "404", "no such resource"),
        (k, _) => k,
    };
    let method = req.method().clone();
    let result = match (kind, method) {
        (Kind::Discovery, Method::GET) => Ok(discovery(state, req)),
        (Kind::Services, Method::GET) => Ok(services(state)),
        (Kind::Definition, Method::GET) => definition(state, &stem),
        (Kind::Requests, Method::GET) => search(state, req).await,
        (Kind::Requests, Method::POST) => create(state, req, body).await,
        (Kind::Request, Method::GET) => one(state, req, &stem).await,
        (Kind::Token, Method::GET) => token(state, &stem).await,
        _ => Err((StatusCode::METHOD_NOT_ALLOWED, "405".into(), "method not allowed".into())),
    };
    match result {
        Ok((root, node)) => render(fmt, StatusCode::OK, root, &node),
        Err((status, code, description)) => error(fmt, status, &code, &description),
    }
}

type Failure = (StatusCode, String, String);
type Answer = Result<(&'static str, Node), Failure>;

fn bad(description: impl Into<String>) -> Failure {
    (StatusCode::BAD_REQUEST, "400".into(), description.into())
}

fn not_found(description: impl Into<String>) -> Failure {
    (StatusCode::NOT_FOUND, "404".into(), description.into())
}

// ---------------------------------------------------------------------------------------------
// Rendering: one tree, two formats.

/// A value in an Open311 answer.
#[derive(Debug, Clone)]
enum Node {
    /// Named fields in order.
    Obj(Vec<(&'static str, Node)>),
    /// A list whose XML items are `<tag>`.
    List(&'static str, Vec<Node>),
    Str(String),
    Num(f64),
    Int(i64),
    Bool(bool),
    /// Present but empty (`<x></x>`; left out of JSON).
    Empty,
}

fn s(v: impl Into<String>) -> Node {
    Node::Str(v.into())
}

fn to_json(n: &Node) -> serde_json::Value {
    match n {
        // An empty field is left out of JSON, as everywhere in the portal (never `null`); XML
        // keeps its empty element.
        Node::Obj(fields) => serde_json::Value::Object(
            fields
                .iter()
                .filter(|(_, v)| !matches!(v, Node::Empty))
                .map(|(k, v)| ((*k).to_owned(), to_json(v)))
                .collect(),
        ),
        Node::List(_, items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Node::Str(v) => serde_json::Value::String(v.clone()),
        Node::Num(v) => serde_json::json!(v),
        Node::Int(v) => serde_json::json!(v),
        Node::Bool(v) => serde_json::Value::Bool(*v),
        Node::Empty => serde_json::Value::Null,
    }
}

fn write_xml(out: &mut String, tag: &str, n: &Node) {
    out.push('<');
    out.push_str(tag);
    out.push('>');
    match n {
        Node::Obj(fields) => {
            for (k, v) in fields {
                write_xml(out, k, v);
            }
        }
        Node::List(item, items) => {
            for v in items {
                write_xml(out, item, v);
            }
        }
        Node::Str(v) => out.push_str(&escape(v.as_str())),
        Node::Num(v) => out.push_str(&v.to_string()),
        Node::Int(v) => out.push_str(&v.to_string()),
        Node::Bool(v) => out.push_str(if *v { "true" } else { "false" }),
        Node::Empty => {}
    }
    out.push_str("</");
    out.push_str(tag);
    out.push('>');
}

fn render(fmt: Format, status: StatusCode, root: &str, n: &Node) -> Response {
    match fmt {
        Format::Json => Response::builder()
            .status(status)
            .content_type("application/json; charset=utf-8")
            .body(to_json(n).to_string()),
        Format::Xml => {
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
            write_xml(&mut out, root, n);
            Response::builder().status(status).content_type("text/xml; charset=utf-8").body(out)
        }
    }
}

fn error(fmt: Format, status: StatusCode, code: &str, description: &str) -> Response {
    let n = Node::List("error", vec![Node::Obj(vec![("code", s(code)), ("description", s(description))])]);
    render(fmt, status, "errors", &n)
}

// ---------------------------------------------------------------------------------------------
// Resources

fn base_url(req: &Request) -> String {
    let host = req.header("host").unwrap_or("127.0.0.1:8080");
    format!("http://{host}")
}

fn discovery(state: &IncidentsState, req: &Request) -> (&'static str, Node) {
    let c = &state.catalogue;
    let endpoint = Node::Obj(vec![
        ("specification", s(SPEC_URL)),
        ("url", s(format!("{}/open311/v2", base_url(req)))),
        ("changeset", s(c.changeset.clone())),
        ("type", s("production")),
        ("formats", Node::List("format", vec![s("text/xml"), s("application/json")])),
    ]);
    (
        "discovery",
        Node::Obj(vec![
            ("changeset", s(c.changeset.clone())),
            ("contact", s("City Services 12345 hotline, open311@city.example.cn")),
            ("key_service", s("Ask a City Services administrator for an API key with the scope `open311`.")),
            ("endpoints", Node::List("endpoint", vec![endpoint])),
        ]),
    )
}

fn services(state: &IncidentsState) -> (&'static str, Node) {
    // Police categories are private (issue #22): Open311 lists the public services only.
    let items = state
        .catalogue
        .public_categories()
        .map(|c| {
            Node::Obj(vec![
                ("service_code", s(c.code.clone())),
                ("service_name", s(c.name_en.clone())),
                ("description", s(c.description_en.clone())),
                ("metadata", Node::Bool(!c.questions.is_empty())),
                ("type", s(if c.kind == ServiceType::Batch { "batch" } else { "realtime" })),
                ("keywords", s(c.keywords.clone())),
                ("group", s(c.group.clone())),
            ])
        })
        .collect();
    ("services", Node::List("service", items))
}

fn definition(state: &IncidentsState, code: &str) -> Answer {
    let c = state.catalogue.public_category(code).ok_or_else(|| not_found(format!("no service_code `{code}`")))?;
    let attrs = c
        .questions
        .iter()
        .map(|q| {
            let values = q
                .values
                .iter()
                .map(|v| Node::Obj(vec![("key", s(v.key.clone())), ("name", s(v.name.clone()))]))
                .collect();
            Node::Obj(vec![
                ("variable", Node::Bool(q.variable)),
                ("code", s(q.code.clone())),
                ("datatype", s(q.datatype.code())),
                ("required", Node::Bool(q.required)),
                ("datatype_description", s(q.datatype_description.clone())),
                ("order", Node::Int(i64::from(q.order))),
                ("description", s(q.description.clone())),
                ("values", Node::List("value", values)),
            ])
        })
        .collect();
    Ok((
        "service_definition",
        Node::Obj(vec![("service_code", s(c.code.clone())), ("attributes", Node::List("attribute", attrs))]),
    ))
}

/// A request as the public sees it (`seen` was shown to [`Principal::Anonymous`]): no reporter,
/// no contact, no held text. The media is the first photo, or the integrator's `media_url`.
///
/// `notes` is the latest public update: its text goes in `status_notes`. With `extended`
/// (`extensions=true`, the convention of Chicago's and Boston's servers) the answer also has
/// `extended_attributes`, holding the crew's photo that came with that update as
/// `status_notes_media_url` (issue #19); without, no foreign tag is added. The request's own
/// `media_url` stays the citizen's photo.
fn request_node(
    state: &IncidentsState,
    base: &str,
    seen: &Seen,
    notes: Option<(&str, Option<&str>)>,
    extended: bool,
) -> Node {
    let r = &seen.report;
    let cat = state.catalogue.category(&r.category);
    let agency = state.catalogue.agency(&r.agency);
    let st = State::parse(&r.state).unwrap_or(State::Open);
    let public = seen.text;
    let contact: serde_json::Value =
        r.contact.as_deref().and_then(|c| serde_json::from_str(c).ok()).unwrap_or_default();
    let media = match seen.photos.first() {
        Some(id) => s(format!("{base}/v1/incidents/photos/{id}")),
        None if access::may_see(&Principal::Anonymous, r, Field::Photos) => {
            contact.get("media_url").and_then(|m| m.as_str()).map(s).unwrap_or(Node::Empty)
        }
        None => Node::Empty,
    };
    let mut node = Node::Obj(vec![
        ("service_request_id", s(r.id.to_string())),
        ("status", s(st.open311_status())),
        ("status_notes", notes.map(|(text, _)| s(text)).unwrap_or(Node::Empty)),
        ("service_name", s(cat.map(|c| c.name_en.clone()).unwrap_or_default())),
        ("service_code", s(r.category.clone())),
        ("description", if public { s(r.description.clone()) } else { Node::Empty }),
        ("agency_responsible", s(agency.map(|a| a.name_en.clone()).unwrap_or_default())),
        ("service_notice", Node::Empty),
        ("requested_datetime", s(rfc3339(from_ms(r.created_at)))),
        ("updated_datetime", s(rfc3339(from_ms(r.closed_at.unwrap_or(r.updated_at))))),
        ("expected_datetime", s(rfc3339(from_ms(r.due_at)))),
        ("address", if public { s(r.address.clone()) } else { Node::Empty }),
        ("address_id", Node::Empty),
        ("zipcode", Node::Empty),
        ("lat", Node::Num(round6(r.lat))),
        ("long", Node::Num(round6(r.lon))),
        ("media_url", media),
    ]);
    if extended {
        let photo = notes.and_then(|(_, photo)| photo).map(|id| s(format!("{base}/v1/incidents/photos/{id}")));
        if let Node::Obj(fields) = &mut node {
            fields.push((
                "extended_attributes",
                Node::Obj(vec![("status_notes_media_url", photo.unwrap_or(Node::Empty))]),
            ));
        }
    }
    node
}

async fn one(state: &IncidentsState, req: &Request, id: &str) -> Answer {
    let seen = match read::public(state, &ReportId::from(id)).await {
        Ok(seen) => seen,
        Err(reports::ReadError::Store(e)) => return Err(db_failure(e)),
        Err(_) => return Err(not_found(format!("no service request `{id}`"))),
    };
    let last = seen.history.iter().rev().find(|u| u.kind == "public");
    let extended = param(&query_pairs(req).await, "extensions") == Some("true");
    let photo = match last.filter(|_| extended) {
        Some(u) => crate::store::update_photos(&state.db.pool, &seen.report.id)
            .await
            .map_err(db_failure)?
            .into_iter()
            .find(|(update, _)| *update == u.id)
            .map(|(_, photo)| photo),
        None => None,
    };
    let notes = last.map(|u| (u.text_en.as_str(), photo.as_deref()));
    let node = request_node(state, &base_url(req), &seen, notes, extended);
    Ok(("service_requests", Node::List("request", vec![node])))
}

async fn token(state: &IncidentsState, token: &str) -> Answer {
    let id = read::by_token(state, token)
        .await
        .map_err(db_failure)?
        .ok_or_else(|| not_found(format!("no token `{token}`")))?;
    let node = Node::Obj(vec![("service_request_id", s(id.into_string())), ("token", s(token))]);
    Ok(("service_requests", Node::List("request", vec![node])))
}

async fn query_pairs(req: &Request) -> Vec<(String, String)> {
    Query::<Vec<(String, String)>>::from_request_without_body(req).await.map(|q| q.0).unwrap_or_default()
}

fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    // "An optional parameter sent empty must behave exactly as if it were absent."
    pairs.iter().find(|(k, v)| k == key && !v.trim().is_empty()).map(|(_, v)| v.trim())
}

fn parse_w3c(v: &str, field: &str) -> Result<i64, Failure> {
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| t.timestamp_millis())
        .map_err(|_| bad(format!("{field} must be a W3C date-time with a time zone, e.g. 2010-01-01T00:00:00Z")))
}

async fn search(state: &IncidentsState, req: &Request) -> Answer {
    let q = query_pairs(req).await;
    let list = |k: &str| -> Vec<String> {
        param(&q, k)
            .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let mut f =
        Open311Filter { ids: list("service_request_id"), service_codes: list("service_code"), ..Default::default() };
    for code in &f.service_codes {
        if state.catalogue.public_category(code).is_none() {
            return Err(bad(format!("unknown service_code `{code}`")));
        }
    }
    let statuses = list("status");
    f.open = match (statuses.iter().any(|s| s == "open"), statuses.iter().any(|s| s == "closed")) {
        _ if statuses.iter().any(|s| s != "open" && s != "closed") => {
            return Err(bad("status is a list of open and closed"))
        }
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    };
    let now = now_ms();
    let start = param(&q, "start_date").map(|v| parse_w3c(v, "start_date")).transpose()?;
    let end = param(&q, "end_date").map(|v| parse_w3c(v, "end_date")).transpose()?;
    (f.start, f.end) = match (start, end) {
        (None, None) => (now - 90 * DAY_MS, now),
        (Some(s), None) => (s, s + 90 * DAY_MS),
        (None, Some(e)) => (e - 90 * DAY_MS, e),
        (Some(s), Some(e)) => (s, e),
    };
    if f.end < f.start {
        return Err(bad("end_date is before start_date"));
    }
    if f.end - f.start > 90 * DAY_MS {
        return Err(bad("the date range may not span more than 90 days"));
    }
    f.updated_after = param(&q, "updated_after").map(|v| parse_w3c(v, "updated_after")).transpose()?;
    f.updated_before = param(&q, "updated_before").map(|v| parse_w3c(v, "updated_before")).transpose()?;
    let page_size = match param(&q, "page_size") {
        Some(v) => {
            v.parse::<i64>().ok().filter(|n| (1..=MAX_PAGE).contains(n)).ok_or_else(|| bad("page_size is 1 to 1000"))?
        }
        None => MAX_PAGE,
    };
    let page = match param(&q, "page") {
        Some(v) => v.parse::<i64>().ok().filter(|n| *n >= 1).ok_or_else(|| bad("page starts at 1"))?,
        None => 1,
    };
    f.limit = page_size;
    // `page` is the client's number: a huge one is a bad request, not an overflow.
    f.offset = (page - 1).checked_mul(page_size).ok_or_else(|| bad("page is too large"))?;
    let rows = read::search(state, &f).await.map_err(db_failure)?;
    let base = base_url(req);
    let nodes = rows.iter().map(|seen| request_node(state, &base, seen, None, false)).collect();
    Ok(("service_requests", Node::List("request", nodes)))
}

/// POST requests: form-encoded or multipart (`media`, `photo1`…); `api_key` in the query or body.
async fn create(state: &IncidentsState, req: &Request, body: &mut RequestBody) -> Answer {
    let mut pairs = query_pairs(req).await;
    let mut files: Vec<Vec<u8>> = Vec::new();
    let ct = req.content_type().unwrap_or("").to_ascii_lowercase();
    if ct.starts_with("multipart/form-data") {
        let mut mp =
            Multipart::from_request(req, body).await.map_err(|e| bad(format!("unreadable multipart body: {e}")))?;
        while let Some(field) = mp.next_field().await.map_err(|e| bad(format!("unreadable multipart body: {e}")))? {
            let name = field.name().unwrap_or("").to_owned();
            if field.file_name().is_some() || name == "media" || name.starts_with("photo") {
                let bytes = field.bytes().await.map_err(|e| bad(format!("unreadable file: {e}")))?;
                if files.len() >= photos::MAX_PER_REPORT {
                    return Err(bad(format!("at most {} media files", photos::MAX_PER_REPORT)));
                }
                files.push(bytes);
            } else {
                let text = field.text().await.map_err(|e| bad(format!("unreadable field {name}: {e}")))?;
                pairs.push((name, text));
            }
        }
    } else if ct.starts_with("application/x-www-form-urlencoded") || ct.is_empty() {
        let form = Form::<Vec<(String, String)>>::from_request(req, body)
            .await
            .map_err(|e| bad(format!("unreadable form: {e}")))?;
        pairs.extend(form.0);
    } else {
        return Err(bad("send application/x-www-form-urlencoded or multipart/form-data"));
    }

    // The key first: a bad key is 403 whatever else is wrong.
    let key =
        param(&pairs, "api_key").ok_or_else(|| (StatusCode::FORBIDDEN, "403".into(), "api_key is required".into()))?;
    let auth = req
        .data::<SharedAuthenticator>()
        .ok_or_else(|| (StatusCode::INTERNAL_SERVER_ERROR, "500".into(), "no authenticator".into()))?;
    let integrator = match auth.api_key(key).await {
        Ok(Some(i)) => i,
        Ok(None) => return Err((StatusCode::FORBIDDEN, "403".into(), "api_key is unknown or revoked".into())),
        Err(p) => return Err((p.status_code(), p.status.to_string(), p.detail.unwrap_or(p.title))),
    };
    match access::may_file(&Principal::Integrator(&integrator)) {
        Ok(()) => {}
        Err(Refusal::Forbidden(why)) => return Err((StatusCode::FORBIDDEN, "403".into(), why.into())),
        Err(other) => return Err((StatusCode::FORBIDDEN, "403".into(), other.to_string())),
    }

    let code = param(&pairs, "service_code").ok_or_else(|| bad("service_code is required"))?.to_owned();
    let category =
        state.catalogue.public_category(&code).ok_or_else(|| not_found(format!("no service_code `{code}`")))?.clone();
    let (lat, lon) = match (param(&pairs, "lat"), param(&pairs, "long")) {
        (Some(a), Some(b)) => (
            a.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| bad("lat is not a number"))?,
            b.parse::<f64>().ok().filter(|v| v.is_finite()).ok_or_else(|| bad("long is not a number"))?,
        ),
        (Some(_), None) | (None, Some(_)) => return Err(bad("send lat and long together")),
        (None, None) => {
            return Err(bad(
                "this city routes reports by position: send lat and long (address_string alone cannot be located)",
            ))
        }
    };
    let mut answers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in &pairs {
        if let Some(rest) = k.strip_prefix("attribute[") {
            let code = rest.trim_end_matches("[]").trim_end_matches(']');
            if !v.trim().is_empty() {
                answers.entry(code.to_owned()).or_default().push(v.clone());
            }
        }
    }

    let mut photo_ids = Vec::new();
    let owner = format!("key:{}", integrator.key_id);
    for bytes in files {
        let photo = uploads::upload(state, &owner, bytes).await.map_err(|e| match e {
            UploadError::Photo(e) => bad(format!("media: {e}")),
            UploadError::Worker => bad("the media could not be processed"),
            UploadError::Io(e) => io_failure(&e),
            UploadError::Store(e) => db_failure(e),
        })?;
        photo_ids.push(photo.id);
    }

    let mut contact = serde_json::Map::new();
    for k in ["email", "device_id", "account_id", "first_name", "last_name", "phone", "media_url", "address_id"] {
        if let Some(v) = param(&pairs, k) {
            contact.insert(k.into(), serde_json::json!(v));
        }
    }
    // The repeat guard counts per person when the client names one; otherwise per request.
    let person = param(&pairs, "device_id").or(param(&pairs, "email")).or(param(&pairs, "account_id"));
    let reporter_key = match person {
        Some(p) => format!("key:{}:{p}", integrator.key_id),
        None => format!("request:{}", city_platform::ids::new_id()),
    };
    let description = param(&pairs, "description").map(str::to_owned).unwrap_or_else(|| category.name_en.clone());
    let sub = Submission {
        citizen_id: None,
        reporter_key,
        reporter_name: None,
        anonymous: true,
        channel: "open311",
        contact: Some(serde_json::Value::Object(contact)),
        category: code,
        description,
        address: param(&pairs, "address_string").unwrap_or("").to_owned(),
        answers,
        crs: Crs::Wgs84,
        lat,
        lon,
        photo_ids,
        lat_field: "lat",
        lon_field: "long",
        photo_owner: format!("key:{}", integrator.key_id),
    };
    let report = reports::file(state, sub).await.map_err(|e| problem_failure(&e.into_problem()))?;
    let notice =
        format!("Sent to {}", state.catalogue.agency(&report.agency).map(|a| a.name_en.as_str()).unwrap_or(""));
    let node = if category.kind == ServiceType::Batch {
        let token = reports::issue_token(state, &report.id).await.map_err(db_failure)?;
        Node::Obj(vec![("token", s(token)), ("service_notice", s(notice)), ("account_id", Node::Empty)])
    } else {
        Node::Obj(vec![
            ("service_request_id", s(report.id.into_string())),
            ("service_notice", s(notice)),
            ("account_id", Node::Empty),
        ])
    };
    Ok(("service_requests", Node::List("request", vec![node])))
}

fn problem_failure(p: &Problem) -> Failure {
    let field = p.errors.first().map(|e| format!("{}: {}", e.field, e.message));
    let text = field.or_else(|| p.detail.clone()).unwrap_or_else(|| p.title.clone());
    match p.status {
        403 => (StatusCode::FORBIDDEN, "403".into(), text),
        404 => (StatusCode::NOT_FOUND, "404".into(), text),
        500..=599 => (StatusCode::BAD_REQUEST, "500".into(), "the report could not be stored; try again".into()),
        _ => (StatusCode::BAD_REQUEST, p.kind.trim_start_matches("/problems/").to_owned(), text),
    }
}

fn db_failure(err: StoreError) -> Failure {
    let _ = Problem::internal_from(&err);
    bad("the service could not answer; try again")
}

fn io_failure(err: &std::io::Error) -> Failure {
    let _ = Problem::internal_from(err);
    bad("the media could not be stored; try again")
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn percent_decode(s: &str) -> String {
    // Byte by byte: a `%` followed by anything but two hex digits (`%aé`) is kept as it is,
    // never sliced inside a character.
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let (Some(hi), Some(lo)) =
                (bytes.get(i + 1).and_then(|b| hex(*b)), bytes.get(i + 2).and_then(|b| hex(*b)))
            {
                out.push(hi * 16 + lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod percent_tests {
    use super::percent_decode;

    #[test]
    fn percent_decoding_never_splits_a_character() {
        assert_eq!(percent_decode("%aé"), "%aé");
        assert_eq!(percent_decode("%é"), "%é");
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("%41"), "A");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%E7%A0%81"), "码");
    }
}
