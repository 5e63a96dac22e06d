//! The in-memory spatial index of active stations: a uniform lat/lon grid, searched ring by ring.
//!
//! Nearest-station lookups are the hottest read (every Mini Program home screen); a grid of
//! ~1 km cells answers k-nearest among 10 000 stations by looking at a handful of cells, with
//! great-circle ranking by chord length on the unit sphere (the same order as haversine, without trigonometry per candidate) and haversine distances for the few it returns. The index is immutable: a change of stations builds
//! a new one and swaps it in (`AirState::refresh_index` in `engine/stations.rs`).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use city_platform::coords::{LatLon, EARTH_MEAN_RADIUS_M};

/// Degrees per grid cell (about 1.1 km of latitude).
const CELL_DEG: f64 = 0.01;

/// Metres per degree of latitude on the mean sphere, a lower bound for the distance of a ring.
const METRES_PER_DEG_LAT: f64 = 111_194.9;

/// A station as the index knows it.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexedStation {
    /// Station code.
    pub code: String,
    /// Display name.
    pub name: String,
    /// District code, when inside the city.
    pub district_code: Option<String>,
    /// Location, WGS-84.
    pub location: LatLon,
}

/// A station found near a point.
#[derive(Clone, Debug, PartialEq)]
pub struct Found<'a> {
    /// The station.
    pub station: &'a IndexedStation,
    /// Haversine distance in metres.
    pub distance_m: f64,
    /// The station's position in [`StationIndex::all`], so callers keep per-station data in a plain vector.
    pub position: u32,
}

/// Active stations bucketed by grid cell.
#[derive(Debug, Default)]
pub struct StationIndex {
    stations: Vec<IndexedStation>,
    /// Each station as a point on the unit sphere: ranking by chord length is ranking by
    /// great-circle distance, without a trigonometric call per candidate.
    unit: Vec<[f64; 3]>,
    cells: HashMap<(i32, i32), Vec<u32>, BuildHasherDefault<CellHasher>>,
    by_code: HashMap<String, u32>,
    /// Bounds of the occupied cells, to stop the ring search.
    min_cell: (i32, i32),
    max_cell: (i32, i32),
}

/// A multiplicative hash for grid cells: the keys are small integers chosen by us, not by
/// clients, so SipHash's flooding resistance buys nothing and costs most of a lookup.
#[derive(Default)]
struct CellHasher(u64);

impl Hasher for CellHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_i32(&mut self, n: i32) {
        self.write_u64(u64::from(n as u32));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

fn cell_of(p: LatLon) -> (i32, i32) {
    ((p.lat() / CELL_DEG).floor() as i32, (p.lon() / CELL_DEG).floor() as i32)
}

fn unit_vector(p: LatLon) -> [f64; 3] {
    let (phi, lambda) = (p.lat().to_radians(), p.lon().to_radians());
    [phi.cos() * lambda.cos(), phi.cos() * lambda.sin(), phi.sin()]
}

/// Squared chord between two unit vectors: 4·sin²(θ/2), monotonic in the central angle θ.
fn chord2(a: &[f64; 3], b: &[f64; 3]) -> f64 {
    let (x, y, z) = (a[0] - b[0], a[1] - b[1], a[2] - b[2]);
    x * x + y * y + z * z
}

/// The great-circle distance in metres of a squared chord.
fn chord2_to_m(c2: f64) -> f64 {
    2.0 * EARTH_MEAN_RADIUS_M * (c2.sqrt() / 2.0).clamp(0.0, 1.0).asin()
}

impl StationIndex {
    /// Builds the index over `stations`.
    pub fn new(stations: Vec<IndexedStation>) -> Self {
        let mut cells: HashMap<(i32, i32), Vec<u32>, BuildHasherDefault<CellHasher>> = HashMap::default();
        let (mut min_cell, mut max_cell) = ((i32::MAX, i32::MAX), (i32::MIN, i32::MIN));
        for (i, s) in stations.iter().enumerate() {
            let cell = cell_of(s.location);
            min_cell = (min_cell.0.min(cell.0), min_cell.1.min(cell.1));
            max_cell = (max_cell.0.max(cell.0), max_cell.1.max(cell.1));
            cells.entry(cell).or_default().push(i as u32);
        }
        let by_code = stations.iter().enumerate().map(|(i, s)| (s.code.clone(), i as u32)).collect();
        let unit = stations.iter().map(|s| unit_vector(s.location)).collect();
        Self { stations, unit, cells, by_code, min_cell, max_cell }
    }

    /// How many stations are indexed.
    pub fn len(&self) -> usize {
        self.stations.len()
    }

    /// Whether no station is indexed.
    pub fn is_empty(&self) -> bool {
        self.stations.is_empty()
    }

    /// A station by code.
    pub fn get(&self, code: &str) -> Option<&IndexedStation> {
        self.by_code.get(code).map(|&i| &self.stations[i as usize])
    }

    /// A station's position in [`StationIndex::all`].
    pub fn position(&self, code: &str) -> Option<u32> {
        self.by_code.get(code).copied()
    }

    /// All indexed stations.
    pub fn all(&self) -> &[IndexedStation] {
        &self.stations
    }

    /// Up to `k` stations within `max_m` metres of `at`, nearest first; equal distances by code.
    pub fn nearest(&self, at: LatLon, k: usize, max_m: f64) -> Vec<Found<'_>> {
        if self.stations.is_empty() || k == 0 {
            return Vec::new();
        }
        let (row, col) = cell_of(at);
        let here = unit_vector(at);
        // Compared as squared chords; a hair of slack so rounding never drops a station at exactly max_m.
        let max_c2 = {
            let half = (max_m / (2.0 * EARTH_MEAN_RADIUS_M)).min(std::f64::consts::FRAC_PI_2);
            (2.0 * half.sin()).powi(2) * (1.0 + 1e-12)
        };
        let by_rank = |a: &(f64, u32), b: &(f64, u32)| {
            a.0.total_cmp(&b.0).then_with(|| self.stations[a.1 as usize].code.cmp(&self.stations[b.1 as usize].code))
        };
        let mut found: Vec<(f64, u32)> = Vec::with_capacity(4 * k);
        // Longitude cells shrink with latitude; a ring r cells out is at least r-1 cells of
        // latitude-equivalent away only in latitude, so the stop test uses the smaller (longitude) size.
        let lat_cell_m = CELL_DEG * METRES_PER_DEG_LAT;
        let lon_cell_m = lat_cell_m * at.lat().to_radians().cos().max(0.01);
        let cell_m = lon_cell_m.min(lat_cell_m);
        let max_ring = self.max_ring(row, col).min((max_m / cell_m).ceil() as i32 + 1);
        // How far `at` lies inside its own cell (to the nearest edge): the block of rings 0..=r
        // reaches at least this plus r cells from it. Without it, ring 0 never proved anything
        // and a lookup always read the 9 cells around it, thousands of stations where a dense
        // network packs hundreds into a cell (issue #24: 100k stations cost ~28 µs more a request).
        let inside = |deg: f64, index: i32| (deg / CELL_DEG - f64::from(index)).clamp(0.0, 1.0);
        let (in_lat, in_lon) = (inside(at.lat(), row), inside(at.lon(), col));
        let edge_m = (in_lat.min(1.0 - in_lat) * lat_cell_m).min(in_lon.min(1.0 - in_lon) * lon_cell_m);
        // Once k are found, a station further than the k-th can never be among them.
        let mut limit_c2 = max_c2;
        for ring in 0..=max_ring {
            self.visit_ring(row, col, ring, |i| {
                let c2 = chord2(&here, &self.unit[i as usize]);
                if c2 <= limit_c2 {
                    found.push((c2, i));
                }
            });
            // Everything beyond this ring is at least `ring` cells and the edge's distance away
            // (less a hair: degrees of longitude are a linear stand-in for the sphere).
            if found.len() >= k {
                found.select_nth_unstable_by(k - 1, by_rank);
                if chord2_to_m(found[k - 1].0) <= (edge_m + f64::from(ring) * cell_m) * 0.9999 {
                    break;
                }
                // Equal distances stay in (a nearer code may still come): `<=` above.
                limit_c2 = found[k - 1].0;
                found.truncate(k);
            }
        }
        if found.len() > k {
            found.select_nth_unstable_by(k - 1, by_rank);
            found.truncate(k);
        }
        found.sort_unstable_by(by_rank);
        found
            .into_iter()
            .map(|(_, i)| {
                let station = &self.stations[i as usize];
                Found { station, distance_m: at.distance_m(station.location), position: i }
            })
            .filter(|f| f.distance_m <= max_m)
            .collect()
    }

    /// How many rings out from (row, col) until every occupied cell has been seen.
    fn max_ring(&self, row: i32, col: i32) -> i32 {
        let dr = (row - self.min_cell.0).abs().max((self.max_cell.0 - row).abs());
        let dc = (col - self.min_cell.1).abs().max((self.max_cell.1 - col).abs());
        dr.max(dc)
    }

    fn visit_ring(&self, row: i32, col: i32, ring: i32, mut visit: impl FnMut(u32)) {
        let mut cell = |r: i32, c: i32| {
            if let Some(ids) = self.cells.get(&(r, c)) {
                ids.iter().copied().for_each(&mut visit);
            }
        };
        if ring == 0 {
            cell(row, col);
            return;
        }
        for c in col - ring..=col + ring {
            cell(row - ring, c);
            cell(row + ring, c);
        }
        for r in row - ring + 1..=row + ring - 1 {
            cell(r, col - ring);
            cell(r, col + ring);
        }
    }
}

/// `n` synthetic stations spread over `bounds` (south, west, north, east), deterministic for a `seed`: for benchmarks and load tests.
pub fn generate_stations(n: usize, bounds: (f64, f64, f64, f64), seed: u64) -> Vec<IndexedStation> {
    // A small xorshift keeps this free of a random-number dependency and reproducible across runs.
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1_u64 << 53) as f64
    };
    let (south, west, north, east) = bounds;
    (0..n)
        .filter_map(|i| {
            let lat = south + (north - south) * next();
            let lon = west + (east - west) * next();
            Some(IndexedStation {
                code: format!("G{i:05}"),
                name: format!("Generated station {i}"),
                district_code: None,
                location: LatLon::new(lat, lon)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn station(code: &str, lat: f64, lon: f64) -> IndexedStation {
        IndexedStation {
            code: code.into(),
            name: code.into(),
            district_code: None,
            location: LatLon::new(lat, lon).unwrap(),
        }
    }

    #[test]
    fn the_reference_vector_ranks_s2_s3_s1_from_the_converted_gcj02_pin() {
        let index = StationIndex::new(vec![
            station("S1", 39.9000, 116.4000),
            station("S2", 39.9130, 116.3920),
            station("S3", 39.9080, 116.4080),
            station("S4", 39.9500, 116.3500),
        ]);
        let pin = LatLon::from_crs(city_platform::coords::Crs::Gcj02, 39.910126, 116.403743).unwrap();
        let found = index.nearest(pin, 3, 20_000.0);
        let codes: Vec<&str> = found.iter().map(|f| f.station.code.as_str()).collect();
        assert_eq!(codes, ["S2", "S3", "S1"]);
        assert!((found[0].distance_m - 668.0).abs() < 1.0, "{}", found[0].distance_m);
    }

    #[test]
    fn the_grid_agrees_with_a_linear_scan_on_generated_stations() {
        let stations = generate_stations(2_000, (30.3, 103.7, 31.0, 104.4), 7);
        let index = StationIndex::new(stations.clone());
        for probe in generate_stations(200, (30.2, 103.6, 31.1, 104.5), 11) {
            let at = probe.location;
            let mut scan: Vec<(f64, &str)> =
                stations.iter().map(|s| (at.distance_m(s.location), s.code.as_str())).collect();
            scan.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)));
            let got: Vec<&str> = index.nearest(at, 5, 1e9).iter().map(|f| f.station.code.as_str()).collect();
            let want: Vec<&str> = scan.iter().take(5).map(|s| s.1).collect();
            assert_eq!(got, want, "at {at:?}");
        }
    }

    #[test]
    fn a_dense_network_agrees_with_a_linear_scan_when_ring_0_suffices() {
        // Hundreds of stations a cell: most lookups stop after the point's own cell.
        let stations = generate_stations(20_000, (30.60, 104.00, 30.70, 104.10), 3);
        let index = StationIndex::new(stations.clone());
        for probe in generate_stations(300, (30.59, 103.99, 30.71, 104.11), 5) {
            let at = probe.location;
            let mut scan: Vec<(f64, &str)> =
                stations.iter().map(|s| (at.distance_m(s.location), s.code.as_str())).collect();
            scan.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(b.1)));
            for k in [1, 10] {
                let got: Vec<&str> = index.nearest(at, k, 20_000.0).iter().map(|f| f.station.code.as_str()).collect();
                let want: Vec<&str> = scan.iter().take(k).map(|s| s.1).collect();
                assert_eq!(got, want, "k {k} at {at:?}");
            }
        }
    }

    #[test]
    fn stations_beyond_the_radius_are_not_found() {
        let index = StationIndex::new(vec![station("FAR", 31.0, 104.0)]);
        assert!(index.nearest(LatLon::new(30.0, 104.0).unwrap(), 3, 20_000.0).is_empty());
        assert_eq!(index.nearest(LatLon::new(30.0, 104.0).unwrap(), 3, 200_000.0).len(), 1);
    }
}
