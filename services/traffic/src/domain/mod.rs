//! The camera and coach-station directory, parsed once from the seeds, and the questions asked
//! of it: what is near a point, what lies along a route. Positions are WGS-84; the API converts
//! a client's datum on the way in and out. Pure: no poem, no I/O.

mod geometry;

use std::collections::BTreeSet;

use city_platform::coords::LatLon;
use serde::Deserialize;

pub use geometry::{Route, RouteError, MAX_ROUTE_POINTS};

/// Why a seed file was refused at start.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// Not the JSON shape the directory expects.
    #[error("traffic seed {file}: {source}")]
    Json {
        /// Which seed.
        file: &'static str,
        /// What serde said.
        source: serde_json::Error,
    },
    /// A position that is not a point, or an id used twice.
    #[error("traffic seed {file}: {id}: {why}")]
    Entry {
        /// Which seed.
        file: &'static str,
        /// The entry's id.
        id: String,
        /// What is wrong with it.
        why: String,
    },
}

/// Which way a camera looks, as the operator labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Traffic heading north.
    Northbound,
    /// Traffic heading south.
    Southbound,
    /// Traffic heading east.
    Eastbound,
    /// Traffic heading west.
    Westbound,
    /// A junction camera covering every approach.
    AllDirections,
}

impl Direction {
    /// The stable code used in answers.
    pub fn code(self) -> &'static str {
        match self {
            Self::Northbound => "northbound",
            Self::Southbound => "southbound",
            Self::Eastbound => "eastbound",
            Self::Westbound => "westbound",
            Self::AllDirections => "all_directions",
        }
    }
}

/// Who runs the cameras.
#[derive(Debug, Clone, Deserialize)]
pub struct Operator {
    /// Stable id.
    pub id: String,
    /// Name in Chinese.
    pub name_zh: String,
    /// Name in English.
    pub name_en: String,
}

/// One traffic camera.
#[derive(Debug, Clone)]
pub struct Camera {
    /// The operator's camera id, e.g. `CD-RMN-01`.
    pub id: String,
    /// Where it is, in Chinese.
    pub name_zh: String,
    /// Where it is, in English.
    pub name_en: String,
    /// The road, in Chinese.
    pub road_zh: String,
    /// The road, in English.
    pub road_en: String,
    /// Which traffic it watches.
    pub direction: Direction,
    /// Its position (WGS-84).
    pub at: LatLon,
    /// The operator's still image, refreshed by the operator.
    pub snapshot_url: String,
    /// The operator's live stream (HLS), where there is one.
    pub stream_url: Option<String>,
}

/// One coach station.
#[derive(Debug, Clone)]
pub struct CoachStation {
    /// Stable id, e.g. `chengbei`.
    pub id: String,
    /// Name in Chinese.
    pub name_zh: String,
    /// Name in English.
    pub name_en: String,
    /// Street address in Chinese.
    pub address_zh: String,
    /// Its position (WGS-84).
    pub at: LatLon,
    /// Where its operator sells tickets: the portal sells none.
    pub tickets_url: String,
}

/// A camera and how far it is from what was asked about.
#[derive(Debug, Clone, Copy)]
pub struct Found<'a, T> {
    /// The entry.
    pub item: &'a T,
    /// Metres from the point, or from the nearest point of the route.
    pub distance_m: f64,
    /// Along a route: metres travelled from the route's start to the point nearest the camera.
    pub along_m: Option<f64>,
}

/// Every camera and station of the city.
#[derive(Debug)]
pub struct Directory {
    /// Who runs the cameras.
    pub operator: Operator,
    cameras: Vec<Camera>,
    stations: Vec<CoachStation>,
}

impl Directory {
    /// Parses the two seeds; every position must be a point and every id unique.
    pub fn parse(cameras_json: &str, stations_json: &str) -> Result<Self, SeedError> {
        let cameras: CameraSeed =
            serde_json::from_str(cameras_json).map_err(|source| SeedError::Json { file: "cameras.json", source })?;
        let stations: StationSeed = serde_json::from_str(stations_json)
            .map_err(|source| SeedError::Json { file: "coach-stations.json", source })?;
        let mut ids = BTreeSet::new();
        let mut out_cameras = Vec::with_capacity(cameras.cameras.len());
        for c in cameras.cameras {
            let at = point("cameras.json", &c.id, c.lat, c.lon, &mut ids)?;
            out_cameras.push(Camera {
                id: c.id,
                name_zh: c.name_zh,
                name_en: c.name_en,
                road_zh: c.road_zh,
                road_en: c.road_en,
                direction: c.direction,
                at,
                snapshot_url: c.snapshot_url,
                stream_url: c.stream_url,
            });
        }
        let mut ids = BTreeSet::new();
        let mut out_stations = Vec::with_capacity(stations.stations.len());
        for s in stations.stations {
            let at = point("coach-stations.json", &s.id, s.lat, s.lon, &mut ids)?;
            out_stations.push(CoachStation {
                id: s.id,
                name_zh: s.name_zh,
                name_en: s.name_en,
                address_zh: s.address_zh,
                at,
                tickets_url: s.tickets_url,
            });
        }
        Ok(Self { operator: cameras.operator, cameras: out_cameras, stations: out_stations })
    }

    /// Cameras within `radius_m` of `at`, nearest first (ties by id, so answers are stable).
    pub fn cameras_near(&self, at: LatLon, radius_m: f64) -> Vec<Found<'_, Camera>> {
        let mut found: Vec<_> = self
            .cameras
            .iter()
            .map(|c| Found { item: c, distance_m: geometry::distance_m(at, c.at), along_m: None })
            .filter(|f| f.distance_m <= radius_m)
            .collect();
        found.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m).then_with(|| a.item.id.cmp(&b.item.id)));
        found
    }

    /// Cameras within `within_m` of `route`, in the order a traveller passes them (by metres
    /// from the route's start; ties by distance from the route, then id).
    pub fn cameras_along(&self, route: &Route, within_m: f64) -> Vec<Found<'_, Camera>> {
        let mut found: Vec<_> = self
            .cameras
            .iter()
            .filter_map(|c| {
                let (distance_m, along_m) = route.locate(c.at);
                (distance_m <= within_m).then_some(Found { item: c, distance_m, along_m: Some(along_m) })
            })
            .collect();
        found.sort_by(|a, b| {
            a.along_m
                .unwrap_or_default()
                .total_cmp(&b.along_m.unwrap_or_default())
                .then_with(|| a.distance_m.total_cmp(&b.distance_m))
                .then_with(|| a.item.id.cmp(&b.item.id))
        });
        found
    }

    /// The `limit` coach stations nearest `at`, nearest first.
    pub fn stations_near(&self, at: LatLon, limit: usize) -> Vec<Found<'_, CoachStation>> {
        let mut found: Vec<_> = self
            .stations
            .iter()
            .map(|s| Found { item: s, distance_m: geometry::distance_m(at, s.at), along_m: None })
            .collect();
        found.sort_by(|a, b| a.distance_m.total_cmp(&b.distance_m).then_with(|| a.item.id.cmp(&b.item.id)));
        found.truncate(limit);
        found
    }

    /// Every coach station, in seed order (for a client that has no position).
    pub fn stations(&self) -> &[CoachStation] {
        &self.stations
    }
}

fn point(file: &'static str, id: &str, lat: f64, lon: f64, ids: &mut BTreeSet<String>) -> Result<LatLon, SeedError> {
    if !ids.insert(id.to_owned()) {
        return Err(SeedError::Entry { file, id: id.to_owned(), why: "id used twice".into() });
    }
    LatLon::parse(lat, lon).map_err(|e| SeedError::Entry { file, id: id.to_owned(), why: e.to_string() })
}

#[derive(Deserialize)]
struct CameraSeed {
    operator: Operator,
    cameras: Vec<CameraRow>,
}

#[derive(Deserialize)]
struct CameraRow {
    id: String,
    name_zh: String,
    name_en: String,
    road_zh: String,
    road_en: String,
    direction: Direction,
    lat: f64,
    lon: f64,
    snapshot_url: String,
    stream_url: Option<String>,
}

#[derive(Deserialize)]
struct StationSeed {
    stations: Vec<StationRow>,
}

#[derive(Deserialize)]
struct StationRow {
    id: String,
    name_zh: String,
    name_en: String,
    address_zh: String,
    lat: f64,
    lon: f64,
    tickets_url: String,
}

#[cfg(test)]
mod tests;
