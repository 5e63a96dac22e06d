//! The reports table: filing, reading, the held-text recheck, the clerk queue and clerks' changes,
//! and the repeat-report guard.

use std::collections::BTreeMap;

use sqlx::{AnyConnection, AnyPool, Row};

use super::{bind_all, report, Bind, Result, StoreError, COLUMNS, SELECT};
use crate::domain::access::QueueScope;
use crate::domain::grid::fine_cell;
use crate::domain::{Report, ReportId, State};

/// Inserts a new report.
pub async fn insert_report(tx: &mut AnyConnection, r: &Report) -> Result<()> {
    let (cell_row, cell_col) = fine_cell(r.lat, r.lon);
    sqlx::query(&format!(
        "INSERT INTO incident_reports ({COLUMNS}, is_open, cell_row, cell_col) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
         $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30,
         $31, $32)"
    ))
    .bind(r.id.as_str())
    .bind(&r.citizen_id)
    .bind(&r.reporter_name)
    .bind(r.anonymous)
    .bind(&r.channel)
    .bind(&r.contact)
    .bind(&r.category)
    .bind(&r.agency)
    .bind(&r.district)
    .bind(&r.state)
    .bind(&r.description)
    .bind(&r.address)
    .bind(&r.attributes)
    .bind(r.lat)
    .bind(r.lon)
    .bind(&r.orig_crs)
    .bind(r.orig_lat)
    .bind(r.orig_lon)
    .bind(&r.moderation)
    .bind(&r.assignee_id)
    .bind(&r.assignee_name)
    .bind(r.duplicate_of.as_ref().map(ReportId::as_str))
    .bind(r.n_photos)
    .bind(r.n_followers)
    .bind(r.version)
    .bind(r.created_at)
    .bind(r.updated_at)
    .bind(r.due_at)
    .bind(r.closed_at)
    .bind(r.closed_at.is_none() && State::parse(&r.state).map(State::is_open).unwrap_or(true))
    .bind(cell_row)
    .bind(cell_col)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Claims the reporter's "one report per window" slot: false when they reported within
/// `window_ms` of `now`. One conditional upsert, so two concurrent reports cannot both pass.
pub async fn claim_reporter_slot(tx: &mut AnyConnection, key: &str, now: i64, window_ms: i64) -> Result<bool> {
    let res = sqlx::query(
        "INSERT INTO incident_reporters (reporter_key, last_report_at) VALUES ($1, $2)
         ON CONFLICT (reporter_key) DO UPDATE SET last_report_at = $2
         WHERE incident_reporters.last_report_at <= $3",
    )
    .bind(key)
    .bind(now)
    .bind(now - window_ms)
    .execute(&mut *tx)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// One report.
pub async fn report_by_id(conn: &mut AnyConnection, id: &ReportId) -> Result<Option<Report>> {
    let row = sqlx::query(&format!("SELECT {SELECT} FROM incident_reports WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.as_ref().map(report).transpose()?)
}

/// One report, from the pool.
pub async fn get_report(pool: &AnyPool, id: &ReportId) -> Result<Option<Report>> {
    let mut conn = pool.acquire().await?;
    report_by_id(&mut conn, id).await
}

/// Reports whose text waits for the content-safety check (it was unreachable), oldest first.
pub async fn pending_texts(pool: &AnyPool, limit: i64) -> Result<Vec<Report>> {
    let rows = sqlx::query(&format!(
        "SELECT {SELECT} FROM incident_reports WHERE moderation = 'pending' ORDER BY created_at, id LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(report).collect::<std::result::Result<_, _>>()?)
}

/// Records the check's later verdict if the text is still pending; false when it is not.
pub async fn settle_pending(tx: &mut AnyConnection, id: &ReportId, verdict: &str, now: i64) -> Result<bool> {
    let res = sqlx::query(
        "UPDATE incident_reports SET moderation = $1, version = version + 1, updated_at = $2
         WHERE id = $3 AND moderation = 'pending'",
    )
    .bind(verdict)
    .bind(now)
    .bind(id.as_str())
    .execute(&mut *tx)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Open reports of `category` inside a lat/lon box (the caller filters by exact distance).
pub async fn open_in_box(
    pool: &AnyPool,
    category: &str,
    (south, west, north, east): (f64, f64, f64, f64),
) -> Result<Vec<Report>> {
    let rows = sqlx::query(&format!(
        "SELECT {SELECT} FROM incident_reports WHERE category = $1 AND is_open = $2
         AND lat BETWEEN $3 AND $4 AND lon BETWEEN $5 AND $6 AND duplicate_of IS NULL
         ORDER BY created_at DESC LIMIT 200"
    ))
    .bind(category)
    .bind(true)
    .bind(south)
    .bind(north)
    .bind(west)
    .bind(east)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(report).collect::<std::result::Result<_, _>>()?)
}

/// A citizen's own reports and the ones they follow, newest first.
pub async fn mine(pool: &AnyPool, citizen_id: &str, limit: i64) -> Result<Vec<Report>> {
    let rows = sqlx::query(&format!(
        "SELECT {SELECT} FROM incident_reports WHERE citizen_id = $1
         OR id IN (SELECT report_id FROM incident_followers WHERE citizen_id = $1)
         ORDER BY created_at DESC LIMIT $2"
    ))
    .bind(citizen_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(report).collect::<std::result::Result<_, _>>()?)
}

/// The clerk queue's filters.
#[derive(Debug, Clone)]
pub struct QueueFilter {
    /// States (any of).
    pub states: Vec<String>,
    /// Category.
    pub category: Option<String>,
    /// District.
    pub district: Option<String>,
    /// Agency.
    pub agency: Option<String>,
    /// Created before this instant (age filter).
    pub created_before: Option<i64>,
    /// Only those due before this instant and still open (overdue).
    pub due_before: Option<i64>,
    /// Assigned to this clerk.
    pub assignee: Option<String>,
    /// Only reports whose text awaits a clerk's decision (`review` or `pending`).
    pub held: bool,
    /// The reference (whole or a part) or words of the description or address.
    pub text: Option<String>,
    /// The order of the rows.
    pub sort: QueueSort,
    /// The reports the caller may handle (`access::queue_scope`).
    pub scope: QueueScope,
    /// Page size.
    pub limit: i64,
    /// Offset.
    pub offset: i64,
}

/// The queue's orders; every one ends on the id, so pages never overlap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum QueueSort {
    /// Earliest due first.
    #[default]
    Due,
    /// Newest first.
    Newest,
    /// Most recently changed first.
    Updated,
}

impl QueueSort {
    fn order_by(self) -> &'static str {
        match self {
            Self::Due => "due_at, id",
            Self::Newest => "created_at DESC, id DESC",
            Self::Updated => "updated_at DESC, id DESC",
        }
    }
}

/// A `LIKE` pattern matching `text` anywhere (its `%`, `_` and `\` taken literally).
fn contains_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Which filters a `WHERE` clause applies (the counts leave some out on purpose).
#[derive(Clone, Copy)]
struct Within {
    filters: bool,
}

/// The `WHERE` clause of `f` (the scope always; the filters when `w.filters`), its values
/// pushed to `binds`.
fn where_clause(f: &QueueFilter, w: Within, binds: &mut Vec<Bind>) -> String {
    let mut sql = String::from(" WHERE 1 = 1");
    let next = |b: Bind, binds: &mut Vec<Bind>| {
        binds.push(b);
        format!("${}", binds.len())
    };
    if w.filters {
        if !f.states.is_empty() {
            let ps: Vec<String> = f.states.iter().map(|s| next(Bind::Text(s.clone()), binds)).collect();
            sql.push_str(&format!(" AND state IN ({})", ps.join(", ")));
        }
        if let Some(c) = &f.category {
            sql.push_str(&format!(" AND category = {}", next(Bind::Text(c.clone()), binds)));
        }
        if let Some(d) = &f.district {
            sql.push_str(&format!(" AND district = {}", next(Bind::Text(d.clone()), binds)));
        }
        if let Some(a) = &f.agency {
            sql.push_str(&format!(" AND agency = {}", next(Bind::Text(a.clone()), binds)));
        }
        if let Some(t) = f.created_before {
            sql.push_str(&format!(" AND created_at < {}", next(Bind::Int(t), binds)));
        }
        if let Some(t) = f.due_before {
            sql.push_str(&format!(
                " AND due_at < {} AND is_open = {}",
                next(Bind::Int(t), binds),
                next(Bind::Bool(true), binds)
            ));
        }
        if let Some(a) = &f.assignee {
            sql.push_str(&format!(" AND assignee_id = {}", next(Bind::Text(a.clone()), binds)));
        }
        if f.held {
            sql.push_str(" AND moderation IN ('review', 'pending')");
        }
        if let Some(t) = f.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            let p = next(Bind::Text(contains_pattern(t)), binds);
            sql.push_str(&format!(
                " AND (LOWER(id) LIKE {p} ESCAPE '\\' OR LOWER(description) LIKE {p} ESCAPE '\\' \
                 OR LOWER(address) LIKE {p} ESCAPE '\\')"
            ));
        }
    }
    if let QueueScope::Within { districts, agencies } = &f.scope {
        let mut ors = vec!["1 = 0".to_owned()];
        if !districts.is_empty() {
            let ps: Vec<String> = districts.iter().map(|s| next(Bind::Text(s.clone()), binds)).collect();
            // A district scope does not reach private (police) reports (`QueueScope::holds`).
            ors.push(format!("(district IN ({}){})", ps.join(", "), super::map::not_private(binds)));
        }
        if !agencies.is_empty() {
            let ps: Vec<String> = agencies.iter().map(|s| next(Bind::Text(s.clone()), binds)).collect();
            ors.push(format!("agency IN ({})", ps.join(", ")));
        }
        sql.push_str(&format!(" AND ({})", ors.join(" OR ")));
    }
    sql
}

/// The clerk queue: one page in `f.sort`'s order.
pub async fn queue(pool: &AnyPool, f: &QueueFilter) -> Result<Vec<Report>> {
    let mut binds: Vec<Bind> = Vec::new();
    let mut sql = format!("SELECT {SELECT} FROM incident_reports");
    sql.push_str(&where_clause(f, Within { filters: true }, &mut binds));
    binds.push(Bind::Int(f.limit));
    binds.push(Bind::Int(f.offset));
    sql.push_str(&format!(" ORDER BY {} LIMIT ${} OFFSET ${}", f.sort.order_by(), binds.len() - 1, binds.len()));
    let rows = bind_all(sqlx::query(&sql), &binds).fetch_all(pool).await?;
    Ok(rows.iter().map(report).collect::<std::result::Result<_, _>>()?)
}

/// How many reports the queue holds: under all of `f`'s filters, in the whole scope, and in
/// the whole scope per state, category and district, assigned to `me`, overdue at `now`, and
/// with held text. Each count is one statement over the scope.
pub async fn queue_counts(pool: &AnyPool, f: &QueueFilter, me: &str, now: i64) -> Result<QueueCounts> {
    // `extra`: conditions after the clause, each with the value its placeholder stands for.
    let count = |w: Within, literal: &'static str, extra: Vec<(&'static str, Bind)>| async move {
        let mut binds = Vec::new();
        let mut sql = format!("SELECT COUNT(*) AS n FROM incident_reports{}{literal}", where_clause(f, w, &mut binds));
        for (cond, value) in extra {
            binds.push(value);
            sql.push_str(&format!("{cond} ${}", binds.len()));
        }
        let row = bind_all(sqlx::query(&sql), &binds).fetch_one(pool).await?;
        Ok::<i64, StoreError>(row.try_get::<i64, _>("n")?)
    };
    let all = Within { filters: false };
    let grouped = |col: &'static str| async move {
        let mut binds = Vec::new();
        let sql = format!(
            "SELECT {col} AS v, COUNT(*) AS n FROM incident_reports{} GROUP BY {col}",
            where_clause(f, all, &mut binds)
        );
        let rows = bind_all(sqlx::query(&sql), &binds).fetch_all(pool).await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>("v")?, r.try_get::<i64, _>("n")?)))
            .collect::<std::result::Result<BTreeMap<_, _>, sqlx::Error>>()
            .map_err(StoreError::from)
    };
    Ok(QueueCounts {
        matching: count(Within { filters: true }, "", Vec::new()).await?,
        all: count(all, "", Vec::new()).await?,
        by_state: grouped("state").await?,
        by_category: grouped("category").await?,
        by_district: grouped("district").await?,
        mine: count(all, "", vec![(" AND assignee_id =", Bind::Text(me.to_owned()))]).await?,
        overdue: count(all, "", vec![(" AND due_at <", Bind::Int(now)), (" AND is_open =", Bind::Bool(true))]).await?,
        held: count(all, " AND moderation IN ('review', 'pending')", Vec::new()).await?,
    })
}

/// The queue's counts (see [`queue_counts`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// Under every filter.
    pub matching: i64,
    /// The whole scope.
    pub all: i64,
    /// The scope per state.
    pub by_state: BTreeMap<String, i64>,
    /// The scope per category.
    pub by_category: BTreeMap<String, i64>,
    /// The scope per district.
    pub by_district: BTreeMap<String, i64>,
    /// Assigned to the caller.
    pub mine: i64,
    /// Overdue and open.
    pub overdue: i64,
    /// Text awaiting a clerk's decision.
    pub held: i64,
}

/// What a clerk's action changes; `None` leaves a column as it is.
#[derive(Debug, Default, Clone)]
pub struct Change {
    /// New state.
    pub state: Option<String>,
    /// Whether the new state is open.
    pub is_open: Option<bool>,
    /// Closed at (set when closing, cleared when reopening through `Some(None)`).
    pub closed_at: Option<Option<i64>>,
    /// New assignee (id, name); `Some(None)` unassigns.
    pub assignee: Option<Option<(String, String)>>,
    /// Duplicate of.
    pub duplicate_of: Option<ReportId>,
    /// New category.
    pub category: Option<String>,
    /// New agency.
    pub agency: Option<String>,
    /// New due date.
    pub due_at: Option<i64>,
    /// New content-safety verdict (a clerk's decision on held text).
    pub moderation: Option<String>,
}

/// Applies `change` if the report is still at `version`; returns false when someone else
/// changed it first (the caller answers 409/412, nothing is lost).
pub async fn apply_change(
    tx: &mut AnyConnection,
    id: &ReportId,
    version: i64,
    change: &Change,
    now: i64,
) -> Result<bool> {
    let mut sets = vec!["version = version + 1".to_owned()];
    let mut binds: Vec<Bind> = vec![Bind::Int(now)];
    sets.push("updated_at = $1".into());
    let push = |col: &str, b: Option<Bind>, binds: &mut Vec<Bind>, sets: &mut Vec<String>| match b {
        Some(b) => {
            binds.push(b);
            sets.push(format!("{col} = ${}", binds.len()));
        }
        None => sets.push(format!("{col} = NULL")),
    };
    if let Some(s) = &change.state {
        push("state", Some(Bind::Text(s.clone())), &mut binds, &mut sets);
    }
    if let Some(o) = change.is_open {
        push("is_open", Some(Bind::Bool(o)), &mut binds, &mut sets);
    }
    if let Some(c) = change.closed_at {
        push("closed_at", c.map(Bind::Int), &mut binds, &mut sets);
    }
    if let Some(a) = &change.assignee {
        push("assignee_id", a.as_ref().map(|(i, _)| Bind::Text(i.clone())), &mut binds, &mut sets);
        push("assignee_name", a.as_ref().map(|(_, n)| Bind::Text(n.clone())), &mut binds, &mut sets);
    }
    if let Some(d) = &change.duplicate_of {
        push("duplicate_of", Some(Bind::Text(d.to_string())), &mut binds, &mut sets);
    }
    if let Some(c) = &change.category {
        push("category", Some(Bind::Text(c.clone())), &mut binds, &mut sets);
    }
    if let Some(a) = &change.agency {
        push("agency", Some(Bind::Text(a.clone())), &mut binds, &mut sets);
    }
    if let Some(d) = change.due_at {
        push("due_at", Some(Bind::Int(d)), &mut binds, &mut sets);
    }
    if let Some(m) = &change.moderation {
        push("moderation", Some(Bind::Text(m.clone())), &mut binds, &mut sets);
    }
    binds.push(Bind::Text(id.to_string()));
    let id_p = binds.len();
    binds.push(Bind::Int(version));
    let v_p = binds.len();
    let sql = format!("UPDATE incident_reports SET {} WHERE id = ${id_p} AND version = ${v_p}", sets.join(", "));
    let res = bind_all(sqlx::query(&sql), &binds).execute(&mut *tx).await?;
    Ok(res.rows_affected() == 1)
}
