//! Cutting a session into numbered slots (号序) with suggested arrival windows.

use chrono::NaiveDate;

use super::release::local_instant;

/// Half of a clinic day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// 08:00–12:00.
    Morning,
    /// 14:00–17:30.
    Afternoon,
}

impl Period {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Morning => "morning",
            Self::Afternoon => "afternoon",
        }
    }

    /// Reads a code.
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "morning" => Some(Self::Morning),
            "afternoon" => Some(Self::Afternoon),
            _ => None,
        }
    }

    /// The session's start and end on `date`, UTC ms.
    pub fn bounds(self, date: NaiveDate) -> (i64, i64) {
        match self {
            Self::Morning => (local_instant(date, 8 * 60), local_instant(date, 12 * 60)),
            Self::Afternoon => (local_instant(date, 14 * 60), local_instant(date, 17 * 60 + 30)),
        }
    }
}

/// One number's suggested window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotWindow {
    /// 号序, from 1.
    pub number: i64,
    /// Suggested arrival from, UTC ms.
    pub starts_at: i64,
    /// Until, UTC ms.
    pub ends_at: i64,
}

/// `capacity` numbers spread over windows of `slot_minutes` from `starts_at` to `ends_at`, in
/// order, the earliest windows taking the remainder. None when the inputs cannot make slots.
pub fn slot_windows(starts_at: i64, ends_at: i64, capacity: i64, slot_minutes: i64) -> Option<Vec<SlotWindow>> {
    if capacity <= 0 || slot_minutes <= 0 || ends_at <= starts_at {
        return None;
    }
    let step = slot_minutes * 60_000;
    let n_windows = ((ends_at - starts_at) / step).max(1);
    let per_window = capacity / n_windows;
    let extra = capacity % n_windows;
    let mut out = Vec::with_capacity(capacity as usize);
    let mut number = 1;
    for w in 0..n_windows {
        let in_this = per_window + i64::from(w < extra);
        let from = starts_at + w * step;
        for _ in 0..in_this {
            out.push(SlotWindow { number, starts_at: from, ends_at: (from + step).min(ends_at) });
            number += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_numbers_over_a_four_hour_morning_in_half_hours_are_three_then_two_per_window() {
        let d: NaiveDate = "2026-12-08".parse().unwrap();
        let (start, end) = Period::Morning.bounds(d);
        let slots = slot_windows(start, end, 20, 30).unwrap();
        assert_eq!(slots.len(), 20);
        assert_eq!(slots[0].number, 1);
        assert_eq!(slots[19].number, 20);
        assert_eq!(slots.iter().filter(|s| s.starts_at == start).count(), 3);
        assert_eq!(slots.last().unwrap().ends_at, end);
        assert!(slots.windows(2).all(|p| p[0].starts_at <= p[1].starts_at));
    }

    #[test]
    fn no_capacity_or_an_empty_session_makes_no_slots() {
        assert_eq!(slot_windows(0, 1000, 0, 30), None);
        assert_eq!(slot_windows(1000, 1000, 5, 30), None);
    }
}
