//! Placeholder until the coordinates module lands.

/// A WGS-84 point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatLon {
    lat: f64,
    lon: f64,
}

impl LatLon {
    /// A validated point.
    pub fn new(lat: f64, lon: f64) -> Option<Self> {
        ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)).then_some(Self { lat, lon })
    }
    /// Latitude.
    pub fn lat(&self) -> f64 {
        self.lat
    }
    /// Longitude.
    pub fn lon(&self) -> f64 {
        self.lon
    }
}

/// PLACEHOLDER-REPLACE: identity until the real transform lands.
pub fn gcj02_to_wgs84(p: LatLon) -> LatLon {
    p
}
