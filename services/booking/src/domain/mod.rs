//! The booking rules, free of HTTP and SQL: when numbers open and close (`release`), how a session
//! is cut into numbered slots (`slots`), the real-name limits (`limits`), the cancellation
//! deadline (`cancellation`), the no-show rule engine (`noshow`), and the texts patients read
//! (`messages`).
//!
//! Every day boundary is Beijing time ([`city_platform::time::CITY_TZ`]); instants are UTC ms.

pub mod cancellation;
pub mod ids;
pub mod limits;
pub mod messages;
pub mod noshow;
pub mod release;
pub mod slots;

pub use cancellation::{cancel_deadline, check_cancellable, DeadlinePassed};
pub use ids::{AppointmentId, SessionId, SlotId};
pub use limits::{is_live, BookingLimits, LimitExceeded, LimitScope, PatientCounts, LIVE_STATUSES};
pub use noshow::{NoShowRule, NoShowWindow};
pub use release::{local_instant, ReleaseRules};
pub use slots::{slot_windows, Period, SlotWindow};

/// A visit window as a citizen reads it in a chat message: `2026-12-03 08:00–08:30 (Beijing time)`.
pub fn visit_window_text(starts_at_ms: i64, ends_at_ms: i64) -> String {
    use city_platform::time::{from_ms, CITY_TZ};
    let start = from_ms(starts_at_ms).with_timezone(&CITY_TZ);
    let end = from_ms(ends_at_ms).with_timezone(&CITY_TZ);
    format!("{}–{} (Beijing time)", start.format("%Y-%m-%d %H:%M"), end.format("%H:%M"))
}

/// Masks a real name for responses and logs: `张*`, `欧阳**`, `J*** S****`.
pub fn mask_name(name: &str) -> String {
    let chars: Vec<char> = name.trim().chars().collect();
    match chars.len() {
        0 => String::new(),
        1 => "*".into(),
        _ if chars.iter().all(|c| !c.is_ascii()) => {
            let keep = if chars.len() >= 4 { 2 } else { 1 };
            chars[..keep].iter().collect::<String>() + &"*".repeat(chars.len() - keep)
        }
        _ => name
            .split_whitespace()
            .map(|w| {
                let mut it = w.chars();
                let first = it.next().map(String::from).unwrap_or_default();
                first + &"*".repeat(it.count())
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// A doctor's title, the "grade" a stop-diagnosis rebooking offer matches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoctorTitle {
    /// 主任医师.
    ChiefPhysician,
    /// 副主任医师.
    AssociateChiefPhysician,
    /// 主治医师.
    AttendingPhysician,
    /// 住院医师.
    ResidentPhysician,
}

impl DoctorTitle {
    /// Every title, most senior first.
    pub const ALL: [DoctorTitle; 4] =
        [Self::ChiefPhysician, Self::AssociateChiefPhysician, Self::AttendingPhysician, Self::ResidentPhysician];

    /// The stable code used in SQL and the API.
    pub fn code(self) -> &'static str {
        match self {
            Self::ChiefPhysician => "chief_physician",
            Self::AssociateChiefPhysician => "associate_chief_physician",
            Self::AttendingPhysician => "attending_physician",
            Self::ResidentPhysician => "resident_physician",
        }
    }

    /// The Chinese name patients see.
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::ChiefPhysician => "主任医师",
            Self::AssociateChiefPhysician => "副主任医师",
            Self::AttendingPhysician => "主治医师",
            Self::ResidentPhysician => "住院医师",
        }
    }

    /// Reads a code.
    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_visit_window_reads_in_beijing_time() {
        // 2026-12-03 00:00 UTC is 08:00 in Beijing; a window ending after Beijing midnight keeps its start's date.
        let start = 1_796_256_000_000;
        assert_eq!(visit_window_text(start, start + 30 * 60_000), "2026-12-03 08:00–08:30 (Beijing time)");
        assert_eq!(
            visit_window_text(start - 9 * 3_600_000, start - 8 * 3_600_000),
            "2026-12-02 23:00–00:00 (Beijing time)"
        );
    }

    #[test]
    fn chinese_names_keep_the_surname_and_mask_the_rest() {
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("李小龙"), "李**");
        assert_eq!(mask_name("欧阳娜娜"), "欧阳**");
        assert_eq!(mask_name("John Smith"), "J*** S****");
    }

    #[test]
    fn titles_round_trip_through_their_codes() {
        for t in DoctorTitle::ALL {
            assert_eq!(DoctorTitle::parse(t.code()), Some(t));
        }
        assert_eq!(DoctorTitle::parse("nurse"), None);
    }
}
