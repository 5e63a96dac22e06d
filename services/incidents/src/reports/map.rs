//! The public map of a viewport: single pins when the view holds few reports, otherwise
//! clusters on a fixed world grid (cells of 90/2^zoom degrees) with counts per state. Only
//! reports whose text is public are on it (`domain::access`).

use std::collections::BTreeMap;

use crate::domain::grid::{self, CellRange};
use crate::domain::MAX_SINGLE_PINS;
use crate::store::{self, MapFilter, Pin, StoreError};
use crate::IncidentsState;

/// One grid cell's reports, summed over states.
#[derive(Debug, Default, Clone)]
pub struct Cluster {
    /// Reports.
    pub n: i64,
    /// Sum of latitudes (for the centroid).
    pub sum_lat: f64,
    /// Sum of longitudes.
    pub sum_lon: f64,
    /// Reports per state.
    pub states: BTreeMap<String, i64>,
}

/// What a view shows.
#[derive(Debug, Clone)]
pub enum MapView {
    /// Every report of the view (at most [`MAX_SINGLE_PINS`]).
    Pins(Vec<Pin>),
    /// Clusters at grid zoom `zoom`, keyed by signed (row, column).
    Clusters {
        /// The grid zoom of the cells.
        zoom: u8,
        /// The cells.
        cells: BTreeMap<(i64, i64), Cluster>,
    },
}

/// The map of `filter`'s box at web-map `zoom`. Always current (not cached).
#[tracing::instrument(skip_all, fields(zoom = zoom))]
pub async fn view(state: &IncidentsState, filter: &MapFilter, zoom: u8) -> Result<MapView, StoreError> {
    let pool = &state.db.pool;
    let bbox = filter.bbox;
    // Cells sit on a fixed world grid, so panning does not move clusters. The count table
    // says at once whether the view holds few reports (pins) or many (clusters); only a
    // view on the edge of the limit, or too fine for the table, asks the reports.
    let zc = grid::cluster_zoom(zoom, &bbox);
    let cells = CellRange::covering(zc, &bbox);
    // A view surely holds too many for pins when its cells wholly inside it already do
    // (the count table says so at once); otherwise the map index counts the view itself.
    // Views finer than the table are bounded by its finest cells and grouped from reports.
    let (bound_zoom, bound) = match grid::count_zoom(zc) {
        Some(zt) => (zc, store::counted_cells(pool, &cells, zt, filter).await?),
        None => {
            let zt = grid::COUNT_ZOOMS[grid::COUNT_ZOOMS.len() - 1];
            let coarse = CellRange::covering(zt, &bbox);
            (zt, store::counted_cells(pool, &coarse, zt, filter).await?)
        }
    };
    let inside: i64 = bound.iter().filter(|c| grid::cell_inside(bound_zoom, (c.row, c.col), &bbox)).map(|c| c.n).sum();
    let few =
        inside <= MAX_SINGLE_PINS && store::count_upto(pool, filter, MAX_SINGLE_PINS + 1).await? <= MAX_SINGLE_PINS;
    if few {
        return Ok(MapView::Pins(store::pins(pool, filter, MAX_SINGLE_PINS + 1).await?));
    }
    let counts = if bound_zoom == zc { bound } else { store::grouped_cells(pool, &cells, filter).await? };
    if counts.is_empty() {
        return Ok(MapView::Pins(Vec::new()));
    }
    let mut merged: BTreeMap<(i64, i64), Cluster> = BTreeMap::new();
    for c in counts {
        let e = merged.entry(grid::signed_cell(zc, (c.row, c.col))).or_default();
        e.n += c.n;
        e.sum_lat += c.sum_lat;
        e.sum_lon += c.sum_lon;
        *e.states.entry(c.state).or_default() += c.n;
    }
    Ok(MapView::Clusters { zoom: zc, cells: merged })
}
