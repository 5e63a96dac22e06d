//! The map's fixed world grid and the per-cell counts kept for it.
//!
//! At web-map zoom `z` a cell is `90 / 2^z` degrees on a side (about 64 screen pixels of a
//! 256-pixel tile). Cells are numbered from the south-west corner of the world, so every
//! index is non-negative and the cell of zoom `z - 1` holding a cell of zoom `z` is
//! `(row >> 1, col >> 1)`: a coarse cell is always the exact union of its finer cells.
//!
//! Each report stores its cell at [`FINE_ZOOM`]; the count table holds, for every zoom in
//! [`COUNT_ZOOMS`], the reports per (cell, category, state) plus the same per (cell, state)
//! under [`ALL_CATEGORIES`], so a clustered map is a sum over at most a few thousand rows
//! whatever the number of reports. Only reports whose text passed the content-safety check
//! are on the map, so only they are counted.

use std::collections::BTreeMap;

/// The zoom of the cell stored with each report (about 76 m of latitude); clusters are
/// never finer than this.
pub const FINE_ZOOM: u8 = 17;

/// The zooms the count table keeps. A view at zoom `z` reads the first of these at or above
/// `z` and adds up at most 2 × 2 of its cells per cluster; views finer than the last one
/// group their few thousand reports straight from the reports' own cells.
pub const COUNT_ZOOMS: [u8; 4] = [10, 12, 14, 16];

/// The count rows that sum every category of a cell carry this instead of a category code.
pub const ALL_CATEGORIES: &str = "*";

/// A view never gets more clusters than this across its longer side: a huge box at a fine
/// zoom is clustered on a coarser grid instead of scanning the city cell by cell.
pub const MAX_CLUSTERS_PER_SIDE: f64 = 32.0;

/// The side of a grid cell at `zoom` (0–22), in degrees.
pub fn cell_deg(zoom: u8) -> f64 {
    90.0 / f64::from(1u32 << zoom.min(22))
}

/// A report's cell at [`FINE_ZOOM`]: (row from 90° S, column from 180° W).
///
/// The migration's backfill computes the same numbers in SQL with the same IEEE division,
/// so rows written before and after it agree.
pub fn fine_cell(lat: f64, lon: f64) -> (i64, i64) {
    let cell = cell_deg(FINE_ZOOM);
    (((lat + 90.0) / cell).floor() as i64, ((lon + 180.0) / cell).floor() as i64)
}

/// The cell at `zoom` (≤ [`FINE_ZOOM`]) holding a point.
pub fn cell_at(zoom: u8, lat: f64, lon: f64) -> (i64, i64) {
    let (row, col) = fine_cell(lat, lon);
    let shift = FINE_ZOOM - zoom.min(FINE_ZOOM);
    (row >> shift, col >> shift)
}

/// The cell numbering earlier answers used (`floor(lat / cell)`, negative south and west),
/// kept for cluster ids so they stay stable.
pub fn signed_cell(zoom: u8, (row, col): (i64, i64)) -> (i64, i64) {
    (row - (1i64 << zoom), col - (2i64 << zoom))
}

/// A south-west/north-east box in WGS-84 degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bbox {
    /// South edge.
    pub south: f64,
    /// West edge.
    pub west: f64,
    /// North edge.
    pub north: f64,
    /// East edge.
    pub east: f64,
}

/// The cells at one zoom that a box touches: rows `row0..=row1`, columns `col0..=col1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellRange {
    /// The grid's zoom.
    pub zoom: u8,
    /// First row.
    pub row0: i64,
    /// Last row.
    pub row1: i64,
    /// First column.
    pub col0: i64,
    /// Last column.
    pub col1: i64,
}

impl CellRange {
    /// The cells at `zoom` that `b` touches.
    pub fn covering(zoom: u8, b: &Bbox) -> Self {
        let (row0, col0) = cell_at(zoom, b.south, b.west);
        let (row1, col1) = cell_at(zoom, b.north, b.east);
        Self { zoom, row0, row1, col0, col1 }
    }

    /// The same cells, numbered at the finer `zoom`.
    pub fn at(&self, zoom: u8) -> Self {
        let k = zoom - self.zoom;
        Self {
            zoom,
            row0: self.row0 << k,
            row1: ((self.row1 + 1) << k) - 1,
            col0: self.col0 << k,
            col1: ((self.col1 + 1) << k) - 1,
        }
    }

    /// How many rows it spans.
    pub fn n_rows(&self) -> i64 {
        self.row1 - self.row0 + 1
    }
}

/// Whether the cell `(row, col)` at `zoom` lies wholly inside `b` (its reports are all in
/// the view, not only some).
pub fn cell_inside(zoom: u8, (row, col): (i64, i64), b: &Bbox) -> bool {
    let d = cell_deg(zoom);
    let (south, west) = (row as f64 * d - 90.0, col as f64 * d - 180.0);
    b.south <= south && south + d <= b.north && b.west <= west && west + d <= b.east
}

/// The grid a view is clustered on: the view's zoom, never finer than [`FINE_ZOOM`], and
/// coarser when the box would hold more than [`MAX_CLUSTERS_PER_SIDE`] cells across.
pub fn cluster_zoom(zoom: u8, b: &Bbox) -> u8 {
    let extent = (b.north - b.south).max(b.east - b.west);
    let mut z = zoom.min(FINE_ZOOM);
    while z > 0 && extent / cell_deg(z) > MAX_CLUSTERS_PER_SIDE {
        z -= 1;
    }
    z
}

/// The count-table zoom that serves clusters at `zoom`, or `None` when it is finer than every
/// kept zoom (the view is small enough to group its reports directly).
pub fn count_zoom(zoom: u8) -> Option<u8> {
    COUNT_ZOOMS.into_iter().find(|z| *z >= zoom)
}

/// What the map counts of one report: where it is and how it is classified.
#[derive(Debug, Clone, PartialEq)]
pub struct MapEntry {
    /// Category code.
    pub category: String,
    /// State code.
    pub state: String,
    /// WGS-84 latitude.
    pub lat: f64,
    /// WGS-84 longitude.
    pub lon: f64,
}

/// One count row's key: (zoom, category or [`ALL_CATEGORIES`], row, column, state).
pub type CountKey = (u8, String, i64, i64, String);

/// A change to one count row.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CountDelta {
    /// Reports added (negative: removed).
    pub n: i64,
    /// Latitudes added, for the cluster's centroid.
    pub sum_lat: f64,
    /// Longitudes added.
    pub sum_lon: f64,
}

/// The count rows that change when a report leaves the map as `removed` and joins it as
/// `added` (either may be absent), with rows that cancel out left out. The keys come out
/// sorted, so concurrent writers touch count rows in one order and never deadlock.
pub fn count_deltas(removed: Option<&MapEntry>, added: Option<&MapEntry>) -> BTreeMap<CountKey, CountDelta> {
    let mut out = BTreeMap::new();
    add_entry(&mut out, removed, -1);
    add_entry(&mut out, added, 1);
    out.retain(|_, d: &mut CountDelta| d.n != 0);
    out
}

/// Adds `sign` × one report to every count row it belongs to (bulk loads use this too).
pub fn add_entry(out: &mut BTreeMap<CountKey, CountDelta>, entry: Option<&MapEntry>, sign: i64) {
    let Some(e) = entry else { return };
    for zoom in COUNT_ZOOMS {
        let (row, col) = cell_at(zoom, e.lat, e.lon);
        for category in [e.category.as_str(), ALL_CATEGORIES] {
            let d = out.entry((zoom, category.to_owned(), row, col, e.state.clone())).or_default();
            d.n += sign;
            d.sum_lat += sign as f64 * e.lat;
            d.sum_lon += sign as f64 * e.lon;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(category: &str, state: &str, lat: f64, lon: f64) -> MapEntry {
        MapEntry { category: category.into(), state: state.into(), lat, lon }
    }

    #[test]
    fn cells_halve_with_each_zoom_and_nest_exactly() {
        assert!((cell_deg(0) - 90.0).abs() < 1e-12);
        assert!((cell_deg(16) - 360.0 / 65536.0 / 4.0).abs() < 1e-15);
        for (lat, lon) in [(30.6552, 104.0811), (-33.8688, 151.2093), (0.0, 0.0), (89.9999, -179.9999)] {
            let fine = fine_cell(lat, lon);
            for z in 0..=FINE_ZOOM {
                let (row, col) = cell_at(z, lat, lon);
                let d = cell_deg(z);
                // The cell computed by shifting is the one a direct computation finds.
                assert_eq!(row, ((lat + 90.0) / d).floor() as i64, "zoom {z}");
                assert_eq!(col, ((lon + 180.0) / d).floor() as i64, "zoom {z}");
                assert_eq!((row, col), (fine.0 >> (FINE_ZOOM - z), fine.1 >> (FINE_ZOOM - z)));
            }
        }
    }

    #[test]
    fn signed_cells_match_the_old_numbering() {
        let (lat, lon) = (30.6552, 104.0811);
        for z in [4, 11, 16] {
            let d = cell_deg(z);
            assert_eq!(signed_cell(z, cell_at(z, lat, lon)), ((lat / d).floor() as i64, (lon / d).floor() as i64));
        }
        assert_eq!(signed_cell(10, cell_at(10, -0.001, -0.001)), (-1, -1));
    }

    #[test]
    fn a_box_is_covered_by_whole_cells_and_finer_numbering_keeps_them() {
        let b = Bbox { south: 30.64, west: 104.07, north: 30.66, east: 104.09 };
        let r = CellRange::covering(12, &b);
        assert!(r.n_rows() >= 1 && r.n_rows() <= 2);
        let f = r.at(14);
        assert_eq!(f.row0, r.row0 * 4);
        assert_eq!(f.row1, r.row1 * 4 + 3);
        assert_eq!(f.col1 - f.col0 + 1, (r.col1 - r.col0 + 1) * 4);
        let d = cell_deg(12);
        let inner = (((30.65 + 90.0) / d).floor() as i64, ((104.08 + 180.0) / d).floor() as i64);
        let whole = Bbox { south: 30.0, west: 103.0, north: 31.0, east: 105.0 };
        assert!(cell_inside(12, inner, &whole));
        assert!(!cell_inside(12, inner, &b), "a 0.022° cell does not fit a 0.02° box");
    }

    #[test]
    fn huge_boxes_are_clustered_on_a_coarser_grid_and_fine_zooms_stop_at_the_fine_cell() {
        let block = Bbox { south: 30.65, west: 104.08, north: 30.654, east: 104.085 };
        assert_eq!(cluster_zoom(17, &block), 17);
        assert_eq!(cluster_zoom(21, &block), FINE_ZOOM);
        let city = Bbox { south: 30.47, west: 103.85, north: 30.85, east: 104.28 };
        assert_eq!(cluster_zoom(11, &city), 11);
        let z = cluster_zoom(18, &city);
        assert!((city.east - city.west) / cell_deg(z) <= MAX_CLUSTERS_PER_SIDE);
        assert!((city.east - city.west) / cell_deg(z + 1) > MAX_CLUSTERS_PER_SIDE);
        assert_eq!(count_zoom(3), Some(10));
        assert_eq!(count_zoom(11), Some(12));
        assert_eq!(count_zoom(16), Some(16));
        assert_eq!(count_zoom(17), None);
    }

    #[test]
    fn a_state_change_moves_one_report_between_rows_of_every_zoom() {
        let before = entry("pothole", "open", 30.6552, 104.0811);
        let after = MapEntry { state: "fixed".into(), ..before.clone() };
        let d = count_deltas(Some(&before), Some(&after));
        // Two category rows (its own and "*") per kept zoom, each −1 open and +1 fixed.
        assert_eq!(d.len(), COUNT_ZOOMS.len() * 4);
        assert_eq!(d.values().map(|c| c.n).sum::<i64>(), 0);
        assert!(d.iter().all(|(k, c)| (k.4 == "open" && c.n == -1) || (k.4 == "fixed" && c.n == 1)));
        // Nothing changes: nothing is written.
        assert!(count_deltas(Some(&before), Some(&before)).is_empty());
        let created = count_deltas(None, Some(&before));
        assert_eq!(created.len(), COUNT_ZOOMS.len() * 2);
        assert!(created.values().all(|c| c.n == 1 && (c.sum_lat - 30.6552).abs() < 1e-12));
    }
}
