//! Hours and Beijing days: the service's time arithmetic (an hour is named by its end, a day is a
//! Beijing calendar day), when a station's latest hour counts as fresh, and stored readings
//! gathered into hourly series. Below the use cases, which all share it.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate};

use crate::domain::series::HourlySeries;
use crate::domain::{Concentration, Pollutant};
use crate::store::StoredReading;

/// One hour in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;
/// One day in milliseconds.
pub const DAY_MS: i64 = 24 * HOUR_MS;
/// Beijing time is UTC+8 all year (no daylight saving).
pub(crate) const BEIJING_OFFSET_MS: i64 = 8 * HOUR_MS;
/// A station whose latest hour is older than this is stale (reference §4: 2-3 hours).
pub const FRESH_MS: i64 = 3 * HOUR_MS;

/// The start of the Beijing day containing `ms`, UTC milliseconds.
pub fn city_day_start(ms: i64) -> i64 {
    (ms + BEIJING_OFFSET_MS).div_euclid(DAY_MS) * DAY_MS - BEIJING_OFFSET_MS
}

/// The Beijing date of the day starting at `start` (from [`city_day_start`]).
pub fn city_day_label(start: i64) -> String {
    let days = (start + BEIJING_OFFSET_MS).div_euclid(DAY_MS);
    let date = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default() + chrono::Days::new(days.max(0) as u64);
    date.format("%Y-%m-%d").to_string()
}

/// The day an hour belongs to: the hour ending at 24:00 is the last hour of its day.
pub(crate) fn day_of_hour_end(hour_end: i64) -> i64 {
    city_day_start(hour_end - 1)
}

/// The end of the latest whole hour at or before `ms`.
pub fn hour_floor(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// Readings grouped per station into series of `hours` hours ending at `end` (inclusive).
pub(crate) fn series_by_station(readings: &[StoredReading], end: i64, hours: usize) -> HashMap<String, HourlySeries> {
    let mut out: HashMap<String, HourlySeries> = HashMap::new();
    for r in readings {
        let back = (end - r.hour_end) / HOUR_MS;
        if back < 0 || back >= hours as i64 || (end - r.hour_end) % HOUR_MS != 0 {
            continue;
        }
        let (Ok(p), Ok(v)) = (Pollutant::parse(&r.pollutant), Concentration::parse(&r.value)) else { continue };
        out.entry(r.station_code.clone()).or_insert_with(|| HourlySeries::empty(hours)).set(
            p,
            hours - 1 - back as usize,
            v,
        );
    }
    out
}

/// Parses an RFC 3339 instant to UTC milliseconds (for query parameters).
pub fn parse_instant(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp_millis())
}
