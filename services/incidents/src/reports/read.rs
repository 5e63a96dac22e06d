//! Reading reports: each read shows a report as its principal may see it ([`Seen`]), deciding
//! nothing itself: every field and every refusal is `domain::access`'s.

use city_platform::auth::Staff;
use city_platform::coords::LatLon;

use super::errors::ReadError;
use crate::domain::access::{self, Action as Access, Field, Principal};
use crate::domain::{Report, ReportId, Update};
use crate::store::{self, Open311Filter, QueueFilter, StoreError};
use crate::IncidentsState;

/// How much of a report a read carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// The report's own fields only (exports).
    Row,
    /// With its photos (lists).
    Card,
    /// With its photos and the history the principal may see (one report, "mine").
    Full,
}

/// A report as one principal may see it. The workflow fields (`access::Field::Workflow`) go
/// only into the clerk's view, which is built only after `access::may(.., ReadAsClerk)` or a
/// clerk's action passed.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The stored report; show only what the flags below allow.
    pub report: Report,
    /// Whether the description and address may be shown.
    pub text: bool,
    /// The reporter's name, when it may be shown.
    pub reporter_name: Option<String>,
    /// Photo ids (empty with [`Detail::Row`]).
    pub photos: Vec<String>,
    /// History entries the principal may see, oldest first (empty unless [`Detail::Full`]);
    /// the clerk behind an entry is left out unless they may see internal notes.
    pub history: Vec<Update>,
}

/// Shows `r` to `p` with the given detail.
pub async fn show(state: &IncidentsState, p: &Principal<'_>, r: Report, detail: Detail) -> Result<Seen, StoreError> {
    let pool = &state.db.pool;
    let photos = if detail != Detail::Row && r.n_photos > 0 && access::may_see(p, &r, Field::Photos) {
        store::report_photos(pool, &r.id).await?
    } else {
        Vec::new()
    };
    let internal = access::may_see(p, &r, Field::InternalNotes);
    let history = if detail == Detail::Full && access::may_see(p, &r, Field::PublicHistory) {
        let mut entries = store::updates(pool, &r.id, internal).await?;
        if !internal {
            for u in &mut entries {
                u.staff_id = None;
                u.staff_name = None;
            }
        }
        entries
    } else {
        Vec::new()
    };
    Ok(Seen {
        text: access::may_see(p, &r, Field::Text),
        reporter_name: if access::may_see(p, &r, Field::ReporterName) { r.reporter_name.clone() } else { None },
        photos,
        history,
        report: r,
    })
}

/// One report as the public sees it (no credentials are asked for); a private (police) report
/// is not found.
#[tracing::instrument(skip_all, fields(report_id = %id))]
pub async fn public(state: &IncidentsState, id: &ReportId) -> Result<Seen, ReadError> {
    let r = store::get_report(&state.db.pool, id).await?.ok_or(ReadError::NotFound)?;
    access::may(&Principal::Anonymous, &r, Access::Read).map_err(|_| ReadError::NotFound)?;
    Ok(show(state, &Principal::Anonymous, r, Detail::Full).await?)
}

/// A citizen's own reports and those they follow, newest first, each with its history.
#[tracing::instrument(skip_all)]
pub async fn mine(state: &IncidentsState, citizen_id: &str) -> Result<Vec<Seen>, StoreError> {
    let rows = store::mine(&state.db.pool, citizen_id, 200).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(show(state, &Principal::Citizen(citizen_id), r, Detail::Full).await?);
    }
    Ok(out)
}

/// Up to five open reports of `category` within `radius_m` of `pin` whose text is public,
/// nearest first (newest first at equal distance), with their distance in metres.
#[tracing::instrument(skip_all, fields(category = category))]
pub async fn nearby(
    state: &IncidentsState,
    category: &str,
    pin: LatLon,
    radius_m: f64,
) -> Result<Vec<(f64, Seen)>, StoreError> {
    // A box a little larger than the circle, then the exact distance.
    let dlat = radius_m / 111_000.0 * 1.1;
    let dlon = dlat / pin.lat().to_radians().cos().max(0.01);
    let rows = store::open_in_box(
        &state.db.pool,
        category,
        (pin.lat() - dlat, pin.lon() - dlon, pin.lat() + dlat, pin.lon() + dlon),
    )
    .await?;
    let mut near: Vec<(f64, Report)> = rows
        .into_iter()
        .filter(access::text_is_public)
        .map(|r| (pin.distance_m(LatLon::new(r.lat, r.lon).unwrap_or(pin)), r))
        .filter(|(d, _)| *d <= radius_m)
        .collect();
    near.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.created_at.cmp(&a.1.created_at)));
    near.truncate(5);
    let mut out = Vec::with_capacity(near.len());
    for (d, r) in near {
        out.push((d, show(state, &Principal::Anonymous, r, Detail::Card).await?));
    }
    Ok(out)
}

/// One report as a clerk who may handle it sees it: 403 for a non-clerk, not found outside
/// their districts and agencies.
#[tracing::instrument(skip_all, fields(report_id = %id, staff_id = %staff.staff_id))]
pub async fn for_clerk(state: &IncidentsState, staff: &Staff, id: &ReportId) -> Result<Seen, ReadError> {
    let clerk = Principal::Staff(staff);
    access::as_clerk(&clerk)?;
    let r = store::get_report(&state.db.pool, id).await?.ok_or(ReadError::NotFound)?;
    access::may(&clerk, &r, Access::ReadAsClerk)?;
    Ok(show(state, &clerk, r, Detail::Full).await?)
}

/// A report a clerk just changed, as they see it now.
pub async fn changed(state: &IncidentsState, staff: &Staff, r: Report) -> Result<Seen, StoreError> {
    show(state, &Principal::Staff(staff), r, Detail::Full).await
}

/// The clerk's queue as filtered (`filter.scope` from `access::queue_scope`), earliest due
/// first.
#[tracing::instrument(skip_all, fields(staff_id = %staff.staff_id))]
pub async fn queue(
    state: &IncidentsState,
    staff: &Staff,
    filter: &QueueFilter,
    detail: Detail,
) -> Result<Vec<Seen>, StoreError> {
    let rows = store::queue(&state.db.pool, filter).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(show(state, &Principal::Staff(staff), r, detail).await?);
    }
    Ok(out)
}

/// Open311 `GET requests`: the search, newest first, as the public sees each request.
#[tracing::instrument(skip_all)]
pub async fn search(state: &IncidentsState, filter: &Open311Filter) -> Result<Vec<Seen>, StoreError> {
    let rows = store::open311_search(&state.db.pool, filter).await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(show(state, &Principal::Anonymous, r, Detail::Card).await?);
    }
    Ok(out)
}

/// The report an Open311 batch token stands for.
pub async fn by_token(state: &IncidentsState, token: &str) -> Result<Option<ReportId>, StoreError> {
    store::token(&state.db.pool, token).await
}
