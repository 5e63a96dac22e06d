//! The clerks' workflow: one use case, [`act`], for every action on a report (state changes,
//! assignment, notes, merges, moderation, rerouting), each written with its history, audit
//! line, events and map move in one transaction, guarded by the report's version.

use city_platform::audit::{self, AuditEntry};
use city_platform::auth::Staff;
use city_platform::ids::new_id;
use city_platform::outbox;
use city_platform::time::now_ms;

use super::errors::{ActError, Invalid};
use super::{move_on_map, notify, MAX_DESCRIPTION};
use crate::domain::access::{self, Action as Access, Principal};
use crate::domain::catalogue::Template;
use crate::domain::{Report, ReportId, State, Update};
use crate::safety::Verdict;
use crate::store::{self, Change};
use crate::IncidentsState;

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
        /// The clerk's own upload to show with the public update.
        photo: Option<String>,
    },
    /// Assign to a clerk (or unassign with `None`).
    Assign(Option<(String, String)>),
    /// An internal note only.
    Note(String),
    /// A public update without a state change, with the clerk's own upload to show with it.
    PublicUpdate {
        /// The words.
        text: String,
        /// An upload id.
        photo: Option<String>,
    },
    /// Mark as a duplicate of another report and close it.
    Merge(ReportId),
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

/// Whose upload a clerk's photo is (`POST /v1/incidents/queue/photos`): never a citizen's id.
pub fn staff_upload_owner(staff: &Staff) -> String {
    format!("staff:{}", staff.staff_id)
}

impl Action {
    /// The upload a public update carries.
    fn photo(&self) -> Option<&str> {
        match self {
            Self::Transition { photo, .. } | Self::PublicUpdate { photo, .. } => {
                photo.as_deref().map(str::trim).filter(|p| !p.is_empty())
            }
            _ => None,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Transition { .. } => "change_report_state",
            Self::Assign(_) => "assign_report",
            Self::Note(_) => "add_report_note",
            Self::PublicUpdate { .. } => "add_report_update",
            Self::Merge(_) => "merge_report",
            Self::Reroute { .. } => "reroute_report",
            Self::Moderate { approve: true, .. } => "approve_report_text",
            Self::Moderate { approve: false, .. } => "reject_report_text",
        }
    }

    /// What the access rules call it: closing a report is resolving it.
    fn access(&self) -> Access {
        match self {
            Self::Transition { to, .. } if !to.is_open() => Access::Resolve,
            Self::Transition { .. } | Self::Note(_) | Self::PublicUpdate { .. } | Self::Reroute { .. } => {
                Access::Update
            }
            Self::Assign(_) => Access::Assign,
            Self::Merge(_) => Access::Merge,
            Self::Moderate { .. } => Access::Moderate,
        }
    }
}

/// Applies a clerk's action if the report is still at `expected` (the If-Match version, or
/// the version read now). Who may act is `access`'s: the clerk role first (403), then a scope
/// on the report (404 otherwise). Returns the report after the change.
#[tracing::instrument(skip_all, fields(report_id = %id, action = action.name(), staff_id = %staff.staff_id))]
pub async fn act(
    state: &IncidentsState,
    staff: &Staff,
    id: &ReportId,
    expected: Option<i64>,
    action: Action,
) -> Result<Report, ActError> {
    let clerk = Principal::Staff(staff);
    access::as_clerk(&clerk)?;
    check_public_words(state, staff, &action).await?;
    let cat = &state.catalogue;
    let mut tx = state.db.begin_write().await?;
    let before = store::report_by_id(&mut tx, id).await?.ok_or(ActError::NotFound)?;
    access::may(&clerk, &before, action.access())?;
    if let Some(v) = expected {
        if v != before.version {
            return Err(ActError::StaleVersion { expected: v, current: before.version });
        }
    }
    let now = now_ms();
    // Every action keeps this clerk's scope on record: what an assignment to them is checked by.
    store::remember_clerk(&mut tx, staff, now).await?;
    let current = State::parse(&before.state).map_err(|e| ActError::Corrupt(e.to_string()))?;
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
        Action::Transition { to, template, public_text, note, .. } => {
            if !current.may_become(*to) {
                return Err(ActError::BadTransition { from: current, to: *to });
            }
            set_state(&mut change, *to, now);
            let tpl = match template {
                Some(t) => {
                    let t = cat.template(t).ok_or_else(|| Invalid::new("template", format!("no template `{t}`")))?;
                    if t.state != to.code() || !(t.categories.is_empty() || t.categories.contains(&before.category)) {
                        return Err(Invalid::new("template", "this template is for another state or category").into());
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
                    let agency = agency_of(&before.agency)
                        .ok_or_else(|| ActError::Corrupt(format!("no agency `{}`", before.agency)))?;
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
            // A colleague must be a clerk who may handle this report (issue #15), named as they
            // signed in, not as the request spells them.
            let who = match who {
                Some((sid, _)) if *sid != staff.staff_id => {
                    let colleague = store::clerk(&mut tx, sid)
                        .await?
                        .ok_or_else(|| Invalid::new("staff_id", "no clerk with this id has worked the queue"))?;
                    if access::may(&Principal::Staff(&colleague), &before, Access::Update).is_err() {
                        return Err(Invalid::new("staff_id", "this clerk may not handle this report").into());
                    }
                    Some((colleague.staff_id, colleague.username))
                }
                other => other.clone(),
            };
            change.assignee = Some(who.clone());
            let mut u = blank("internal");
            u.text_en = match &who {
                Some((_, name)) => format!("Assigned to {name}"),
                None => "Unassigned".into(),
            };
            u.text_zh = match &who {
                Some((_, name)) => format!("已分派给 {name}"),
                None => "取消分派".into(),
            };
            entries.push((u, None));
        }
        Action::Note(text) | Action::PublicUpdate { text, .. } => {
            let text = text.trim();
            if text.is_empty() || text.chars().count() > MAX_DESCRIPTION {
                return Err(Invalid::new("text", format!("1 to {MAX_DESCRIPTION} characters")).into());
            }
            let mut u = blank(if matches!(action, Action::Note(_)) { "internal" } else { "public" });
            u.text_zh = text.into();
            u.text_en = text.into();
            entries.push((u, None));
        }
        Action::Merge(into) => {
            if into == id {
                return Err(Invalid::new("into", "a report cannot duplicate itself").into());
            }
            // A target outside the clerk's scope is answered as missing, so a merge can neither
            // probe nor close reports into another district's (issue #15).
            let target = store::report_by_id(&mut tx, into)
                .await?
                .filter(|t| access::may(&clerk, t, Access::Merge).is_ok())
                .ok_or_else(|| Invalid::new("into", "no such report"))?;
            if target.duplicate_of.is_some() {
                return Err(Invalid::new("into", "that report is itself a duplicate; merge into its original").into());
            }
            if !current.is_open() {
                return Err(ActError::MergeNotOpen);
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
                    store::follow(&mut tx, into, c, now).await?;
                }
            }
            for f in store::followers(&mut tx, id).await? {
                if target.citizen_id.as_deref() != Some(f.as_str()) {
                    store::follow(&mut tx, into, &f, now).await?;
                }
            }
        }
        Action::Moderate { approve, note } => {
            if !matches!(before.moderation.as_str(), "review" | "pending") {
                return Err(ActError::TextNotHeld { moderation: before.moderation.clone() });
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
            let c =
                cat.category(&new_cat).ok_or_else(|| Invalid::new("category", format!("no category `{new_cat}`")))?;
            let new_agency = match agency {
                Some(a) => cat.agency(a).ok_or_else(|| Invalid::new("agency", format!("no agency `{a}`")))?.clone(),
                None => {
                    cat.route(&new_cat, &before.district).ok_or_else(|| Invalid::new("category", "no route"))?.clone()
                }
            };
            if new_cat == before.category && new_agency.id == before.agency {
                return Err(Invalid::new("category", "nothing would change").into());
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
    if !store::apply_change(&mut tx, id, before.version, &change, now).await? {
        return Err(ActError::ConcurrentEdit);
    }
    let after = store::report_by_id(&mut tx, id)
        .await?
        .ok_or_else(|| ActError::Corrupt(format!("report {id} vanished inside its own transaction")))?;
    for (u, _) in &entries {
        store::insert_update(&mut tx, id, u).await?;
    }
    if let Some(photo) = action.photo() {
        // The photo goes with the public words; without any, it has nothing to illustrate.
        let Some((u, _)) = entries.iter().find(|(u, _)| u.kind == "public") else {
            return Err(Invalid::new("photo_id", "a photo goes with a public update").into());
        };
        if !store::attach_update_photo(&mut tx, photo, &staff_upload_owner(staff), id, &u.id).await? {
            return Err(Invalid::new("photo_id", "no unused upload of yours with this id").into());
        }
    }
    for (u, t) in &entries {
        if u.kind == "public" {
            notify(&mut tx, &after, u, t.unwrap_or(&PLAIN)).await?;
        }
    }
    let entry = AuditEntry::by_staff(staff, crate::NAME, action.name(), format!("incident:{id}"))
        .with_change(Some(audit_view(&before)), Some(audit_view(&after)));
    audit::record(&mut tx, &entry).await?;
    if before.state != after.state {
        let event = serde_json::json!({"report_id": id, "from": before.state, "to": after.state, "at_ms": now});
        outbox::enqueue(&mut tx, "incidents.state_changed", &event).await?;
    }
    move_on_map(&mut tx, Some(&before), &after).await?;
    tx.commit().await?;
    tracing::info!(report_id = %id, "{} on report {id} by {}: version {}", action.name(), staff.username, after.version);
    Ok(after)
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

/// A clerk's public words go through the content-safety check like a citizen's (issue #15):
/// anything but a pass is refused naming the field, and nothing is published unchecked.
async fn check_public_words(state: &IncidentsState, staff: &Staff, action: &Action) -> Result<(), ActError> {
    let (field, text) = match action {
        Action::Transition { public_text: Some(t), .. } => ("public_update", t.as_str()),
        Action::PublicUpdate { text, .. } => ("text", text.as_str()),
        _ => return Ok(()),
    };
    if text.trim().is_empty() {
        return Ok(());
    }
    match state.safety.check(text.trim(), &format!("staff:{}", staff.staff_id)).await {
        Ok(Verdict::Pass) => Ok(()),
        Ok(Verdict::Review | Verdict::Risky) => {
            Err(Invalid::new(field, "the content-safety check did not pass this text; rephrase it").into())
        }
        Err(e) => Err(ActError::SafetyUnavailable(e.to_string())),
    }
}

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
