//! Checking one incoming reading: known pollutant, the standard's unit, a plausible value, a whole past hour.
//!
//! Pure: the caller supplies the clock and checks station codes against the store.

use chrono::{DateTime, Timelike};

use crate::domain::{Concentration, Pollutant, Unit};

/// Readings more than this far ahead of the clock are "from the future" (clock skew allowance).
pub const FUTURE_TOLERANCE_MS: i64 = 5 * 60_000;

/// The national network began publishing hourly AQI data in 2013; earlier hours are not real feed data.
pub const EARLIEST_HOUR_MS: i64 = 1_356_969_600_000; // 2013-01-01T00:00:00+08:00

/// A reading as a feed sends it, before checking.
#[derive(Debug, Clone, PartialEq)]
pub struct RawReading<'a> {
    /// Station code.
    pub station_code: &'a str,
    /// End of the averaged hour, RFC 3339 (e.g. `2026-11-25T14:00:00+08:00`).
    pub observed_at: &'a str,
    /// Pollutant code or name.
    pub pollutant: &'a str,
    /// The value as decimal text.
    pub value: &'a str,
    /// Unit code.
    pub unit: &'a str,
}

/// A reading that passed the checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedReading {
    /// Station code.
    pub station_code: String,
    /// End of the hour, UTC milliseconds.
    pub hour_end: i64,
    /// The pollutant.
    pub pollutant: Pollutant,
    /// The value, in the Chinese standard's unit.
    pub value: Concentration,
}

/// Why a reading was rejected: the field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// `station_code`, `observed_at`, `pollutant`, `value` or `unit`.
    pub field: &'static str,
    /// What is wrong, for the feed operator.
    pub message: String,
}

fn err(field: &'static str, message: impl Into<String>) -> RowError {
    RowError { field, message: message.into() }
}

/// The largest 1-hour value accepted per pollutant, in the Chinese standard's unit: above the worst
/// episodes ever recorded (sandstorm PM10 about 10 000 μg/m³), below the sentinels feeds use (9999 for PM2.5).
pub fn plausible_max(pollutant: Pollutant) -> u16 {
    match pollutant {
        Pollutant::Pm25 => 3_000,
        Pollutant::Pm10 => 15_000,
        Pollutant::So2 => 5_000,
        Pollutant::No2 => 3_000,
        Pollutant::Co => 150,
        Pollutant::O3 => 2_000,
    }
}

/// The stations and networks an API key feeds (issue #15): the ids of its `air-ingest:<id>`
/// scopes. A key with only the bare `air-ingest` scope feeds nothing: every feed is bound to the
/// stations (or the network, a station's `operator`) it feeds, so one leaked key cannot write
/// (and raise alerts for) every station of the city.
pub fn ingest_grants(scopes: &[String]) -> Vec<&str> {
    scopes.iter().filter_map(|s| s.strip_prefix("air-ingest:")).filter(|id| !id.is_empty()).collect()
}

/// Whether a key with `grants` may write readings of station `code` run by `operator`.
pub fn feeds(grants: &[&str], code: &str, operator: &str) -> bool {
    grants.iter().any(|g| *g == code || (!operator.is_empty() && *g == operator))
}

/// Checks one reading against the clock `now_ms`.
pub fn check(raw: &RawReading<'_>, now_ms: i64) -> Result<CheckedReading, RowError> {
    let station_code = raw.station_code.trim();
    if station_code.is_empty() || station_code.len() > 32 {
        return Err(err("station_code", "a station code of 1 to 32 characters is required"));
    }
    let at = DateTime::parse_from_rfc3339(raw.observed_at.trim())
        .map_err(|_| err("observed_at", "expected an RFC 3339 time such as 2026-11-25T14:00:00+08:00"))?;
    if at.minute() != 0 || at.second() != 0 || at.nanosecond() != 0 {
        return Err(err("observed_at", "hourly readings are stamped on the whole hour (the end of the averaged hour)"));
    }
    let hour_end = at.timestamp_millis();
    if hour_end > now_ms + FUTURE_TOLERANCE_MS {
        return Err(err("observed_at", "the hour has not ended yet"));
    }
    if hour_end < EARLIEST_HOUR_MS {
        return Err(err("observed_at", "hours before 2013 are not accepted"));
    }
    let pollutant = Pollutant::parse(raw.pollutant)
        .map_err(|_| err("pollutant", "expected one of pm25, pm10, so2, no2, co, o3"))?;
    let unit = Unit::parse(raw.unit).map_err(|_| err("unit", "expected ug/m3 or mg/m3"))?;
    if unit != pollutant.unit() {
        return Err(err(
            "unit",
            format!(
                "{} is reported in {} under HJ 633, not {}",
                pollutant.label(),
                pollutant.unit().code(),
                unit.code()
            ),
        ));
    }
    let value = Concentration::parse(raw.value).map_err(|e| err("value", e.to_string()))?;
    if value > Concentration::from_u16(plausible_max(pollutant)) {
        return Err(err(
            "value",
            format!(
                "{} above {} {} is not a plausible 1-hour value",
                pollutant.label(),
                plausible_max(pollutant),
                unit.code()
            ),
        ));
    }
    Ok(CheckedReading { station_code: station_code.to_owned(), hour_end, pollutant, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_586_400_000; // 2026-11-25T06:00:00Z

    fn raw<'a>(observed_at: &'a str, pollutant: &'a str, value: &'a str, unit: &'a str) -> RawReading<'a> {
        RawReading { station_code: "1431A", observed_at, pollutant, value, unit }
    }

    #[test]
    fn a_key_feeds_only_the_stations_and_networks_it_is_bound_to() {
        let scopes = vec!["air-ingest".to_owned(), "air-ingest:1431A".to_owned(), "air-ingest:CNEMC".to_owned()];
        let grants = ingest_grants(&scopes);
        assert_eq!(grants, ["1431A", "CNEMC"]);
        assert!(feeds(&grants, "1431A", "city-bureau"));
        assert!(feeds(&grants, "9999X", "CNEMC"));
        assert!(!feeds(&grants, "9999X", "city-bureau"));
        assert!(!feeds(&grants, "9999X", ""));
        assert!(ingest_grants(&["air-ingest".to_owned(), "open311".to_owned()]).is_empty());
    }

    #[test]
    fn a_good_reading_is_kept_exactly() {
        let ok = check(&raw("2026-11-25T10:00:00+08:00", "CO", "2.2", "mg/m3"), NOW).unwrap();
        assert_eq!(ok.pollutant, Pollutant::Co);
        assert_eq!(ok.value.to_string(), "2.2");
        assert_eq!(ok.hour_end, 1_795_572_000_000); // 2026-11-25T02:00:00Z
    }

    #[test]
    fn bad_rows_name_the_field() {
        let cases = [
            (raw("2026-11-25T10:30:00+08:00", "pm25", "35", "ug/m3"), "observed_at"),
            (raw("2030-01-01T10:00:00+08:00", "pm25", "35", "ug/m3"), "observed_at"),
            (raw("yesterday", "pm25", "35", "ug/m3"), "observed_at"),
            (raw("2026-11-25T10:00:00+08:00", "pm1", "35", "ug/m3"), "pollutant"),
            (raw("2026-11-25T10:00:00+08:00", "co", "2200", "ug/m3"), "unit"),
            (raw("2026-11-25T10:00:00+08:00", "no2", "20", "ppb"), "unit"),
            (raw("2026-11-25T10:00:00+08:00", "pm25", "-99", "ug/m3"), "value"),
            (raw("2026-11-25T10:00:00+08:00", "pm25", "9999", "ug/m3"), "value"),
            (raw("2026-11-25T10:00:00+08:00", "pm25", "NA", "ug/m3"), "value"),
        ];
        for (row, field) in cases {
            assert_eq!(check(&row, NOW).unwrap_err().field, field, "{row:?}");
        }
    }
}
