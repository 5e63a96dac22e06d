//! Reading request parameters (times of day, datums and points) and answering a pre-rendered
//! JSON body.

use std::marker::PhantomData;

use city_platform::coords::{Crs, LatLon};
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
            .map_err(|e| Problem::invalid("lat", format!("not a usable point: {e:?}"))),
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
