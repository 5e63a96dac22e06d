//! The map: the count table kept per zoom, and the reports' side of a view through the map index.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use super::{bind_all, Bind, Result};
use crate::domain::catalogue::privacy;
use crate::domain::grid::{Bbox, CellRange, CountDelta, CountKey, ALL_CATEGORIES, FINE_ZOOM};

/// Count rows per statement: 8 parameters each stays under SQLite's 32,766-variable limit.
const COUNT_BATCH: usize = 2000;

/// `n` placeholders for one row of a multi-row VALUES list, the `first`th parameter first.
/// SQLite gets bare `?`: it treats `$n` as a named parameter and looks each name up in a
/// list, which makes a statement with thousands of them quadratic to prepare.
pub fn values_row(sqlite: bool, first: usize, n: usize) -> String {
    let ps: Vec<String> = (first..first + n).map(|i| if sqlite { "?".to_owned() } else { format!("${i}") }).collect();
    format!("({})", ps.join(", "))
}

/// Adds `deltas` to the map's count table, creating rows as needed. Keys are written in
/// their sorted order, so two transactions lock shared rows in the same order.
pub async fn add_counts(tx: &mut AnyConnection, deltas: &BTreeMap<CountKey, CountDelta>) -> Result<()> {
    let sqlite = tx.backend_name() == "SQLite";
    let rows: Vec<_> = deltas.iter().collect();
    for chunk in rows.chunks(COUNT_BATCH) {
        let mut sql = String::from(
            "INSERT INTO incident_map_cells (zoom, category, cell_row, cell_col, state, n, sum_lat, sum_lon) VALUES ",
        );
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&values_row(sqlite, i * 8 + 1, 8));
        }
        sql.push_str(
            " ON CONFLICT (zoom, category, cell_row, cell_col, state) DO UPDATE SET
             n = incident_map_cells.n + excluded.n,
             sum_lat = incident_map_cells.sum_lat + excluded.sum_lat,
             sum_lon = incident_map_cells.sum_lon + excluded.sum_lon",
        );
        let mut q = sqlx::query(&sql);
        for ((zoom, category, row, col, state), d) in chunk {
            q = q
                .bind(i64::from(*zoom))
                .bind(category.as_str())
                .bind(*row)
                .bind(*col)
                .bind(state.as_str())
                .bind(d.n)
                .bind(d.sum_lat)
                .bind(d.sum_lon);
        }
        q.execute(&mut *tx).await?;
    }
    Ok(())
}

/// Map filters.
#[derive(Debug, Clone)]
pub struct MapFilter {
    /// The view, in WGS-84.
    pub bbox: Bbox,
    /// Category codes (any of); empty = all.
    pub categories: Vec<String>,
    /// States (any of); empty = all.
    pub states: Vec<String>,
}

/// `AND` the report is not private (`access::is_private`: neither a private category nor sent
/// to a private agency), with its values bound into `binds`: for every public read.
pub(super) fn not_private(binds: &mut Vec<Bind>) -> String {
    let private = privacy();
    let mut sql = String::new();
    if !private.categories.is_empty() {
        sql.push_str(&format!(" AND category NOT IN ({})", in_list(&private.categories, binds)));
    }
    if !private.agencies.is_empty() {
        sql.push_str(&format!(" AND agency NOT IN ({})", in_list(&private.agencies, binds)));
    }
    sql
}

fn in_list(values: &[String], binds: &mut Vec<Bind>) -> String {
    let ps: Vec<String> = values
        .iter()
        .map(|v| {
            binds.push(Bind::Text(v.clone()));
            format!("${}", binds.len())
        })
        .collect();
    ps.join(", ")
}

/// The reports' side of a view: the cells of `fine` (at [`FINE_ZOOM`]) through the map
/// index, public text only, the filters, and with `exact` the box itself. Rows are listed
/// one by one while few, so the index is entered once per row instead of scanning each
/// row's whole band of longitude. Everything is bound, so the statement text repeats and
/// each connection prepares it once.
fn fine_where(fine: &CellRange, f: &MapFilter, exact: bool, binds: &mut Vec<Bind>) -> String {
    debug_assert_eq!(fine.zoom, FINE_ZOOM);
    let param = |b: Bind, binds: &mut Vec<Bind>| {
        binds.push(b);
        format!("${}", binds.len())
    };
    let rows = if fine.n_rows() <= 64 {
        let list: Vec<String> = (fine.row0..=fine.row1).map(|r| param(Bind::Int(r), binds)).collect();
        format!("cell_row IN ({})", list.join(", "))
    } else {
        format!("cell_row BETWEEN {} AND {}", param(Bind::Int(fine.row0), binds), param(Bind::Int(fine.row1), binds))
    };
    let mut sql = format!(
        // Only public text is on the map (`access::text_is_public`).
        "{rows} AND cell_col BETWEEN {} AND {} AND moderation = 'pass'",
        param(Bind::Int(fine.col0), binds),
        param(Bind::Int(fine.col1), binds)
    );
    // Nor is a private (police) report, whatever its text.
    sql.push_str(&not_private(binds));
    if exact {
        let b = f.bbox;
        binds.extend([Bind::Float(b.south), Bind::Float(b.north), Bind::Float(b.west), Bind::Float(b.east)]);
        let n = binds.len();
        sql.push_str(&format!(" AND lat BETWEEN ${} AND ${} AND lon BETWEEN ${} AND ${n}", n - 3, n - 2, n - 1));
    }
    if !f.categories.is_empty() {
        sql.push_str(&format!(" AND category IN ({})", in_list(&f.categories, binds)));
    }
    if !f.states.is_empty() {
        sql.push_str(&format!(" AND state IN ({})", in_list(&f.states, binds)));
    }
    sql
}

/// A single map pin.
#[derive(Debug, Clone)]
pub struct Pin {
    /// Report id.
    pub id: String,
    /// WGS-84 latitude.
    pub lat: f64,
    /// WGS-84 longitude.
    pub lon: f64,
    /// Category.
    pub category: String,
    /// State.
    pub state: String,
    /// Created, UTC ms.
    pub created_at: i64,
}

/// Up to `limit` pins inside the view; `limit` rows back means "there may be more".
pub async fn pins(pool: &AnyPool, f: &MapFilter, limit: i64) -> Result<Vec<Pin>> {
    let mut binds = Vec::new();
    let w = fine_where(&CellRange::covering(FINE_ZOOM, &f.bbox), f, true, &mut binds);
    binds.push(Bind::Int(limit));
    let sql = format!(
        "SELECT id, lat, lon, category, state, created_at FROM incident_reports WHERE {w} LIMIT ${}",
        binds.len()
    );
    let rows = bind_all(sqlx::query(&sql), &binds).fetch_all(pool).await?;
    rows.iter()
        .map(|r| {
            Ok(Pin {
                id: r.try_get("id")?,
                lat: r.try_get("lat")?,
                lon: r.try_get("lon")?,
                category: r.try_get("category")?,
                state: r.try_get("state")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// How many reports the view holds, counting no further than `limit`: answered from the map
/// index alone, so deciding "pins or clusters" never reads the table.
pub async fn count_upto(pool: &AnyPool, f: &MapFilter, limit: i64) -> Result<i64> {
    let mut binds = Vec::new();
    let w = fine_where(&CellRange::covering(FINE_ZOOM, &f.bbox), f, true, &mut binds);
    binds.push(Bind::Int(limit));
    let sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM (SELECT 1 AS one FROM incident_reports WHERE {w} LIMIT ${}) AS view",
        binds.len()
    );
    let row = bind_all(sqlx::query(&sql), &binds).fetch_one(pool).await?;
    Ok(row.try_get(0)?)
}

/// One grid cell's count for one state.
#[derive(Debug, Clone)]
pub struct CellCount {
    /// Row at the cluster zoom (from 90° S).
    pub row: i64,
    /// Column at the cluster zoom (from 180° W).
    pub col: i64,
    /// State.
    pub state: String,
    /// Reports.
    pub n: i64,
    /// Sum of latitudes (for the centroid).
    pub sum_lat: f64,
    /// Sum of longitudes.
    pub sum_lon: f64,
}

fn cell_counts(rows: &[AnyRow]) -> Result<Vec<CellCount>> {
    rows.iter()
        .map(|r| {
            Ok(CellCount {
                row: r.try_get("r")?,
                col: r.try_get("c")?,
                state: r.try_get("state")?,
                n: r.try_get("n")?,
                sum_lat: r.try_get("sum_lat")?,
                sum_lon: r.try_get("sum_lon")?,
            })
        })
        .collect()
}

/// Reports per cell of `cells` and state, summed from the count table's rows at
/// `count_zoom` (at or finer than `cells.zoom`): a few thousand rows however many reports.
pub async fn counted_cells(pool: &AnyPool, cells: &CellRange, count_zoom: u8, f: &MapFilter) -> Result<Vec<CellCount>> {
    let k = count_zoom - cells.zoom;
    let at = cells.at(count_zoom);
    let mut binds = vec![
        Bind::Int(i64::from(count_zoom)),
        Bind::Int(at.row0),
        Bind::Int(at.row1),
        Bind::Int(at.col0),
        Bind::Int(at.col1),
    ];
    let categories = if f.categories.is_empty() { vec![ALL_CATEGORIES.to_owned()] } else { f.categories.clone() };
    let mut sql = format!(
        "SELECT cell_row >> {k} AS r, cell_col >> {k} AS c, state, CAST(SUM(n) AS BIGINT) AS n,
         SUM(sum_lat) AS sum_lat, SUM(sum_lon) AS sum_lon FROM incident_map_cells
         WHERE zoom = $1 AND category IN ({}) AND cell_row BETWEEN $2 AND $3 AND cell_col BETWEEN $4 AND $5",
        in_list(&categories, &mut binds)
    );
    if !f.states.is_empty() {
        sql.push_str(&format!(" AND state IN ({})", in_list(&f.states, &mut binds)));
    }
    sql.push_str(" GROUP BY 1, 2, state HAVING SUM(n) > 0");
    let rows = bind_all(sqlx::query(&sql), &binds).fetch_all(pool).await?;
    cell_counts(&rows)
}

/// Reports per cell of `cells` (whole cells) and state, grouped straight from the reports:
/// for views too fine for the count table, which hold a few thousand reports at most.
pub async fn grouped_cells(pool: &AnyPool, cells: &CellRange, f: &MapFilter) -> Result<Vec<CellCount>> {
    let k = FINE_ZOOM - cells.zoom;
    let mut binds = Vec::new();
    let w = fine_where(&cells.at(FINE_ZOOM), f, false, &mut binds);
    let sql = format!(
        "SELECT cell_row >> {k} AS r, cell_col >> {k} AS c, state, CAST(COUNT(*) AS BIGINT) AS n,
         SUM(lat) AS sum_lat, SUM(lon) AS sum_lon FROM incident_reports WHERE {w} GROUP BY 1, 2, state"
    );
    let rows = bind_all(sqlx::query(&sql), &binds).fetch_all(pool).await?;
    cell_counts(&rows)
}
