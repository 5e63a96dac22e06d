//! Traffic: the city's reference data for getting around, served under `/v1/traffic`.
//!
//! - Traffic cameras (location, road, direction, the operator's snapshot and stream URLs): near a
//!   point, or within some metres of a route, in distance order.
//! - Coach stations, nearest first. Tickets stay the operators' (the catalogue links to them).
//!
//! Layout: `domain/` holds the directory and its geometry (pure, unit-tested); `api.rs` the
//! handlers, DTOs and the `coord` datum of questions and answers. The data is compiled in from
//! `seeds/traffic/`, like the districts.
//!
//! Invariants: no store, no events, no credentials. Everything is public reference data, so the
//! gateway mounts [`TrafficApi`] in-process in every mode that answers citizens (all-in-one and
//! the gateway of a split deployment); the edge's rate limit applies as to any public read.

mod api;
pub mod domain;

pub use api::TrafficApi;

/// The service's name in logs and documents.
pub const NAME: &str = "traffic";

/// The camera directory seed, compiled in.
const CAMERAS_JSON: &str = include_str!("../../../seeds/traffic/cameras.json");
/// The coach station seed, compiled in.
const STATIONS_JSON: &str = include_str!("../../../seeds/traffic/coach-stations.json");

/// The traffic API over the city's seeds; fails only if a seed is broken.
pub fn api() -> Result<TrafficApi, domain::SeedError> {
    let directory = domain::Directory::parse(CAMERAS_JSON, STATIONS_JSON)?;
    Ok(TrafficApi::new(std::sync::Arc::new(directory)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_compiled_in_seeds_parse() {
        let api = super::api();
        assert!(api.is_ok(), "{:?}", api.err());
    }
}
