//! The index report: sub-indices of a report's indicators, the index, its level, primary pollutants and what is missing.
//!
//! [`AqiReport::compute`] is the entry point: give it a scheme, a report period and an [`AqiInput`] holding the averaged concentrations.
//! The report is plain data meant to map one-to-one onto the HTTP response.

use std::collections::{BTreeMap, BTreeSet};

use crate::domain::average::{NoValue, Reading};
use crate::domain::concentration::Concentration;
use crate::domain::iaqi::IaqiOutcome;
use crate::domain::level::{Category, SensitiveGroups};
use crate::domain::pollutant::{Averaging, Indicator, Pollutant, Unit};
use crate::domain::scheme::{IndicatorSpec, InputRounding, ReportPeriod, Scheme};

/// The averaged concentrations a report is computed from, each in the unit of the scheme that will read it ([`Scheme::unit`]).
///
/// Anything not inserted counts as [`NoValue::NotReported`]; extra indicators that the report does not use are ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AqiInput {
    readings: BTreeMap<Indicator, Reading>,
    not_monitored: BTreeSet<Pollutant>,
    rounding: InputRounding,
}

/// How complete the index of a report is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AqiStatus {
    /// Every required indicator had a value.
    Complete,
    /// Some required indicators had no value; the index is the maximum of the others and [`AqiReport::missing`] lists the rest.
    Partial,
    /// HJ 633-2026 clause 5.3: with indicators missing, an index of 100 or less is not published; only the sub-indices are ("NA").
    Withheld,
    /// No indicator had a value.
    NoData,
}

/// The sub-index of one indicator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubIndex {
    /// The pollutant.
    pub pollutant: Pollutant,
    /// The averaging period.
    pub averaging: Averaging,
    /// The unit of [`SubIndex::concentration`].
    pub unit: Unit,
    /// The concentration as used: rounded to the published precision (China) or truncated (US); `None` when there was no value.
    pub concentration: Option<Concentration>,
    /// The sub-index (IAQI); `None` when there is none.
    pub iaqi: Option<u16>,
    /// How the sub-index was found, or why there is none.
    pub status: SubIndexStatus,
}

/// How a sub-index was found, or why there is none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubIndexStatus {
    /// Interpolated in the breakpoint table.
    Computed,
    /// Above the top breakpoint: capped at 500 (China) or extrapolated beyond 500 (US).
    AboveScale,
    /// Fixed by a rule: HJ 633-2026 SO2 1-hour above 800 μg/m³ → 200, O3 8-hour above 800 μg/m³ → 300; US SO2 1-hour ≥ 305 ppb with the 24-hour mean below 305 ppb → 200.
    Fixed,
    /// The value was above its table, so the standard takes the index from another averaging period of the same pollutant.
    Substituted {
        /// The averaging period used instead.
        averaging: Averaging,
        /// Its concentration as used.
        concentration: Concentration,
        /// Whether that value was itself above its table.
        above_scale: bool,
    },
    /// The value defines no index and is ignored: US O3 1-hour below 0.125 ppm.
    Ignored,
    /// There was no value.
    Missing(NoValue),
    /// The value was above its table and the averaging period the standard switches to has no usable value (HJ 633-2012 says not to invent one).
    SubstituteMissing {
        /// The averaging period that was needed.
        averaging: Averaging,
        /// Why it had no usable value.
        reason: NoValue,
    },
}

/// The index of one station or area for one hour or day, with everything needed to show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AqiReport {
    /// The scheme used.
    pub scheme: Scheme,
    /// Hourly (real-time) or daily report.
    pub period: ReportPeriod,
    /// How complete the index is.
    pub status: AqiStatus,
    /// The index (maximum sub-index); `None` when withheld or without data ("NA").
    pub aqi: Option<u16>,
    /// The level, names, colour and advice for [`AqiReport::aqi`]; `None` exactly when the index is.
    pub category: Option<&'static Category>,
    /// The pollutants whose sub-index equals the index, in the stable pollutant order (ties list all).
    /// China names them only above 50 (首要污染物); the US names the responsible pollutant at any index.
    pub primary_pollutants: Vec<Pollutant>,
    /// HJ 633-2012 only: pollutants with a sub-index above 100 (超标污染物); `None` under schemes that do not define them.
    pub non_attainment_pollutants: Option<Vec<Pollutant>>,
    /// Whether any sub-index is off the scale: capped at 500 (China) or beyond 500 (US).
    pub above_scale: bool,
    /// One entry per indicator of the report, in [`Scheme::indicators`] order.
    pub sub_indices: Vec<SubIndex>,
    /// Required indicators without a sub-index (pollutants declared not monitored are not listed).
    pub missing: Vec<Indicator>,
    /// HJ 633-2026 only: the sensitive groups of each pollutant whose sub-index is above 100.
    pub sensitive_groups: Vec<&'static SensitiveGroups>,
}

impl AqiInput {
    /// An empty input that rounds Chinese-scheme values to the published precision.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a concentration (builder style).
    pub fn with(mut self, pollutant: Pollutant, averaging: Averaging, value: Concentration) -> Self {
        self.insert(pollutant, averaging, Ok(value));
        self
    }

    /// Adds a value or the reason there is none, e.g. straight from [`crate::domain::average::daily_mean`] (builder style).
    pub fn with_reading(mut self, pollutant: Pollutant, averaging: Averaging, reading: Reading) -> Self {
        self.insert(pollutant, averaging, reading);
        self
    }

    /// Declares a pollutant not monitored by design ("/"): its indicators do not count as missing.
    ///
    /// Under HJ 633-2026 this is only right when the pollutant is outside the monitoring plan and was never the primary pollutant on a lightly-or-worse polluted day in the last three years; the caller decides that.
    pub fn with_not_monitored(mut self, pollutant: Pollutant) -> Self {
        self.not_monitored.insert(pollutant);
        self
    }

    /// Chooses how Chinese-scheme values are rounded before the table lookup (builder style).
    pub fn with_rounding(mut self, rounding: InputRounding) -> Self {
        self.rounding = rounding;
        self
    }

    /// Sets a value or the reason there is none, replacing any earlier one.
    pub fn insert(&mut self, pollutant: Pollutant, averaging: Averaging, reading: Reading) {
        self.readings.insert(Indicator::new(pollutant, averaging), reading);
    }

    /// The value for an indicator, or why there is none.
    pub fn reading(&self, pollutant: Pollutant, averaging: Averaging) -> Reading {
        if self.not_monitored.contains(&pollutant) {
            return Err(NoValue::NotMonitored);
        }
        self.readings.get(&Indicator::new(pollutant, averaging)).copied().unwrap_or(Err(NoValue::NotReported))
    }

    /// The input rounding in effect.
    pub fn rounding(&self) -> InputRounding {
        self.rounding
    }
}

impl AqiReport {
    /// Computes the report of `scheme` for `period` from `input`.
    ///
    /// The index is the maximum sub-index over [`Scheme::indicators`]; missing indicators are left out of the maximum and listed, and under HJ 633-2026 an incomplete index of 100 or less is withheld.
    pub fn compute(scheme: Scheme, period: ReportPeriod, input: &AqiInput) -> Self {
        let specs = scheme.indicators(period);
        let sub_indices: Vec<SubIndex> = specs.iter().map(|spec| sub_index(scheme, spec, input)).collect();
        let missing: Vec<Indicator> = specs
            .iter()
            .zip(&sub_indices)
            .filter(|(spec, s)| spec.required && s.is_missing())
            .map(|(spec, _)| spec.indicator)
            .collect();
        let highest = sub_indices.iter().filter_map(|s| s.iaqi).max();
        let status = match highest {
            None => AqiStatus::NoData,
            Some(_) if missing.is_empty() => AqiStatus::Complete,
            Some(aqi) if aqi <= 100 && scheme.withholds_low_partial_index() => AqiStatus::Withheld,
            Some(_) => AqiStatus::Partial,
        };
        let aqi = match status {
            AqiStatus::Complete | AqiStatus::Partial => highest,
            AqiStatus::Withheld | AqiStatus::NoData => None,
        };
        let pollutants_where = |keep: &dyn Fn(u16) -> bool| -> Vec<Pollutant> {
            let mut out: Vec<Pollutant> =
                sub_indices.iter().filter(|s| s.iaqi.is_some_and(keep)).map(|s| s.pollutant).collect();
            out.sort();
            out.dedup();
            out
        };
        let primary_pollutants = match (aqi, scheme.primary_pollutant_threshold()) {
            (Some(aqi), Some(threshold)) if aqi <= threshold => Vec::new(),
            (Some(aqi), _) => pollutants_where(&|v| v == aqi),
            (None, _) => Vec::new(),
        };
        let non_attainment_pollutants =
            (scheme.defines_non_attainment() && aqi.is_some()).then(|| pollutants_where(&|v| v > 100));
        let sensitive_groups = if aqi.is_some() {
            pollutants_where(&|v| v > 100).into_iter().filter_map(|p| scheme.sensitive_groups(p)).collect()
        } else {
            Vec::new()
        };
        Self {
            scheme,
            period,
            status,
            aqi,
            category: aqi.map(|v| scheme.category(v)),
            primary_pollutants,
            non_attainment_pollutants,
            above_scale: sub_indices.iter().any(SubIndex::is_above_scale),
            sub_indices,
            missing,
            sensitive_groups,
        }
    }

    /// One sub-index per pollutant, in the stable pollutant order: the highest of the pollutant's indicators (O3 has two under HJ 633-2012 and the US scheme), `None` when none has one.
    pub fn iaqi_by_pollutant(&self) -> Vec<(Pollutant, Option<u16>)> {
        Pollutant::ALL
            .into_iter()
            .filter(|p| self.sub_indices.iter().any(|s| s.pollutant == *p))
            .map(|p| (p, self.sub_indices.iter().filter(|s| s.pollutant == p).filter_map(|s| s.iaqi).max()))
            .collect()
    }

    /// The sub-index of one indicator of the report, if the report uses it.
    pub fn sub_index(&self, pollutant: Pollutant, averaging: Averaging) -> Option<&SubIndex> {
        self.sub_indices.iter().find(|s| s.pollutant == pollutant && s.averaging == averaging)
    }
}

impl SubIndex {
    /// The pollutant and averaging period.
    pub fn indicator(&self) -> Indicator {
        Indicator::new(self.pollutant, self.averaging)
    }

    /// Whether the sub-index is off the scale, directly or through the value substituted for it.
    pub fn is_above_scale(&self) -> bool {
        matches!(self.status, SubIndexStatus::AboveScale | SubIndexStatus::Substituted { above_scale: true, .. })
    }

    /// Whether the indicator lacks a sub-index for want of data (not monitored by design and ignored values do not count).
    pub fn is_missing(&self) -> bool {
        match self.status {
            SubIndexStatus::Missing(NoValue::NotMonitored) => false,
            SubIndexStatus::Missing(_) | SubIndexStatus::SubstituteMissing { .. } => true,
            _ => false,
        }
    }
}

impl AqiStatus {
    /// A stable code: `complete`, `partial`, `withheld`, `no_data`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Partial => "partial",
            Self::Withheld => "withheld",
            Self::NoData => "no_data",
        }
    }
}

impl SubIndexStatus {
    /// A stable code: `computed`, `above_scale`, `fixed`, `substituted`, `ignored`, `missing`, `substitute_missing`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Computed => "computed",
            Self::AboveScale => "above_scale",
            Self::Fixed => "fixed",
            Self::Substituted { .. } => "substituted",
            Self::Ignored => "ignored",
            Self::Missing(_) => "missing",
            Self::SubstituteMissing { .. } => "substitute_missing",
        }
    }
}

fn sub_index(scheme: Scheme, spec: &IndicatorSpec, input: &AqiInput) -> SubIndex {
    let Indicator { pollutant, averaging } = spec.indicator;
    let make = |concentration, iaqi, status| SubIndex {
        pollutant,
        averaging,
        unit: scheme.unit(pollutant),
        concentration,
        iaqi,
        status,
    };
    let value = match input.reading(pollutant, averaging) {
        Ok(value) => scheme.normalise(pollutant, value, input.rounding()),
        Err(reason) => return make(None, None, SubIndexStatus::Missing(reason)),
    };
    let used = Some(value);
    match scheme.iaqi_with(pollutant, averaging, value, input.rounding()) {
        IaqiOutcome::Value(v) => make(used, Some(v), SubIndexStatus::Computed),
        IaqiOutcome::AboveScale(v) => make(used, Some(v), SubIndexStatus::AboveScale),
        IaqiOutcome::Fixed(v) => make(used, Some(v), SubIndexStatus::Fixed),
        IaqiOutcome::BelowTable => make(used, None, SubIndexStatus::Ignored),
        IaqiOutcome::NotDefined => make(used, None, SubIndexStatus::Missing(NoValue::NotApplicable)),
        IaqiOutcome::Substitute => {
            let (iaqi, status) = substitute(scheme, spec, input);
            make(used, iaqi, status)
        }
    }
}

/// The sub-index taken from the averaging period the standard switches to.
fn substitute(scheme: Scheme, spec: &IndicatorSpec, input: &AqiInput) -> (Option<u16>, SubIndexStatus) {
    let pollutant = spec.indicator.pollutant;
    let Some(averaging) = spec.substitute else {
        return (None, SubIndexStatus::Missing(NoValue::NotApplicable));
    };
    let missing = |reason| {
        let status = SubIndexStatus::SubstituteMissing { averaging, reason };
        (None, status)
    };
    let value = match input.reading(pollutant, averaging) {
        Ok(value) => scheme.normalise(pollutant, value, input.rounding()),
        Err(reason) => return missing(reason),
    };
    let substituted = |above_scale| SubIndexStatus::Substituted { averaging, concentration: value, above_scale };
    match scheme.iaqi_with(pollutant, averaging, value, input.rounding()) {
        IaqiOutcome::Value(v) | IaqiOutcome::Fixed(v) => (Some(v), substituted(false)),
        IaqiOutcome::AboveScale(v) => (Some(v), substituted(true)),
        IaqiOutcome::BelowTable => match spec.substitute_below_table {
            Some(fixed) => (Some(fixed), SubIndexStatus::Fixed),
            None => missing(NoValue::OutsideTable),
        },
        IaqiOutcome::Substitute | IaqiOutcome::NotDefined => missing(NoValue::NotApplicable),
    }
}
