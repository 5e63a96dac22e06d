//! Pure rules of incident reports: who may see and handle a report (`access`), the report
//! aggregate (`report`), the catalogue, the states and their Open311 mapping, the map grid, CSV
//! cells. No poem, no sqlx.

pub mod access;
pub mod catalogue;
pub mod grid;
pub mod report;

use std::fmt;

pub use catalogue::{Catalogue, Category};
pub use grid::cell_deg;
pub use report::{Report, ReportId, Update};

/// Why a domain rule refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DomainError {
    /// The seed catalogue is inconsistent.
    #[error("catalogue: {0}")]
    Catalogue(String),
    /// No such state.
    #[error("unknown state `{0}`")]
    UnknownState(String),
}

/// A report's state (FixMyStreet's set, which keeps "closed" apart from "fixed").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// New and public, not yet looked at.
    Open,
    /// A clerk has confirmed it is a real problem.
    Confirmed,
    /// Someone is finding out more.
    Investigating,
    /// Work is planned.
    ActionScheduled,
    /// Work is under way.
    InProgress,
    /// The problem is gone.
    Fixed,
    /// Closed for another reason.
    Closed,
    /// Another report covers it (`duplicate_of`).
    Duplicate,
    /// Not the city's job.
    NotResponsible,
    /// Nothing more will be done.
    NoFurtherAction,
}

impl State {
    /// Every state, in workflow order.
    pub const ALL: [State; 10] = [
        Self::Open,
        Self::Confirmed,
        Self::Investigating,
        Self::ActionScheduled,
        Self::InProgress,
        Self::Fixed,
        Self::Closed,
        Self::Duplicate,
        Self::NotResponsible,
        Self::NoFurtherAction,
    ];

    /// The stable code used in the API and SQL.
    pub fn code(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Confirmed => "confirmed",
            Self::Investigating => "investigating",
            Self::ActionScheduled => "action_scheduled",
            Self::InProgress => "in_progress",
            Self::Fixed => "fixed",
            Self::Closed => "closed",
            Self::Duplicate => "duplicate",
            Self::NotResponsible => "not_responsible",
            Self::NoFurtherAction => "no_further_action",
        }
    }

    /// Reads a code.
    pub fn parse(code: &str) -> Result<Self, DomainError> {
        Self::ALL.into_iter().find(|s| s.code() == code).ok_or_else(|| DomainError::UnknownState(code.to_owned()))
    }

    /// Whether the report still needs work (Open311 `open`).
    pub fn is_open(self) -> bool {
        matches!(self, Self::Open | Self::Confirmed | Self::Investigating | Self::ActionScheduled | Self::InProgress)
    }

    /// Open311 core status: `open` or `closed`.
    pub fn open311_status(self) -> &'static str {
        if self.is_open() {
            "open"
        } else {
            "closed"
        }
    }

    /// Whether a clerk may move a report from `self` to `to`. Any open state may go to any
    /// other state; a closed report may only be reopened (to `confirmed` or `open`), so a
    /// finished report is never silently re-finished. `duplicate` is reached by merging.
    pub fn may_become(self, to: State) -> bool {
        if self == to || to == Self::Duplicate {
            return false;
        }
        self.is_open() || matches!(to, Self::Open | Self::Confirmed)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Largest bbox a map request may ask for, in degrees of latitude and longitude: the demo city
/// and its surroundings, so one request cannot scan the country.
pub const MAX_BBOX_DEG: f64 = 2.0;

/// Single pins are returned when a map view holds at most this many reports.
pub const MAX_SINGLE_PINS: i64 = 300;

/// A CSV cell: quoted when needed (RFC 4180), and with a leading `'` on text a spreadsheet
/// would run as a formula (CSV injection through a citizen's description).
pub fn csv_cell(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{text}") } else { text.to_owned() };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

/// The name shown for a report: the reporter's chosen name, or nothing at all for an anonymous
/// report, whatever else is stored (the rule is [`access::Field::ReporterName`]).
pub fn public_name(anonymous: bool, name: Option<&str>) -> Option<String> {
    if anonymous {
        None
    } else {
        name.map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_code_reads_back_as_itself() {
        for s in State::ALL {
            assert_eq!(State::parse(s.code()).unwrap(), s);
        }
        assert!(State::parse("done").is_err());
    }

    #[test]
    fn open_states_map_to_open311_open_and_the_rest_to_closed() {
        assert_eq!(State::InProgress.open311_status(), "open");
        assert_eq!(State::Fixed.open311_status(), "closed");
        assert_eq!(State::NoFurtherAction.open311_status(), "closed");
    }

    #[test]
    fn a_closed_report_can_only_be_reopened() {
        assert!(State::Open.may_become(State::Fixed));
        assert!(!State::Fixed.may_become(State::InProgress));
        assert!(State::Fixed.may_become(State::Confirmed));
        assert!(!State::Open.may_become(State::Duplicate));
        assert!(!State::Open.may_become(State::Open));
    }

    #[test]
    fn grid_cells_halve_with_each_zoom_level() {
        assert!((cell_deg(0) - 90.0).abs() < 1e-9);
        assert!((cell_deg(1) - 45.0).abs() < 1e-9);
        assert!((cell_deg(16) - 360.0 / 65536.0 / 4.0).abs() < 1e-12);
    }

    #[test]
    fn csv_cells_are_quoted_and_formulas_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
    }

    #[test]
    fn anonymous_reports_have_no_public_name() {
        assert_eq!(public_name(true, Some("Li")), None);
        assert_eq!(public_name(false, Some("Li")).as_deref(), Some("Li"));
    }
}
