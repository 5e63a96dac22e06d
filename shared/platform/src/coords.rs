//! Map coordinates: validated WGS-84 points, the GCJ-02 and BD-09 datums of Chinese map providers, and great-circle distance.
//!
//! WGS-84 ([`LatLon`]) is the canonical datum for storage and for open data.
//! WeChat, Tencent Maps and Amap use GCJ-02 ([`Gcj02`]), an obfuscated datum shifted 100–700 m non-linearly; Baidu uses BD-09 ([`Bd09`]) on top of that.
//! Each datum is its own type, so a point cannot be converted twice or compared across datums by mistake.
//! [`LatLon::from_crs`] turns what a client sent (with the datum it declared) into WGS-84; [`LatLon::to_crs`] goes back for display.
//!
//! The GCJ-02 transform is the public algorithm (Krasovsky 1940 ellipsoid) and is applied only inside a simple China bounding box, which also covers Korea, Mongolia and parts of Japan and South-East Asia.
//! That is adequate for pins inside a Chinese city; keep a city [`BoundingBox`] to reject pins that are obviously elsewhere.

use std::f64::consts::PI;
use std::fmt;
use std::str::FromStr;

/// Mean Earth radius used by [`LatLon::distance_m`], in metres (within about 0.5 % of the ellipsoidal distance).
pub const EARTH_MEAN_RADIUS_M: f64 = 6_371_008.8;

/// The inverse transforms stop once the forward transform reproduces the input to within this many degrees (about 0.1 mm).
pub const INVERSE_TOLERANCE_DEG: f64 = 1e-9;

/// Iterations are capped so that a point on the discontinuous box edge cannot loop forever; 3–4 are needed in practice.
const MAX_INVERSE_ITERATIONS: usize = 20;

// Krasovsky 1940 ellipsoid, as used by the GCJ-02 algorithm.
const KRASOVSKY_A: f64 = 6_378_245.0;
const KRASOVSKY_EE: f64 = 0.006_693_421_622_965_943;

// The box used by the common open implementations: inside iff 72.004 ≤ lon ≤ 137.8347 and 0.8293 ≤ lat ≤ 55.8271.
const CHINA_MIN_LON: f64 = 72.004;
const CHINA_MAX_LON: f64 = 137.8347;
const CHINA_MIN_LAT: f64 = 0.8293;
const CHINA_MAX_LAT: f64 = 55.8271;

const BD_K: f64 = PI * 3000.0 / 180.0;

/// A point in WGS-84 (GPS, OpenStreetMap, GeoJSON), in decimal degrees.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatLon {
    lat: f64,
    lon: f64,
}

/// A point in GCJ-02 ("Mars coordinates", 国测局坐标), as WeChat `wx.getLocation({type: 'gcj02'})`, Tencent Maps and Amap report it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gcj02 {
    lat: f64,
    lon: f64,
}

/// A point in BD-09, Baidu's datum (`bd09ll`), derived from GCJ-02.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bd09 {
    lat: f64,
    lon: f64,
}

crate::pattern!(
    /// A datum's name as a client may send it (see [`Crs::parse`]).
    pub CrsName = "^(gcj02|wgs84|bd09)$"
);

/// The datum a client declares for the coordinates it sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Crs {
    /// WGS-84.
    Wgs84,
    /// GCJ-02, the default for WeChat clients.
    Gcj02,
    /// BD-09 (Baidu).
    Bd09,
}

/// A rectangular service area in WGS-84, e.g. the city's, for rejecting pins that are obviously elsewhere.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoundingBox {
    south: f64,
    west: f64,
    north: f64,
    east: f64,
}

/// Why coordinates were rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CoordError {
    /// A coordinate is NaN or infinite.
    NotFinite,
    /// Latitude outside −90…90.
    LatitudeOutOfRange,
    /// Longitude outside −180…180.
    LongitudeOutOfRange,
    /// Exactly (0, 0), which is what clients send when they have no fix.
    NullIsland,
    /// A bounding box whose south edge is north of its north edge or whose west edge is east of its east edge.
    InvertedBox,
    /// A datum name other than `wgs84`, `gcj02` or `bd09`.
    UnknownCrs(String),
}

impl LatLon {
    /// Validates a WGS-84 point: finite, latitude in −90…90, longitude in −180…180, and not exactly (0, 0).
    pub fn parse(lat: f64, lon: f64) -> Result<Self, CoordError> {
        validate(lat, lon).map(|(lat, lon)| Self { lat, lon })
    }

    /// [`LatLon::parse`] without the reason, for callers that only need to know whether a point is valid.
    pub fn new(lat: f64, lon: f64) -> Option<Self> {
        Self::parse(lat, lon).ok()
    }

    /// Validates a point given in the datum `crs` and converts it to WGS-84.
    pub fn from_crs(crs: Crs, lat: f64, lon: f64) -> Result<Self, CoordError> {
        Ok(match crs {
            Crs::Wgs84 => Self::parse(lat, lon)?,
            Crs::Gcj02 => Gcj02::parse(lat, lon)?.to_wgs84(),
            Crs::Bd09 => Bd09::parse(lat, lon)?.to_wgs84(),
        })
    }

    /// Latitude in degrees, north positive.
    pub fn lat(self) -> f64 {
        self.lat
    }

    /// Longitude in degrees, east positive.
    pub fn lon(self) -> f64 {
        self.lon
    }

    /// The point as `(lat, lon)` in the datum `crs`, e.g. for a GCJ-02 basemap.
    pub fn to_crs(self, crs: Crs) -> (f64, f64) {
        match crs {
            Crs::Wgs84 => (self.lat, self.lon),
            Crs::Gcj02 => {
                let g = self.to_gcj02();
                (g.lat, g.lon)
            }
            Crs::Bd09 => {
                let b = self.to_bd09();
                (b.lat, b.lon)
            }
        }
    }

    /// The GCJ-02 point shown at the same place on a Chinese basemap; unchanged outside the China box.
    pub fn to_gcj02(self) -> Gcj02 {
        let (lat, lon) = wgs84_to_gcj02(self.lat, self.lon);
        Gcj02 { lat, lon }
    }

    /// The BD-09 point (via GCJ-02).
    pub fn to_bd09(self) -> Bd09 {
        self.to_gcj02().to_bd09()
    }

    /// Whether the point lies outside the China box, where GCJ-02 equals WGS-84.
    pub fn is_outside_china(self) -> bool {
        is_outside_china(self.lat, self.lon)
    }

    /// Great-circle (haversine) distance in metres on a sphere of radius [`EARTH_MEAN_RADIUS_M`]; good to about 0.5 %, enough to rank stations.
    pub fn distance_m(self, other: LatLon) -> f64 {
        let (phi1, phi2) = (self.lat.to_radians(), other.lat.to_radians());
        let d_phi = phi2 - phi1;
        let d_lambda = (other.lon - self.lon).to_radians();
        let a = (d_phi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (d_lambda / 2.0).sin().powi(2);
        // Rounding can push `a` a hair above 1 for antipodal points; asin would then give NaN.
        2.0 * EARTH_MEAN_RADIUS_M * a.clamp(0.0, 1.0).sqrt().asin()
    }
}

impl Gcj02 {
    /// Validates a GCJ-02 point with the same rules as [`LatLon::parse`].
    pub fn parse(lat: f64, lon: f64) -> Result<Self, CoordError> {
        validate(lat, lon).map(|(lat, lon)| Self { lat, lon })
    }

    /// Latitude in degrees.
    pub fn lat(self) -> f64 {
        self.lat
    }

    /// Longitude in degrees.
    pub fn lon(self) -> f64 {
        self.lon
    }

    /// The WGS-84 point, found by iterating the forward transform (w ← w − (F(w) − g)) until it reproduces this point to [`INVERSE_TOLERANCE_DEG`].
    ///
    /// A single correction step would leave up to about 2.5 m of error; iterating leaves well under a millimetre.
    pub fn to_wgs84(self) -> LatLon {
        let (lat, lon) = invert(self.lat, self.lon, wgs84_to_gcj02, (self.lat, self.lon));
        LatLon { lat, lon }
    }

    /// The BD-09 point.
    pub fn to_bd09(self) -> Bd09 {
        let (lat, lon) = gcj02_to_bd09(self.lat, self.lon);
        Bd09 { lat, lon }
    }
}

impl Bd09 {
    /// Validates a BD-09 point with the same rules as [`LatLon::parse`].
    pub fn parse(lat: f64, lon: f64) -> Result<Self, CoordError> {
        validate(lat, lon).map(|(lat, lon)| Self { lat, lon })
    }

    /// Latitude in degrees.
    pub fn lat(self) -> f64 {
        self.lat
    }

    /// Longitude in degrees.
    pub fn lon(self) -> f64 {
        self.lon
    }

    /// The GCJ-02 point.
    ///
    /// The usual closed-form reverse is only approximate (about 5 cm off at Beijing), so it is used as the starting point and refined by iterating the forward transform.
    pub fn to_gcj02(self) -> Gcj02 {
        let start = bd09_to_gcj02_approx(self.lat, self.lon);
        let (lat, lon) = invert(self.lat, self.lon, gcj02_to_bd09, start);
        Gcj02 { lat, lon }
    }

    /// The WGS-84 point (via GCJ-02).
    pub fn to_wgs84(self) -> LatLon {
        self.to_gcj02().to_wgs84()
    }
}

impl Crs {
    /// The stable code: `wgs84`, `gcj02`, `bd09`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Wgs84 => "wgs84",
            Self::Gcj02 => "gcj02",
            Self::Bd09 => "bd09",
        }
    }

    /// Reads a datum name, ignoring case, `-` and `_`: `wgs84`, `WGS-84`, `gcj02`, `bd09`, and Baidu's `wgs84ll`, `gcj02ll`, `bd09ll`.
    /// Baidu Mercator metres (`bd09mc`) and anything else are rejected.
    pub fn parse(text: &str) -> Result<Self, CoordError> {
        let normalised: String =
            text.trim().chars().filter(|ch| !matches!(ch, '-' | '_')).map(|ch| ch.to_ascii_lowercase()).collect();
        match normalised.as_str() {
            "wgs84" | "wgs84ll" => Ok(Self::Wgs84),
            "gcj02" | "gcj02ll" => Ok(Self::Gcj02),
            "bd09" | "bd09ll" => Ok(Self::Bd09),
            _ => Err(CoordError::UnknownCrs(text.to_owned())),
        }
    }
}

impl BoundingBox {
    /// Validates a box from its edges in WGS-84 degrees; it may not cross the antimeridian.
    pub fn parse(south: f64, west: f64, north: f64, east: f64) -> Result<Self, CoordError> {
        let (south, west) = validate_range(south, west)?;
        let (north, east) = validate_range(north, east)?;
        if south > north || west > east {
            return Err(CoordError::InvertedBox);
        }
        Ok(Self { south, west, north, east })
    }

    /// Whether the point lies inside the box or on its edge.
    pub fn contains(&self, point: LatLon) -> bool {
        (self.south..=self.north).contains(&point.lat) && (self.west..=self.east).contains(&point.lon)
    }
}

/// Whether a point lies outside the simple China box used by the common GCJ-02 implementations (inside iff 72.004 ≤ lon ≤ 137.8347 and 0.8293 ≤ lat ≤ 55.8271).
///
/// The box is generous: Seoul, for example, is inside it although the offset is not applied there.
pub fn is_outside_china(lat: f64, lon: f64) -> bool {
    !((CHINA_MIN_LON..=CHINA_MAX_LON).contains(&lon) && (CHINA_MIN_LAT..=CHINA_MAX_LAT).contains(&lat))
}

/// Reads the numbers of `point` as GCJ-02 and returns the WGS-84 point, for callers that keep client numbers in a [`LatLon`] before converting.
///
/// Prefer [`LatLon::from_crs`] or [`Gcj02::to_wgs84`], whose types keep a GCJ-02 point from being taken for WGS-84.
pub fn gcj02_to_wgs84(point: LatLon) -> LatLon {
    Gcj02 { lat: point.lat, lon: point.lon }.to_wgs84()
}

impl fmt::Display for Crs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Crs {
    type Err = CoordError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for CoordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFinite => f.write_str("coordinates must be finite numbers"),
            Self::LatitudeOutOfRange => f.write_str("latitude must be between -90 and 90"),
            Self::LongitudeOutOfRange => f.write_str("longitude must be between -180 and 180"),
            Self::NullIsland => f.write_str("(0, 0) is not a real location"),
            Self::InvertedBox => f.write_str("the box's south/west edges must not exceed its north/east edges"),
            Self::UnknownCrs(text) => write!(f, "unknown coordinate system {text:?}; expected wgs84, gcj02 or bd09"),
        }
    }
}

impl std::error::Error for CoordError {}

fn validate(lat: f64, lon: f64) -> Result<(f64, f64), CoordError> {
    let (lat, lon) = validate_range(lat, lon)?;
    if lat == 0.0 && lon == 0.0 {
        return Err(CoordError::NullIsland);
    }
    Ok((lat, lon))
}

fn validate_range(lat: f64, lon: f64) -> Result<(f64, f64), CoordError> {
    if !lat.is_finite() || !lon.is_finite() {
        return Err(CoordError::NotFinite);
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(CoordError::LatitudeOutOfRange);
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(CoordError::LongitudeOutOfRange);
    }
    Ok((lat, lon))
}

/// The public WGS-84 → GCJ-02 algorithm; identity outside the China box.
fn wgs84_to_gcj02(lat: f64, lon: f64) -> (f64, f64) {
    if is_outside_china(lat, lon) {
        return (lat, lon);
    }
    let x = lon - 105.0;
    let y = lat - 35.0;
    let waves = |a: f64, b: f64, c: f64, d: f64| (a * c.sin() + b * d.sin()) * 2.0 / 3.0;
    let t_lat = -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * x.abs().sqrt()
        + waves(20.0, 20.0, 6.0 * PI * x, 2.0 * PI * x)
        + waves(20.0, 40.0, PI * y, PI * y / 3.0)
        + waves(160.0, 320.0, PI * y / 12.0, PI * y / 30.0);
    let t_lon = 300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * x.abs().sqrt()
        + waves(20.0, 20.0, 6.0 * PI * x, 2.0 * PI * x)
        + waves(20.0, 40.0, PI * x, PI * x / 3.0)
        + waves(150.0, 300.0, PI * x / 12.0, PI * x / 30.0);
    let phi = lat.to_radians();
    let m = 1.0 - KRASOVSKY_EE * phi.sin().powi(2);
    let sqrt_m = m.sqrt();
    let d_lat = t_lat * 180.0 / ((KRASOVSKY_A * (1.0 - KRASOVSKY_EE)) / (m * sqrt_m) * PI);
    let d_lon = t_lon * 180.0 / (KRASOVSKY_A / sqrt_m * phi.cos() * PI);
    (lat + d_lat, lon + d_lon)
}

fn gcj02_to_bd09(lat: f64, lon: f64) -> (f64, f64) {
    let (x, y) = (lon, lat);
    let z = (x * x + y * y).sqrt() + 0.00002 * (y * BD_K).sin();
    let theta = y.atan2(x) + 0.000003 * (x * BD_K).cos();
    (z * theta.sin() + 0.006, z * theta.cos() + 0.0065)
}

fn bd09_to_gcj02_approx(lat: f64, lon: f64) -> (f64, f64) {
    let (x, y) = (lon - 0.0065, lat - 0.006);
    let z = (x * x + y * y).sqrt() - 0.00002 * (y * BD_K).sin();
    let theta = y.atan2(x) - 0.000003 * (x * BD_K).cos();
    (z * theta.sin(), z * theta.cos())
}

/// Solves `forward(w) = target` by fixed-point iteration from `start`; the transforms are small perturbations of the identity, so this converges in a few steps.
fn invert(target_lat: f64, target_lon: f64, forward: fn(f64, f64) -> (f64, f64), start: (f64, f64)) -> (f64, f64) {
    let (mut lat, mut lon) = start;
    for _ in 0..MAX_INVERSE_ITERATIONS {
        let (f_lat, f_lon) = forward(lat, lon);
        let (e_lat, e_lon) = (f_lat - target_lat, f_lon - target_lon);
        if e_lat.abs() < INVERSE_TOLERANCE_DEG && e_lon.abs() < INVERSE_TOLERANCE_DEG {
            break;
        }
        lat -= e_lat;
        lon -= e_lon;
    }
    (lat, lon)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wgs(lat: f64, lon: f64) -> LatLon {
        LatLon::parse(lat, lon).expect("valid test point")
    }

    fn gcj(lat: f64, lon: f64) -> Gcj02 {
        Gcj02::parse(lat, lon).expect("valid test point")
    }

    /// Tolerance for values the reference prints to six decimals.
    const DEG: f64 = 1e-6;

    fn assert_close(actual: (f64, f64), expected: (f64, f64), tolerance: f64, what: &str) {
        assert!(
            (actual.0 - expected.0).abs() <= tolerance && (actual.1 - expected.1).abs() <= tolerance,
            "{what}: got {actual:?}, expected {expected:?} ± {tolerance}"
        );
    }

    struct Vector {
        name: &'static str,
        wgs: (f64, f64),
        gcj: (f64, f64),
        shift_m: f64,
        single_step_error_m: f64,
    }

    /// Reference §5.5, points where the forward transform applies.
    const SHIFTED: [Vector; 9] = [
        Vector {
            name: "Beijing, Tiananmen",
            wgs: (39.908722, 116.397499),
            gcj: (39.910126, 116.403743),
            shift_m: 555.0,
            single_step_error_m: 0.07,
        },
        Vector {
            name: "Shanghai, People's Square",
            wgs: (31.230416, 121.473701),
            gcj: (31.228474, 121.478224),
            shift_m: 481.0,
            single_step_error_m: 2.1,
        },
        Vector {
            name: "Shenzhen, Civic Center",
            wgs: (22.543099, 114.057868),
            gcj: (22.540382, 114.062982),
            shift_m: 606.0,
            single_step_error_m: 1.1,
        },
        Vector {
            name: "Guangzhou, Canton Tower",
            wgs: (23.106414, 113.324553),
            gcj: (23.103812, 113.329974),
            shift_m: 625.0,
            single_step_error_m: 1.5,
        },
        Vector {
            name: "Urumqi",
            wgs: (43.825592, 87.616848),
            gcj: (43.826797, 87.619698),
            shift_m: 265.0,
            single_step_error_m: 0.32,
        },
        Vector {
            name: "Mohe",
            wgs: (52.972000, 122.538000),
            gcj: (52.973514, 122.545031),
            shift_m: 500.0,
            single_step_error_m: 2.3,
        },
        Vector {
            name: "Kashgar",
            wgs: (39.470400, 75.989800),
            gcj: (39.470627, 75.992755),
            shift_m: 255.0,
            single_step_error_m: 1.3,
        },
        Vector {
            name: "Seoul (box test)",
            wgs: (37.566500, 126.978000),
            gcj: (37.567402, 126.983083),
            shift_m: 459.0,
            single_step_error_m: 2.5,
        },
        Vector {
            name: "Box edge lon 72.0041",
            wgs: (38.000000, 72.004100),
            gcj: (37.999809, 72.008251),
            shift_m: 364.0,
            single_step_error_m: 1.7,
        },
    ];

    #[test]
    fn the_forward_transform_reproduces_every_reference_vector() {
        for v in &SHIFTED {
            let g = wgs(v.wgs.0, v.wgs.1).to_gcj02();
            assert_close((g.lat(), g.lon()), v.gcj, DEG, v.name);
            let shift = wgs(v.wgs.0, v.wgs.1).distance_m(wgs(g.lat(), g.lon()));
            assert!((shift - v.shift_m).abs() < 1.0, "{}: shift {shift} m", v.name);
        }
    }

    #[test]
    fn the_iterated_inverse_recovers_the_wgs84_point_to_well_under_a_millimetre() {
        for v in &SHIFTED {
            let original = wgs(v.wgs.0, v.wgs.1);
            let back = original.to_gcj02().to_wgs84();
            let error = original.distance_m(back);
            assert!(error < 1e-4, "{}: {error} m", v.name);
            // From the six-decimal GCJ-02 value in the table, too.
            let from_table = gcj(v.gcj.0, v.gcj.1).to_wgs84();
            assert_close((from_table.lat(), from_table.lon()), v.wgs, DEG, v.name);
        }
    }

    #[test]
    fn a_single_correction_step_would_leave_the_metres_of_error_the_reference_reports() {
        for v in &SHIFTED {
            let original = wgs(v.wgs.0, v.wgs.1);
            let g = original.to_gcj02();
            let f = wgs84_to_gcj02(g.lat(), g.lon());
            let one_step = wgs(g.lat() - (f.0 - g.lat()), g.lon() - (f.1 - g.lon()));
            let error = original.distance_m(one_step);
            let tolerance = 0.05 + 0.1 * v.single_step_error_m;
            assert!((error - v.single_step_error_m).abs() < tolerance, "{}: {error} m", v.name);
        }
    }

    #[test]
    fn points_outside_the_china_box_are_left_unchanged_both_ways() {
        for (name, lat, lon) in
            [("Tokyo", 35.6895, 139.6917), ("Box edge lon 72.0039", 38.0, 72.0039), ("London", 51.5074, -0.1278)]
        {
            let p = wgs(lat, lon);
            assert!(p.is_outside_china(), "{name}");
            let g = p.to_gcj02();
            assert_eq!((g.lat(), g.lon()), (lat, lon), "{name}");
            assert_eq!(gcj(lat, lon).to_wgs84(), p, "{name}");
        }
        assert!(!wgs(37.5665, 126.978).is_outside_china(), "Seoul is inside the simple box");
    }

    #[test]
    fn the_box_test_uses_inclusive_edges() {
        let cases = [
            (38.0, 72.004, false),
            (38.0, 72.0039, true),
            (38.0, 137.8347, false),
            (38.0, 137.8348, true),
            (0.8293, 100.0, false),
            (0.8292, 100.0, true),
            (55.8271, 100.0, false),
            (55.8272, 100.0, true),
        ];
        for (lat, lon, outside) in cases {
            assert_eq!(is_outside_china(lat, lon), outside, "{lat}, {lon}");
        }
    }

    #[test]
    fn bd09_of_tiananmen_matches_the_reference_and_reverses_exactly() {
        let g = wgs(39.908722, 116.397499).to_gcj02();
        let b = g.to_bd09();
        assert_close((b.lat(), b.lon()), (39.916465, 116.410116), DEG, "BD-09");
        let back = b.to_gcj02();
        let error = wgs(g.lat(), g.lon()).distance_m(wgs(back.lat(), back.lon()));
        assert!(error < 1e-4, "refined reverse is off by {error} m");
        // The closed-form reverse alone is about 5 cm off, as the reference says.
        let approx = bd09_to_gcj02_approx(b.lat(), b.lon());
        let approx_error = wgs(g.lat(), g.lon()).distance_m(wgs(approx.0, approx.1));
        assert!((0.03..0.08).contains(&approx_error), "{approx_error} m");
        let via_bd = b.to_wgs84();
        assert_close((via_bd.lat(), via_bd.lon()), (39.908722, 116.397499), 1e-8, "BD-09 → WGS-84");
    }

    #[test]
    fn client_points_convert_to_wgs84_from_their_declared_datum() {
        let from_gcj = LatLon::from_crs(Crs::Gcj02, 39.910126, 116.403743).expect("valid");
        assert_close((from_gcj.lat(), from_gcj.lon()), (39.908722, 116.397499), DEG, "gcj02");
        let from_wgs = LatLon::from_crs(Crs::Wgs84, 39.908722, 116.397499).expect("valid");
        assert_eq!((from_wgs.lat(), from_wgs.lon()), (39.908722, 116.397499));
        let from_bd = LatLon::from_crs(Crs::Bd09, 39.916465, 116.410116).expect("valid");
        assert_close((from_bd.lat(), from_bd.lon()), (39.908722, 116.397499), DEG, "bd09");
        assert_close(from_wgs.to_crs(Crs::Gcj02), (39.910126, 116.403743), DEG, "to gcj02");
        assert_close(from_wgs.to_crs(Crs::Bd09), (39.916465, 116.410116), DEG, "to bd09");
        assert_eq!(from_wgs.to_crs(Crs::Wgs84), (39.908722, 116.397499));
        assert_eq!(LatLon::from_crs(Crs::Gcj02, 91.0, 116.0), Err(CoordError::LatitudeOutOfRange));
    }

    #[test]
    fn invalid_coordinates_are_rejected_with_the_reason() {
        let cases = [
            (f64::NAN, 116.0, CoordError::NotFinite),
            (39.9, f64::INFINITY, CoordError::NotFinite),
            (90.000001, 116.0, CoordError::LatitudeOutOfRange),
            (-91.0, 116.0, CoordError::LatitudeOutOfRange),
            (39.9, 180.5, CoordError::LongitudeOutOfRange),
            (39.9, -181.0, CoordError::LongitudeOutOfRange),
            (0.0, 0.0, CoordError::NullIsland),
        ];
        for (lat, lon, expected) in cases {
            assert_eq!(LatLon::parse(lat, lon), Err(expected.clone()), "{lat}, {lon}");
            assert_eq!(Gcj02::parse(lat, lon), Err(expected.clone()), "{lat}, {lon}");
            assert_eq!(Bd09::parse(lat, lon), Err(expected), "{lat}, {lon}");
        }
        for (lat, lon) in [(90.0, 180.0), (-90.0, -180.0), (0.0, 1e-9)] {
            assert!(LatLon::parse(lat, lon).is_ok(), "{lat}, {lon}");
        }
    }

    #[test]
    fn the_short_forms_new_and_gcj02_to_wgs84_agree_with_the_typed_ones() {
        assert_eq!(LatLon::new(39.9, 116.4), Some(wgs(39.9, 116.4)));
        assert_eq!(LatLon::new(0.0, 0.0), None);
        assert_eq!(LatLon::new(f64::NAN, 116.4), None);
        let pin = gcj02_to_wgs84(wgs(39.910126, 116.403743));
        assert_eq!(pin, gcj(39.910126, 116.403743).to_wgs84());
        assert_close((pin.lat(), pin.lon()), (39.908722, 116.397499), DEG, "pin");
    }

    #[test]
    fn datum_names_parse_and_unknown_ones_are_rejected() {
        let cases = [
            ("wgs84", Crs::Wgs84),
            ("WGS-84", Crs::Wgs84),
            ("wgs84ll", Crs::Wgs84),
            ("gcj02", Crs::Gcj02),
            ("GCJ_02", Crs::Gcj02),
            ("gcj02ll", Crs::Gcj02),
            ("bd09", Crs::Bd09),
            ("bd09ll", Crs::Bd09),
        ];
        for (text, crs) in cases {
            assert_eq!(Crs::parse(text), Ok(crs), "{text}");
        }
        for crs in [Crs::Wgs84, Crs::Gcj02, Crs::Bd09] {
            assert_eq!(crs.code().parse::<Crs>(), Ok(crs));
        }
        assert_eq!(Crs::parse("bd09mc"), Err(CoordError::UnknownCrs("bd09mc".to_owned())));
        assert!(Crs::parse("").is_err());
    }

    #[test]
    fn haversine_distances_rank_the_reference_stations_after_converting_the_pin() {
        let pin = gcj(39.910126, 116.403743).to_wgs84();
        assert_close((pin.lat(), pin.lon()), (39.908722, 116.397499), DEG, "pin");
        let stations = [
            ("S1", wgs(39.9000, 116.4000), 993.1),
            ("S2", wgs(39.9130, 116.3920), 668.0),
            ("S3", wgs(39.9080, 116.4080), 899.2),
            ("S4", wgs(39.9500, 116.3500), 6121.3),
        ];
        for (name, station, metres) in stations {
            let d = pin.distance_m(station);
            assert!((d - metres).abs() <= 0.1, "{name}: {d} m");
        }
        let mut ranked: Vec<(&str, f64)> = stations.iter().map(|(n, s, _)| (*n, pin.distance_m(*s))).collect();
        ranked.sort_by(|a, b| a.1.total_cmp(&b.1));
        let order: Vec<&str> = ranked.iter().map(|(n, _)| *n).collect();
        assert_eq!(order, ["S2", "S3", "S1", "S4"]);

        // The classic wrong-datum bug: using the GCJ-02 numbers as if they were WGS-84 puts S3 first.
        let unconverted = wgs(39.910126, 116.403743);
        let mut wrong: Vec<(&str, f64)> = stations.iter().map(|(n, s, _)| (*n, unconverted.distance_m(*s))).collect();
        wrong.sort_by(|a, b| a.1.total_cmp(&b.1));
        assert_eq!(wrong[0].0, "S3");
        assert!((wrong[0].1 - 433.0).abs() < 1.0, "{} m", wrong[0].1);
        assert_eq!(wrong.iter().map(|(n, _)| *n).take(3).collect::<Vec<_>>(), ["S3", "S2", "S1"]);
    }

    #[test]
    fn haversine_gives_the_reference_long_distance_and_handles_degenerate_cases() {
        let tiananmen = wgs(39.908722, 116.397499);
        let peoples_square = wgs(31.230416, 121.473701);
        let d = tiananmen.distance_m(peoples_square);
        assert!((d - 1_068_141.0).abs() < 1.0, "{d} m");
        assert_eq!(tiananmen.distance_m(tiananmen), 0.0);
        assert_eq!(tiananmen.distance_m(peoples_square), peoples_square.distance_m(tiananmen));
        // Haversine is ill-conditioned at the antipode; it must still give about half the circumference, not NaN.
        let antipodal = wgs(10.0, 20.0).distance_m(wgs(-10.0, -160.0));
        assert!((antipodal - PI * EARTH_MEAN_RADIUS_M).abs() < 1.0, "{antipodal}");
    }

    #[test]
    fn a_city_bounding_box_accepts_pins_inside_and_rejects_the_rest() {
        let beijing = BoundingBox::parse(39.4, 115.4, 41.1, 117.5).expect("valid box");
        assert!(beijing.contains(wgs(39.908722, 116.397499)));
        assert!(!beijing.contains(wgs(31.230416, 121.473701)));
        assert!(beijing.contains(wgs(39.4, 115.4)));
        assert_eq!(BoundingBox::parse(41.0, 115.0, 39.0, 117.0), Err(CoordError::InvertedBox));
        assert_eq!(BoundingBox::parse(39.0, 117.0, 41.0, 115.0), Err(CoordError::InvertedBox));
        assert_eq!(BoundingBox::parse(39.0, 115.0, 95.0, 117.0), Err(CoordError::LatitudeOutOfRange));
    }
}
