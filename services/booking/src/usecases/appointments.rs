//! What happens to an appointment after it is made: the citizen cancels; staff check the
//! patient in or mark a no-show; staff lift a suspension.

use city_platform::auth::Staff;

use super::{scheduler, scheduler_at, BookingError};
use crate::domain::{check_cancellable, AppointmentId, DeadlinePassed};
use crate::state::BookingState;
use crate::store::{self, AppointmentRow, HospitalScope, SuspensionRow};

impl BookingState {
    /// The citizen cancels their own appointment: before the cancellation deadline
    /// (`domain::cancellation`) for a booking, any time for an unpaid hold or an offer.
    #[tracing::instrument(skip_all, fields(appointment_id = %id))]
    pub async fn cancel(&self, citizen_id: &str, id: &AppointmentId) -> Result<AppointmentRow, BookingError> {
        let now = self.options.clock.now_ms();
        let Some(appt) = store::get_appointment(&self.db, id).await?.filter(|a| a.citizen_id == citizen_id) else {
            return Err(BookingError::NotFound("appointment"));
        };
        let rules = store::department_rules(&self.db, &appt.department_id).await?.map(|(_, r)| r).unwrap_or_default();
        check_cancellable(&rules, &appt.status, appt.visit_date.parse().unwrap_or_default(), now)
            .map_err(|DeadlinePassed(at)| BookingError::CancelDeadlinePassed(at))?;
        let cancelled = store::cancel(&self.db, &appt, &self.options.limits, now).await?;
        tracing::info!(slot_id = %cancelled.slot_id, "cancelled appointment {id}");
        self.slots_changed(&cancelled.doctor_id, &cancelled.visit_date).await;
        Ok(cancelled)
    }

    /// An appointment at a hospital in the scheduler's scope.
    async fn staff_appointment(&self, staff: &Staff, id: &AppointmentId) -> Result<AppointmentRow, BookingError> {
        scheduler(staff)?;
        let Some(a) = store::get_appointment(&self.db, id).await? else {
            return Err(BookingError::NotFound("appointment"));
        };
        scheduler_at(staff, &a.hospital_id)?;
        Ok(a)
    }

    /// Staff check the patient in.
    #[tracing::instrument(skip_all, fields(appointment_id = %id))]
    pub async fn check_in(&self, staff: &Staff, id: &AppointmentId) -> Result<AppointmentRow, BookingError> {
        let a = self.staff_appointment(staff, id).await?;
        Ok(store::check_in(&self.db, staff, &a, self.options.clock.now_ms()).await?)
    }

    /// Staff mark a no-show; the no-show rule may suspend the patient.
    #[tracing::instrument(skip_all, fields(appointment_id = %id))]
    pub async fn mark_no_show(&self, staff: &Staff, id: &AppointmentId) -> Result<AppointmentRow, BookingError> {
        let a = self.staff_appointment(staff, id).await?;
        Ok(store::mark_no_show(&self.db, Some(staff), &a, &self.options.no_show, self.options.clock.now_ms()).await?)
    }

    /// Suspensions in force that the scheduler handles: their hospitals' (admins: all).
    pub async fn suspensions(&self, staff: &Staff) -> Result<Vec<SuspensionRow>, BookingError> {
        let scope = suspension_scope(staff)?;
        Ok(store::list_suspensions(&self.db, self.options.clock.now_ms(), &scope).await?)
    }

    /// Staff lift a suspension of one of their hospitals (an appeal upheld), with the reason in
    /// the audit trail; another hospital's is not found.
    #[tracing::instrument(skip_all, fields(suspension_id = %id))]
    pub async fn lift_suspension(&self, staff: &Staff, id: &str, reason: &str) -> Result<SuspensionRow, BookingError> {
        let scope = suspension_scope(staff)?;
        Ok(store::lift_suspension(&self.db, staff, id, reason, &scope, self.options.clock.now_ms()).await?)
    }
}

/// Admins handle every hospital's suspensions; a scheduler only their hospitals'.
fn suspension_scope(staff: &Staff) -> Result<HospitalScope, BookingError> {
    scheduler(staff)?;
    Ok(if staff.roles.contains(&city_platform::auth::Role::Admin) {
        HospitalScope::All
    } else {
        HospitalScope::Only(staff.scopes.hospitals.clone())
    })
}
