//! Reading request parameters (times of day, datums and points) and answering a pre-rendered
//! JSON body.

use std::marker::PhantomData;

use city_platform::coords::{CoordError, Crs, LatLon};
use city_platform::Problem;
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::ApiResponse;

pub(super) fn parse_crs(coord: Option<&str>) -> Result<Crs, Problem> {
    match coord {
        None => Ok(Crs::Gcj02),
        Some(c) => Crs::parse(c).map_err(|_| Problem::invalid("coord", "one of gcj02, wgs84, bd09")),
    }
}

/// The datum and, when both coordinates were given, the WGS-84 point.
pub(super) fn point(lat: Option<f64>, lon: Option<f64>, coord: Option<&str>) -> Result<(Crs, Option<LatLon>), Problem> {
    let crs = parse_crs(coord)?;
    match (lat, lon) {
        (None, None) => Ok((crs, None)),
        (Some(lat), Some(lon)) => LatLon::from_crs(crs, lat, lon)
            .map(|p| (crs, Some(p)))
            // In words (the error's Display), naming the coordinate at fault: never its Rust name.
            .map_err(|e| {
                let field = if matches!(e, CoordError::LongitudeOutOfRange) { "lon" } else { "lat" };
                Problem::invalid(field, format!("not a usable point: {e}"))
            }),
        (Some(_), None) => Err(Problem::invalid("lon", "give lat and lon together")),
        (None, Some(_)) => Err(Problem::invalid("lat", "give lat and lon together")),
    }
}

/// A JSON body already rendered (from the slot cache), documented as `T`.
pub struct RawJson<T> {
    bytes: Vec<u8>,
    _doc: PhantomData<fn() -> T>,
}

impl<T> RawJson<T> {
    pub(super) fn new(bytes: Vec<u8>) -> Self {
        Self { bytes, _doc: PhantomData }
    }
}

impl<T: Type> Payload for RawJson<T> {
    const CONTENT_TYPE: &'static str = "application/json; charset=utf-8";

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Send> poem::IntoResponse for RawJson<T> {
    fn into_response(self) -> poem::Response {
        poem::Response::builder().content_type("application/json; charset=utf-8").body(self.bytes)
    }
}

impl<T: Type + Send> ApiResponse for RawJson<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType { content_type: Self::CONTENT_TYPE, schema: Self::schema_ref() }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A point the fuzzer sends (`NaN`, `inf`, a longitude of 500) is refused in words, on the
    /// coordinate at fault, without the error's Rust name (`NotFinite`) in the answer.
    #[test]
    fn an_unusable_point_is_refused_in_words_naming_its_coordinate() {
        for (lat, lon, field, words) in [
            (f64::NAN, 104.06, "lat", "finite"),
            (30.66, f64::INFINITY, "lat", "finite"),
            (95.0, 104.06, "lat", "latitude"),
            (30.66, 500.0, "lon", "longitude"),
        ] {
            let p = point(Some(lat), Some(lon), Some("wgs84")).unwrap_err();
            assert_eq!(p.errors[0].field, field, "{lat},{lon}");
            let text = serde_json::to_string(&p).unwrap();
            assert!(text.contains(words), "{text}");
            for name in ["NotFinite", "OutOfRange", "NullIsland"] {
                assert!(!text.contains(name), "{text}");
            }
        }
        assert!(point(Some(30.66), Some(104.06), None).unwrap().1.is_some());
    }
}
