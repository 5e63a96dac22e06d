//! The waitlist of a full session: a citizen joins, leaves (or declines an offer), accepts.

use chrono::NaiveDate;

use super::{BookingError, Unknown};
use crate::domain::{local_instant, SessionId};
use crate::state::BookingState;
use crate::store::{self, AppointmentRow, WaitlistRow};

/// Queues close at this minute of the day before the visit (23:00 Beijing).
pub(crate) const QUEUE_CLOSES_MINUTE: i64 = 23 * 60;

impl BookingState {
    /// The citizen's patient joins the queue of a full, open session, before it closes.
    #[tracing::instrument(skip_all, fields(session_id = %session_id, waitlist_id = tracing::field::Empty))]
    pub async fn join_waitlist(
        &self,
        citizen_id: &str,
        authorization: &str,
        session_id: &SessionId,
        person_id: &str,
    ) -> Result<WaitlistRow, BookingError> {
        let now = self.options.clock.now_ms();
        let Some(session) = store::get_session(&self.db, session_id.as_str()).await? else {
            return Err(BookingError::Unknown { what: Unknown::Session, in_body: true });
        };
        let day: NaiveDate = session.visit_date.parse().unwrap_or_default();
        if now >= local_instant(day - chrono::Duration::days(1), QUEUE_CLOSES_MINUTE) {
            return Err(BookingError::WaitlistClosed);
        }
        let person = self.patient(citizen_id, authorization, person_id).await?;
        let id = match store::join_waitlist(&self.db, &session, citizen_id, &person, &self.options.limits, now).await {
            Ok(id) => id,
            Err(e) => {
                let scope = self.options.limits.scope(day, &session.hospital_id, &session.department_id);
                return Err(self.disclosed(e, citizen_id, &person, &scope).await);
            }
        };
        tracing::Span::current().record("waitlist_id", id.as_str());
        store::get_waitlist_entry(&self.db, &id).await?.ok_or(BookingError::NotFound("waitlist entry"))
    }

    /// The citizen's own entry.
    async fn own_entry(&self, citizen_id: &str, id: &str) -> Result<WaitlistRow, BookingError> {
        store::get_waitlist_entry(&self.db, id)
            .await?
            .filter(|e| e.citizen_id == citizen_id)
            .ok_or(BookingError::NotFound("waitlist entry"))
    }

    /// The citizen leaves the queue, or declines an open offer (the number passes on).
    #[tracing::instrument(skip_all, fields(waitlist_id = %id))]
    pub async fn leave_waitlist(&self, citizen_id: &str, id: &str) -> Result<(), BookingError> {
        let entry = self.own_entry(citizen_id, id).await?;
        Ok(store::leave_waitlist(&self.db, &entry, &self.options.limits, self.options.clock.now_ms()).await?)
    }

    /// The citizen accepts an offer: the held number becomes their booking, or a pending payment
    /// when the hospital charges online.
    #[tracing::instrument(skip_all, fields(waitlist_id = %id, appointment_id = tracing::field::Empty))]
    pub async fn accept_offer(&self, citizen_id: &str, id: &str) -> Result<AppointmentRow, BookingError> {
        let entry = self.own_entry(citizen_id, id).await?;
        let Some(appt_id) = entry.appointment_id.clone().filter(|_| entry.status == "offered") else {
            return Err(BookingError::NoOffer { status: entry.status });
        };
        tracing::Span::current().record("appointment_id", appt_id.as_str());
        let Some(appt) = store::get_appointment(&self.db, &appt_id.clone().into()).await? else {
            return Err(BookingError::NotFound("appointment"));
        };
        let Some(ctx) = store::slot_context(&self.db, &appt.slot_id).await? else {
            return Err(BookingError::NotFound("slot"));
        };
        let pending = ctx.charges_online && appt.fee_fen.0 > 0;
        let now = self.options.clock.now_ms();
        let accepted = store::accept_offer(&self.db, &entry, &appt_id, &ctx, pending, now).await?;
        self.slots_changed(&accepted.doctor_id, &accepted.visit_date).await;
        Ok(accepted)
    }
}
