//! Booking a numbered slot for one of the citizen's patients.

use chrono::NaiveDate;

use super::{BookingError, Unknown};
use crate::domain::SlotId;
use crate::state::BookingState;
use crate::store::{self, AppointmentRow, SlotContext};

/// A booking made, with the names its view shows.
pub struct Booked {
    /// The appointment (booked, or held pending payment).
    pub appointment: AppointmentRow,
    /// The doctor's name.
    pub doctor_name: String,
    /// The hospital's name.
    pub hospital_name_zh: String,
    /// The department's name.
    pub department_name_zh: String,
}

impl BookingState {
    /// Books `slot_id` for the citizen's patient `person_id`: the session must be open, released
    /// and not yet closed; then the store takes the slot under the patient's limits.
    #[tracing::instrument(skip_all, fields(slot_id = %slot_id, appointment_id = tracing::field::Empty))]
    pub async fn book(
        &self,
        citizen_id: &str,
        authorization: &str,
        slot_id: &SlotId,
        person_id: &str,
    ) -> Result<Booked, BookingError> {
        let now = self.options.clock.now_ms();
        // The slot and identity's answer for the patient are asked for at once: two round trips
        // side by side, not one after the other. The slot's refusals still come first.
        let (ctx, person) = tokio::join!(
            store::slot_context(&self.db, slot_id.as_str()),
            self.patient(citizen_id, authorization, person_id)
        );
        let Some(ctx) = ctx? else {
            return Err(BookingError::Unknown { what: Unknown::Slot, in_body: true });
        };
        check_bookable(&ctx, now)?;
        // Already taken when read: the same answer the conditional take would give, without the
        // transaction (four round trips). In a stampede on the day's last numbers nearly every
        // try ends here (issue #24); a free slot still goes to the store, which decides.
        if matches!(ctx.status.as_str(), "booked" | "held") {
            return Err(store::StoreError::SlotTaken { first: true }.into());
        }
        let person = person?;
        let appointment = match store::book(&self.db, &ctx, citizen_id, &person, &self.options.limits, now).await {
            Ok(a) => a,
            Err(e) => {
                let s = &ctx.session;
                let scope = self.options.limits.scope(
                    s.visit_date.parse().unwrap_or_default(),
                    &s.hospital_id,
                    &s.department_id,
                );
                return Err(self.disclosed(e, citizen_id, &person, &scope).await);
            }
        };
        tracing::Span::current().record("appointment_id", appointment.id.as_str());
        tracing::info!(appointment_id = %appointment.id, status = %appointment.status, "booked slot {slot_id}");
        self.slots_changed(&appointment.doctor_id, &appointment.visit_date).await;
        Ok(Booked {
            appointment,
            doctor_name: ctx.doctor_name,
            hospital_name_zh: ctx.hospital_name_zh,
            department_name_zh: ctx.department_name_zh,
        })
    }
}

/// Release, cut-off and past-date checks, each its own refusal.
fn check_bookable(ctx: &SlotContext, now: i64) -> Result<(), BookingError> {
    let day: NaiveDate = ctx.session.visit_date.parse().unwrap_or_default();
    if ctx.session.status == "stopped" || ctx.status == "stopped" {
        return Err(store::StoreError::SessionStopped { waitlist: false }.into());
    }
    if ctx.session.starts_at <= now {
        return Err(BookingError::PastDate { field: "slot_id" });
    }
    let opens = ctx.rules.opens_at(day);
    if now < opens {
        return Err(BookingError::NotYetReleased { day, opens });
    }
    let closes = ctx.rules.closes_at(ctx.session.starts_at);
    if now >= closes {
        return Err(BookingError::BookingClosed(closes));
    }
    Ok(())
}
