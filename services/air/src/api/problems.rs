//! Which problems each air operation can answer, and how the use cases' errors become problems.
//!
//! Every handler returns `Failure<Set>` with one of the sets below, so the OpenAPI document lists
//! exactly those kinds plus the edge's own (400, 401, 413, 415, 429, 500, 503): a read-only GET
//! such as `/v1/air/summary` documents its 422 (a bad `?scheme=`) and nothing it cannot return.

use city_platform::coords::{Crs, LatLon};
use city_platform::problem::kind;
use city_platform::{ErrorKind, ErrorSet, IntoProblem, Problem};

use crate::domain::Scheme;
use crate::engine::{EngineError, SubscribeError};
use crate::errors;

impl IntoProblem for EngineError {
    fn into_problem(self) -> Problem {
        match self {
            // The cause goes to the log, the client gets the opaque 500 with the request id.
            EngineError::Db(e) => Problem::internal_from(&e),
        }
    }
}

impl ErrorSet for EngineError {
    /// A store failure is a 500 or a 503, which every operation documents through the edge.
    fn kinds() -> Vec<&'static ErrorKind> {
        vec![]
    }
}

impl IntoProblem for SubscribeError {
    fn into_problem(self) -> Problem {
        match self {
            SubscribeError::TooMany => Problem::of(&errors::TOO_MANY_SUBSCRIPTIONS),
            SubscribeError::Engine(e) => e.into_problem(),
        }
    }
}

impl ErrorSet for SubscribeError {
    fn kinds() -> Vec<&'static ErrorKind> {
        vec![&errors::TOO_MANY_SUBSCRIPTIONS]
    }
}

city_platform::error_set!(
    /// Reads that take `?scheme=`: only a bad scheme (422) besides the edge.
    pub SchemeReadErrors = [kind::VALIDATION] + EngineError
);

city_platform::error_set!(
    /// `GET /v1/air/stations/{code}`: a bad scheme, or no such station.
    pub StationReadErrors = [kind::VALIDATION, kind::NOT_FOUND] + EngineError
);

city_platform::error_set!(
    /// `GET /v1/air/nearest`: a bad scheme or point, or no fresh station within 20 km.
    pub NearestErrors = [kind::VALIDATION, errors::NO_STATION_NEARBY] + EngineError
);

city_platform::error_set!(
    /// `PUT /v1/air/stations/{code}`: admins only (403), checked fields (422).
    pub StationWriteErrors = [kind::FORBIDDEN, kind::VALIDATION] + EngineError
);

city_platform::error_set!(
    /// `POST /v1/air/readings`: the key's scope (403), an empty, oversized or wholly invalid batch
    /// (422), and the idempotency replays.
    pub ReadingsErrors = [
        kind::FORBIDDEN,
        kind::VALIDATION,
        kind::IDEMPOTENCY_IN_PROGRESS,
        kind::IDEMPOTENCY_KEY_REUSED,
    ] + EngineError
);

city_platform::error_set!(
    /// `POST /v1/air/alerts`: a citizen's route (403), checked fields (422), the subscription
    /// limit (409) and the idempotency replays.
    pub SubscribeErrors = [
        kind::FORBIDDEN,
        kind::VALIDATION,
        kind::IDEMPOTENCY_IN_PROGRESS,
        kind::IDEMPOTENCY_KEY_REUSED,
    ] + SubscribeError
);

city_platform::error_set!(
    /// `GET /v1/air/alerts`: a citizen's route (403).
    pub CitizenReadErrors = [kind::FORBIDDEN] + EngineError
);

city_platform::error_set!(
    /// `DELETE /v1/air/alerts/{id}`: a citizen's route (403), no such subscription of theirs (404).
    pub UnsubscribeErrors = [kind::FORBIDDEN, kind::NOT_FOUND] + EngineError
);

/// `?scheme=`: absent or empty is the default.
pub(crate) fn parse_scheme(scheme: Option<&str>) -> Result<Scheme, Problem> {
    match scheme {
        None | Some("") => Ok(Scheme::default()),
        Some(text) => {
            Scheme::parse(text).map_err(|_| Problem::invalid("scheme", "expected cn-2026 (default), cn-2012 or us"))
        }
    }
}

/// A point in `coord`'s datum (GCJ-02 unless said otherwise).
pub(crate) fn parse_point(lat: f64, lon: f64, coord: Option<&str>) -> Result<LatLon, Problem> {
    let crs = match coord {
        None | Some("") => Crs::Gcj02,
        Some(text) => {
            Crs::parse(text).map_err(|_| Problem::invalid("coord", "expected gcj02 (default), wgs84 or bd09"))?
        }
    };
    LatLon::from_crs(crs, lat, lon).map_err(|e| {
        let field = if !(-90.0..=90.0).contains(&lat) || !lat.is_finite() { "lat" } else { "lon" };
        Problem::invalid(field, e.to_string())
    })
}
