//! Schedulers change the release rules of a hospital or a department.

use city_platform::auth::Staff;

use super::{scheduler_at, BookingError, Unknown};
use crate::domain::ReleaseRules;
use crate::state::BookingState;
use crate::store::{self, HospitalRow, RuleOverrides};

/// A hospital's new rules.
#[derive(Debug, Clone, Copy)]
pub struct HospitalRulesChange {
    /// Release, cut-off and cancellation.
    pub rules: ReleaseRules,
    /// Whether the fee is paid online.
    pub charges_online: bool,
    /// Minutes an unpaid booking holds its number.
    pub hold_minutes: i64,
    /// Minutes a waitlist offer may be accepted in.
    pub waitlist_accept_minutes: i64,
}

fn in_range(rules: &ReleaseRules) -> Result<(), BookingError> {
    rules.check().map_err(|field| BookingError::Invalid { field: field.into(), message: "out of range".into() })
}

impl BookingState {
    /// Replaces a hospital's rules (audited); answers the hospital as it now is.
    #[tracing::instrument(skip_all, fields(hospital_id = %hospital_id))]
    pub async fn update_hospital_rules(
        &self,
        staff: &Staff,
        hospital_id: &str,
        change: HospitalRulesChange,
    ) -> Result<HospitalRow, BookingError> {
        let Some(h) = store::get_hospital(&self.db, hospital_id).await? else {
            return Err(BookingError::Unknown { what: Unknown::Hospital, in_body: false });
        };
        scheduler_at(staff, &h.id)?;
        in_range(&change.rules)?;
        store::set_hospital_rules(
            &self.db,
            staff,
            &h,
            change.rules,
            change.charges_online,
            change.hold_minutes,
            change.waitlist_accept_minutes,
        )
        .await?;
        store::get_hospital(&self.db, &h.id)
            .await?
            .ok_or(BookingError::Unknown { what: Unknown::Hospital, in_body: false })
    }

    /// Replaces a department's overrides (audited), once the rules in force with them are valid.
    #[tracing::instrument(skip_all, fields(department_id = %department_id))]
    pub async fn update_department_rules(
        &self,
        staff: &Staff,
        department_id: &str,
        overrides: &RuleOverrides,
    ) -> Result<(), BookingError> {
        let Some((hospital, _)) = store::department_rules(&self.db, department_id).await? else {
            return Err(BookingError::Unknown { what: Unknown::Department, in_body: false });
        };
        scheduler_at(staff, &hospital.id)?;
        in_range(&overrides.over(hospital.rules))?;
        Ok(store::set_department_rules(&self.db, staff, department_id, overrides).await?)
    }
}
