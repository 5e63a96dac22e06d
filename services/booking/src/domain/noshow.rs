//! The no-show (爽约) rule engine: which no-shows count, over which window, and how long the
//! patient's online booking is suspended. Blocks apply to booking only, never to emergencies.

use chrono::{Datelike, Duration, NaiveDate};

/// Over which window no-shows are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoShowWindow {
    /// The Beijing calendar year of the no-show (Beijing 114).
    CalendarYear,
    /// The last N days, rolling.
    RollingDays(i64),
}

/// A configured rule: the n-th counted no-show suspends for `suspension_days[n - 1]` days
/// (the last entry repeats), starting when it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoShowRule {
    /// The counting window.
    pub window: NoShowWindow,
    /// Escalating suspensions in days; a 0 means "counted, no suspension yet".
    pub suspension_days: Vec<i64>,
}

impl Default for NoShowRule {
    /// 1st 30 days, 2nd 60, 3rd 90, and so on, per calendar year.
    fn default() -> Self {
        Self { window: NoShowWindow::CalendarYear, suspension_days: vec![30, 60, 90] }
    }
}

impl NoShowRule {
    /// The first visit day counted in the window ending on `today`.
    pub fn window_start(&self, today: NaiveDate) -> NaiveDate {
        match self.window {
            NoShowWindow::CalendarYear => NaiveDate::from_ymd_opt(today.year(), 1, 1).unwrap_or(today),
            NoShowWindow::RollingDays(n) => today - Duration::days(n.max(1) - 1),
        }
    }

    /// Days of suspension for the `n`-th counted no-show in the window (n ≥ 1); None for none.
    pub fn suspension_for(&self, n: i64) -> Option<i64> {
        if n < 1 || self.suspension_days.is_empty() {
            return None;
        }
        let idx = ((n - 1) as usize).min(self.suspension_days.len() - 1);
        Some(self.suspension_days[idx]).filter(|d| *d > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suspensions_escalate_thirty_sixty_ninety_and_then_stay_at_ninety() {
        let r = NoShowRule::default();
        assert_eq!(r.suspension_for(1), Some(30));
        assert_eq!(r.suspension_for(2), Some(60));
        assert_eq!(r.suspension_for(3), Some(90));
        assert_eq!(r.suspension_for(7), Some(90));
        assert_eq!(r.suspension_for(0), None);
    }

    #[test]
    fn a_rule_that_tolerates_two_no_shows_suspends_only_on_the_third() {
        let r = NoShowRule { window: NoShowWindow::RollingDays(365), suspension_days: vec![0, 0, 30] };
        assert_eq!(r.suspension_for(2), None);
        assert_eq!(r.suspension_for(3), Some(30));
    }

    #[test]
    fn the_calendar_year_window_starts_on_the_first_of_january() {
        let r = NoShowRule::default();
        let d: NaiveDate = "2026-11-25".parse().unwrap();
        assert_eq!(r.window_start(d).to_string(), "2026-01-01");
        let rolling = NoShowRule { window: NoShowWindow::RollingDays(90), ..r };
        assert_eq!(rolling.window_start(d).to_string(), "2026-08-28");
    }
}
