//! The use cases both surfaces (native API and Open311) share: filing a report (`file`),
//! following one, re-checking held text, the clerks' actions (`act`), the reads with what each
//! principal may see (`read`), the map (`map`) and photo uploads (`uploads`). Each write puts its
//! change, history, audit and events in one transaction; who may see or do what is asked of
//! `domain::access`. Every use case runs in a span carrying `report_id`.

mod act;
pub mod errors;
pub mod map;
pub mod queue;
pub mod read;
pub mod uploads;

use std::collections::BTreeMap;

use city_platform::coords::{CoordError, Crs, LatLon};
use city_platform::ids::new_id;
use city_platform::outbox;
use city_platform::time::now_ms;
use sqlx::AnyConnection;

use crate::domain::access::{self, Action as Access, Principal};
use crate::domain::catalogue::Template;
use crate::domain::grid;
use crate::domain::{Report, ReportId, State, Update};
use crate::safety::Verdict;
use crate::store::{self, StoreError};
use crate::IncidentsState;

pub use act::{act, staff_upload_owner, Action};
pub use errors::{ActError, FileError, FollowError, Invalid, ReadError, UploadError};

/// Longest description (Open311's 4,000 characters).
pub const MAX_DESCRIPTION: usize = 4000;

/// A report as submitted, before any check.
#[derive(Debug, Clone)]
pub struct Submission {
    /// The signed-in citizen, if any.
    pub citizen_id: Option<String>,
    /// Who the repeat-report guard counts against (`citizen:<id>`, `key:<id>:<device>`).
    pub reporter_key: String,
    /// Name to show publicly (ignored when anonymous).
    pub reporter_name: Option<String>,
    /// Hide the reporter publicly.
    pub anonymous: bool,
    /// `miniprogram` or `open311`.
    pub channel: &'static str,
    /// Open311 contact fields, for clerks only.
    pub contact: Option<serde_json::Value>,
    /// Category code.
    pub category: String,
    /// Text.
    pub description: String,
    /// Address text.
    pub address: String,
    /// Raw answers.
    pub answers: BTreeMap<String, Vec<String>>,
    /// Declared datum.
    pub crs: Crs,
    /// Latitude as sent.
    pub lat: f64,
    /// Longitude as sent.
    pub lon: f64,
    /// Uploaded photo ids.
    pub photo_ids: Vec<String>,
    /// Field names to use in errors: (lat, lon).
    pub lat_field: &'static str,
    /// Longitude field name.
    pub lon_field: &'static str,
    /// Who uploaded the photos (`photo_ids` must be theirs).
    pub photo_owner: String,
}

/// A validated WGS-84 pin, or the field that is wrong; explains swapped coordinates.
pub fn parse_pin(crs: Crs, lat: f64, lon: f64, lat_field: &str, lon_field: &str) -> Result<LatLon, Invalid> {
    match LatLon::from_crs(crs, lat, lon) {
        Ok(p) => Ok(p),
        Err(CoordError::LatitudeOutOfRange) if (-90.0..=90.0).contains(&lon) && (-180.0..=180.0).contains(&lat) => Err(
            Invalid::new(lat_field, format!("latitude {lat} is out of range; were latitude and longitude swapped?")),
        ),
        Err(CoordError::LatitudeOutOfRange) => Err(Invalid::new(lat_field, "latitude must be within -90..90")),
        Err(CoordError::LongitudeOutOfRange) => Err(Invalid::new(lon_field, "longitude must be within -180..180")),
        Err(CoordError::NullIsland) => {
            Err(Invalid::new(lat_field, "(0, 0) is what a device sends without a location fix"))
        }
        // The error's words, never its type name (`NotFinite`): this reaches integrators.
        Err(e) => Err(Invalid::new(lat_field, e.to_string())),
    }
}

/// Files a report. Checks everything before writing anything.
#[tracing::instrument(skip_all, fields(report_id = tracing::field::Empty, channel = sub.channel))]
pub async fn file(state: &IncidentsState, sub: Submission) -> Result<Report, FileError> {
    let cat = &state.catalogue;
    // An emergency is answered with its number before anything else is checked: nothing is filed.
    if let Some(e) = cat.emergency(&sub.category, &sub.description) {
        let field = if e.code == sub.category { "category" } else { "description" };
        tracing::info!(emergency = %e.code, number = %e.number, "incidents: emergency answered with its number, nothing filed");
        return Err(FileError::Emergency { number: e.number.clone(), code: e.code.clone(), field });
    }
    let category = cat
        .category(&sub.category)
        .ok_or_else(|| Invalid::new("category", format!("no category `{}`", sub.category)))?;
    let description = sub.description.trim().to_owned();
    if description.is_empty() {
        return Err(Invalid::new("description", "describe the problem").into());
    }
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(Invalid::new("description", format!("at most {MAX_DESCRIPTION} characters")).into());
    }
    if description.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err(Invalid::new("description", "control characters are not allowed").into());
    }
    let address = sub.address.trim().to_owned();
    if address.chars().count() > 500 {
        return Err(Invalid::new("address", "at most 500 characters").into());
    }
    let pin = parse_pin(sub.crs, sub.lat, sub.lon, sub.lat_field, sub.lon_field)?;
    let district = match state.platform.districts.locate(pin) {
        Some(d) => d.code.clone(),
        None => {
            let swapped =
                LatLon::from_crs(sub.crs, sub.lon, sub.lat).ok().and_then(|p| state.platform.districts.locate(p));
            let hint = if swapped.is_some() { "; latitude and longitude look swapped" } else { "" };
            return Err(FileError::OutsideCity { field: sub.lat_field, hint });
        }
    };
    let agency = cat
        .route(&category.code, &district)
        .ok_or_else(|| Invalid::new("category", "no agency handles this category here"))?
        .clone();
    let answers = category.check_answers(&sub.answers).map_err(|(f, m)| Invalid::new(f, m))?;
    let mut photo_ids = sub.photo_ids.clone();
    photo_ids.dedup();
    if photo_ids.len() > crate::photos::MAX_PER_REPORT {
        return Err(Invalid::new("photo_ids", format!("at most {} photos", crate::photos::MAX_PER_REPORT)).into());
    }
    let openid = sub.citizen_id.clone().unwrap_or_else(|| "open311".into());
    let name = sub.reporter_name.as_deref().filter(|_| !sub.anonymous).unwrap_or("");
    let checked = public_text(&description, &address, name, &answers);
    let moderation = match state.safety.check(&checked, &openid).await {
        Ok(Verdict::Pass) => "pass",
        Ok(Verdict::Review) => "review",
        Ok(Verdict::Risky) => return Err(FileError::ContentRejected),
        Err(err) => {
            // Accept the report but hold its text until a clerk or a later check passes it.
            tracing::warn!(error = %err, "content-safety check unavailable; holding text for review");
            "pending"
        }
    };

    let now = now_ms();
    let id = ReportId::new();
    tracing::Span::current().record("report_id", tracing::field::display(&id));
    let report = Report {
        id: id.clone(),
        citizen_id: sub.citizen_id.clone(),
        reporter_name: sub
            .reporter_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .map(|n| n.trim().chars().take(40).collect()),
        anonymous: sub.anonymous,
        channel: sub.channel.into(),
        contact: sub.contact.as_ref().map(|c| c.to_string()),
        category: category.code.clone(),
        agency: agency.id.clone(),
        district,
        state: State::Open.code().into(),
        description,
        address,
        attributes: serde_json::to_string(&answers).unwrap_or_else(|_| "{}".into()),
        lat: pin.lat(),
        lon: pin.lon(),
        orig_crs: sub.crs.code().into(),
        orig_lat: sub.lat,
        orig_lon: sub.lon,
        moderation: moderation.into(),
        assignee_id: None,
        assignee_name: None,
        duplicate_of: None,
        n_photos: photo_ids.len() as i64,
        n_followers: 0,
        version: 1,
        created_at: now,
        updated_at: now,
        due_at: now + category.sla_hours * 3_600_000,
        closed_at: None,
    };

    let mut tx = state.db.begin_write().await?;
    let window = cat.repeat_report_seconds * 1000;
    if !store::claim_reporter_slot(&mut tx, &sub.reporter_key, now, window).await? {
        return Err(FileError::RepeatReport { seconds: cat.repeat_report_seconds });
    }
    store::insert_report(&mut tx, &report).await?;
    if !photo_ids.is_empty() {
        let n = store::attach_photos(&mut tx, &photo_ids, &sub.photo_owner, &id).await?;
        if n as usize != photo_ids.len() {
            return Err(Invalid::new("photo_ids", "a photo is unknown, not yours, or already used").into());
        }
    }
    let created = Update {
        id: new_id(),
        at: now,
        kind: "created".into(),
        state_from: None,
        state_to: Some(State::Open.code().into()),
        text_zh: "提交报告".into(),
        text_en: "Report submitted".into(),
        staff_id: None,
        staff_name: None,
    };
    store::insert_update(&mut tx, &id, &created).await?;
    if let Some(t) = cat.templates_for(State::Open.code(), &report.category).into_iter().find(|t| t.auto_response) {
        let (zh, en) = t.render(&agency);
        let auto = Update { id: new_id(), kind: "public".into(), text_zh: zh, text_en: en, state_to: None, ..created };
        store::insert_update(&mut tx, &id, &auto).await?;
        notify(&mut tx, &report, &auto, t).await?;
    }
    // Other services learn of the report without personal data.
    let event = serde_json::json!({
        "report_id": id, "category": report.category, "agency": report.agency, "district": report.district,
        "lat": report.lat, "lon": report.lon, "created_at_ms": now,
    });
    outbox::enqueue(&mut tx, "incidents.reported", &event).await?;
    // Last before the commit: the shared count rows stay locked for as short a time as possible.
    move_on_map(&mut tx, None, &report).await?;
    tx.commit().await?;
    tracing::info!(report_id = %id, "report {id} filed in {} for {}", report.district, report.agency);
    Ok(report)
}

/// Asks the content-safety check again about up to `limit` texts held because it was
/// unreachable (`pending`), oldest first. A pass makes the text public and puts the report
/// on the map; anything else leaves it for a clerk (`review`). Stops at the first failure:
/// the check is still down. Returns how many verdicts were recorded.
#[tracing::instrument(skip_all)]
pub async fn recheck_pending(state: &IncidentsState, limit: i64) -> Result<usize, StoreError> {
    let mut recorded = 0;
    for held in store::pending_texts(&state.db.pool, limit).await? {
        match recheck_one(state, &held).await? {
            Some(true) => recorded += 1,
            Some(false) => {}
            None => break,
        }
    }
    Ok(recorded)
}

/// Re-checks one held text: `None` when the check is still down, else whether a verdict was
/// recorded (not when a clerk decided meanwhile).
#[tracing::instrument(skip_all, fields(report_id = %held.id))]
async fn recheck_one(state: &IncidentsState, held: &Report) -> Result<Option<bool>, StoreError> {
    let openid = held.citizen_id.clone().unwrap_or_else(|| "open311".into());
    let answers: crate::domain::catalogue::Answers = serde_json::from_str(&held.attributes).unwrap_or_default();
    let name = held.reporter_name.as_deref().filter(|_| !held.anonymous).unwrap_or("");
    let verdict =
        match state.safety.check(&public_text(&held.description, &held.address, name, &answers), &openid).await {
            Ok(Verdict::Pass) => "pass",
            Ok(Verdict::Review | Verdict::Risky) => "review",
            Err(err) => {
                tracing::info!(error = %err, "content-safety check still unavailable");
                return Ok(None);
            }
        };
    let mut tx = state.db.begin_write().await?;
    // Conditional on still being pending: a clerk may have decided meanwhile.
    let settled = store::settle_pending(&mut tx, &held.id, verdict, now_ms()).await?;
    if settled {
        if let Some(after) = store::report_by_id(&mut tx, &held.id).await? {
            let deltas = grid::count_deltas(None, access::on_map(&after).as_ref());
            store::add_counts(&mut tx, &deltas).await?;
        }
        tracing::info!(report_id = %held.id, verdict, "held text of report {} re-checked", held.id);
    }
    tx.commit().await?;
    Ok(Some(settled))
}

/// Issues an Open311 batch token standing for a filed report.
#[tracing::instrument(skip_all, fields(report_id = %id))]
pub async fn issue_token(state: &IncidentsState, id: &ReportId) -> Result<String, StoreError> {
    let token = new_id();
    let mut tx = state.db.begin_write().await?;
    store::insert_token(&mut tx, &token, id, now_ms()).await?;
    tx.commit().await?;
    Ok(token)
}

/// "Me too": the citizen follows an existing open report instead of filing a new one.
/// Returns whether this call added them, and the followers now.
#[tracing::instrument(skip_all, fields(report_id = %id))]
pub async fn follow(state: &IncidentsState, id: &ReportId, citizen_id: &str) -> Result<(bool, i64), FollowError> {
    let mut tx = state.db.begin_write().await?;
    let report = store::report_by_id(&mut tx, id).await?.ok_or(FollowError::NotFound)?;
    access::may(&Principal::Citizen(citizen_id), &report, Access::Follow)?;
    let added = store::follow(&mut tx, id, citizen_id, now_ms()).await?;
    tx.commit().await?;
    Ok((added, report.n_followers + i64::from(added)))
}

/// Keeps the map's count table in step with a report that was `before` (absent when new)
/// and is now `after`: state, category and whether its text is public all move it.
pub(crate) async fn move_on_map(
    tx: &mut AnyConnection,
    before: Option<&Report>,
    after: &Report,
) -> Result<(), StoreError> {
    let deltas = grid::count_deltas(before.and_then(access::on_map).as_ref(), access::on_map(after).as_ref());
    if deltas.is_empty() {
        return Ok(());
    }
    store::add_counts(tx, &deltas).await
}

/// Asks notify to tell the reporter and followers about a public update.
pub(crate) async fn notify(tx: &mut AnyConnection, r: &Report, u: &Update, t: &Template) -> Result<(), StoreError> {
    let mut people: Vec<(String, String)> = Vec::new();
    if let Some(c) = &r.citizen_id {
        people.push((c.clone(), format!("incident:{}:update:{}", r.id, u.id)));
    }
    for f in store::followers(tx, &r.id).await? {
        people.push((f.clone(), format!("incident:{}:update:{}:follower:{f}", r.id, u.id)));
    }
    let title_en = if t.title_en.is_empty() { "Update on your report".to_owned() } else { t.title_en.clone() };
    let title_zh = if t.title_zh.is_empty() { "您的报告有新进展".to_owned() } else { t.title_zh.clone() };
    for (citizen_id, notification_id) in people {
        let payload = serde_json::json!({
            "notification_id": notification_id,
            "citizen_id": citizen_id,
            "kind": "incidents.report_updated",
            "title_zh": title_zh, "title_en": title_en,
            "body_zh": u.text_zh, "body_en": u.text_en,
            "data": {"report_id": r.id, "state": r.state, "update_id": u.id},
            "channels": ["miniprogram", "oa_template"],
        });
        outbox::enqueue(tx, "notify.requested", &payload).await?;
    }
    Ok(())
}

/// Everything of a report that the public may read, as one text for the content-safety check:
/// the description, the address, the reporter's chosen name and the answers (free text among
/// them), one per line (issue #15: all public free text goes through the check).
fn public_text(description: &str, address: &str, name: &str, answers: &crate::domain::catalogue::Answers) -> String {
    let mut text = format!("{description}\n{address}");
    let words = answers.values().flat_map(|v| match v {
        serde_json::Value::String(s) => vec![s.as_str()],
        serde_json::Value::Array(items) => items.iter().filter_map(serde_json::Value::as_str).collect(),
        _ => Vec::new(),
    });
    for piece in std::iter::once(name).chain(words) {
        if !piece.trim().is_empty() {
            text.push('\n');
            text.push_str(piece.trim());
        }
    }
    text
}
