//! Distances on the sphere, with the `geo` crate's haversine measures: a city is small enough
//! that the mean-radius sphere is within 0.5 % of the ellipsoid, far below a camera's footprint.

use city_platform::coords::LatLon;
use geo::{Closest, Distance, Haversine, HaversineClosestPoint, Line, Point};

/// The most points a route may have: a long drive across the city, simplified, fits easily.
pub const MAX_ROUTE_POINTS: usize = 1000;

/// A polyline of at least two points, in WGS-84.
#[derive(Debug, Clone)]
pub struct Route {
    points: Vec<Point<f64>>,
}

/// Why points do not make a route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// Fewer than two points.
    #[error("a route needs at least two points")]
    TooShort,
    /// More than [`MAX_ROUTE_POINTS`].
    #[error("a route has at most {MAX_ROUTE_POINTS} points")]
    TooLong,
}

impl Route {
    /// A route through `points`, in order.
    pub fn parse(points: &[LatLon]) -> Result<Self, RouteError> {
        if points.len() < 2 {
            return Err(RouteError::TooShort);
        }
        if points.len() > MAX_ROUTE_POINTS {
            return Err(RouteError::TooLong);
        }
        Ok(Self { points: points.iter().map(|p| geo_point(*p)).collect() })
    }

    /// How far `at` is from the route, and how far along the route (from its start) the
    /// route's point nearest `at` lies, both in metres.
    pub fn locate(&self, at: LatLon) -> (f64, f64) {
        let at = geo_point(at);
        let mut best = (f64::INFINITY, 0.0);
        let mut travelled = 0.0;
        for pair in self.points.windows(2) {
            let (start, end) = (pair[0], pair[1]);
            let nearest = match Line::new(start, end).haversine_closest_point(&at) {
                Closest::Intersection(p) | Closest::SinglePoint(p) => p,
                // A segment of one repeated point has no direction: its start is its nearest point.
                Closest::Indeterminate => start,
            };
            let off = Haversine::distance(at, nearest);
            if off < best.0 {
                best = (off, travelled + Haversine::distance(start, nearest));
            }
            travelled += Haversine::distance(start, end);
        }
        best
    }
}

/// Great-circle metres between two points.
pub fn distance_m(a: LatLon, b: LatLon) -> f64 {
    Haversine::distance(geo_point(a), geo_point(b))
}

fn geo_point(p: LatLon) -> Point<f64> {
    Point::new(p.lon(), p.lat())
}
