//! What one breakpoint table says about one concentration: the vocabulary both standards' tables
//! (`china` and `us`) answer in, and that [`Scheme`](super::Scheme)
//! composes. It sits below all three so the tables never import the scheme that uses them.

/// What the breakpoint table of a scheme says about one concentration on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IaqiOutcome {
    /// Interpolated within the table.
    Value(u16),
    /// Above the table's top breakpoint: 500 under the Chinese schemes (capped, never extrapolated); the top segment extended under the US scheme ("Beyond the AQI", may exceed 500).
    AboveScale(u16),
    /// Fixed by a rule of the standard: HJ 633-2026 SO2 1-hour above 800 μg/m³ is 200 and O3 8-hour above 800 μg/m³ is 300.
    Fixed(u16),
    /// The standard takes this pollutant's index from another averaging period instead (HJ 633-2012 SO2 1-hour above 800 → 24-hour; HJ 633-2012 O3 8-hour above 800 → 1-hour; US O3 8-hour above 0.200 ppm → 1-hour; US SO2 1-hour above 304 ppb → 24-hour).
    /// [`IndicatorSpec::substitute`](super::IndicatorSpec::substitute) names the period for each report.
    Substitute,
    /// Below the range where this table defines an index: US O3 1-hour under 0.125 ppm (ignored), US SO2 24-hour under 305 ppb.
    BelowTable,
    /// The scheme has no breakpoints for this pollutant and averaging period (e.g. PM2.5 1-hour under HJ 633-2012, CO 1-hour in the US).
    NotDefined,
}

impl IaqiOutcome {
    /// The sub-index, when this outcome gives one by itself.
    pub fn value(self) -> Option<u16> {
        match self {
            Self::Value(v) | Self::AboveScale(v) | Self::Fixed(v) => Some(v),
            Self::Substitute | Self::BelowTable | Self::NotDefined => None,
        }
    }
}
