//! The cancellation deadline: until when a citizen may cancel, and what happens after it.
//!
//! A booked appointment may be cancelled until 15:00 Beijing time the day before the visit (the
//! Beijing 114 practice; each hospital or department configures the day and time in its
//! [`ReleaseRules`]). After the deadline a booking that is not attended becomes a no-show. Unpaid
//! holds and waitlist offers may be given up at any time: they never were a booking.

use chrono::{Duration, NaiveDate};

use super::release::{local_instant, ReleaseRules};

/// The last instant (UTC ms) a booking on `visit_date` may be cancelled under `rules`.
pub fn cancel_deadline(rules: &ReleaseRules, visit_date: NaiveDate) -> i64 {
    local_instant(visit_date - Duration::days(rules.cancel_days_before), rules.cancel_minute_of_day)
}

/// The deadline that passed, UTC ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadlinePassed(pub i64);

/// Whether an appointment in `status` on `visit_date` may still be cancelled at `now`.
pub fn check_cancellable(
    rules: &ReleaseRules,
    status: &str,
    visit_date: NaiveDate,
    now: i64,
) -> Result<(), DeadlinePassed> {
    if status != "booked" {
        return Ok(());
    }
    let deadline = cancel_deadline(rules, visit_date);
    if now > deadline {
        Err(DeadlinePassed(deadline))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use city_platform::time::{from_ms, rfc3339};

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn cancellation_closes_at_three_pm_the_day_before() {
        let rules = ReleaseRules::default();
        assert_eq!(rfc3339(from_ms(cancel_deadline(&rules, date("2026-12-08")))), "2026-12-07T07:00:00Z");
    }

    #[test]
    fn a_booking_may_be_cancelled_up_to_the_deadline_and_not_a_millisecond_after() {
        let rules = ReleaseRules::default();
        let deadline = cancel_deadline(&rules, date("2026-12-08"));
        assert_eq!(check_cancellable(&rules, "booked", date("2026-12-08"), deadline), Ok(()));
        assert_eq!(
            check_cancellable(&rules, "booked", date("2026-12-08"), deadline + 1),
            Err(DeadlinePassed(deadline))
        );
    }

    #[test]
    fn an_unpaid_hold_or_an_offer_may_be_given_up_after_the_deadline() {
        let rules = ReleaseRules::default();
        let late = cancel_deadline(&rules, date("2026-12-08")) + 3_600_000;
        assert_eq!(check_cancellable(&rules, "pending_payment", date("2026-12-08"), late), Ok(()));
        assert_eq!(check_cancellable(&rules, "offered", date("2026-12-08"), late), Ok(()));
    }
}
