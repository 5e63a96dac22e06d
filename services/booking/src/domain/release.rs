//! Number release (放号) and booking cut-off, per hospital or department. The cancellation
//! deadline these rules also configure is decided in [`super::cancellation`].

use chrono::{Duration, NaiveDate, TimeZone};
use city_platform::time::CITY_TZ;

/// When a session's numbers can be booked and cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseRules {
    /// Numbers for day D open on day D − `release_days_ahead` (Beijing).
    pub release_days_ahead: i64,
    /// ... at this minute of that day (e.g. 15:00 = 900).
    pub release_minute_of_day: i64,
    /// Booking closes this many minutes before the session starts.
    pub cutoff_minutes_before: i64,
    /// Cancelling is allowed until D − `cancel_days_before` ...
    pub cancel_days_before: i64,
    /// ... at this minute of that day (e.g. 1 day before at 15:00). After it, a booking that is
    /// not attended is a no-show.
    pub cancel_minute_of_day: i64,
}

impl Default for ReleaseRules {
    /// The Beijing 114 practice: 7 days ahead at 15:00; cancel by 15:00 the day before.
    fn default() -> Self {
        Self {
            release_days_ahead: 7,
            release_minute_of_day: 15 * 60,
            cutoff_minutes_before: 30,
            cancel_days_before: 1,
            cancel_minute_of_day: 15 * 60,
        }
    }
}

impl ReleaseRules {
    /// The instant (UTC ms) the numbers of `visit_date` open.
    pub fn opens_at(&self, visit_date: NaiveDate) -> i64 {
        local_instant(visit_date - Duration::days(self.release_days_ahead), self.release_minute_of_day)
    }

    /// The instant booking closes for a session starting at `session_starts_at`.
    pub fn closes_at(&self, session_starts_at: i64) -> i64 {
        session_starts_at - self.cutoff_minutes_before * 60_000
    }

    /// Whether each value is in range; the field that is not.
    pub fn check(&self) -> Result<(), &'static str> {
        if !(0..=90).contains(&self.release_days_ahead) {
            return Err("release_days_ahead");
        }
        if !(0..1440).contains(&self.release_minute_of_day) {
            return Err("release_minute_of_day");
        }
        if !(0..=7 * 1440).contains(&self.cutoff_minutes_before) {
            return Err("cutoff_minutes_before");
        }
        if !(0..=30).contains(&self.cancel_days_before) {
            return Err("cancel_days_before");
        }
        if !(0..1440).contains(&self.cancel_minute_of_day) {
            return Err("cancel_minute_of_day");
        }
        Ok(())
    }
}

/// The UTC ms of `minute_of_day` on the Beijing calendar day `date`. China has no daylight
/// saving time, so every local time exists exactly once.
pub fn local_instant(date: NaiveDate, minute_of_day: i64) -> i64 {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    let local = CITY_TZ.from_local_datetime(&midnight).single().map(|t| t.timestamp_millis()).unwrap_or_default();
    local + minute_of_day * 60_000
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use city_platform::time::{from_ms, rfc3339};

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn numbers_open_seven_days_ahead_at_three_pm_beijing_time() {
        let rules = ReleaseRules::default();
        let opens = from_ms(rules.opens_at(date("2026-12-08")));
        assert_eq!(rfc3339(opens), "2026-12-01T07:00:00Z");
    }

    #[test]
    fn booking_closes_half_an_hour_before_the_session() {
        let rules = ReleaseRules::default();
        let start = Utc.with_ymd_and_hms(2026, 12, 8, 0, 0, 0).unwrap().timestamp_millis();
        assert_eq!(rules.closes_at(start), start - 30 * 60_000);
    }

    #[test]
    fn out_of_range_rules_name_their_field() {
        let rules = ReleaseRules { release_minute_of_day: 1440, ..ReleaseRules::default() };
        assert_eq!(rules.check(), Err("release_minute_of_day"));
    }
}
