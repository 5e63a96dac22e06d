//! `/v1/traffic`: the handlers, their DTOs, and the datum (`coord`) of questions and answers.
//! Every refusal names the parameter or body field. A `coord` outside its three names is refused
//! by its declared pattern before a handler runs (a 400 in a query, a 422 in a body); the rules
//! beyond the schema are 422s.

use std::sync::Arc;

use city_platform::coords::{Crs, LatLon};
use city_platform::problem::kind;
use city_platform::{Failure, JsonBody, Problem};
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};
use serde::Deserialize;

use crate::domain::{Camera, CoachStation, Directory, Found, Route, RouteError};

/// Default and largest radius around a point, in metres.
const DEFAULT_RADIUS_M: i64 = 1000;
const MAX_RADIUS_M: i64 = 5000;
/// Default and largest corridor on either side of a route, in metres.
const DEFAULT_WITHIN_M: i64 = 100;
const MAX_WITHIN_M: i64 = 1000;
/// Default and largest number of coach stations.
const DEFAULT_STATIONS: i64 = 5;
const MAX_STATIONS: i64 = 50;

#[derive(Tags)]
enum TrafficTags {
    /// The city's traffic cameras and coach stations (public reference data).
    Traffic,
}

/// The traffic API: reads of the compiled-in directory, open to anyone.
pub struct TrafficApi {
    directory: Arc<Directory>,
}

impl TrafficApi {
    /// The API over `directory`.
    pub fn new(directory: Arc<Directory>) -> Self {
        Self { directory }
    }
}

city_platform::error_set!(
    /// A parameter or body field that is out of range or not a point.
    pub TrafficReadErrors = [kind::VALIDATION]
);

/// Who runs the cameras.
#[derive(Debug, Object)]
pub struct TrafficOperatorView {
    /// Stable id.
    pub id: String,
    /// Name in Chinese.
    pub name_zh: String,
    /// Name in English.
    pub name_en: String,
}

/// One traffic camera.
#[derive(Debug, Object)]
pub struct TrafficCameraView {
    /// The operator's camera id.
    pub id: String,
    /// Where it is, in Chinese.
    pub name_zh: String,
    /// Where it is, in English.
    pub name_en: String,
    /// The road, in Chinese.
    pub road_zh: String,
    /// The road, in English.
    pub road_en: String,
    /// Which traffic it watches: `northbound`, `southbound`, `eastbound`, `westbound`, `all_directions`.
    pub direction: String,
    /// Latitude in the answer's `coord`.
    pub lat: f64,
    /// Longitude in the answer's `coord`.
    pub lon: f64,
    /// Metres from the point asked about, or from the nearest point of the route.
    pub distance_m: i64,
    /// Along a route only: metres from the route's start to where it passes the camera.
    #[oai(skip_serializing_if_is_none)]
    pub along_m: Option<i64>,
    /// The operator's still image.
    pub snapshot_url: String,
    /// The operator's live stream (HLS), where there is one.
    #[oai(skip_serializing_if_is_none)]
    pub stream_url: Option<String>,
}

/// Cameras found.
#[derive(Debug, Object)]
pub struct TrafficCamerasView {
    /// The datum of every `lat`/`lon` in this answer: the one asked for.
    pub coord: String,
    /// Who runs the cameras; their images and streams are the operator's.
    pub operator: TrafficOperatorView,
    /// Nearest first around a point; in the order a traveller passes them along a route.
    pub cameras: Vec<TrafficCameraView>,
}

/// A route to look along.
#[derive(Debug, Object, Deserialize)]
pub struct TrafficRouteRequest {
    /// Datum of the points and of the answer: `wgs84` (default), `gcj02` or `bd09`.
    #[oai(validator(pattern = "^(gcj02|wgs84|bd09)$"))]
    pub coord: Option<String>,
    /// Metres on either side of the route (1–1000, default 100).
    pub within_m: Option<i64>,
    /// The route's points in travel order, 2 to 1000 (a driving route's polyline).
    pub points: Vec<TrafficPointDto>,
}

/// A point as a client sends it.
#[derive(Debug, Object, Deserialize)]
pub struct TrafficPointDto {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
}

/// One coach station.
#[derive(Debug, Object)]
pub struct CoachStationView {
    /// Stable id.
    pub id: String,
    /// Name in Chinese.
    pub name_zh: String,
    /// Name in English.
    pub name_en: String,
    /// Street address in Chinese.
    pub address_zh: String,
    /// Latitude in the answer's `coord`.
    pub lat: f64,
    /// Longitude in the answer's `coord`.
    pub lon: f64,
    /// Metres from the point asked about (absent when no point was given).
    #[oai(skip_serializing_if_is_none)]
    pub distance_m: Option<i64>,
    /// Where the station's operator sells tickets; the portal sells none.
    pub tickets_url: String,
}

/// Coach stations.
#[derive(Debug, Object)]
pub struct CoachStationsView {
    /// The datum of every `lat`/`lon` in this answer.
    pub coord: String,
    /// Nearest first when a point was given.
    pub stations: Vec<CoachStationView>,
}

#[OpenApi(prefix_path = "/v1/traffic", tag = "TrafficTags::Traffic")]
impl TrafficApi {
    /// Traffic cameras near a point
    ///
    /// The cameras within `radius_m` (1–5000, default 1000) of the point, nearest first, with
    /// the operator's snapshot and stream URLs. `coord` is the datum of the point and of the
    /// answer: `wgs84` (default), `gcj02` (WeChat's `wx.getLocation`) or `bd09`. No sign-in.
    #[oai(path = "/cameras", method = "get", operation_id = "list_traffic_cameras")]
    async fn list_traffic_cameras(
        &self,
        /// Latitude in degrees.
        lat: Query<f64>,
        /// Longitude in degrees.
        lon: Query<f64>,
        /// Radius in metres (1–5000, default 1000).
        radius_m: Query<Option<i64>>,
        /// Datum of the point and the answer: `wgs84` (default), `gcj02` or `bd09`.
        #[oai(validator(pattern = "^(gcj02|wgs84|bd09)$"))]
        coord: Query<Option<String>>,
    ) -> Result<Json<TrafficCamerasView>, Failure<TrafficReadErrors>> {
        let crs = parse_crs(coord.0.as_deref(), "coord")?;
        let at = parse_point(crs, lat.0, lon.0, "")?;
        let radius_m = in_range(radius_m.0, DEFAULT_RADIUS_M, MAX_RADIUS_M, "radius_m")?;
        let found = self.directory.cameras_near(at, radius_m as f64);
        Ok(Json(self.cameras_view(crs, &found)))
    }

    /// Traffic cameras along a route
    ///
    /// The cameras within `within_m` (1–1000, default 100) of a polyline, in the order a
    /// traveller passes them (`along_m`, metres from the route's start), each with its distance
    /// from the route. A body rather than a query string, since a driving route has hundreds of
    /// points. Reads only; no sign-in.
    #[oai(path = "/cameras/along", method = "post", operation_id = "list_traffic_cameras_along")]
    async fn list_traffic_cameras_along(
        &self,
        body: JsonBody<TrafficRouteRequest>,
    ) -> Result<Json<TrafficCamerasView>, Failure<TrafficReadErrors>> {
        let req = body.0;
        let crs = parse_crs(req.coord.as_deref(), "coord")?;
        let within_m = in_range(req.within_m, DEFAULT_WITHIN_M, MAX_WITHIN_M, "within_m")?;
        if req.points.len() > crate::domain::MAX_ROUTE_POINTS {
            return Err(Problem::invalid("points", RouteError::TooLong.to_string()).into());
        }
        let mut points = Vec::with_capacity(req.points.len());
        for (i, p) in req.points.iter().enumerate() {
            points.push(parse_point(crs, p.lat, p.lon, &format!("points[{i}]."))?);
        }
        let route = Route::parse(&points).map_err(|e| Problem::invalid("points", e.to_string()))?;
        let found = self.directory.cameras_along(&route, within_m as f64);
        Ok(Json(self.cameras_view(crs, &found)))
    }

    /// Coach stations, nearest first
    ///
    /// The city's long-distance coach stations; with `lat` and `lon`, the `limit` (1–50,
    /// default 5) nearest first with their distance. Tickets are sold by each station's
    /// operator (`tickets_url`); the portal sells none. No sign-in.
    #[oai(path = "/coach-stations", method = "get", operation_id = "list_coach_stations")]
    async fn list_coach_stations(
        &self,
        /// Latitude in degrees (with `lon`).
        lat: Query<Option<f64>>,
        /// Longitude in degrees (with `lat`).
        lon: Query<Option<f64>>,
        /// Datum of the point and the answer: `wgs84` (default), `gcj02` or `bd09`.
        #[oai(validator(pattern = "^(gcj02|wgs84|bd09)$"))]
        coord: Query<Option<String>>,
        /// How many stations (1–50, default 5).
        limit: Query<Option<i64>>,
    ) -> Result<Json<CoachStationsView>, Failure<TrafficReadErrors>> {
        let crs = parse_crs(coord.0.as_deref(), "coord")?;
        let limit = in_range(limit.0, DEFAULT_STATIONS, MAX_STATIONS, "limit")? as usize;
        let stations = match (lat.0, lon.0) {
            (Some(lat), Some(lon)) => {
                let at = parse_point(crs, lat, lon, "")?;
                self.directory.stations_near(at, limit).iter().map(|f| station_view(crs, f.item, Some(f))).collect()
            }
            (None, None) => self.directory.stations().iter().take(limit).map(|s| station_view(crs, s, None)).collect(),
            (Some(_), None) => return Err(Problem::invalid("lon", "give lat and lon together").into()),
            (None, Some(_)) => return Err(Problem::invalid("lat", "give lat and lon together").into()),
        };
        Ok(Json(CoachStationsView { coord: crs.code().into(), stations }))
    }
}

impl TrafficApi {
    fn cameras_view(&self, crs: Crs, found: &[Found<'_, Camera>]) -> TrafficCamerasView {
        let op = &self.directory.operator;
        TrafficCamerasView {
            coord: crs.code().into(),
            operator: TrafficOperatorView {
                id: op.id.clone(),
                name_zh: op.name_zh.clone(),
                name_en: op.name_en.clone(),
            },
            cameras: found.iter().map(|f| camera_view(crs, f)).collect(),
        }
    }
}

fn camera_view(crs: Crs, f: &Found<'_, Camera>) -> TrafficCameraView {
    let c = f.item;
    let (lat, lon) = position(crs, c.at);
    TrafficCameraView {
        id: c.id.clone(),
        name_zh: c.name_zh.clone(),
        name_en: c.name_en.clone(),
        road_zh: c.road_zh.clone(),
        road_en: c.road_en.clone(),
        direction: c.direction.code().into(),
        lat,
        lon,
        distance_m: f.distance_m.round() as i64,
        along_m: f.along_m.map(|m| m.round() as i64),
        snapshot_url: c.snapshot_url.clone(),
        stream_url: c.stream_url.clone(),
    }
}

fn station_view(crs: Crs, s: &CoachStation, found: Option<&Found<'_, CoachStation>>) -> CoachStationView {
    let (lat, lon) = position(crs, s.at);
    CoachStationView {
        id: s.id.clone(),
        name_zh: s.name_zh.clone(),
        name_en: s.name_en.clone(),
        address_zh: s.address_zh.clone(),
        lat,
        lon,
        distance_m: found.map(|f| f.distance_m.round() as i64),
        tickets_url: s.tickets_url.clone(),
    }
}

/// A position in `crs`, to six decimals (about 0.1 m): more would promise precision the seeds lack.
fn position(crs: Crs, at: LatLon) -> (f64, f64) {
    let (lat, lon) = at.to_crs(crs);
    ((lat * 1e6).round() / 1e6, (lon * 1e6).round() / 1e6)
}

/// `wgs84` (the default), `gcj02` or `bd09`.
fn parse_crs(v: Option<&str>, field: &str) -> Result<Crs, Problem> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(Crs::Wgs84),
        Some(s) => Crs::parse(s).map_err(|_| Problem::invalid(field, "expected wgs84 (default), gcj02 or bd09")),
    }
}

/// A point in `crs`, converted to WGS-84; a refusal names `{prefix}lat` or `{prefix}lon`.
fn parse_point(crs: Crs, lat: f64, lon: f64, prefix: &str) -> Result<LatLon, Problem> {
    LatLon::from_crs(crs, lat, lon).map_err(|e| {
        let field = if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) { "lat" } else { "lon" };
        let field = if lat == 0.0 && lon == 0.0 { "lat" } else { field };
        Problem::invalid(format!("{prefix}{field}"), e.to_string())
    })
}

/// An optional whole number in 1..=max, `default` when absent.
fn in_range(v: Option<i64>, default: i64, max: i64, field: &str) -> Result<i64, Problem> {
    match v {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(Problem::invalid(field, format!("must be between 1 and {max}"))),
    }
}
