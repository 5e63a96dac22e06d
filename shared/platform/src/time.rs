//! Time: instants are stored as UTC milliseconds; every day boundary a citizen sees is Beijing
//! time (Asia/Shanghai).

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Shanghai;

/// The time zone of every day boundary a citizen sees.
pub const CITY_TZ: chrono_tz::Tz = Shanghai;

/// Now, as UTC milliseconds since the epoch.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// A service's clock, injected through its state: the system's, or one a test sets and moves, so
/// handlers and use cases never read the wall clock themselves.
#[derive(Clone, Default)]
pub struct Clock(Option<std::sync::Arc<std::sync::atomic::AtomicI64>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock standing at `ms` until moved.
    pub fn fixed(ms: i64) -> Self {
        Self(Some(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(ms))))
    }

    /// Moves a fixed clock to `ms` (no effect on the system clock).
    pub fn set(&self, ms: i64) {
        if let Some(t) = &self.0 {
            t.store(ms, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Now, UTC ms.
    pub fn now_ms(&self) -> i64 {
        self.0.as_ref().map_or_else(now_ms, |t| t.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// Now, as an instant.
    pub fn now(&self) -> DateTime<Utc> {
        from_ms(self.now_ms())
    }

    /// Today's Beijing date.
    pub fn today(&self) -> NaiveDate {
        city_date(self.now())
    }
}

/// The Beijing calendar date of a UTC instant.
pub fn city_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&CITY_TZ).date_naive()
}

/// The UTC instant of the next Beijing midnight after `at` (a quote's expiry, a day's end).
pub fn next_city_midnight(at: DateTime<Utc>) -> DateTime<Utc> {
    let tomorrow = city_date(at).succ_opt().unwrap_or(NaiveDate::MAX);
    // China has no daylight saving time, so local midnight is never skipped or doubled.
    CITY_TZ
        .from_local_datetime(&tomorrow.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(at)
}

/// A UTC instant in RFC 3339 with a `Z`, the one text form used in every API.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// UTC milliseconds to a `DateTime`.
pub fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_midnight_is_1600_utc_the_day_before() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 15, 59, 0).unwrap();
        assert_eq!(city_date(at).to_string(), "2026-11-25");
        assert_eq!(rfc3339(next_city_midnight(at)), "2026-11-25T16:00:00Z");
        let after = Utc.with_ymd_and_hms(2026, 11, 25, 16, 0, 0).unwrap();
        assert_eq!(city_date(after).to_string(), "2026-11-26");
        assert_eq!(rfc3339(next_city_midnight(after)), "2026-11-26T16:00:00Z");
    }
}
