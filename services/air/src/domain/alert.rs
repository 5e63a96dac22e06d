//! Alert decisions: when a subscription's index crosses its threshold level, and when it clears.
//!
//! The rules follow the reference's alert design (§3.4): trigger on the level, not on raw
//! numbers; clear only below the threshold minus a margin, so an index wobbling at the
//! boundary (100/101) does not flap; and after an all-clear, no new alert for a quiet period,
//! so a series of short episodes sends one message, not one an hour.

use crate::domain::scheme::Scheme;

/// How far below the threshold's lowest index the index must fall before the all-clear.
pub const CLEAR_MARGIN: u16 = 20;

/// After an alert, how long before another alert for the same subscription may be raised (6 hours).
pub const QUIET_PERIOD_MS: i64 = 6 * 3_600_000;

/// A subscription's alert state as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlertState {
    /// Whether an alert is open (raised and not yet cleared).
    pub alerting: bool,
    /// When the last alert was raised, UTC milliseconds.
    pub raised_at: Option<i64>,
}

/// What to do after a new index value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertDecision {
    /// Raise an alert.
    Raise,
    /// Send the all-clear.
    Clear,
    /// Nothing changes.
    Stay,
}

/// The lowest index of `level` (1-6) in `scheme`: where an alert for that level begins.
pub fn entry_index(scheme: Scheme, level: u8) -> u16 {
    let categories = scheme.categories();
    let index = usize::from(level.clamp(1, 6)) - 1;
    // Level I "starts" at 0 whatever the standard writes (1–50 in HJ 633-2026).
    if index == 0 {
        0
    } else {
        categories[index].aqi_min
    }
}

/// The index at or below which an open alert for `level` clears.
pub fn clear_index(scheme: Scheme, level: u8) -> u16 {
    entry_index(scheme, level).saturating_sub(1 + CLEAR_MARGIN)
}

/// Decides what a new index value means for a subscription at `level`, at `now_ms`.
pub fn decide(scheme: Scheme, level: u8, state: AlertState, aqi: u16, now_ms: i64) -> AlertDecision {
    if state.alerting {
        if aqi <= clear_index(scheme, level) {
            AlertDecision::Clear
        } else {
            AlertDecision::Stay
        }
    } else if aqi >= entry_index(scheme, level)
        && state.raised_at.is_none_or(|raised| now_ms - raised >= QUIET_PERIOD_MS)
    {
        AlertDecision::Raise
    } else {
        AlertDecision::Stay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: AlertState = AlertState { alerting: false, raised_at: None };
    const OPEN: AlertState = AlertState { alerting: true, raised_at: Some(0) };

    #[test]
    fn an_alert_for_lightly_polluted_begins_at_101_and_clears_at_80() {
        assert_eq!(entry_index(Scheme::Cn2026, 3), 101);
        assert_eq!(clear_index(Scheme::Cn2026, 3), 80);
        let cases = [
            (QUIET, 100, AlertDecision::Stay),
            (QUIET, 101, AlertDecision::Raise),
            (OPEN, 101, AlertDecision::Stay),
            (OPEN, 100, AlertDecision::Stay),
            (OPEN, 81, AlertDecision::Stay),
            (OPEN, 80, AlertDecision::Clear),
        ];
        for (state, aqi, expected) in cases {
            assert_eq!(decide(Scheme::Cn2026, 3, state, aqi, QUIET_PERIOD_MS), expected, "{state:?} at {aqi}");
        }
    }

    #[test]
    fn an_index_wobbling_at_the_boundary_alerts_once() {
        let mut state = QUIET;
        let mut raised = 0;
        for (hour, aqi) in [99, 101, 99, 102, 100, 101, 98].into_iter().enumerate() {
            let now = hour as i64 * 3_600_000;
            match decide(Scheme::Cn2026, 3, state, aqi, now) {
                AlertDecision::Raise => {
                    raised += 1;
                    state = AlertState { alerting: true, raised_at: Some(now) };
                }
                AlertDecision::Clear => state.alerting = false,
                AlertDecision::Stay => {}
            }
        }
        assert_eq!(raised, 1);
    }

    #[test]
    fn no_new_alert_within_the_quiet_period_after_an_all_clear() {
        let cleared = AlertState { alerting: false, raised_at: Some(0) };
        assert_eq!(decide(Scheme::Cn2026, 3, cleared, 150, QUIET_PERIOD_MS - 1), AlertDecision::Stay);
        assert_eq!(decide(Scheme::Cn2026, 3, cleared, 150, QUIET_PERIOD_MS), AlertDecision::Raise);
    }

    #[test]
    fn every_level_enters_at_its_lowest_index() {
        let expected = [(2, 51), (3, 101), (4, 151), (5, 201), (6, 301)];
        for scheme in Scheme::ALL {
            for (level, aqi) in expected {
                assert_eq!(entry_index(scheme, level), aqi, "{scheme:?} level {level}");
            }
        }
    }
}
