//! Averages and their data-validity rules (GB 3095-2012 §8, unchanged in GB 3095-2026 Table 4; HJ 663-2013), and the US NowCast.
//!
//! Every function takes hourly (or minute, or daily) values in chronological order, oldest first, the last one being the current period, with `None` for a value that is missing or was flagged invalid.
//! Invalid values are left out, never counted as zero.
//! When too few values are valid the result is a [`NoValue`] that says which rule failed and by how much, never a number.
//! Means are exact (see [`Concentration::mean`]); rounding to the published precision happens when the index is computed.

use std::fmt;

use crate::domain::big::BigUint;
use crate::domain::concentration::{common_denominator, gcd, Concentration};
use crate::domain::pollutant::Pollutant;

/// A value for one indicator, or why there is none.
pub type Reading = Result<Concentration, NoValue>;

/// Why an indicator has no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoValue {
    /// Nothing was reported ("NA" in the standard's report tables).
    NotReported,
    /// A validity rule failed: fewer valid values than it requires.
    InsufficientData {
        /// The rule that failed.
        rule: ValidityRule,
        /// How many valid values there were.
        valid: u16,
        /// How many the rule requires.
        required: u16,
    },
    /// The pollutant is not in the station's monitoring plan ("/" in the standard's report tables).
    NotMonitored,
    /// The value lies where its table defines no index (US O3 1-hour below 0.125 ppm used in place of an 8-hour value above 0.200 ppm).
    OutsideTable,
    /// The average is not defined for this pollutant (NowCast of a gas).
    NotApplicable,
}

/// A data-validity rule for an average.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValidityRule {
    /// A 1-hour mean needs at least 45 minutes of sampling.
    HourlyMean,
    /// A calendar-day mean needs at least 20 hourly values.
    DailyMean,
    /// A 24-hour moving mean needs at least 20 of its 24 hourly values.
    MovingMean24h,
    /// An 8-hour moving mean needs at least 6 of its 8 hourly values.
    MovingMean8h,
    /// The O3 daily maximum 8-hour mean needs at least 14 valid 8-hour means among the day's 17, unless it already exceeds the Grade II limit of 160 μg/m³.
    DailyMax8h,
    /// The O3 daily maximum 1-hour value needs at least one valid hour.
    DailyMax1h,
    /// NowCast needs at least 2 of the 3 most recent hours.
    NowCast,
    /// An annual mean needs at least 324 daily values.
    AnnualMean,
    /// An annual mean needs at least 27 daily values in every month (25 in February).
    AnnualMeanMonth,
}

/// Minutes of sampling that make a valid 1-hour mean.
pub const MIN_MINUTES_PER_HOUR: usize = 45;
/// Hourly values that make a valid calendar-day mean or 24-hour moving mean.
pub const MIN_HOURS_PER_DAY: usize = 20;
/// Hourly values that make a valid 8-hour moving mean.
pub const MIN_HOURS_PER_8H: usize = 6;
/// Valid 8-hour means (of the day's 17) that make a valid daily maximum 8-hour mean.
pub const MIN_8H_MEANS_PER_DAY: usize = 14;
/// The O3 8-hour Grade II limit (GB 3095-2012 and GB 3095-2026), in μg/m³: a daily maximum above it stands even on incomplete data.
pub const O3_8H_GRADE_II_LIMIT: u16 = 160;
/// Daily values that make a valid annual mean.
pub const MIN_DAYS_PER_YEAR: usize = 324;
/// Daily values that every month except February needs for a valid annual mean.
pub const MIN_DAYS_PER_MONTH: usize = 27;
/// Daily values that February needs for a valid annual mean.
pub const MIN_DAYS_IN_FEBRUARY: usize = 25;

/// The mean of one clock hour from its minute values (the last 60 are used); valid with at least 45 of them.
pub fn hourly_mean(minute_values: &[Option<Concentration>]) -> Reading {
    mean_of_last(minute_values, 60, MIN_MINUTES_PER_HOUR, ValidityRule::HourlyMean)
}

/// The mean of a calendar day's 24 hourly values (00:00–01:00 first, local time); valid with at least 20 of them.
pub fn daily_mean(day: &[Option<Concentration>; 24]) -> Reading {
    mean_of_last(day, 24, MIN_HOURS_PER_DAY, ValidityRule::DailyMean)
}

/// The mean of the 24 hourly values ending at the current (last) hour; valid with at least 20 of them.
///
/// Fewer than 24 values count the absent older hours as missing.
pub fn moving_mean_24h(hours: &[Option<Concentration>]) -> Reading {
    mean_of_last(hours, 24, MIN_HOURS_PER_DAY, ValidityRule::MovingMean24h)
}

/// The mean of the 8 hourly values ending at the current (last) hour; valid with at least 6 of them.
///
/// Fewer than 8 values count the absent older hours as missing.
pub fn moving_mean_8h(hours: &[Option<Concentration>]) -> Reading {
    mean_of_last(hours, 8, MIN_HOURS_PER_8H, ValidityRule::MovingMean8h)
}

/// The highest valid hourly value of a calendar day (O3 daily maximum 1-hour).
pub fn daily_max_1h(day: &[Option<Concentration>; 24]) -> Reading {
    day.iter().flatten().copied().max().ok_or(NoValue::InsufficientData {
        rule: ValidityRule::DailyMax1h,
        valid: 0,
        required: 1,
    })
}

/// The highest 8-hour moving mean of a calendar day (O3 daily maximum 8-hour, HJ 663-2013).
///
/// The 17 windows ending at 08:00 … 24:00 lie inside the day; each needs 6 valid hours.
/// The maximum needs 14 valid windows, unless it already exceeds [`O3_8H_GRADE_II_LIMIT`] (judged at the published integer precision), because more data cannot undo an exceedance.
pub fn daily_max_8h(day: &[Option<Concentration>; 24]) -> Reading {
    let means: Vec<Concentration> = (8..=24).filter_map(|end| moving_mean_8h(&day[end - 8..end]).ok()).collect();
    let Some(max) = means.iter().copied().max() else {
        return Err(insufficient(ValidityRule::DailyMax8h, 0, MIN_8H_MEANS_PER_DAY));
    };
    let limit = Concentration::from_u16(O3_8H_GRADE_II_LIMIT);
    if means.len() >= MIN_8H_MEANS_PER_DAY || max.round_half_even(0) > limit {
        Ok(max)
    } else {
        Err(insufficient(ValidityRule::DailyMax8h, means.len(), MIN_8H_MEANS_PER_DAY))
    }
}

/// The annual mean from the daily values of each month, January first; valid with at least 324 days in all and 27 in every month (25 in February).
pub fn annual_mean(months: [&[Option<Concentration>]; 12]) -> Reading {
    for (index, days) in months.iter().enumerate() {
        let required = if index == 1 { MIN_DAYS_IN_FEBRUARY } else { MIN_DAYS_PER_MONTH };
        let valid = days.iter().flatten().count();
        if valid < required {
            return Err(insufficient(ValidityRule::AnnualMeanMonth, valid, required));
        }
    }
    let valid: Vec<Concentration> = months.iter().flat_map(|m| m.iter().flatten().copied()).collect();
    if valid.len() < MIN_DAYS_PER_YEAR {
        return Err(insufficient(ValidityRule::AnnualMean, valid.len(), MIN_DAYS_PER_YEAR));
    }
    Concentration::mean(&valid).ok_or(NoValue::NotApplicable)
}

/// The US NowCast of PM2.5 or PM10 from the last 12 hourly values (EPA TAD 2024), truncated to the table's precision (PM2.5 0.1 μg/m³, PM10 1 μg/m³).
///
/// With c₁ the most recent hour: w = max(c_min / c_max, ½), NowCast = Σ wⁱ⁻¹ cᵢ / Σ wⁱ⁻¹ over the valid hours, the exponent being the hours ago even when hours in between are missing.
/// At least 2 of the 3 most recent hours must be valid.
/// The weighted mean is computed exactly, so a series that averages to exactly 35.5 truncates to 35.5, not 35.4.
pub fn nowcast(pollutant: Pollutant, hours: &[Option<Concentration>]) -> Reading {
    let decimals = match pollutant {
        Pollutant::Pm25 => 1,
        Pollutant::Pm10 => 0,
        _ => return Err(NoValue::NotApplicable),
    };
    // Index k = hours ago (0 = the current hour); older hours not given are missing.
    let recent: Vec<Option<Concentration>> = hours.iter().rev().take(12).copied().collect();
    let valid_recent = recent.iter().take(3).flatten().count();
    if valid_recent < 2 {
        return Err(insufficient(ValidityRule::NowCast, valid_recent, 2));
    }
    let (ages, values): (Vec<usize>, Vec<Concentration>) =
        recent.iter().enumerate().filter_map(|(k, v)| v.map(|v| (k, v))).unzip();
    let (den, nums) = common_denominator(&values);
    let (Some(&max), Some(&min)) = (nums.iter().max(), nums.iter().min()) else {
        return Err(insufficient(ValidityRule::NowCast, 0, 2));
    };
    if max == 0 {
        return Ok(Concentration::ZERO);
    }
    // w = p/q, floored at ½; multiplying every weight by q¹¹ keeps them integers: wᵏ·q¹¹ = pᵏ·q¹¹⁻ᵏ.
    let g = gcd(min, max);
    let (p, q) = if 2 * min < max { (1, 2) } else { (min / g, max / g) };
    let powers = |base: u128| {
        let base = BigUint::from_u128(base);
        let mut out = vec![BigUint::from_u128(1)];
        for k in 1..12 {
            out.push(out[k - 1].mul(&base));
        }
        out
    };
    let (p_pow, q_pow) = (powers(p), powers(q));
    let zero = BigUint::from_u128(0);
    let (mut weighted, mut weights) = (zero.clone(), zero);
    for (&k, &m) in ages.iter().zip(&nums) {
        let weight = p_pow[k].mul(&q_pow[11 - k]);
        weighted = weighted.add(&weight.mul(&BigUint::from_u128(m)));
        weights = weights.add(&weight);
    }
    // NowCast = weighted / (weights · den); find t = ⌊NowCast · 10^d⌋ by bisection, since NowCast ≤ c_max.
    let scale = 10_u128.pow(decimals);
    let target = weighted.mul(&BigUint::from_u128(scale));
    let per_unit = weights.mul(&BigUint::from_u128(den));
    let (mut lo, mut hi) = (0_u128, max * scale / den);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if per_unit.mul(&BigUint::from_u128(mid)) <= target {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Concentration::from_ratio(lo, scale).ok_or(NoValue::NotApplicable)
}

impl NoValue {
    /// A stable code for APIs: `not_reported`, `insufficient_data`, `not_monitored`, `outside_table`, `not_applicable`.
    pub fn code(self) -> &'static str {
        match self {
            Self::NotReported => "not_reported",
            Self::InsufficientData { .. } => "insufficient_data",
            Self::NotMonitored => "not_monitored",
            Self::OutsideTable => "outside_table",
            Self::NotApplicable => "not_applicable",
        }
    }
}

impl ValidityRule {
    /// A stable code for APIs, e.g. `daily_mean`, `moving_mean_8h`.
    pub fn code(self) -> &'static str {
        match self {
            Self::HourlyMean => "hourly_mean",
            Self::DailyMean => "daily_mean",
            Self::MovingMean24h => "moving_mean_24h",
            Self::MovingMean8h => "moving_mean_8h",
            Self::DailyMax8h => "daily_max_8h",
            Self::DailyMax1h => "daily_max_1h",
            Self::NowCast => "nowcast",
            Self::AnnualMean => "annual_mean",
            Self::AnnualMeanMonth => "annual_mean_month",
        }
    }
}

impl fmt::Display for NoValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotReported => f.write_str("not reported"),
            Self::InsufficientData { rule, valid, required } => {
                write!(f, "too few valid values for {}: {valid} of at least {required}", rule.code())
            }
            Self::NotMonitored => f.write_str("not monitored at this station"),
            Self::OutsideTable => f.write_str("outside the range where the table defines an index"),
            Self::NotApplicable => f.write_str("not defined for this pollutant"),
        }
    }
}

fn mean_of_last(values: &[Option<Concentration>], window: usize, required: usize, rule: ValidityRule) -> Reading {
    let start = values.len().saturating_sub(window);
    let valid: Vec<Concentration> = values[start..].iter().flatten().copied().collect();
    if valid.len() < required {
        return Err(insufficient(rule, valid.len(), required));
    }
    Concentration::mean(&valid).ok_or(insufficient(rule, valid.len(), required))
}

fn insufficient(rule: ValidityRule, valid: usize, required: usize) -> NoValue {
    let clamp = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
    NoValue::InsufficientData { rule, valid: clamp(valid), required: clamp(required) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(text: &str) -> Concentration {
        Concentration::parse(text).expect("valid test concentration")
    }

    fn series(valid: usize, value: &str, missing: usize) -> Vec<Option<Concentration>> {
        let mut out = vec![None; missing];
        out.extend(vec![Some(c(value)); valid]);
        out
    }

    fn insufficient_data(rule: ValidityRule, valid: u16, required: u16) -> Reading {
        Err(NoValue::InsufficientData { rule, valid, required })
    }

    #[test]
    fn an_hour_needs_45_minutes_of_sampling() {
        assert_eq!(hourly_mean(&series(45, "12", 15)), Ok(c("12")));
        assert_eq!(hourly_mean(&series(44, "12", 16)), insufficient_data(ValidityRule::HourlyMean, 44, 45));
    }

    #[test]
    fn a_day_needs_20_valid_hours_and_ignores_invalid_ones_rather_than_counting_zero() {
        let day: [Option<Concentration>; 24] = std::array::from_fn(|h| if h < 4 { None } else { Some(c("10")) });
        assert_eq!(daily_mean(&day), Ok(c("10")));
        let day: [Option<Concentration>; 24] = std::array::from_fn(|h| if h < 5 { None } else { Some(c("10")) });
        assert_eq!(daily_mean(&day), insufficient_data(ValidityRule::DailyMean, 19, 20));
    }

    #[test]
    fn a_daily_mean_is_exact_before_any_rounding() {
        // 23 hours of 35 and one of 47: the mean is 35.5 exactly, which publishes as 36.
        let day: [Option<Concentration>; 24] = std::array::from_fn(|h| Some(if h == 0 { c("47") } else { c("35") }));
        let mean = daily_mean(&day).expect("complete day");
        assert_eq!(mean, c("35.5"));
        assert_eq!(mean.round_half_even(0), c("36"));
    }

    #[test]
    fn a_24_hour_moving_mean_uses_the_last_24_hours_and_needs_20() {
        let mut hours = series(30, "999", 0);
        hours.extend(series(20, "8", 4));
        assert_eq!(moving_mean_24h(&hours), Ok(c("8")));
        assert_eq!(moving_mean_24h(&series(19, "8", 0)), insufficient_data(ValidityRule::MovingMean24h, 19, 20));
    }

    #[test]
    fn an_8_hour_moving_mean_needs_6_of_its_8_hours() {
        assert_eq!(moving_mean_8h(&series(6, "100", 2)), Ok(c("100")));
        assert_eq!(moving_mean_8h(&series(6, "100", 0)), Ok(c("100")));
        assert_eq!(moving_mean_8h(&series(5, "100", 3)), insufficient_data(ValidityRule::MovingMean8h, 5, 6));
        let mixed = [Some(c("1")), Some(c("2")), None, Some(c("3")), Some(c("4")), Some(c("5")), Some(c("6")), None];
        assert_eq!(moving_mean_8h(&mixed), Ok(c("3.5")));
    }

    /// A day whose first `missing` hours are invalid, then `value`, with hours 16–23 set to `evening`.
    fn o3_day(missing: usize, value: &str, evening: &str) -> [Option<Concentration>; 24] {
        std::array::from_fn(|h| match h {
            _ if h < missing => None,
            16.. => Some(c(evening)),
            _ => Some(c(value)),
        })
    }

    #[test]
    fn the_daily_maximum_8_hour_mean_is_the_highest_of_the_17_windows_inside_the_day() {
        let day: [Option<Concentration>; 24] = std::array::from_fn(|h| Some(c(&(h * 10).to_string())));
        // The last window, 16:00–24:00, averages 160…230 to 195.
        assert_eq!(daily_max_8h(&day), Ok(c("195")));
    }

    #[test]
    fn the_daily_maximum_8_hour_mean_needs_14_valid_windows_unless_it_already_exceeds_160() {
        // Six invalid morning hours leave the windows ending 08:00–11:00 with fewer than 6 hours: 13 valid.
        assert_eq!(daily_max_8h(&o3_day(6, "100", "100")), insufficient_data(ValidityRule::DailyMax8h, 13, 14));
        // Five invalid hours leave 14 valid windows.
        assert_eq!(daily_max_8h(&o3_day(5, "100", "100")), Ok(c("100")));
        // An exceedance stands on 13 windows.
        assert_eq!(daily_max_8h(&o3_day(6, "100", "200")), Ok(c("200")));
        // Judged at the published precision: 160.5 publishes as 160, 160.6 as 161.
        assert_eq!(daily_max_8h(&o3_day(6, "100", "160.5")), insufficient_data(ValidityRule::DailyMax8h, 13, 14));
        assert_eq!(daily_max_8h(&o3_day(6, "100", "160.6")), Ok(c("160.6")));
        assert_eq!(daily_max_8h(&[None; 24]), insufficient_data(ValidityRule::DailyMax8h, 0, 14));
    }

    #[test]
    fn the_daily_maximum_1_hour_value_is_the_highest_valid_hour() {
        let day: [Option<Concentration>; 24] = std::array::from_fn(|h| (h % 3 != 0).then(|| c(&h.to_string())));
        assert_eq!(daily_max_1h(&day), Ok(c("23")));
        assert_eq!(daily_max_1h(&[None; 24]), insufficient_data(ValidityRule::DailyMax1h, 0, 1));
    }

    #[test]
    fn an_annual_mean_needs_324_days_and_27_in_every_month_but_25_in_february() {
        let full = series(30, "20", 1);
        let february = series(25, "20", 3);
        let mut months: [&[Option<Concentration>]; 12] = [&full; 12];
        months[1] = &february;
        assert_eq!(annual_mean(months), Ok(c("20")));

        let short = series(26, "20", 5);
        months[6] = &short;
        assert_eq!(annual_mean(months), insufficient_data(ValidityRule::AnnualMeanMonth, 26, 27));

        let minimal = series(27, "20", 4);
        let mut months: [&[Option<Concentration>]; 12] = [&minimal; 12];
        months[1] = &february;
        assert_eq!(annual_mean(months), insufficient_data(ValidityRule::AnnualMean, 322, 324));
    }

    #[test]
    fn reasons_have_stable_codes_and_readable_text() {
        let reason = NoValue::InsufficientData { rule: ValidityRule::DailyMean, valid: 19, required: 20 };
        assert_eq!(reason.code(), "insufficient_data");
        assert_eq!(reason.to_string(), "too few valid values for daily_mean: 19 of at least 20");
        assert_eq!(NoValue::NotMonitored.code(), "not_monitored");
        assert_eq!(ValidityRule::MovingMean8h.code(), "moving_mean_8h");
    }
}
