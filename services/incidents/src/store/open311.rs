//! Open311's own reads and writes: the request search and batch tokens.

use sqlx::{AnyConnection, AnyPool, Row};

use super::{bind_all, report, Bind, Result, SELECT};
use crate::domain::{Report, ReportId};

/// Open311 search filters.
#[derive(Debug, Default, Clone)]
pub struct Open311Filter {
    /// Explicit ids: override everything else.
    pub ids: Vec<String>,
    /// Category codes.
    pub service_codes: Vec<String>,
    /// `open` and/or `closed`; empty = both.
    pub open: Option<bool>,
    /// Created at or after.
    pub start: i64,
    /// Created at or before.
    pub end: i64,
    /// Updated after (v2.1 extension).
    pub updated_after: Option<i64>,
    /// Updated before.
    pub updated_before: Option<i64>,
    /// Page size.
    pub limit: i64,
    /// Offset.
    pub offset: i64,
}

/// Open311 `GET requests`, newest first.
pub async fn open311_search(pool: &AnyPool, f: &Open311Filter) -> Result<Vec<Report>> {
    let mut binds: Vec<Bind> = Vec::new();
    let ph = |b: Bind, binds: &mut Vec<Bind>| {
        binds.push(b);
        format!("${}", binds.len())
    };
    let mut sql = format!("SELECT {SELECT} FROM incident_reports WHERE 1 = 1");
    // Private (police) reports are in no Open311 answer, asked for by id or not.
    sql.push_str(&super::map::not_private(&mut binds));
    if !f.ids.is_empty() {
        let ps: Vec<String> = f.ids.iter().map(|i| ph(Bind::Text(i.clone()), &mut binds)).collect();
        sql.push_str(&format!(" AND id IN ({})", ps.join(", ")));
    } else {
        sql.push_str(&format!(
            " AND created_at >= {} AND created_at <= {}",
            ph(Bind::Int(f.start), &mut binds),
            ph(Bind::Int(f.end), &mut binds)
        ));
        if !f.service_codes.is_empty() {
            let ps: Vec<String> = f.service_codes.iter().map(|i| ph(Bind::Text(i.clone()), &mut binds)).collect();
            sql.push_str(&format!(" AND category IN ({})", ps.join(", ")));
        }
        if let Some(o) = f.open {
            sql.push_str(&format!(" AND is_open = {}", ph(Bind::Bool(o), &mut binds)));
        }
        if let Some(t) = f.updated_after {
            sql.push_str(&format!(" AND updated_at > {}", ph(Bind::Int(t), &mut binds)));
        }
        if let Some(t) = f.updated_before {
            sql.push_str(&format!(" AND updated_at < {}", ph(Bind::Int(t), &mut binds)));
        }
    }
    sql.push_str(&format!(
        " ORDER BY created_at DESC, id DESC LIMIT {} OFFSET {}",
        ph(Bind::Int(f.limit), &mut binds),
        ph(Bind::Int(f.offset), &mut binds)
    ));
    let rows = bind_all(sqlx::query(&sql), &binds).fetch_all(pool).await?;
    Ok(rows.iter().map(report).collect::<std::result::Result<_, _>>()?)
}

/// Records an Open311 token for a report.
pub async fn insert_token(tx: &mut AnyConnection, token: &str, report_id: &ReportId, now: i64) -> Result<()> {
    sqlx::query("INSERT INTO incident_tokens (token, report_id, created_at) VALUES ($1, $2, $3)")
        .bind(token)
        .bind(report_id.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The report behind an Open311 token.
pub async fn token(pool: &AnyPool, token: &str) -> Result<Option<ReportId>> {
    let row =
        sqlx::query("SELECT report_id FROM incident_tokens WHERE token = $1").bind(token).fetch_optional(pool).await?;
    Ok(row.map(|r| r.try_get::<String, _>("report_id")).transpose()?.map(ReportId::from))
}
