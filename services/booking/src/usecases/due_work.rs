//! What time makes due (holds and offers lapse, unattended bookings become no-shows, reminders,
//! queues close) and what payments' events change.

use city_platform::bus::Event;
use city_platform::time::{city_date, from_ms};
use tracing::Instrument;

use crate::domain;
use crate::state::BookingState;
use crate::store::{self, StoreError};
use crate::usecases::waitlist::QUEUE_CLOSES_MINUTE;

/// Counts of what one pass of [`BookingState::run_due_work`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DueWork {
    /// Holds and offers that lapsed.
    pub expired: usize,
    /// Bookings marked no-show.
    pub no_shows: usize,
    /// Reminders sent.
    pub reminders: usize,
    /// Waitlist entries cleared.
    pub cleared: u64,
}

impl BookingState {
    /// Does whatever time made due: lapsed holds and offers return their slots, unattended
    /// bookings become no-shows, tomorrow's patients are reminded, and queues for tomorrow close
    /// at 23:00 Beijing time.
    pub async fn run_due_work(&self) -> Result<DueWork, StoreError> {
        let now = self.options.clock.now_ms();
        let mut done = DueWork::default();
        for id in store::lapsed_holds(&self.db, now).await? {
            let span = tracing::info_span!("expire_hold", appointment_id = %id);
            let expired = store::expire_hold(&self.db, &id, &self.options.limits, now).instrument(span).await?;
            if let Some(appt) = expired {
                self.slots_changed(&appt.doctor_id, &appt.visit_date).await;
                done.expired += 1;
            }
        }
        let grace = self.options.no_show_grace_minutes * 60_000;
        for appt in store::overdue_unattended(&self.db, now, grace).await? {
            let span = tracing::info_span!("mark_no_show", appointment_id = %appt.id);
            if store::mark_no_show(&self.db, None, &appt, &self.options.no_show, now).instrument(span).await.is_ok() {
                done.no_shows += 1;
            }
        }
        let today = city_date(from_ms(now));
        let tomorrow = today.succ_opt().unwrap_or(today);
        done.reminders = store::send_reminders(&self.db, &tomorrow.to_string(), now).await?;
        let closes = domain::local_instant(today, QUEUE_CLOSES_MINUTE);
        let last_cleared = if now >= closes { tomorrow } else { today };
        done.cleared = store::clear_waitlists(&self.db, &last_cleared.to_string()).await?;
        Ok(done)
    }

    /// Applies a payments event about one of our bookings (others are ignored).
    pub async fn on_payment_event(&self, event: Event) -> city_platform::bus::HandlerResult {
        let p = &event.payload;
        if p["item_kind"].as_str() != Some("booking") {
            return Ok(());
        }
        let Some(item_id) = p["item_id"].as_str() else { return Ok(()) };
        let span = tracing::info_span!("payment_event", appointment_id = %item_id, topic = %event.topic);
        async {
            match event.topic.as_str() {
                "payments.paid" => {
                    let out_trade_no = p["out_trade_no"].as_str().unwrap_or_default();
                    let amount = p["amount_fen"].as_i64().unwrap_or_default();
                    let now = self.options.clock.now_ms();
                    if let Some((doctor, date)) =
                        store::apply_paid(&self.db, &event.id, item_id, out_trade_no, amount, now).await?
                    {
                        self.slots_changed(&doctor, &date).await;
                    }
                }
                "payments.refunded" => store::apply_refunded(&self.db, &event.id, item_id).await?,
                _ => {}
            }
            Ok(())
        }
        .instrument(span)
        .await
    }
}
