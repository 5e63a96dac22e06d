//! Bulk demo data for load tests: `n` reports spread over the city's districts, written in
//! one transaction of multi-row INSERTs (far faster than the API, which is measured
//! separately), with the map's count table built from the same rows in memory.
//!
//! A large load takes the reports table's secondary indexes off first and builds them again
//! at the end, inside the same transaction: sorting once is much cheaper than a million
//! random index inserts. Meant for an idle store (a benchmark or a demo), not a live one.

use std::collections::BTreeMap;

use city_platform::coords::LatLon;
use city_platform::db::Backend;
use city_platform::districts::Districts;
use city_platform::ids::new_id;
use city_platform::time::now_ms;
use city_platform::Db;
use sqlx::{AnyConnection, Row};

use crate::domain::grid::{self, fine_cell, MapEntry};
use crate::domain::{Catalogue, State};
use crate::store;

/// Rows per INSERT: 17 parameters each stays under SQLite's 32,766-variable limit.
const BATCH: usize = 1000;

/// From this many reports on, indexes are rebuilt rather than maintained row by row.
const REBUILD_INDEXES_FROM: usize = 20_000;

/// One in this many seeded reports has its text held for review (so it is not on the map).
const HELD_ONE_IN: f64 = 100.0;

/// Writes `n` reports with pins inside the city, random categories and states, created over
/// the last 180 days, and adds them to the map's count table. Deterministic for a given
/// `seed` (except ids and times). All or nothing: one transaction.
pub async fn seed_reports(
    db: &Db,
    districts: &Districts,
    catalogue: &Catalogue,
    n: usize,
    seed: u64,
) -> Result<(), sqlx::Error> {
    let mut rng = seed.max(1);
    let mut next = move || {
        // xorshift64*: good enough for spreading demo pins.
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        (rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    };
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let rebuild = n >= REBUILD_INDEXES_FROM;
    if db.backend == Backend::Sqlite {
        // A bigger page cache for this connection while it loads (256 MiB; reset below).
        sqlx::query("PRAGMA cache_size = -262144").execute(&mut *tx).await?;
    }
    let indexes = if rebuild { take_indexes(&mut tx, db.backend).await? } else { Vec::new() };
    let mut counts = BTreeMap::new();
    let mut written = 0;
    let sqlite = db.backend == Backend::Sqlite;
    let full_batch_sql = insert_sql(sqlite, BATCH);
    while written < n {
        let take = BATCH.min(n - written);
        let mut rows = Vec::with_capacity(take);
        while rows.len() < take {
            // Denser downtown, as real reports are.
            let (lat, lon) = if next() < 0.6 {
                (30.60 + next() * 0.12, 104.00 + next() * 0.14)
            } else {
                (30.48 + next() * 0.36, 103.86 + next() * 0.41)
            };
            let Some(d) = LatLon::new(lat, lon).and_then(|p| districts.locate(p)) else { continue };
            let cat = &catalogue.categories
                [(next() * catalogue.categories.len() as f64) as usize % catalogue.categories.len()];
            let agency = catalogue.route(&cat.code, &d.code).map(|a| a.id.clone()).unwrap_or_default();
            let state = State::ALL[(next() * State::ALL.len() as f64) as usize % State::ALL.len()];
            let created = now - (next() * 180.0 * 86_400_000.0) as i64;
            let held = next() * HELD_ONE_IN < 1.0;
            if !held {
                let entry = MapEntry { category: cat.code.clone(), state: state.code().into(), lat, lon };
                grid::add_entry(&mut counts, Some(&entry), 1);
            }
            rows.push((lat, lon, d.code.clone(), cat.code.clone(), agency, state, created, cat.sla_hours, held));
        }
        let partial;
        let sql = if rows.len() == BATCH {
            &full_batch_sql
        } else {
            partial = insert_sql(sqlite, rows.len());
            &partial
        };
        let mut q = sqlx::query(sql);
        for (lat, lon, district, category, agency, state, created, sla, held) in &rows {
            let (cell_row, cell_col) = fine_cell(*lat, *lon);
            q = q
                .bind(new_id())
                .bind(category.clone())
                .bind(agency.clone())
                .bind(district.clone())
                .bind(state.code())
                .bind(state.is_open())
                .bind(*lat)
                .bind(*lon)
                .bind(*lat)
                .bind(*lon)
                .bind(if *held { "review" } else { "pass" })
                .bind(*created)
                .bind(*created)
                .bind(*created + sla * 3_600_000)
                .bind(if state.is_open() { None } else { Some(*created) })
                .bind(cell_row)
                .bind(cell_col);
        }
        q.execute(&mut *tx).await?;
        written += rows.len();
    }
    for ddl in &indexes {
        sqlx::query(ddl).execute(&mut *tx).await?;
    }
    store::add_counts(&mut tx, &counts).await?;
    if db.backend == Backend::Sqlite {
        sqlx::query("PRAGMA cache_size = -2000").execute(&mut *tx).await?;
    }
    tx.commit().await
}

/// One multi-row INSERT of `n` seeded reports, 17 parameters a row in binding order.
fn insert_sql(sqlite: bool, n: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO incident_reports (id, citizen_id, anonymous, channel, category, agency, district, state, is_open,
         description, address, attributes, lat, lon, orig_crs, orig_lat, orig_lon, moderation, n_photos, n_followers,
         version, created_at, updated_at, due_at, closed_at, cell_row, cell_col) VALUES ",
    );
    let p = |i: usize| if sqlite { "?".to_owned() } else { format!("${i}") };
    for row in 0..n {
        let b = row * 17;
        if row > 0 {
            sql.push(',');
        }
        let ps: Vec<String> = (1..=17).map(|k| p(b + k)).collect();
        sql.push_str(&format!(
            "({}, NULL, TRUE, 'seed', {}, 'Seeded report', '', '{{}}', {}, {}, 'wgs84', {}, 0, 0, 1, {})",
            ps[0],
            ps[1..6].join(", "),
            ps[6],
            ps[7],
            ps[8..11].join(", "),
            ps[11..17].join(", ")
        ));
    }
    sql
}

/// Drops the reports table's secondary indexes and returns the statements that build them
/// again (read from the catalogue, so the migrations stay their only definition).
async fn take_indexes(conn: &mut AnyConnection, backend: Backend) -> Result<Vec<String>, sqlx::Error> {
    let rows = match backend {
        Backend::Sqlite => {
            sqlx::query(
                "SELECT name, sql AS ddl FROM sqlite_master
                 WHERE type = 'index' AND tbl_name = 'incident_reports' AND sql IS NOT NULL ORDER BY name",
            )
            .fetch_all(&mut *conn)
            .await?
        }
        Backend::Postgres => {
            sqlx::query(
                "SELECT CAST(i.indexname AS TEXT) AS name, i.indexdef AS ddl FROM pg_indexes i
                 WHERE i.schemaname = current_schema() AND i.tablename = 'incident_reports'
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
                 ORDER BY 1",
            )
            .fetch_all(&mut *conn)
            .await?
        }
    };
    let mut ddls = Vec::new();
    for row in rows {
        let name: String = row.try_get("name")?;
        // Names come from the catalogue and are quoted, never from input.
        sqlx::query(&format!("DROP INDEX \"{name}\"")).execute(&mut *conn).await?;
        ddls.push(row.try_get("ddl")?);
    }
    Ok(ddls)
}
