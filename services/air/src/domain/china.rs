//! China: the IAQI breakpoint tables and above-table rules of HJ 633-2012 and HJ 633-2026.
//!
//! Both versions share every column except PM10 and PM2.5, whose IAQI-100 points moved to the GB 3095-2026 transition Grade II daily limits (120 and 60 μg/m³).
//! Sub-indices are rounded up (ceiling, clause 6.2 of 2012 and 4.2.6 of 2026) and computed in integers, never in floating point.

use crate::domain::concentration::Concentration;
use crate::domain::iaqi::IaqiOutcome;
use crate::domain::pollutant::{Averaging, Pollutant, Window};

/// Which edition of HJ 633 applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    Hj2012,
    Hj2026,
}

/// The IAQI value at each breakpoint; a column's concentration breakpoints pair with these by position.
pub(crate) const IAQI_POINTS: [u16; 8] = [0, 50, 100, 150, 200, 300, 400, 500];

// Concentration breakpoints in μg/m³ (CO in mg/m³); HJ 633-2012 Table 1 and HJ 633-2026 Table 3.
const SO2_24H: &[u32] = &[0, 50, 150, 475, 800, 1600, 2100, 2620];
// The SO2 1-hour column stops at IAQI 200; above it a special rule applies.
const SO2_1H: &[u32] = &[0, 150, 500, 650, 800];
const NO2_24H: &[u32] = &[0, 40, 80, 180, 280, 565, 750, 940];
const NO2_1H: &[u32] = &[0, 100, 200, 700, 1200, 2340, 3090, 3840];
const CO_24H: &[u32] = &[0, 2, 4, 14, 24, 36, 48, 60];
const CO_1H: &[u32] = &[0, 5, 10, 35, 60, 90, 120, 150];
const O3_1H: &[u32] = &[0, 160, 200, 300, 400, 800, 1000, 1200];
// The O3 8-hour column stops at IAQI 300; above it a special rule applies.
const O3_8H: &[u32] = &[0, 100, 160, 215, 265, 800];
const PM10_24H_2012: &[u32] = &[0, 50, 150, 250, 350, 420, 500, 600];
const PM10_24H_2026: &[u32] = &[0, 50, 120, 250, 350, 420, 500, 600];
const PM25_24H_2012: &[u32] = &[0, 35, 75, 115, 150, 250, 350, 500];
const PM25_24H_2026: &[u32] = &[0, 35, 60, 115, 150, 250, 350, 500];

/// The breakpoint column for a pollutant and averaging period, if the version defines one.
pub(crate) fn breakpoints(version: Version, pollutant: Pollutant, averaging: Averaging) -> Option<&'static [u32]> {
    use Pollutant::*;
    use Window::*;
    let pm10 = match version {
        Version::Hj2012 => PM10_24H_2012,
        Version::Hj2026 => PM10_24H_2026,
    };
    let pm25 = match version {
        Version::Hj2012 => PM25_24H_2012,
        Version::Hj2026 => PM25_24H_2026,
    };
    match (pollutant, averaging.window()) {
        (So2, OneHour) => Some(SO2_1H),
        (So2, TwentyFourHours) => Some(SO2_24H),
        (No2, OneHour) => Some(NO2_1H),
        (No2, TwentyFourHours) => Some(NO2_24H),
        (Co, OneHour) => Some(CO_1H),
        (Co, TwentyFourHours) => Some(CO_24H),
        (O3, OneHour) => Some(O3_1H),
        (O3, EightHours) => Some(O3_8H),
        (Pm10, TwentyFourHours) => Some(pm10),
        (Pm25, TwentyFourHours) => Some(pm25),
        // 2026 reads 1-hour particulates on the daily table; 2012 gives them no IAQI.
        (Pm10, OneHour) if version == Version::Hj2026 => Some(pm10),
        (Pm25, OneHour) if version == Version::Hj2026 => Some(pm25),
        _ => None,
    }
}

/// The sub-index of a concentration that is already at the precision the caller chose.
pub(crate) fn iaqi(
    version: Version,
    pollutant: Pollutant,
    averaging: Averaging,
    concentration: Concentration,
) -> IaqiOutcome {
    let Some(breakpoints) = breakpoints(version, pollutant, averaging) else {
        return IaqiOutcome::NotDefined;
    };
    let (num, den) = concentration.ratio();
    let top = breakpoints.last().copied().unwrap_or(0);
    if num > u128::from(top) * den {
        return above_table(version, pollutant, averaging.window());
    }
    // Segments are continuous, so a value on a breakpoint gives the same index from either side.
    for (i, pair) in breakpoints.windows(2).enumerate() {
        let (lo, hi) = (u128::from(pair[0]), u128::from(pair[1]));
        if num <= hi * den {
            let (i_lo, i_hi) = (u128::from(IAQI_POINTS[i]), u128::from(IAQI_POINTS[i + 1]));
            // I = I_lo + ⌈(I_hi − I_lo)(C − BP_lo) / (BP_hi − BP_lo)⌉ with C = num/den.
            let rise = (i_hi - i_lo) * (num - lo * den);
            let run = (hi - lo) * den;
            return IaqiOutcome::Value(to_u16(i_lo + rise.div_ceil(run)));
        }
    }
    // Only reachable for a zero-width column, which the tables do not contain.
    IaqiOutcome::Value(0)
}

/// What the standard says about a value above a column's top breakpoint.
fn above_table(version: Version, pollutant: Pollutant, window: Window) -> IaqiOutcome {
    match (version, pollutant, window) {
        // 2012 footnote 2: take the SO2 index from the 24-hour value instead.
        // 2012 footnote 3: take the O3 index from the 1-hour value instead.
        (Version::Hj2012, Pollutant::So2, Window::OneHour) | (Version::Hj2012, Pollutant::O3, Window::EightHours) => {
            IaqiOutcome::Substitute
        }
        // 2026 fixes both instead of switching columns.
        (Version::Hj2026, Pollutant::So2, Window::OneHour) => IaqiOutcome::Fixed(200),
        (Version::Hj2026, Pollutant::O3, Window::EightHours) => IaqiOutcome::Fixed(300),
        // No formula above IAQI 500: publish 500 and never extrapolate.
        _ => IaqiOutcome::AboveScale(500),
    }
}

/// Sub-indices are at most 500 here, so the conversion never saturates.
fn to_u16(value: u128) -> u16 {
    u16::try_from(value).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_starts_at_zero_and_rises_strictly() {
        for version in [Version::Hj2012, Version::Hj2026] {
            for pollutant in Pollutant::ALL {
                for averaging in Averaging::ALL {
                    let Some(column) = breakpoints(version, pollutant, averaging) else {
                        continue;
                    };
                    assert_eq!(column.first(), Some(&0));
                    assert!(column.len() <= IAQI_POINTS.len());
                    assert!(column.windows(2).all(|w| w[0] < w[1]), "{pollutant} {averaging}");
                }
            }
        }
    }

    #[test]
    fn the_two_versions_differ_only_in_the_particulate_columns() {
        for pollutant in Pollutant::ALL {
            for averaging in [Averaging::OneHour, Averaging::EightHourMoving, Averaging::Day] {
                let old = breakpoints(Version::Hj2012, pollutant, averaging);
                let new = breakpoints(Version::Hj2026, pollutant, averaging);
                match (pollutant, averaging) {
                    (Pollutant::Pm10 | Pollutant::Pm25, Averaging::Day) => assert_ne!(old, new),
                    (Pollutant::Pm10 | Pollutant::Pm25, Averaging::OneHour) => {
                        assert_eq!(old, None);
                        assert_eq!(new, breakpoints(Version::Hj2026, pollutant, Averaging::Day));
                    }
                    _ => assert_eq!(old, new, "{pollutant} {averaging}"),
                }
            }
        }
    }
}
