//! Air quality domain: concentrations, the index schemes, validity rules and the index report.
//!
//! Pure code: no I/O, no clock, no database and no HTTP types, so every rule is unit-tested here.
//!
//! Layout:
//! - [`pollutant`]: the six pollutants, units, averaging periods and indicators, with their stable codes.
//! - [`concentration`]: exact non-negative concentrations; decimal input is never read through `f64`.
//! - [`average`]: 1-hour, 8-hour, 24-hour, daily, daily-maximum and annual means with their validity rules, and the US NowCast.
//! - `china` (HJ 633-2012 and HJ 633-2026 breakpoints) and `us` (the EPA table): the AQI breakpoints, one file per standard.
//! - [`scheme`]: [`Scheme`] (`cn-2026` default, `cn-2012`, `us`), per-scheme units, precision, indicators and single sub-indices.
//! - [`iaqi`]: [`IaqiOutcome`], what one breakpoint table says about one concentration (below the tables and the scheme).
//! - [`level`]: the six levels of each scheme with names, colours and advice.
//! - [`series`]: stored hourly values → the averages each scheme's report needs.
//! - [`alert`]: when an alert is raised and cleared (threshold, hysteresis, quiet period).
//! - [`report`]: [`AqiReport::compute`], the entry point that turns an [`AqiInput`] into what the API returns.
//!
//! Invariants:
//! - Index arithmetic is integer arithmetic on exact fractions; `f64` appears only in [`Concentration::from_f64`] (parsing) and [`Concentration::to_f64`] (display).
//! - Breakpoint tables are data, one per standard and column; a scheme id goes with every computed index.
//! - A missing or invalid value is a [`NoValue`] with a reason, never zero and never a guessed index.

pub mod alert;
pub mod average;
mod big;
mod china;
pub mod concentration;
pub mod iaqi;
pub mod level;
pub mod pollutant;
pub mod report;
pub mod scheme;
pub mod series;
mod us;

pub use average::{NoValue, Reading, ValidityRule};
pub use concentration::{Concentration, ConcentrationError, ConversionError};
pub use iaqi::IaqiOutcome;
pub use level::{Category, Colour, SensitiveGroups};
pub use pollutant::{Averaging, Indicator, Pollutant, Unit, UnknownCode};
pub use report::{AqiInput, AqiReport, AqiStatus, SubIndex, SubIndexStatus};
pub use scheme::{IndicatorSpec, InputRounding, ReportPeriod, Scheme, UnknownScheme};

#[cfg(test)]
mod reference_tests;
