//! Air's table of error kinds: the problems only this service raises, one line each. The common
//! kinds (`validation`, `not-found`, `forbidden`, ...) are the platform's
//! (`city_platform::problem::kind`); the gateway gathers both into `docs/errors.md`.
//!
//! Which operation can answer which kind is declared next to its handler (`api/problems.rs`), so the
//! OpenAPI document lists exactly those.

use city_platform::ErrorKind;

/// `GET /v1/air/nearest`: no active station within the search radius has a recent hour.
pub const NO_STATION_NEARBY: ErrorKind = ErrorKind::new(
    404,
    "no-station-nearby",
    "No station within 20 km has a reading from the last 3 hours",
    "附近 20 公里内没有最近 3 小时有数据的监测站",
    "No active station within 20 km of the point reported an hour in the last 3 hours; nearer stale stations are not used.",
);

/// `POST /v1/air/alerts`: the citizen already holds the most subscriptions allowed.
pub const TOO_MANY_SUBSCRIPTIONS: ErrorKind = ErrorKind::new(
    409,
    "too-many-subscriptions",
    "at most 20 alert subscriptions",
    "空气质量提醒最多 20 个",
    "A citizen may hold at most 20 air-quality alert subscriptions; cancel one before adding another.",
);

/// Every kind this service defines.
pub const KINDS: &[&ErrorKind] = &[&NO_STATION_NEARBY, &TOO_MANY_SUBSCRIPTIONS];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subscription_limit_title_names_the_limit_in_force() {
        let expected = format!("at most {} alert subscriptions", crate::engine::alerts::MAX_SUBSCRIPTIONS);
        assert_eq!(TOO_MANY_SUBSCRIPTIONS.title, expected);
    }

    #[test]
    fn codes_are_unique_and_none_is_a_platform_kind() {
        for (i, k) in KINDS.iter().enumerate() {
            assert!(KINDS[..i].iter().all(|o| o.code != k.code), "{} twice", k.code);
            assert!(city_platform::problem::kind::COMMON.iter().all(|c| c.code != k.code), "{}", k.code);
        }
    }
}
