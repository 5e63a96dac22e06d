//! The demo city's districts: GeoJSON polygons from `seeds/districts.geojson`, and the
//! point-in-district lookup every service uses (incident routing, air quality per district).

use geo::{BoundingRect, Contains, MultiPolygon, Point, Rect};
use serde::Serialize;

use crate::coords::LatLon;

/// The seed file, compiled in so the portal runs from any working directory.
pub const DISTRICTS_GEOJSON: &str = include_str!("../../../seeds/districts.geojson");

/// One district (区).
#[derive(Debug, Clone, Serialize)]
pub struct District {
    /// The administrative division code (行政区划代码), e.g. `510104`.
    pub code: String,
    /// Chinese name, e.g. `锦江区`.
    pub name_zh: String,
    /// English name, e.g. `Jinjiang District`.
    pub name_en: String,
    /// Boundary in WGS-84.
    #[serde(skip)]
    pub area: MultiPolygon<f64>,
    #[serde(skip)]
    bounds: Option<Rect<f64>>,
}

/// All districts of the city.
#[derive(Debug, Clone)]
pub struct Districts {
    /// The city's name, from the seed's top-level `name`.
    pub city: String,
    items: Vec<District>,
    /// The FeatureCollection as served at `/v1/districts`.
    pub geojson: serde_json::Value,
}

/// Why the district seed could not be read.
#[derive(Debug, thiserror::Error)]
#[error("districts seed: {0}")]
pub struct DistrictsError(String);

impl Districts {
    /// The compiled-in demo city.
    pub fn demo() -> Result<Self, DistrictsError> {
        Self::parse(DISTRICTS_GEOJSON)
    }

    /// Parses a GeoJSON FeatureCollection whose features carry `code`, `name_zh`, `name_en`.
    pub fn parse(text: &str) -> Result<Self, DistrictsError> {
        let geojson: serde_json::Value = serde_json::from_str(text).map_err(|e| DistrictsError(e.to_string()))?;
        let fc: geojson::FeatureCollection =
            serde_json::from_value(geojson.clone()).map_err(|e| DistrictsError(e.to_string()))?;
        let city = geojson.get("name").and_then(|v| v.as_str()).unwrap_or("City").to_owned();
        let mut items = Vec::new();
        for (i, feature) in fc.features.into_iter().enumerate() {
            let prop = |k: &str| {
                feature
                    .property(k)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
                    .ok_or_else(|| DistrictsError(format!("feature {i} has no string property `{k}`")))
            };
            let (code, name_zh, name_en) = (prop("code")?, prop("name_zh")?, prop("name_en")?);
            let geometry = feature.geometry.ok_or_else(|| DistrictsError(format!("feature {i} has no geometry")))?;
            let area: MultiPolygon<f64> = match geo::Geometry::<f64>::try_from(geometry.value)
                .map_err(|e| DistrictsError(format!("feature {i}: {e}")))?
            {
                geo::Geometry::Polygon(p) => MultiPolygon(vec![p]),
                geo::Geometry::MultiPolygon(m) => m,
                _ => return Err(DistrictsError(format!("feature {i} is not a polygon"))),
            };
            let bounds = area.bounding_rect();
            items.push(District { code, name_zh, name_en, area, bounds });
        }
        if items.is_empty() {
            return Err(DistrictsError("no districts".into()));
        }
        Ok(Self { city, items, geojson })
    }

    /// Every district, in seed order.
    pub fn all(&self) -> &[District] {
        &self.items
    }

    /// The district by its code.
    pub fn get(&self, code: &str) -> Option<&District> {
        self.items.iter().find(|d| d.code == code)
    }

    /// The district that contains a WGS-84 point, if any.
    pub fn locate(&self, at: LatLon) -> Option<&District> {
        let p = Point::new(at.lon(), at.lat());
        self.items.iter().find(|d| d.bounds.is_some_and(|b| b.contains(&p)) && d.area.contains(&p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_city_has_six_to_ten_districts() {
        let d = Districts::demo().unwrap();
        assert!((6..=10).contains(&d.all().len()), "{}", d.all().len());
    }

    #[test]
    fn chunxi_road_is_in_jinjiang_and_shanghai_is_in_no_district() {
        let d = Districts::demo().unwrap();
        let chunxi_road = LatLon::new(30.6552, 104.0811).unwrap();
        assert_eq!(d.locate(chunxi_road).expect("Chunxi Road lies inside the city").code, "510104");
        let shanghai = LatLon::new(31.2304, 121.4737).unwrap();
        assert!(d.locate(shanghai).is_none());
    }

    #[test]
    fn every_district_contains_its_own_interior_point() {
        use geo::InteriorPoint;
        let d = Districts::demo().unwrap();
        for district in d.all() {
            let p = district.area.interior_point().unwrap();
            let at = LatLon::new(p.y(), p.x()).unwrap();
            assert_eq!(d.locate(at).unwrap().code, district.code);
        }
    }
}
