//! The clerk queue's counts and the colleagues an assignment may name (issue #19): both
//! scoped exactly as the queue itself, by `domain::access`.

use city_platform::auth::Staff;
use city_platform::time::now_ms;

use super::errors::ReadError;
use crate::domain::access::{self, Action as Access, Principal, QueueScope};
use crate::domain::ReportId;
use crate::store::{self, QueueCounts, QueueFilter, StoreError};
use crate::IncidentsState;

/// The most clerks one answer lists.
pub const MAX_COLLEAGUES: i64 = 500;

/// How many reports the clerk's queue holds under `filter`, in the whole scope, and per value
/// of each filter (`filter.scope` from `access::queue_scope`).
#[tracing::instrument(skip_all, fields(staff_id = %staff.staff_id))]
pub async fn counts(state: &IncidentsState, staff: &Staff, filter: &QueueFilter) -> Result<QueueCounts, StoreError> {
    store::queue_counts(&state.db.pool, filter, &staff.staff_id, now_ms()).await
}

/// The other clerks an assignment may name, by username. With `report` (which the caller must
/// be able to handle, else not found): those who may handle that report, the check the
/// assignment itself makes. Without: those whose districts or agencies meet the caller's.
/// Only clerks who have worked the queue are known here (an assignment names no one else).
#[tracing::instrument(skip_all, fields(staff_id = %staff.staff_id))]
pub async fn colleagues(
    state: &IncidentsState,
    staff: &Staff,
    report: Option<&ReportId>,
) -> Result<Vec<Staff>, ReadError> {
    let me = Principal::Staff(staff);
    let scope = access::queue_scope(&me)?;
    let report = match report {
        Some(id) => {
            let r = store::get_report(&state.db.pool, id).await?.ok_or(ReadError::NotFound)?;
            access::may(&me, &r, Access::ReadAsClerk)?;
            Some(r)
        }
        None => None,
    };
    let known = store::clerks(&state.db.pool, MAX_COLLEAGUES).await?;
    Ok(known
        .into_iter()
        .filter(|c| c.staff_id != staff.staff_id)
        .filter(|c| {
            let them = Principal::Staff(c);
            match &report {
                Some(r) => access::may(&them, r, Access::Update).is_ok(),
                None => access::queue_scope(&them).is_ok_and(|theirs| meet(&scope, &theirs)),
            }
        })
        .collect())
}

/// Whether two queue scopes share a report's worth of ground: a district or an agency (an
/// admin's covers everything).
fn meet(a: &QueueScope, b: &QueueScope) -> bool {
    match (a, b) {
        (QueueScope::Everything, _) | (_, QueueScope::Everything) => true,
        (QueueScope::Within { districts: da, agencies: aa }, QueueScope::Within { districts: db, agencies: ab }) => {
            da.iter().any(|d| db.contains(d)) || aa.iter().any(|x| ab.contains(x))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn within(d: &[&str], a: &[&str]) -> QueueScope {
        QueueScope::Within {
            districts: d.iter().map(|s| s.to_string()).collect(),
            agencies: a.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn scopes_meet_on_a_shared_district_or_agency_and_an_admins_meets_every_one() {
        assert!(meet(&within(&["510104"], &[]), &within(&["510104", "510105"], &[])));
        assert!(meet(&within(&[], &["water"]), &within(&["510116"], &["water"])));
        assert!(!meet(&within(&["510104"], &["roads"]), &within(&["510116"], &["water"])));
        assert!(!meet(&within(&[], &[]), &within(&[], &[])));
        assert!(meet(&QueueScope::Everything, &within(&["510116"], &[])));
    }
}
