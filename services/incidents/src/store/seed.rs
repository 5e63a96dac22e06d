//! The SQL of bulk demo loads (`crate::seed`): multi-row INSERTs of seeded reports, and taking
//! the reports table's secondary indexes off and building them again around a large load.

use sqlx::{AnyConnection, Row};

use city_platform::db::Backend;

use super::Result;
use crate::domain::{ReportId, State};

/// Rows per INSERT: 17 parameters each stays under SQLite's 32,766-variable limit.
pub const BATCH: usize = 1000;

/// One seeded report: anonymous, no reporter, no photos, seeded text.
#[derive(Debug, Clone)]
pub struct SeedRow {
    /// Its id.
    pub id: ReportId,
    /// Category code.
    pub category: String,
    /// Agency id.
    pub agency: String,
    /// District code.
    pub district: String,
    /// State.
    pub state: State,
    /// WGS-84 latitude (also the pin as sent).
    pub lat: f64,
    /// WGS-84 longitude.
    pub lon: f64,
    /// `pass`, or `review` for a held text.
    pub moderation: &'static str,
    /// Created (and last updated), UTC ms.
    pub created_at: i64,
    /// Due by, UTC ms.
    pub due_at: i64,
    /// Closed at, for a closed state.
    pub closed_at: Option<i64>,
    /// Map cell at the finest zoom.
    pub cell: (i64, i64),
}

/// Writes seeded reports, [`BATCH`] a statement; the full batch's statement is built once.
pub struct SeedWriter {
    sqlite: bool,
    full_batch_sql: String,
}

impl SeedWriter {
    /// A writer for `backend`.
    pub fn new(backend: Backend) -> Self {
        let sqlite = backend == Backend::Sqlite;
        Self { sqlite, full_batch_sql: insert_sql(sqlite, BATCH) }
    }

    /// Inserts `rows` (at most [`BATCH`]) in one statement.
    pub async fn insert(&self, tx: &mut AnyConnection, rows: &[SeedRow]) -> Result<()> {
        let partial;
        let sql = if rows.len() == BATCH {
            &self.full_batch_sql
        } else {
            partial = insert_sql(self.sqlite, rows.len());
            &partial
        };
        let mut q = sqlx::query(sql);
        for r in rows {
            q = q
                .bind(r.id.as_str())
                .bind(r.category.as_str())
                .bind(r.agency.as_str())
                .bind(r.district.as_str())
                .bind(r.state.code())
                .bind(r.state.is_open())
                .bind(r.lat)
                .bind(r.lon)
                .bind(r.lat)
                .bind(r.lon)
                .bind(r.moderation)
                .bind(r.created_at)
                .bind(r.created_at)
                .bind(r.due_at)
                .bind(r.closed_at)
                .bind(r.cell.0)
                .bind(r.cell.1);
        }
        q.execute(&mut *tx).await?;
        Ok(())
    }
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

/// Gives the loading connection a bigger page cache on SQLite (256 MiB), or back the default
/// when `loading` is false. Nothing on PostgreSQL.
pub async fn bulk_cache(conn: &mut AnyConnection, backend: Backend, loading: bool) -> Result<()> {
    if backend == Backend::Sqlite {
        let sql = if loading { "PRAGMA cache_size = -262144" } else { "PRAGMA cache_size = -2000" };
        sqlx::query(sql).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Drops the reports table's secondary indexes and returns the statements that build them
/// again (read from the catalogue, so the migrations stay their only definition).
pub async fn take_indexes(conn: &mut AnyConnection, backend: Backend) -> Result<Vec<String>> {
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

/// Builds indexes again from the statements [`take_indexes`] returned.
pub async fn restore_indexes(conn: &mut AnyConnection, ddls: &[String]) -> Result<()> {
    for ddl in ddls {
        sqlx::query(ddl).execute(&mut *conn).await?;
    }
    Ok(())
}
