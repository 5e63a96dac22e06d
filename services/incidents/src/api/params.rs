//! Reading the API's parameters: datums, `If-Match`, lists, answers, the queue's filters and
//! the map's viewport. Every refusal names the parameter.

use city_platform::auth::Staff;
use city_platform::coords::Crs;
use city_platform::time::now_ms;
use city_platform::Problem;

use crate::domain::access::{self, Principal};
use crate::domain::grid::Bbox;
use crate::domain::{Catalogue, State, MAX_BBOX_DEG};
use crate::reports::{self, FileError};
use crate::store::{MapFilter, QueueFilter, QueueSort};

/// Reads `"v3"`, `W/"v3"` or `3`; `*` means "any version".
pub fn parse_etag(v: &str) -> Result<Option<i64>, Problem> {
    let t = v.trim();
    if t == "*" {
        return Ok(None);
    }
    let t = t.trim_start_matches("W/").trim_matches('"').trim_start_matches('v');
    t.parse::<i64>().map(Some).map_err(|_| Problem::malformed(Some("If-Match"), "an ETag from this API, e.g. \"v3\""))
}

/// `gcj02`, `wgs84` (the default) or `bd09`.
pub fn parse_crs(v: Option<&str>, field: &str) -> Result<Crs, Problem> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(Crs::Wgs84),
        Some(s) => Crs::parse(s).map_err(|_| Problem::invalid(field, "`gcj02`, `wgs84` or `bd09`")),
    }
}

/// The datum named by `coord` (the portal's one name for it, issue #22) or by `crs`, its
/// deprecated alias; `prefix` is `""` for query parameters or `"location."` for a body. Both given
/// and naming different datums is refused, naming `coord`.
pub fn parse_coord(coord: Option<&str>, crs: Option<&str>, prefix: &str) -> Result<Crs, Problem> {
    let given = |v: Option<&str>| v.map(str::trim).filter(|s| !s.is_empty()).is_some();
    let field = format!("{prefix}coord");
    match (given(coord), given(crs)) {
        (true, true) => {
            let c = parse_crs(coord, &field)?;
            if parse_crs(crs, &format!("{prefix}crs"))? != c {
                return Err(Problem::invalid(field, "differs from `crs`, its deprecated alias: send `coord` only"));
            }
            Ok(c)
        }
        (true, false) => parse_crs(coord, &field),
        (false, _) => parse_crs(crs, &format!("{prefix}crs")),
    }
}

/// A comma-separated list, blanks dropped.
pub fn split_list(v: Option<&str>) -> Vec<String> {
    v.map(|s| s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()).unwrap_or_default()
}

/// An answer's value as text.
pub fn json_text(v: &serde_json::Value) -> Result<String, String> {
    match v {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        serde_json::Value::Null => Ok(String::new()),
        _ => Err("a string, number or a list of them".into()),
    }
}

/// The native API calls answers `answers.code`, not Open311's `attribute[code]`.
pub fn rename_answers(mut e: FileError) -> FileError {
    if let FileError::Invalid(i) = &mut e {
        if let Some(code) = i.field.strip_prefix("attribute[").and_then(|s| s.strip_suffix(']')) {
            i.field = format!("answers.{code}");
        }
    }
    e
}

/// The queue's filters, scoped to what the clerk may handle. The clerk role is checked first.
#[allow(clippy::too_many_arguments)]
pub fn queue_filter(
    staff: &Staff,
    state: Option<String>,
    category: Option<String>,
    district: Option<String>,
    agency: Option<String>,
    min_age_hours: Option<i64>,
    overdue: Option<bool>,
    assignee: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
    max_limit: i64,
) -> Result<QueueFilter, Problem> {
    let scope = access::queue_scope(&Principal::Staff(staff)).map_err(city_platform::IntoProblem::into_problem)?;
    let states = split_list(state.as_deref());
    for s in &states {
        State::parse(s).map_err(|e| Problem::invalid("state", e.to_string()))?;
    }
    let now = now_ms();
    let limit = limit.unwrap_or(50);
    if !(1..=max_limit).contains(&limit) {
        return Err(Problem::invalid("limit", format!("1 to {max_limit}")));
    }
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(Problem::invalid("offset", "not negative"));
    }
    if let Some(h) = min_age_hours {
        if !(0..=24 * 3650).contains(&h) {
            return Err(Problem::invalid("min_age_hours", "0 to 87600"));
        }
    }
    let assignee = match assignee.as_deref() {
        Some("me") => Some(staff.staff_id.clone()),
        other => other.map(str::to_owned),
    };
    Ok(QueueFilter {
        states,
        category: category.filter(|s| !s.is_empty()),
        district: district.filter(|s| !s.is_empty()),
        agency: agency.filter(|s| !s.is_empty()),
        created_before: min_age_hours.map(|h| now - h * 3_600_000),
        due_before: overdue.filter(|o| *o).map(|_| now),
        assignee,
        held: false,
        text: None,
        sort: QueueSort::Due,
        scope,
        limit,
        offset,
    })
}

/// The queue's held-text filter, search (`q`: a reference or words, at most 100 characters)
/// and order (`sort`: `due`, the default, `new` or `updated`) on top of [`queue_filter`].
pub fn queue_refine(
    mut f: QueueFilter,
    held: Option<bool>,
    q: Option<String>,
    sort: Option<&str>,
) -> Result<QueueFilter, Problem> {
    f.held = held.unwrap_or(false);
    let q = q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
    if q.as_ref().is_some_and(|q| q.chars().count() > 100) {
        return Err(Problem::invalid("q", "at most 100 characters"));
    }
    if q.as_ref().is_some_and(|q| q.chars().any(char::is_control)) {
        return Err(Problem::invalid("q", "no control characters"));
    }
    f.text = q;
    f.sort = match sort.map(str::trim).filter(|s| !s.is_empty()) {
        None | Some("due") => QueueSort::Due,
        Some("new") => QueueSort::Newest,
        Some("updated") => QueueSort::Updated,
        Some(_) => return Err(Problem::invalid("sort", "`due`, `new` or `updated`")),
    };
    Ok(f)
}

/// The map's viewport (`bbox=west,south,east,north` in `crs`) and filters, in WGS-84.
pub fn map_filter(
    catalogue: &Catalogue,
    bbox: &str,
    zoom: u8,
    crs: Crs,
    category: Option<&str>,
    state: Option<&str>,
) -> Result<MapFilter, Problem> {
    if zoom > 22 {
        return Err(Problem::invalid("zoom", "0 to 22"));
    }
    let nums: Vec<f64> = bbox
        .split(',')
        .map(|s| s.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| Problem::invalid("bbox", "four numbers: west,south,east,north"))?;
    let [west, south, east, north] = nums[..] else {
        return Err(Problem::invalid("bbox", "four numbers: west,south,east,north"));
    };
    let out_of_range =
        |_| Problem::invalid("bbox", "out of range; the order is west,south,east,north (longitude first)");
    let sw = reports::parse_pin(crs, south, west, "bbox", "bbox").map_err(out_of_range)?;
    let ne = reports::parse_pin(crs, north, east, "bbox", "bbox").map_err(out_of_range)?;
    if sw.lat() > ne.lat() || sw.lon() > ne.lon() {
        return Err(Problem::invalid("bbox", "south must not exceed north nor west exceed east"));
    }
    if ne.lat() - sw.lat() > MAX_BBOX_DEG || ne.lon() - sw.lon() > MAX_BBOX_DEG {
        return Err(Problem::invalid("bbox", format!("at most {MAX_BBOX_DEG} degrees on a side")));
    }
    let states = split_list(state);
    for s in &states {
        State::parse(s).map_err(|e| Problem::invalid("state", e.to_string()))?;
    }
    let categories = split_list(category);
    for c in &categories {
        if catalogue.category(c).is_none() {
            return Err(Problem::invalid("category", format!("no category `{c}`")));
        }
    }
    let bbox = Bbox { south: sw.lat(), west: sw.lon(), north: ne.lat(), east: ne.lon() };
    Ok(MapFilter { bbox, categories, states })
}
