//! Bulk demo data for load tests: `n` reports spread over the city's districts, written in
//! one transaction of multi-row INSERTs (far faster than the API, which is measured
//! separately), with the map's count table built from the same rows in memory. The SQL is the
//! store's (`store::seed`).
//!
//! A large load takes the reports table's secondary indexes off first and builds them again
//! at the end, inside the same transaction: sorting once is much cheaper than a million
//! random index inserts. Meant for an idle store (a benchmark or a demo), not a live one.

use std::collections::BTreeMap;

use city_platform::coords::LatLon;
use city_platform::districts::Districts;
use city_platform::time::now_ms;
use city_platform::Db;

use crate::domain::grid::{self, fine_cell, MapEntry};
use crate::domain::{Catalogue, ReportId, State};
use crate::store::seed::{self as sql, SeedRow, SeedWriter, BATCH};
use crate::store::{self, StoreError};

/// From this many reports on, indexes are rebuilt rather than maintained row by row.
const REBUILD_INDEXES_FROM: usize = 20_000;

/// One in this many seeded reports has its text held for review (so it is not on the map).
const HELD_ONE_IN: f64 = 100.0;

/// Writes `n` reports with pins inside the city, random categories and states, created over
/// the last 180 days, and adds them to the map's count table. Deterministic for a given
/// `seed` (except ids and times). All or nothing: one transaction.
#[tracing::instrument(skip_all, fields(n = n, seed = seed))]
pub async fn seed_reports(
    db: &Db,
    districts: &Districts,
    catalogue: &Catalogue,
    n: usize,
    seed: u64,
) -> Result<(), StoreError> {
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
    sql::bulk_cache(&mut tx, db.backend, true).await?;
    let indexes = if n >= REBUILD_INDEXES_FROM { sql::take_indexes(&mut tx, db.backend).await? } else { Vec::new() };
    let mut counts = BTreeMap::new();
    let mut written = 0;
    let writer = SeedWriter::new(db.backend);
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
            // Seeded reports fill the public map: police categories (private) are left out.
            let public: Vec<_> = catalogue.public_categories().collect();
            let cat = public[(next() * public.len() as f64) as usize % public.len()];
            let agency = catalogue.route(&cat.code, &d.code).map(|a| a.id.clone()).unwrap_or_default();
            let state = State::ALL[(next() * State::ALL.len() as f64) as usize % State::ALL.len()];
            let created = now - (next() * 180.0 * 86_400_000.0) as i64;
            let held = next() * HELD_ONE_IN < 1.0;
            if !held {
                let entry = MapEntry { category: cat.code.clone(), state: state.code().into(), lat, lon };
                grid::add_entry(&mut counts, Some(&entry), 1);
            }
            rows.push(SeedRow {
                id: ReportId::new(),
                category: cat.code.clone(),
                agency,
                district: d.code.clone(),
                state,
                lat,
                lon,
                moderation: if held { "review" } else { "pass" },
                created_at: created,
                due_at: created + cat.sla_hours * 3_600_000,
                closed_at: if state.is_open() { None } else { Some(created) },
                cell: fine_cell(lat, lon),
            });
        }
        writer.insert(&mut tx, &rows).await?;
        written += rows.len();
    }
    sql::restore_indexes(&mut tx, &indexes).await?;
    store::add_counts(&mut tx, &counts).await?;
    sql::bulk_cache(&mut tx, db.backend, false).await?;
    tx.commit().await?;
    Ok(())
}
