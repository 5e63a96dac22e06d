//! From stored hourly values to an [`AqiInput`]: the averages each scheme's report needs.
//!
//! Stations send 1-hour means in the Chinese standard's units (CO in mg/m³, the rest in μg/m³);
//! this module converts them to the scheme's unit and derives the moving means, NowCast and daily
//! values with the validity rules of [`crate::domain::average`]. A missing hour is `None`.

use crate::domain::average::{self, NoValue, Reading};
use crate::domain::concentration::Concentration;
use crate::domain::pollutant::{Averaging, Pollutant};
use crate::domain::report::AqiInput;
use crate::domain::scheme::Scheme;

/// Hourly values of the six pollutants over consecutive hours, oldest first, the last being the hour reported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HourlySeries {
    /// One vector per pollutant in [`Pollutant::ALL`] order, all of the same length.
    values: [Vec<Option<Concentration>>; 6],
}

impl HourlySeries {
    /// `hours` empty hours for every pollutant.
    pub fn empty(hours: usize) -> Self {
        Self { values: std::array::from_fn(|_| vec![None; hours]) }
    }

    /// How many hours the series holds.
    pub fn len(&self) -> usize {
        self.values[0].len()
    }

    /// Whether it holds no hours.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sets the value of `pollutant` at hour `index` (0 = oldest); out-of-range indices are ignored.
    pub fn set(&mut self, pollutant: Pollutant, index: usize, value: Concentration) {
        if let Some(slot) = self.values[slot_of(pollutant)].get_mut(index) {
            *slot = Some(value);
        }
    }

    /// The values of one pollutant, oldest first.
    pub fn of(&self, pollutant: Pollutant) -> &[Option<Concentration>] {
        &self.values[slot_of(pollutant)]
    }

    /// The first `len` hours ending at `end` (exclusive), i.e. the series as it was at hour `end - 1`.
    pub fn ending_at(&self, end: usize) -> HourlySeries {
        Self { values: std::array::from_fn(|i| self.values[i][..end.min(self.values[i].len())].to_vec()) }
    }

    /// Whether the last hour has a value for any pollutant.
    pub fn has_last_hour(&self) -> bool {
        self.values.iter().any(|v| v.last().is_some_and(Option::is_some))
    }

    /// The per-hour arithmetic mean of several series of the same length (district and city values: the mean
    /// concentration over the stations that reported that hour, as HJ 663 averages a city's stations).
    pub fn mean_of(series: &[&HourlySeries]) -> HourlySeries {
        let hours = series.first().map_or(0, |s| s.len());
        let mut out = HourlySeries::empty(hours);
        for p in Pollutant::ALL {
            for h in 0..hours {
                let present: Vec<Concentration> =
                    series.iter().filter_map(|s| s.of(p).get(h).copied().flatten()).collect();
                if let Some(mean) = Concentration::mean(&present) {
                    out.set(p, h, mean);
                }
            }
        }
        out
    }
}

fn slot_of(pollutant: Pollutant) -> usize {
    Pollutant::ALL.iter().position(|p| *p == pollutant).unwrap_or(0)
}

/// The values of `pollutant` in `scheme`'s unit (the US scheme reads gases as ppm/ppb).
fn in_scheme_unit(
    scheme: Scheme,
    pollutant: Pollutant,
    values: &[Option<Concentration>],
) -> Vec<Option<Concentration>> {
    let (from, to) = (pollutant.unit(), scheme.unit(pollutant));
    if from == to {
        return values.to_vec();
    }
    values.iter().map(|v| v.and_then(|v| v.convert(pollutant, from, to).ok())).collect()
}

/// The input of the hourly (real-time) report for the last hour of `series`.
pub fn hourly_input(scheme: Scheme, series: &HourlySeries) -> AqiInput {
    let mut input = AqiInput::new();
    for p in Pollutant::ALL {
        let values = in_scheme_unit(scheme, p, series.of(p));
        let last: Reading = values.last().copied().flatten().ok_or(NoValue::NotReported);
        input.insert(p, Averaging::OneHour, last);
        input.insert(p, Averaging::EightHourMoving, average::moving_mean_8h(&values));
        input.insert(p, Averaging::TwentyFourHourMoving, average::moving_mean_24h(&values));
        if matches!(p, Pollutant::Pm25 | Pollutant::Pm10) {
            input.insert(p, Averaging::NowCast, average::nowcast(p, &values));
        }
    }
    input
}

/// The input of the daily report from one calendar day's 24 hourly values per pollutant (hour 1 … 24).
pub fn daily_input(scheme: Scheme, day: &HourlySeries) -> AqiInput {
    let mut input = AqiInput::new();
    for p in Pollutant::ALL {
        let values = in_scheme_unit(scheme, p, day.of(p));
        let mut hours: [Option<Concentration>; 24] = [None; 24];
        for (slot, v) in hours.iter_mut().zip(values) {
            *slot = v;
        }
        input.insert(p, Averaging::Day, average::daily_mean(&hours));
        input.insert(p, Averaging::DayMaxOneHour, average::daily_max_1h(&hours));
        input.insert(p, Averaging::DayMaxEightHour, average::daily_max_8h(&hours));
    }
    input
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::{AqiReport, AqiStatus};
    use crate::domain::scheme::ReportPeriod;

    fn c(text: &str) -> Concentration {
        Concentration::parse(text).unwrap()
    }

    fn full_hour(series: &mut HourlySeries, index: usize, pm25: &str) {
        series.set(Pollutant::Pm25, index, c(pm25));
        series.set(Pollutant::Pm10, index, c("40"));
        series.set(Pollutant::So2, index, c("5"));
        series.set(Pollutant::No2, index, c("20"));
        series.set(Pollutant::Co, index, c("0.6"));
        series.set(Pollutant::O3, index, c("60"));
    }

    #[test]
    fn the_2026_hourly_index_uses_the_last_hour_of_each_pollutant() {
        let mut s = HourlySeries::empty(24);
        full_hour(&mut s, 23, "80");
        let report = AqiReport::compute(Scheme::Cn2026, ReportPeriod::Hourly, &hourly_input(Scheme::Cn2026, &s));
        // HJ 633-2026 reads 1-hour PM2.5 on the daily table: 100 + 50 × (80 − 60) / (115 − 60) = 118.2, rounded up.
        assert_eq!(report.status, AqiStatus::Complete);
        assert_eq!(report.aqi, Some(119));
        assert_eq!(report.primary_pollutants, vec![Pollutant::Pm25]);
    }

    #[test]
    fn the_2012_hourly_index_has_no_particulate_value_without_20_hours() {
        let mut s = HourlySeries::empty(24);
        for h in 5..24 {
            full_hour(&mut s, h, "80");
        }
        let report = AqiReport::compute(Scheme::Cn2012, ReportPeriod::Hourly, &hourly_input(Scheme::Cn2012, &s));
        assert!(report.missing.iter().any(|i| i.pollutant == Pollutant::Pm25), "19 hours are too few: {report:?}");
        full_hour(&mut s, 4, "80");
        let report = AqiReport::compute(Scheme::Cn2012, ReportPeriod::Hourly, &hourly_input(Scheme::Cn2012, &s));
        // HJ 633-2012, 24-hour PM2.5 of 80: 100 + 50 × 5 / 40 = 106.25, rounded up.
        assert_eq!(report.status, AqiStatus::Complete);
        assert_eq!(report.aqi, Some(107));
    }

    #[test]
    fn the_us_scheme_reads_gases_in_ppb_and_ppm_and_particulates_by_nowcast() {
        let mut s = HourlySeries::empty(24);
        for h in 0..24 {
            full_hour(&mut s, h, "35.5");
        }
        let report = AqiReport::compute(Scheme::Us, ReportPeriod::Hourly, &hourly_input(Scheme::Us, &s));
        // Constant PM2.5 of 35.5 μg/m³ has a NowCast of 35.5, the bottom of the 101-150 band.
        assert_eq!(report.aqi, Some(101));
        assert_eq!(report.primary_pollutants, vec![Pollutant::Pm25]);
    }

    #[test]
    fn a_daily_mean_needs_20_hours() {
        let mut day = HourlySeries::empty(24);
        for h in 0..19 {
            full_hour(&mut day, h, "30");
        }
        let report = AqiReport::compute(Scheme::Cn2026, ReportPeriod::Daily, &daily_input(Scheme::Cn2026, &day));
        // The daily means are missing; O3's daily maximum 8-hour mean has its 14 windows, and an
        // incomplete index of 100 or less is withheld under HJ 633-2026.
        assert_eq!(report.status, AqiStatus::Withheld);
        assert!(report.missing.iter().any(|i| i.code() == "pm25_day"), "{:?}", report.missing);
        full_hour(&mut day, 19, "30");
        let report = AqiReport::compute(Scheme::Cn2026, ReportPeriod::Daily, &daily_input(Scheme::Cn2026, &day));
        assert!(report.aqi.is_some(), "20 hours make a day: {report:?}");
    }

    #[test]
    fn a_district_value_is_the_mean_concentration_of_its_stations_per_hour() {
        let (mut a, mut b) = (HourlySeries::empty(2), HourlySeries::empty(2));
        a.set(Pollutant::Pm25, 1, c("10"));
        b.set(Pollutant::Pm25, 1, c("21"));
        b.set(Pollutant::Pm25, 0, c("7"));
        let mean = HourlySeries::mean_of(&[&a, &b]);
        assert_eq!(mean.of(Pollutant::Pm25), &[Some(c("7")), Some(c("15.5"))]);
        assert_eq!(mean.of(Pollutant::Co), &[None, None]);
    }
}
