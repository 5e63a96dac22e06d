//! United States: the AQI breakpoints and rules of the EPA Technical Assistance Document of May 2024 (EPA-454/B-24-002).
//!
//! The procedure truncates the concentration to the table's precision, interpolates and rounds half up.
//! After truncation every value lands inside a row (the gaps such as 9.0/9.1 are one truncation unit wide), so everything runs in integers.
//! Gases are in ppm (O3, CO) and ppb (SO2, NO2), not in μg/m³.

use crate::domain::concentration::Concentration;
use crate::domain::iaqi::IaqiOutcome;
use crate::domain::pollutant::{Averaging, Pollutant, Window};

/// One row of a US breakpoint table, concentrations in units of 10^(−decimals).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Row {
    pub(crate) lo: u32,
    pub(crate) hi: u32,
    pub(crate) i_lo: u16,
    pub(crate) i_hi: u16,
}

/// What a value above the last row means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Above {
    /// Extend the last (301–500) row's slope: "Beyond the AQI".
    Extrapolate,
    /// The index comes from another averaging period (O3 8h above 0.200 ppm, SO2 1h above 304 ppb).
    Substitute,
}

/// A breakpoint table: the truncation precision, the rows and the rule above the last row.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Table {
    pub(crate) decimals: u32,
    pub(crate) rows: &'static [Row],
    pub(crate) above: Above,
}

const fn row(lo: u32, hi: u32, i_lo: u16, i_hi: u16) -> Row {
    Row { lo, hi, i_lo, i_hi }
}

/// O3 8-hour, ppm (thousandths).
pub(crate) const O3_8H: Table = Table {
    decimals: 3,
    rows: &[
        row(0, 54, 0, 50),
        row(55, 70, 51, 100),
        row(71, 85, 101, 150),
        row(86, 105, 151, 200),
        row(106, 200, 201, 300),
    ],
    above: Above::Substitute,
};

/// O3 1-hour, ppm (thousandths); defined only from 0.125 ppm.
pub(crate) const O3_1H: Table = Table {
    decimals: 3,
    rows: &[row(125, 164, 101, 150), row(165, 204, 151, 200), row(205, 404, 201, 300), row(405, 604, 301, 500)],
    above: Above::Extrapolate,
};

/// PM2.5 24-hour, μg/m³ (tenths); the 2024 table.
pub(crate) const PM25_24H: Table = Table {
    decimals: 1,
    rows: &[
        row(0, 90, 0, 50),
        row(91, 354, 51, 100),
        row(355, 554, 101, 150),
        row(555, 1254, 151, 200),
        row(1255, 2254, 201, 300),
        row(2255, 3254, 301, 500),
    ],
    above: Above::Extrapolate,
};

/// PM10 24-hour, μg/m³.
pub(crate) const PM10_24H: Table = Table {
    decimals: 0,
    rows: &[
        row(0, 54, 0, 50),
        row(55, 154, 51, 100),
        row(155, 254, 101, 150),
        row(255, 354, 151, 200),
        row(355, 424, 201, 300),
        row(425, 604, 301, 500),
    ],
    above: Above::Extrapolate,
};

/// CO 8-hour, ppm (tenths).
pub(crate) const CO_8H: Table = Table {
    decimals: 1,
    rows: &[
        row(0, 44, 0, 50),
        row(45, 94, 51, 100),
        row(95, 124, 101, 150),
        row(125, 154, 151, 200),
        row(155, 304, 201, 300),
        row(305, 504, 301, 500),
    ],
    above: Above::Extrapolate,
};

/// SO2 1-hour, ppb; defines the index only up to 200.
pub(crate) const SO2_1H: Table = Table {
    decimals: 0,
    rows: &[row(0, 35, 0, 50), row(36, 75, 51, 100), row(76, 185, 101, 150), row(186, 304, 151, 200)],
    above: Above::Substitute,
};

/// SO2 24-hour, ppb; defines the index only from 201.
pub(crate) const SO2_24H: Table =
    Table { decimals: 0, rows: &[row(305, 604, 201, 300), row(605, 1004, 301, 500)], above: Above::Extrapolate };

/// NO2 1-hour, ppb.
pub(crate) const NO2_1H: Table = Table {
    decimals: 0,
    rows: &[
        row(0, 53, 0, 50),
        row(54, 100, 51, 100),
        row(101, 360, 101, 150),
        row(361, 649, 151, 200),
        row(650, 1249, 201, 300),
        row(1250, 2049, 301, 500),
    ],
    above: Above::Extrapolate,
};

/// Truncation places per pollutant (step 1 of the procedure).
pub(crate) fn decimals(pollutant: Pollutant) -> u32 {
    match pollutant {
        Pollutant::O3 => 3,
        Pollutant::Pm25 | Pollutant::Co => 1,
        Pollutant::Pm10 | Pollutant::So2 | Pollutant::No2 => 0,
    }
}

/// The table for a pollutant and averaging period, if the TAD defines one.
pub(crate) fn table(pollutant: Pollutant, averaging: Averaging) -> Option<&'static Table> {
    use Pollutant::*;
    use Window::*;
    match (pollutant, averaging.window()) {
        (O3, EightHours) => Some(&O3_8H),
        (O3, OneHour) => Some(&O3_1H),
        (Pm25, TwentyFourHours | NowCast) => Some(&PM25_24H),
        (Pm10, TwentyFourHours | NowCast) => Some(&PM10_24H),
        (Co, EightHours) => Some(&CO_8H),
        (So2, OneHour) => Some(&SO2_1H),
        (So2, TwentyFourHours) => Some(&SO2_24H),
        (No2, OneHour) => Some(&NO2_1H),
        _ => None,
    }
}

/// The sub-index of a concentration; it is truncated here, whatever precision it arrives with.
pub(crate) fn iaqi(pollutant: Pollutant, averaging: Averaging, c: Concentration) -> IaqiOutcome {
    let Some(table) = table(pollutant, averaging) else {
        return IaqiOutcome::NotDefined;
    };
    let units = c.scaled_floor(table.decimals);
    let (Some(first), Some(last)) = (table.rows.first(), table.rows.last()) else {
        return IaqiOutcome::NotDefined;
    };
    if units < u128::from(first.lo) {
        return IaqiOutcome::BelowTable;
    }
    if units > u128::from(last.hi) {
        return match table.above {
            Above::Substitute => IaqiOutcome::Substitute,
            Above::Extrapolate => IaqiOutcome::AboveScale(interpolate(last, units)),
        };
    }
    // Truncation puts the value in a row; the `lo` check only guards a table with a gap.
    match table.rows.iter().find(|r| units <= u128::from(r.hi) && units >= u128::from(r.lo)) {
        Some(row) => IaqiOutcome::Value(interpolate(row, units)),
        None => IaqiOutcome::NotDefined,
    }
}

/// I = I_lo + (I_hi − I_lo)(C − BP_lo)/(BP_hi − BP_lo), rounded half up, for C ≥ BP_lo (also beyond BP_hi).
fn interpolate(row: &Row, units: u128) -> u16 {
    let rise = u128::from(row.i_hi - row.i_lo) * (units - u128::from(row.lo));
    let run = u128::from(row.hi - row.lo);
    // ⌊x + ½⌋ = ⌊(2·rise + run) / (2·run)⌋.
    let value = u128::from(row.i_lo) + (2 * rise + run) / (2 * run);
    u16::try_from(value).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [(&str, &Table); 8] = [
        ("O3 8h", &O3_8H),
        ("O3 1h", &O3_1H),
        ("PM2.5", &PM25_24H),
        ("PM10", &PM10_24H),
        ("CO 8h", &CO_8H),
        ("SO2 1h", &SO2_1H),
        ("SO2 24h", &SO2_24H),
        ("NO2 1h", &NO2_1H),
    ];

    #[test]
    fn rows_are_contiguous_after_truncation_so_every_value_lands_in_a_row() {
        for (name, table) in ALL {
            for pair in table.rows.windows(2) {
                assert_eq!(pair[1].lo, pair[0].hi + 1, "{name}: concentration gap");
                assert_eq!(pair[1].i_lo, pair[0].i_hi + 1, "{name}: index gap");
            }
            for row in table.rows {
                assert!(row.lo < row.hi && row.i_lo < row.i_hi, "{name}");
            }
        }
    }

    #[test]
    fn the_truncation_precision_matches_each_pollutants_table() {
        for (pollutant, averaging) in [
            (Pollutant::O3, Averaging::EightHourMoving),
            (Pollutant::O3, Averaging::OneHour),
            (Pollutant::Pm25, Averaging::Day),
            (Pollutant::Pm10, Averaging::Day),
            (Pollutant::Co, Averaging::EightHourMoving),
            (Pollutant::So2, Averaging::OneHour),
            (Pollutant::So2, Averaging::Day),
            (Pollutant::No2, Averaging::OneHour),
        ] {
            let table = table(pollutant, averaging).expect("defined");
            assert_eq!(table.decimals, decimals(pollutant), "{pollutant}");
        }
    }
}
