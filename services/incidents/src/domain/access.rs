//! Who may see and handle an incident ticket: the one place that decides, for a principal and
//! a report, which fields they see and which actions they may take. The JSON API, Open311 and
//! the clerks' workflow all ask here; none of them decides on its own.
//!
//! The rules, as the service has kept them:
//! - **Text** (description and address) is public once the content-safety check passed it
//!   (`moderation = pass`). Until then (`review`, `pending`, or `rejected` by a clerk) only the
//!   reporting citizen and a clerk who may handle the report see it; a held report is on no map
//!   and in no "nearby" list.
//! - **Reporter name**: shown to everyone when the reporter chose a name, did not report
//!   anonymously and the text passed the check (the name is checked with it); never shown for an anonymous report, to anyone, clerks included (the CSV
//!   export writes `(anonymous)`).
//! - **Contact** (Open311's email, phone, names, device and account ids): shown to no one by any
//!   surface; only the integrator's own `media_url` link is used, as the request's media.
//! - **Photos**: public once attached to a filed report; an upload not yet attached is nobody's,
//!   not even its uploader's, to fetch.
//! - **History**: public entries for everyone; internal notes, state changes made without
//!   public words and the clerk behind each entry only for a clerk who may handle the report.
//! - **Workflow fields** (version, moderation verdict, assignee, channel, the pin as sent,
//!   overdue): only for a clerk who may handle the report.
//! - **Handling** (read as a clerk, change state, resolve, assign, note, merge, moderate,
//!   reroute) needs a staff sign-in with the clerk role (admins hold every role; otherwise
//!   403), and a scope on the report's district or agency (admins act everywhere; otherwise the
//!   report is answered as not found, 404, so a clerk cannot probe other districts). A clerk's
//!   queue holds exactly the reports they may handle ([`queue_scope`]).
//! - **Following** ("me too") is for a signed-in citizen, not on their own report, and only
//!   while the report is open.
//! - **Filing** is for a signed-in citizen, or an integrator whose API key has the scope
//!   `open311`.
//! - **Private reports** (police categories, or anything routed to a private agency, see
//!   `catalogue::privacy`): nothing of them is public. Only the reporter and the clerks of the
//!   report's agency (and admins) may read or handle them; a district scope does not reach them.
//!   Everyone else, other clerks included, is answered as if the report did not exist (404); they
//!   are on no map, in no nearby list, no Open311 answer and no share card.
//!
//! Pure: no poem, no sqlx.

use city_platform::auth::{Integrator, Role, Staff};

use super::catalogue::privacy;
use super::grid::MapEntry;
use super::report::{Report, MODERATION_PASS};
use super::State;

/// Who is asking.
#[derive(Debug, Clone, Copy)]
pub enum Principal<'a> {
    /// No credentials (the public map, `GET /v1/incidents/{id}`, Open311 reads).
    Anonymous,
    /// A signed-in citizen, by id.
    Citizen(&'a str),
    /// A signed-in staff member.
    Staff(&'a Staff),
    /// An integrator's API key (Open311 `POST requests`).
    Integrator(&'a Integrator),
}

/// A part of a report a response may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The description and the address text.
    Text,
    /// The reporter's chosen display name.
    ReporterName,
    /// Open311 contact details (email, phone, names, device and account ids).
    Contact,
    /// Photos attached to the report (and an Open311 `media_url`).
    Photos,
    /// Public history entries (created, public updates).
    PublicHistory,
    /// Internal history entries and the name of the clerk behind each entry.
    InternalNotes,
    /// Version, moderation verdict, assignee, channel, the pin as sent, overdue.
    Workflow,
}

/// Something a principal may ask to do with a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read the public view.
    Read,
    /// Read the clerk's view (with `ETag`).
    ReadAsClerk,
    /// "Me too": follow its public updates.
    Follow,
    /// Change its state, add a note or a public update, reroute it.
    Update,
    /// Move it to a closed state (fixed, closed, not responsible, ...).
    Resolve,
    /// Assign it to a clerk, or unassign it.
    Assign,
    /// Close it as a duplicate of another report.
    Merge,
    /// Approve or reject text the content-safety check held.
    Moderate,
}

/// Why a principal may not do something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No credentials where some are needed (401).
    #[error("this needs a sign-in")]
    SignInRequired,
    /// The wrong kind of caller, or a missing role or API-key scope (403).
    #[error("{0}")]
    Forbidden(&'static str),
    /// Outside the clerk's districts and agencies: answered as if the report did not exist
    /// (404), so its existence is not disclosed.
    #[error("no such report")]
    Hidden,
    /// The citizen reported it themselves and already gets its updates (409).
    #[error("you reported this yourself")]
    OwnReport,
    /// The report is closed; a new report is the way (409).
    #[error("this report is closed")]
    Closed,
}

/// Whether the report's text passed the content-safety check and may be shown to anyone
/// (never for a private report).
pub fn text_is_public(r: &Report) -> bool {
    r.moderation == MODERATION_PASS && !is_private(r)
}

/// Whether `r` is private: a police category, or routed to a private agency.
pub fn is_private(r: &Report) -> bool {
    privacy().is_private(&r.category, &r.agency)
}

/// What the public map shows of a report, or `None` while its text is not public: a held
/// report is neither pinned nor counted (the count table and the map index both follow this).
pub fn on_map(r: &Report) -> Option<MapEntry> {
    text_is_public(r).then(|| MapEntry { category: r.category.clone(), state: r.state.clone(), lat: r.lat, lon: r.lon })
}

/// Whether an uploaded photo may be fetched: only once attached to a filed report.
pub fn photo_is_public(attached_to: Option<&str>) -> bool {
    attached_to.is_some()
}

/// Whether `p` reported `r` themselves.
fn is_reporter(p: &Principal<'_>, r: &Report) -> bool {
    matches!(p, Principal::Citizen(id) if r.citizen_id.as_deref() == Some(*id))
}

/// The clerk role gate every handling action and the queue pass first: the staff member
/// behind `p`, or why not.
pub fn as_clerk<'a>(p: &Principal<'a>) -> Result<&'a Staff, Refusal> {
    match *p {
        Principal::Anonymous => Err(Refusal::SignInRequired),
        Principal::Citizen(_) | Principal::Integrator(_) => Err(Refusal::Forbidden("this needs a staff sign-in")),
        Principal::Staff(s) if s.has_role(Role::Clerk) => Ok(s),
        Principal::Staff(_) => Err(Refusal::Forbidden("this needs the role clerk")),
    }
}

/// Whether `p` may handle `r`: a clerk (or admin) with a scope on its district or agency; for
/// a private report, on its agency only.
fn handle(p: &Principal<'_>, r: &Report) -> Result<(), Refusal> {
    let staff = as_clerk(p)?;
    let in_district = !is_private(r) && staff.may_act_in_district(&r.district);
    if in_district || staff.may_act_for_agency(&r.agency) {
        Ok(())
    } else {
        Err(Refusal::Hidden)
    }
}

/// Whether `p` may see `field` of `r`.
pub fn may_see(p: &Principal<'_>, r: &Report, field: Field) -> bool {
    if is_private(r) && !is_reporter(p, r) && handle(p, r).is_err() {
        return false;
    }
    match field {
        Field::Text => text_is_public(r) || is_reporter(p, r) || handle(p, r).is_ok(),
        // The chosen name is public text too: checked with the description, shown when it is.
        Field::ReporterName => !r.anonymous && (text_is_public(r) || is_reporter(p, r) || handle(p, r).is_ok()),
        Field::Contact => false,
        Field::Photos | Field::PublicHistory => true,
        Field::InternalNotes | Field::Workflow => handle(p, r).is_ok(),
    }
}

/// Whether `p` may do `action` with `r`, or why not.
pub fn may(p: &Principal<'_>, r: &Report, action: Action) -> Result<(), Refusal> {
    // Nothing of a private report is anyone's but its reporter's and its agency's clerks'.
    if is_private(r) && !is_reporter(p, r) && handle(p, r).is_err() {
        return Err(Refusal::Hidden);
    }
    match action {
        Action::Read => Ok(()),
        Action::Follow => match *p {
            Principal::Anonymous => Err(Refusal::SignInRequired),
            Principal::Staff(_) | Principal::Integrator(_) => Err(Refusal::Forbidden("this needs a citizen's sign-in")),
            Principal::Citizen(_) if is_reporter(p, r) => Err(Refusal::OwnReport),
            Principal::Citizen(_) if !State::parse(&r.state).map(State::is_open).unwrap_or(false) => {
                Err(Refusal::Closed)
            }
            Principal::Citizen(_) => Ok(()),
        },
        Action::ReadAsClerk | Action::Update | Action::Resolve | Action::Assign | Action::Merge | Action::Moderate => {
            handle(p, r)
        }
    }
}

/// Whether `p` may file a new report.
pub fn may_file(p: &Principal<'_>) -> Result<(), Refusal> {
    match *p {
        Principal::Anonymous => Err(Refusal::SignInRequired),
        Principal::Citizen(_) => Ok(()),
        Principal::Staff(_) => Err(Refusal::Forbidden("this needs a citizen's sign-in")),
        Principal::Integrator(i) if i.scopes.iter().any(|s| s == "open311") => Ok(()),
        Principal::Integrator(_) => Err(Refusal::Forbidden("this api_key lacks the scope open311")),
    }
}

/// The reports a clerk's queue (and its CSV export) holds: exactly those they may handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueScope {
    /// An admin: every report.
    Everything,
    /// Reports in any of these districts or routed to any of these agencies (none when both
    /// are empty).
    Within {
        /// District codes.
        districts: Vec<String>,
        /// Agency ids.
        agencies: Vec<String>,
    },
}

impl QueueScope {
    /// Whether a report of `category` in `district` routed to `agency` is in the scope (a
    /// district scope does not reach a private report).
    pub fn holds(&self, category: &str, district: &str, agency: &str) -> bool {
        match self {
            Self::Everything => true,
            Self::Within { districts, agencies } => {
                let in_district = !privacy().is_private(category, agency) && districts.iter().any(|d| d == district);
                in_district || agencies.iter().any(|a| a == agency)
            }
        }
    }
}

/// The queue of the clerk behind `p`, or why they have none.
pub fn queue_scope(p: &Principal<'_>) -> Result<QueueScope, Refusal> {
    let staff = as_clerk(p)?;
    Ok(if staff.roles.contains(&Role::Admin) {
        QueueScope::Everything
    } else {
        QueueScope::Within { districts: staff.scopes.districts.clone(), agencies: staff.scopes.agencies.clone() }
    })
}

#[cfg(test)]
mod tests;
