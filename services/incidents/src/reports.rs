//! The use cases both surfaces (native API and Open311) share: filing a report, following one,
//! and the clerks' actions. Each writes its change, history, audit and events in one
//! transaction.

use std::collections::BTreeMap;

use city_platform::audit::{self, AuditEntry};
use city_platform::auth::Staff;
use city_platform::coords::{CoordError, Crs, LatLon};
use city_platform::ids::new_id;
use city_platform::outbox;
use city_platform::time::now_ms;
use city_platform::Problem;
use poem::http::StatusCode;
use sqlx::AnyConnection;

use crate::domain::catalogue::Template;
use crate::domain::grid;
use crate::domain::State;
use crate::safety::Verdict;
use crate::store::{self, Change, Report, Update};
use crate::IncidentsState;

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

/// A validated WGS-84 pin or a problem naming the field; explains swapped coordinates.
pub fn parse_pin(crs: Crs, lat: f64, lon: f64, lat_field: &str, lon_field: &str) -> Result<LatLon, Problem> {
    match LatLon::from_crs(crs, lat, lon) {
        Ok(p) => Ok(p),
        Err(CoordError::LatitudeOutOfRange) if (-90.0..=90.0).contains(&lon) && (-180.0..=180.0).contains(&lat) => {
            Err(Problem::invalid(
                lat_field,
                format!("latitude {lat} is out of range; were latitude and longitude swapped?"),
            ))
        }
        Err(CoordError::LatitudeOutOfRange) => Err(Problem::invalid(lat_field, "latitude must be within -90..90")),
        Err(CoordError::LongitudeOutOfRange) => Err(Problem::invalid(lon_field, "longitude must be within -180..180")),
        Err(CoordError::NullIsland) => {
            Err(Problem::invalid(lat_field, "(0, 0) is what a device sends without a location fix"))
        }
        Err(e) => Err(Problem::invalid(lat_field, format!("{e:?}"))),
    }
}

/// Files a report. Checks everything before writing anything.
pub async fn file(state: &IncidentsState, sub: Submission) -> Result<Report, Problem> {
    let cat = &state.catalogue;
    let category = cat
        .category(&sub.category)
        .ok_or_else(|| Problem::invalid("category", format!("no category `{}`", sub.category)))?;
    let description = sub.description.trim().to_owned();
    if description.is_empty() {
        return Err(Problem::invalid("description", "describe the problem"));
    }
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(Problem::invalid("description", format!("at most {MAX_DESCRIPTION} characters")));
    }
    if description.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        return Err(Problem::invalid("description", "control characters are not allowed"));
    }
    let address = sub.address.trim().to_owned();
    if address.chars().count() > 500 {
        return Err(Problem::invalid("address", "at most 500 characters"));
    }
    let pin = parse_pin(sub.crs, sub.lat, sub.lon, sub.lat_field, sub.lon_field)?;
    let district = match state.platform.districts.locate(pin) {
        Some(d) => d.code.clone(),
        None => {
            let swapped =
                LatLon::from_crs(sub.crs, sub.lon, sub.lat).ok().and_then(|p| state.platform.districts.locate(p));
            let hint = if swapped.is_some() { "; latitude and longitude look swapped" } else { "" };
            return Err(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "outside-city", "The pin is outside the city")
                .with_detail(format!("the pin lies in none of the city's districts{hint}"))
                .with_field(sub.lat_field, format!("outside every district{hint}")));
        }
    };
    let agency = cat
        .route(&category.code, &district)
        .ok_or_else(|| Problem::invalid("category", "no agency handles this category here"))?
        .clone();
    let answers = category.check_answers(&sub.answers).map_err(|(f, m)| Problem::invalid(f, m))?;
    let mut photo_ids = sub.photo_ids.clone();
    photo_ids.dedup();
    if photo_ids.len() > crate::photos::MAX_PER_REPORT {
        return Err(Problem::invalid("photo_ids", format!("at most {} photos", crate::photos::MAX_PER_REPORT)));
    }
    let openid = sub.citizen_id.clone().unwrap_or_else(|| "open311".into());
    let moderation = match state.safety.check(&format!("{description}\n{address}"), &openid).await {
        Ok(Verdict::Pass) => "pass",
        Ok(Verdict::Review) => "review",
        Ok(Verdict::Risky) => {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "content-rejected",
                "The text was refused by the content-safety check",
            )
            .with_field("description", "rewrite the description without the flagged content"))
        }
        Err(err) => {
            // Accept the report but hold its text until a clerk or a later check passes it.
            tracing::warn!(error = %err, "content-safety check unavailable; holding text for review");
            "pending"
        }
    };

    let now = now_ms();
    let id = new_id();
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

    let db = &state.db;
    let mut tx = db.begin_write().await.map_err(internal)?;
    let window = cat.repeat_report_seconds * 1000;
    if !store::claim_reporter_slot(&mut tx, &sub.reporter_key, now, window).await.map_err(internal)? {
        let mut p = Problem::new(StatusCode::TOO_MANY_REQUESTS, "repeat-report", "You reported moments ago")
            .with_detail(format!("one report per {} seconds; wait and try again", cat.repeat_report_seconds));
        p.retry_after = Some(cat.repeat_report_seconds as u64);
        return Err(p);
    }
    store::insert_report(&mut tx, &report).await.map_err(internal)?;
    if !photo_ids.is_empty() {
        let n = store::attach_photos(&mut tx, &photo_ids, &sub.photo_owner, &id).await.map_err(internal)?;
        if n as usize != photo_ids.len() {
            return Err(Problem::invalid("photo_ids", "a photo is unknown, not yours, or already used"));
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
    store::insert_update(&mut tx, &id, &created).await.map_err(internal)?;
    if let Some(t) = cat.templates_for(State::Open.code(), &report.category).into_iter().find(|t| t.auto_response) {
        let (zh, en) = t.render(&agency);
        let auto = Update { id: new_id(), kind: "public".into(), text_zh: zh, text_en: en, state_to: None, ..created };
        store::insert_update(&mut tx, &id, &auto).await.map_err(internal)?;
        notify(&mut tx, &report, &auto, t).await.map_err(internal)?;
    }
    // Other services learn of the report without personal data.
    let event = serde_json::json!({
        "report_id": id, "category": report.category, "agency": report.agency, "district": report.district,
        "lat": report.lat, "lon": report.lon, "created_at_ms": now,
    });
    outbox::enqueue(&mut tx, "incidents.reported", &event).await.map_err(internal)?;
    // Last before the commit: the shared count rows stay locked for as short a time as possible.
    move_on_map(&mut tx, None, &report).await?;
    tx.commit().await.map_err(internal)?;
    Ok(report)
}

/// Asks the content-safety check again about up to `limit` texts held because it was
/// unreachable (`pending`), oldest first. A pass makes the text public and puts the report
/// on the map; anything else leaves it for a clerk (`review`). Stops at the first failure:
/// the check is still down. Returns how many verdicts were recorded.
pub async fn recheck_pending(state: &IncidentsState, limit: i64) -> Result<usize, sqlx::Error> {
    let mut recorded = 0;
    for held in store::pending_texts(&state.db.pool, limit).await? {
        let openid = held.citizen_id.clone().unwrap_or_else(|| "open311".into());
        let verdict = match state.safety.check(&format!("{}\n{}", held.description, held.address), &openid).await {
            Ok(Verdict::Pass) => "pass",
            Ok(Verdict::Review | Verdict::Risky) => "review",
            Err(err) => {
                tracing::info!(error = %err, "content-safety check still unavailable");
                break;
            }
        };
        let mut tx = state.db.begin_write().await?;
        // Conditional on still being pending: a clerk may have decided meanwhile.
        if store::settle_pending(&mut tx, &held.id, verdict, now_ms()).await? {
            if let Some(after) = store::report_by_id(&mut tx, &held.id).await? {
                let deltas = grid::count_deltas(None, store::map_entry(&after).as_ref());
                store::add_counts(&mut tx, &deltas).await?;
            }
            recorded += 1;
        }
        tx.commit().await?;
    }
    Ok(recorded)
}

/// "Me too": the citizen follows an existing open report instead of filing a new one.
pub async fn follow(state: &IncidentsState, id: &str, citizen_id: &str) -> Result<(bool, i64), Problem> {
    let mut tx = state.db.begin_write().await.map_err(internal)?;
    let report =
        store::report_by_id(&mut tx, id).await.map_err(internal)?.ok_or_else(|| Problem::not_found("report"))?;
    if report.citizen_id.as_deref() == Some(citizen_id) {
        return Err(
            Problem::conflict("own-report", "You reported this yourself").with_detail("you already get its updates")
        );
    }
    let target_open = State::parse(&report.state).map(State::is_open).unwrap_or(false);
    if !target_open {
        return Err(
            Problem::conflict("report-closed", "This report is closed").with_detail("file a new report instead")
        );
    }
    let added = store::follow(&mut tx, id, citizen_id, now_ms()).await.map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    Ok((added, report.n_followers + i64::from(added)))
}

/// What a clerk asks for.
#[derive(Debug, Clone)]
pub enum Action {
    /// Move to a state, with a public update (template or text) and/or an internal note.
    Transition {
        /// Target state.
        to: State,
        /// Template id for the public update.
        template: Option<String>,
        /// Free public text (overrides the template's text).
        public_text: Option<String>,
        /// Internal note.
        note: Option<String>,
    },
    /// Assign to a clerk (or unassign with `None`).
    Assign(Option<(String, String)>),
    /// An internal note only.
    Note(String),
    /// A public update without a state change.
    PublicUpdate(String),
    /// Mark as a duplicate of another report and close it.
    Merge(String),
    /// Decide on text the content-safety check held (`review`, or `pending` when the check
    /// was unreachable): approved text becomes public (and the report joins the map),
    /// rejected text stays hidden for good.
    Moderate {
        /// Show it (true) or keep it hidden (false).
        approve: bool,
        /// Internal note on the decision.
        note: Option<String>,
    },
    /// Change category and/or agency.
    Reroute {
        /// New category.
        category: Option<String>,
        /// New agency (defaults to the routing rule's for the new category).
        agency: Option<String>,
    },
}

impl Action {
    fn name(&self) -> &'static str {
        match self {
            Self::Transition { .. } => "change_report_state",
            Self::Assign(_) => "assign_report",
            Self::Note(_) => "add_report_note",
            Self::PublicUpdate(_) => "add_report_update",
            Self::Merge(_) => "merge_report",
            Self::Reroute { .. } => "reroute_report",
            Self::Moderate { approve: true, .. } => "approve_report_text",
            Self::Moderate { approve: false, .. } => "reject_report_text",
        }
    }
}

/// Whether a clerk may act on a report: the Clerk role and a scope on its district or agency.
pub fn may_handle(staff: &Staff, r: &Report) -> bool {
    staff.may_act_in_district(&r.district) || staff.may_act_for_agency(&r.agency)
}

/// Applies a clerk's action if the report is still at `expected` (the If-Match version, or
/// the version read now). Returns the report after the change.
pub async fn act(
    state: &IncidentsState,
    staff: &Staff,
    id: &str,
    expected: Option<i64>,
    action: Action,
) -> Result<Report, Problem> {
    let cat = &state.catalogue;
    let mut tx = state.db.begin_write().await.map_err(internal)?;
    let before =
        store::report_by_id(&mut tx, id).await.map_err(internal)?.ok_or_else(|| Problem::not_found("report"))?;
    if !may_handle(staff, &before) {
        return Err(Problem::not_found("report"));
    }
    if let Some(v) = expected {
        if v != before.version {
            return Err(Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "stale-version",
                "Someone changed this report first",
            )
            .with_detail(format!(
                "you edited version {v}; it is now at version {}; reload and retry",
                before.version
            )));
        }
    }
    let now = now_ms();
    let current = State::parse(&before.state).map_err(|_| Problem::internal())?;
    let mut change = Change::default();
    let mut entries: Vec<(Update, Option<&Template>)> = Vec::new();
    let blank = |kind: &str| Update {
        id: new_id(),
        at: now,
        kind: kind.into(),
        state_from: None,
        state_to: None,
        text_zh: String::new(),
        text_en: String::new(),
        staff_id: Some(staff.staff_id.clone()),
        staff_name: Some(staff.username.clone()),
    };
    let agency_of = |id: &str| cat.agency(id).cloned();
    match &action {
        Action::Transition { to, template, public_text, note } => {
            if !current.may_become(*to) {
                return Err(Problem::conflict("bad-transition", "That state change is not allowed")
                    .with_detail(format!("a report in `{current}` cannot move to `{to}`"))
                    .with_field("state", format!("not allowed from {current}")));
            }
            set_state(&mut change, *to, now);
            let tpl = match template {
                Some(t) => {
                    let t =
                        cat.template(t).ok_or_else(|| Problem::invalid("template", format!("no template `{t}`")))?;
                    if t.state != to.code() || !(t.categories.is_empty() || t.categories.contains(&before.category)) {
                        return Err(Problem::invalid("template", "this template is for another state or category"));
                    }
                    Some(t)
                }
                None => None,
            };
            let mut u = blank("public");
            u.state_from = Some(current.code().into());
            u.state_to = Some(to.code().into());
            match (public_text.as_deref().map(str::trim).filter(|s| !s.is_empty()), tpl) {
                (Some(text), t) => {
                    u.text_zh = text.into();
                    u.text_en = text.into();
                    entries.push((u, t));
                }
                (None, Some(t)) => {
                    let agency = agency_of(&before.agency).ok_or_else(Problem::internal)?;
                    (u.text_zh, u.text_en) = t.render(&agency);
                    entries.push((u, Some(t)));
                }
                (None, None) => {
                    // A state change with no public words is still history, but only for staff.
                    u.kind = "internal".into();
                    entries.push((u, None));
                }
            }
            if let Some(n) = note.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                let mut u = blank("internal");
                u.text_zh = n.into();
                u.text_en = n.into();
                entries.push((u, None));
            }
        }
        Action::Assign(who) => {
            change.assignee = Some(who.clone());
            let mut u = blank("internal");
            u.text_en = match who {
                Some((_, name)) => format!("Assigned to {name}"),
                None => "Unassigned".into(),
            };
            u.text_zh = match who {
                Some((_, name)) => format!("已分派给 {name}"),
                None => "取消分派".into(),
            };
            entries.push((u, None));
        }
        Action::Note(text) | Action::PublicUpdate(text) => {
            let text = text.trim();
            if text.is_empty() || text.chars().count() > MAX_DESCRIPTION {
                return Err(Problem::invalid("text", format!("1 to {MAX_DESCRIPTION} characters")));
            }
            let mut u = blank(if matches!(action, Action::Note(_)) { "internal" } else { "public" });
            u.text_zh = text.into();
            u.text_en = text.into();
            entries.push((u, None));
        }
        Action::Merge(into) => {
            if into == id {
                return Err(Problem::invalid("into", "a report cannot duplicate itself"));
            }
            let target = store::report_by_id(&mut tx, into)
                .await
                .map_err(internal)?
                .ok_or_else(|| Problem::invalid("into", "no such report"))?;
            if target.duplicate_of.is_some() {
                return Err(Problem::invalid("into", "that report is itself a duplicate; merge into its original"));
            }
            if !current.is_open() {
                return Err(Problem::conflict("bad-transition", "Only an open report can be merged"));
            }
            set_state(&mut change, State::Duplicate, now);
            change.duplicate_of = Some(into.clone());
            let mut u = blank("public");
            u.state_from = Some(current.code().into());
            u.state_to = Some(State::Duplicate.code().into());
            let t = cat.templates_for(State::Duplicate.code(), &before.category).into_iter().next();
            if let (Some(t), Some(agency)) = (t, agency_of(&before.agency)) {
                (u.text_zh, u.text_en) = t.render(&agency);
            }
            u.text_en = format!("{} (report {into})", u.text_en);
            u.text_zh = format!("{}（原报告 {into}）", u.text_zh);
            entries.push((u, t));
            // The reporter and followers of the duplicate follow the original from now on.
            if let Some(c) = &before.citizen_id {
                if target.citizen_id.as_deref() != Some(c.as_str()) {
                    store::follow(&mut tx, into, c, now).await.map_err(internal)?;
                }
            }
            for f in store::followers(&mut tx, id).await.map_err(internal)? {
                if target.citizen_id.as_deref() != Some(f.as_str()) {
                    store::follow(&mut tx, into, &f, now).await.map_err(internal)?;
                }
            }
        }
        Action::Moderate { approve, note } => {
            if !matches!(before.moderation.as_str(), "review" | "pending") {
                return Err(Problem::conflict("text-not-held", "This report's text is not held for review")
                    .with_detail(format!("its moderation is `{}`", before.moderation)));
            }
            change.moderation = Some(if *approve { "pass" } else { "rejected" }.into());
            let mut u = blank("internal");
            (u.text_en, u.text_zh) = if *approve {
                ("Text approved for public view".to_owned(), "文字已审核通过，公开显示".to_owned())
            } else {
                ("Text rejected; it stays hidden".to_owned(), "文字未通过审核，不予公开".to_owned())
            };
            if let Some(n) = note.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                u.text_en = format!("{}: {n}", u.text_en);
                u.text_zh = format!("{}：{n}", u.text_zh);
            }
            entries.push((u, None));
        }
        Action::Reroute { category, agency } => {
            let new_cat = category.clone().unwrap_or_else(|| before.category.clone());
            let c = cat
                .category(&new_cat)
                .ok_or_else(|| Problem::invalid("category", format!("no category `{new_cat}`")))?;
            let new_agency = match agency {
                Some(a) => cat.agency(a).ok_or_else(|| Problem::invalid("agency", format!("no agency `{a}`")))?.clone(),
                None => cat
                    .route(&new_cat, &before.district)
                    .ok_or_else(|| Problem::invalid("category", "no route"))?
                    .clone(),
            };
            if new_cat == before.category && new_agency.id == before.agency {
                return Err(Problem::invalid("category", "nothing would change"));
            }
            change.category = Some(new_cat.clone());
            change.agency = Some(new_agency.id.clone());
            if new_cat != before.category {
                change.due_at = Some(before.created_at + c.sla_hours * 3_600_000);
            }
            let mut u = blank("internal");
            u.text_en = format!("Rerouted to {} / {}", c.name_en, new_agency.name_en);
            u.text_zh = format!("改派至 {} / {}", c.name_zh, new_agency.name_zh);
            entries.push((u, None));
        }
    }
    if !store::apply_change(&mut tx, id, before.version, &change, now).await.map_err(internal)? {
        return Err(Problem::conflict("concurrent-edit", "Someone changed this report at the same time")
            .with_detail("reload the report and apply your change again"));
    }
    let after = store::report_by_id(&mut tx, id).await.map_err(internal)?.ok_or_else(Problem::internal)?;
    for (u, t) in &entries {
        store::insert_update(&mut tx, id, u).await.map_err(internal)?;
        if u.kind == "public" {
            notify(&mut tx, &after, u, t.unwrap_or(&PLAIN)).await.map_err(internal)?;
        }
    }
    let entry = AuditEntry::by_staff(staff, crate::NAME, action.name(), format!("incident:{id}"))
        .with_change(Some(audit_view(&before)), Some(audit_view(&after)));
    audit::record(&mut tx, &entry).await.map_err(internal)?;
    if before.state != after.state {
        let event = serde_json::json!({"report_id": id, "from": before.state, "to": after.state, "at_ms": now});
        outbox::enqueue(&mut tx, "incidents.state_changed", &event).await.map_err(internal)?;
    }
    move_on_map(&mut tx, Some(&before), &after).await?;
    tx.commit().await.map_err(internal)?;
    Ok(after)
}

/// Keeps the map's count table in step with a report that was `before` (absent when new)
/// and is now `after`: state, category and whether its text is public all move it.
async fn move_on_map(tx: &mut AnyConnection, before: Option<&Report>, after: &Report) -> Result<(), Problem> {
    let deltas = grid::count_deltas(before.and_then(store::map_entry).as_ref(), store::map_entry(after).as_ref());
    if deltas.is_empty() {
        return Ok(());
    }
    store::add_counts(tx, &deltas).await.map_err(internal)
}

static PLAIN: Template = Template {
    id: String::new(),
    state: String::new(),
    categories: Vec::new(),
    auto_response: false,
    title_en: String::new(),
    title_zh: String::new(),
    text_en: String::new(),
    text_zh: String::new(),
};

fn set_state(change: &mut Change, to: State, now: i64) {
    change.state = Some(to.code().into());
    change.is_open = Some(to.is_open());
    change.closed_at = Some(if to.is_open() { None } else { Some(now) });
}

/// What the audit trail keeps of a report: workflow fields, no personal data.
fn audit_view(r: &Report) -> serde_json::Value {
    serde_json::json!({
        "state": r.state, "category": r.category, "agency": r.agency, "district": r.district,
        "assignee_id": r.assignee_id, "duplicate_of": r.duplicate_of, "moderation": r.moderation, "version": r.version,
    })
}

/// Asks notify to tell the reporter and followers about a public update.
async fn notify(tx: &mut AnyConnection, r: &Report, u: &Update, t: &Template) -> Result<(), sqlx::Error> {
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

/// Logs a storage error and returns the opaque 500.
pub fn internal(err: sqlx::Error) -> Problem {
    Problem::internal_from(&err)
}
