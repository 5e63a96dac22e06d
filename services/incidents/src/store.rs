//! Every SQL statement of the incidents service, in the portable dialect (SQLite and
//! PostgreSQL through the Any driver).

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use crate::domain::grid::{fine_cell, Bbox, CellRange, CountDelta, CountKey, MapEntry, ALL_CATEGORIES, FINE_ZOOM};

/// A stored report, as read back.
#[derive(Debug, Clone)]
pub struct Report {
    /// Id (UUIDv7), also the Open311 `service_request_id`.
    pub id: String,
    /// The reporting citizen, when signed in.
    pub citizen_id: Option<String>,
    /// The name the reporter chose to show (never shown when anonymous).
    pub reporter_name: Option<String>,
    /// Hide the reporter's name publicly.
    pub anonymous: bool,
    /// `miniprogram` or `open311`.
    pub channel: String,
    /// Open311 contact details (JSON); for clerks only, never public.
    pub contact: Option<String>,
    /// Category code.
    pub category: String,
    /// Responsible agency id.
    pub agency: String,
    /// District code.
    pub district: String,
    /// State code.
    pub state: String,
    /// The report's text.
    pub description: String,
    /// Address text.
    pub address: String,
    /// Answers to the category's questions (JSON object).
    pub attributes: String,
    /// WGS-84 latitude.
    pub lat: f64,
    /// WGS-84 longitude.
    pub lon: f64,
    /// The datum the reporter sent.
    pub orig_crs: String,
    /// Latitude as sent.
    pub orig_lat: f64,
    /// Longitude as sent.
    pub orig_lon: f64,
    /// Content-safety verdict: `pass`, `review`, `pending` (check unreachable) or `rejected`
    /// (a clerk kept it hidden).
    pub moderation: String,
    /// Assigned clerk.
    pub assignee_id: Option<String>,
    /// Assigned clerk's name.
    pub assignee_name: Option<String>,
    /// The report this one duplicates.
    pub duplicate_of: Option<String>,
    /// How many photos.
    pub n_photos: i64,
    /// How many "me too" followers.
    pub n_followers: i64,
    /// Optimistic-concurrency version.
    pub version: i64,
    /// Created, UTC ms.
    pub created_at: i64,
    /// Last changed, UTC ms.
    pub updated_at: i64,
    /// Due by (SLA), UTC ms.
    pub due_at: i64,
    /// Closed at, UTC ms.
    pub closed_at: Option<i64>,
}

impl Report {
    /// Whether its text may be shown publicly (passed the content-safety check).
    pub fn text_is_public(&self) -> bool {
        self.moderation == "pass"
    }
}

const COLUMNS: &str = "id, citizen_id, reporter_name, anonymous, channel, contact, category, agency, district, state,
    description, address, attributes, lat, lon, orig_crs, orig_lat, orig_lon, moderation, assignee_id, assignee_name,
    duplicate_of, n_photos, n_followers, version, created_at, updated_at, due_at, closed_at";

/// The select list: booleans come back as integers, which the Any driver decodes on both backends.
const SELECT: &str =
    "id, citizen_id, reporter_name, CAST(CASE WHEN anonymous THEN 1 ELSE 0 END AS BIGINT) AS anonymous,
    channel, contact, category, agency, district, state, description, address, attributes, lat, lon, orig_crs, orig_lat,
    orig_lon, moderation, assignee_id, assignee_name, duplicate_of, n_photos, n_followers, version, created_at,
    updated_at, due_at, closed_at";

fn report(row: &AnyRow) -> Result<Report, sqlx::Error> {
    Ok(Report {
        id: row.try_get("id")?,
        citizen_id: row.try_get("citizen_id")?,
        reporter_name: row.try_get("reporter_name")?,
        anonymous: row.try_get::<i64, _>("anonymous")? != 0,
        channel: row.try_get("channel")?,
        contact: row.try_get("contact")?,
        category: row.try_get("category")?,
        agency: row.try_get("agency")?,
        district: row.try_get("district")?,
        state: row.try_get("state")?,
        description: row.try_get("description")?,
        address: row.try_get("address")?,
        attributes: row.try_get("attributes")?,
        lat: row.try_get("lat")?,
        lon: row.try_get("lon")?,
        orig_crs: row.try_get("orig_crs")?,
        orig_lat: row.try_get("orig_lat")?,
        orig_lon: row.try_get("orig_lon")?,
        moderation: row.try_get("moderation")?,
        assignee_id: row.try_get("assignee_id")?,
        assignee_name: row.try_get("assignee_name")?,
        duplicate_of: row.try_get("duplicate_of")?,
        n_photos: row.try_get("n_photos")?,
        n_followers: row.try_get("n_followers")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        due_at: row.try_get("due_at")?,
        closed_at: row.try_get("closed_at")?,
    })
}

/// Inserts a new report.
pub async fn insert_report(tx: &mut AnyConnection, r: &Report) -> Result<(), sqlx::Error> {
    let (cell_row, cell_col) = fine_cell(r.lat, r.lon);
    sqlx::query(&format!(
        "INSERT INTO incident_reports ({COLUMNS}, is_open, cell_row, cell_col) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
         $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30,
         $31, $32)"
    ))
    .bind(&r.id)
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
    .bind(&r.duplicate_of)
    .bind(r.n_photos)
    .bind(r.n_followers)
    .bind(r.version)
    .bind(r.created_at)
    .bind(r.updated_at)
    .bind(r.due_at)
    .bind(r.closed_at)
    .bind(
        r.closed_at.is_none()
            && !matches!(r.state.as_str(), "fixed" | "closed" | "duplicate" | "not_responsible" | "no_further_action"),
    )
    .bind(cell_row)
    .bind(cell_col)
    .execute(&mut *tx)
    .await
    .map(|_| ())
}

/// Claims the reporter's "one report per window" slot: false when they reported within
/// `window_ms` of `now`. One conditional upsert, so two concurrent reports cannot both pass.
pub async fn claim_reporter_slot(
    tx: &mut AnyConnection,
    key: &str,
    now: i64,
    window_ms: i64,
) -> Result<bool, sqlx::Error> {
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

/// Attaches the owner's unattached photos to a report; returns how many were attached.
pub async fn attach_photos(
    tx: &mut AnyConnection,
    ids: &[String],
    owner: &str,
    report_id: &str,
) -> Result<u64, sqlx::Error> {
    let mut n = 0;
    for id in ids {
        n += sqlx::query(
            "UPDATE incident_photos SET report_id = $1 WHERE id = $2 AND owner_id = $3 AND report_id IS NULL",
        )
        .bind(report_id)
        .bind(id)
        .bind(owner)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    Ok(n)
}

/// A stored photo.
#[derive(Debug, Clone)]
pub struct Photo {
    /// Id.
    pub id: String,
    /// The uploader.
    pub owner_id: String,
    /// The report it belongs to, once attached.
    pub report_id: Option<String>,
    /// Width in pixels.
    pub width: i64,
    /// Height in pixels.
    pub height: i64,
}

/// Records an uploaded photo (the files are already written).
pub async fn insert_photo(pool: &AnyPool, p: &Photo, n_bytes: i64, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO incident_photos (id, owner_id, report_id, content_type, width, height, n_bytes, created_at)
         VALUES ($1, $2, NULL, 'image/jpeg', $3, $4, $5, $6)",
    )
    .bind(&p.id)
    .bind(&p.owner_id)
    .bind(p.width)
    .bind(p.height)
    .bind(n_bytes)
    .bind(now)
    .execute(pool)
    .await
    .map(|_| ())
}

/// One photo.
pub async fn photo(pool: &AnyPool, id: &str) -> Result<Option<Photo>, sqlx::Error> {
    let row = sqlx::query("SELECT id, owner_id, report_id, width, height FROM incident_photos WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.map(|r| {
        Ok(Photo {
            id: r.try_get("id")?,
            owner_id: r.try_get("owner_id")?,
            report_id: r.try_get("report_id")?,
            width: r.try_get("width")?,
            height: r.try_get("height")?,
        })
    })
    .transpose()
}

/// The ids of a report's photos, oldest first.
pub async fn report_photos(pool: &AnyPool, report_id: &str) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query("SELECT id FROM incident_photos WHERE report_id = $1 ORDER BY id")
        .bind(report_id)
        .fetch_all(pool)
        .await?;
    rows.iter().map(|r| r.try_get("id")).collect()
}

/// One entry of a report's history.
#[derive(Debug, Clone)]
pub struct Update {
    /// Id.
    pub id: String,
    /// When, UTC ms.
    pub at: i64,
    /// `created`, `public`, `internal`.
    pub kind: String,
    /// State before.
    pub state_from: Option<String>,
    /// State after.
    pub state_to: Option<String>,
    /// Chinese text.
    pub text_zh: String,
    /// English text.
    pub text_en: String,
    /// The clerk who wrote it.
    pub staff_id: Option<String>,
    /// Their name.
    pub staff_name: Option<String>,
}

/// Appends to a report's history.
pub async fn insert_update(tx: &mut AnyConnection, report_id: &str, u: &Update) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO incident_updates (id, report_id, at, kind, state_from, state_to, text_zh, text_en, staff_id, staff_name)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&u.id)
    .bind(report_id)
    .bind(u.at)
    .bind(&u.kind)
    .bind(&u.state_from)
    .bind(&u.state_to)
    .bind(&u.text_zh)
    .bind(&u.text_en)
    .bind(&u.staff_id)
    .bind(&u.staff_name)
    .execute(&mut *tx)
    .await
    .map(|_| ())
}

/// A report's history, oldest first; internal notes only when `internal`.
pub async fn updates(pool: &AnyPool, report_id: &str, internal: bool) -> Result<Vec<Update>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, at, kind, state_from, state_to, text_zh, text_en, staff_id, staff_name FROM incident_updates
         WHERE report_id = $1 AND (kind <> 'internal' OR $2) ORDER BY at, id",
    )
    .bind(report_id)
    .bind(internal)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Update {
                id: r.try_get("id")?,
                at: r.try_get("at")?,
                kind: r.try_get("kind")?,
                state_from: r.try_get("state_from")?,
                state_to: r.try_get("state_to")?,
                text_zh: r.try_get("text_zh")?,
                text_en: r.try_get("text_en")?,
                staff_id: r.try_get("staff_id")?,
                staff_name: r.try_get("staff_name")?,
            })
        })
        .collect()
}

/// One report.
pub async fn report_by_id(conn: &mut AnyConnection, id: &str) -> Result<Option<Report>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {SELECT} FROM incident_reports WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(report).transpose()
}

/// One report, from the pool.
pub async fn get_report(pool: &AnyPool, id: &str) -> Result<Option<Report>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    report_by_id(&mut conn, id).await
}

/// Reports whose text waits for the content-safety check (it was unreachable), oldest first.
pub async fn pending_texts(pool: &AnyPool, limit: i64) -> Result<Vec<Report>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {SELECT} FROM incident_reports WHERE moderation = 'pending' ORDER BY created_at, id LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(report).collect()
}

/// Records the check's later verdict if the text is still pending; false when it is not.
pub async fn settle_pending(tx: &mut AnyConnection, id: &str, verdict: &str, now: i64) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE incident_reports SET moderation = $1, version = version + 1, updated_at = $2
         WHERE id = $3 AND moderation = 'pending'",
    )
    .bind(verdict)
    .bind(now)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Open reports of `category` inside a lat/lon box (the caller filters by exact distance).
pub async fn open_in_box(
    pool: &AnyPool,
    category: &str,
    (south, west, north, east): (f64, f64, f64, f64),
) -> Result<Vec<Report>, sqlx::Error> {
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
    rows.iter().map(report).collect()
}

/// Adds a follower; false when they already follow it.
pub async fn follow(tx: &mut AnyConnection, report_id: &str, citizen_id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "INSERT INTO incident_followers (report_id, citizen_id, at) VALUES ($1, $2, $3)
         ON CONFLICT (report_id, citizen_id) DO NOTHING",
    )
    .bind(report_id)
    .bind(citizen_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if res.rows_affected() == 1 {
        sqlx::query("UPDATE incident_reports SET n_followers = n_followers + 1 WHERE id = $1")
            .bind(report_id)
            .execute(&mut *tx)
            .await?;
        return Ok(true);
    }
    Ok(false)
}

/// Everyone to notify about a report: its reporter and its followers.
pub async fn followers(tx: &mut AnyConnection, report_id: &str) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query("SELECT citizen_id FROM incident_followers WHERE report_id = $1 ORDER BY at")
        .bind(report_id)
        .fetch_all(&mut *tx)
        .await?;
    rows.iter().map(|r| r.try_get("citizen_id")).collect()
}

/// A citizen's own reports and the ones they follow, newest first.
pub async fn mine(pool: &AnyPool, citizen_id: &str, limit: i64) -> Result<Vec<Report>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {SELECT} FROM incident_reports WHERE citizen_id = $1
         OR id IN (SELECT report_id FROM incident_followers WHERE citizen_id = $1)
         ORDER BY created_at DESC LIMIT $2"
    ))
    .bind(citizen_id)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter().map(report).collect()
}

/// The clerk queue's filters.
#[derive(Debug, Default, Clone)]
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
    /// The caller's scope: districts (empty with no agencies = everything, for admins).
    pub scope_districts: Vec<String>,
    /// The caller's scope: agencies.
    pub scope_agencies: Vec<String>,
    /// Whether the caller is unrestricted (admin).
    pub unrestricted: bool,
    /// Page size.
    pub limit: i64,
    /// Offset.
    pub offset: i64,
}

/// The clerk queue, oldest due first.
pub async fn queue(pool: &AnyPool, f: &QueueFilter) -> Result<Vec<Report>, sqlx::Error> {
    let mut sql = format!("SELECT {SELECT} FROM incident_reports WHERE 1 = 1");
    let mut binds: Vec<Bind> = Vec::new();
    let next = |b: Bind, binds: &mut Vec<Bind>| {
        binds.push(b);
        format!("${}", binds.len())
    };
    if !f.states.is_empty() {
        let ps: Vec<String> = f.states.iter().map(|s| next(Bind::Text(s.clone()), &mut binds)).collect();
        sql.push_str(&format!(" AND state IN ({})", ps.join(", ")));
    }
    if let Some(c) = &f.category {
        sql.push_str(&format!(" AND category = {}", next(Bind::Text(c.clone()), &mut binds)));
    }
    if let Some(d) = &f.district {
        sql.push_str(&format!(" AND district = {}", next(Bind::Text(d.clone()), &mut binds)));
    }
    if let Some(a) = &f.agency {
        sql.push_str(&format!(" AND agency = {}", next(Bind::Text(a.clone()), &mut binds)));
    }
    if let Some(t) = f.created_before {
        sql.push_str(&format!(" AND created_at < {}", next(Bind::Int(t), &mut binds)));
    }
    if let Some(t) = f.due_before {
        sql.push_str(&format!(
            " AND due_at < {} AND is_open = {}",
            next(Bind::Int(t), &mut binds),
            next(Bind::Bool(true), &mut binds)
        ));
    }
    if let Some(a) = &f.assignee {
        sql.push_str(&format!(" AND assignee_id = {}", next(Bind::Text(a.clone()), &mut binds)));
    }
    if !f.unrestricted {
        let mut ors = vec!["1 = 0".to_owned()];
        if !f.scope_districts.is_empty() {
            let ps: Vec<String> = f.scope_districts.iter().map(|s| next(Bind::Text(s.clone()), &mut binds)).collect();
            ors.push(format!("district IN ({})", ps.join(", ")));
        }
        if !f.scope_agencies.is_empty() {
            let ps: Vec<String> = f.scope_agencies.iter().map(|s| next(Bind::Text(s.clone()), &mut binds)).collect();
            ors.push(format!("agency IN ({})", ps.join(", ")));
        }
        sql.push_str(&format!(" AND ({})", ors.join(" OR ")));
    }
    sql.push_str(&format!(
        " ORDER BY due_at, id LIMIT {} OFFSET {}",
        next(Bind::Int(f.limit), &mut binds),
        next(Bind::Int(f.offset), &mut binds)
    ));
    let rows = bind_all(sqlx::query(&sql), &binds).fetch_all(pool).await?;
    rows.iter().map(report).collect()
}

/// A value to bind to a dynamically built statement.
#[derive(Debug, Clone)]
pub enum Bind {
    /// Text.
    Text(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s.as_str()),
            Bind::Int(i) => q.bind(*i),
            Bind::Float(f) => q.bind(*f),
            Bind::Bool(v) => q.bind(*v),
        };
    }
    q
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
    pub duplicate_of: Option<String>,
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
    id: &str,
    version: i64,
    change: &Change,
    now: i64,
) -> Result<bool, sqlx::Error> {
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
        push("duplicate_of", Some(Bind::Text(d.clone())), &mut binds, &mut sets);
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
    binds.push(Bind::Text(id.to_owned()));
    let id_p = binds.len();
    binds.push(Bind::Int(version));
    let v_p = binds.len();
    let sql = format!("UPDATE incident_reports SET {} WHERE id = ${id_p} AND version = ${v_p}", sets.join(", "));
    let res = bind_all(sqlx::query(&sql), &binds).execute(&mut *tx).await?;
    Ok(res.rows_affected() == 1)
}

/// What the map shows of a report, or `None` while its text is held (held reports are
/// neither pinned nor counted).
pub fn map_entry(r: &Report) -> Option<MapEntry> {
    r.text_is_public().then(|| MapEntry {
        category: r.category.clone(),
        state: r.state.clone(),
        lat: r.lat,
        lon: r.lon,
    })
}

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
pub async fn add_counts(tx: &mut AnyConnection, deltas: &BTreeMap<CountKey, CountDelta>) -> Result<(), sqlx::Error> {
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
        "{rows} AND cell_col BETWEEN {} AND {} AND moderation = 'pass'",
        param(Bind::Int(fine.col0), binds),
        param(Bind::Int(fine.col1), binds)
    );
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
pub async fn pins(pool: &AnyPool, f: &MapFilter, limit: i64) -> Result<Vec<Pin>, sqlx::Error> {
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
pub async fn count_upto(pool: &AnyPool, f: &MapFilter, limit: i64) -> Result<i64, sqlx::Error> {
    let mut binds = Vec::new();
    let w = fine_where(&CellRange::covering(FINE_ZOOM, &f.bbox), f, true, &mut binds);
    binds.push(Bind::Int(limit));
    let sql = format!(
        "SELECT CAST(COUNT(*) AS BIGINT) FROM (SELECT 1 AS one FROM incident_reports WHERE {w} LIMIT ${}) AS view",
        binds.len()
    );
    let row = bind_all(sqlx::query(&sql), &binds).fetch_one(pool).await?;
    row.try_get(0)
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

fn cell_counts(rows: &[AnyRow]) -> Result<Vec<CellCount>, sqlx::Error> {
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
pub async fn counted_cells(
    pool: &AnyPool,
    cells: &CellRange,
    count_zoom: u8,
    f: &MapFilter,
) -> Result<Vec<CellCount>, sqlx::Error> {
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
pub async fn grouped_cells(pool: &AnyPool, cells: &CellRange, f: &MapFilter) -> Result<Vec<CellCount>, sqlx::Error> {
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
pub async fn open311_search(pool: &AnyPool, f: &Open311Filter) -> Result<Vec<Report>, sqlx::Error> {
    let mut binds: Vec<Bind> = Vec::new();
    let ph = |b: Bind, binds: &mut Vec<Bind>| {
        binds.push(b);
        format!("${}", binds.len())
    };
    let mut sql = format!("SELECT {SELECT} FROM incident_reports WHERE 1 = 1");
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
    rows.iter().map(report).collect()
}

/// Records an Open311 token for a report.
pub async fn insert_token(tx: &mut AnyConnection, token: &str, report_id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO incident_tokens (token, report_id, created_at) VALUES ($1, $2, $3)")
        .bind(token)
        .bind(report_id)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map(|_| ())
}

/// The report behind an Open311 token.
pub async fn token(pool: &AnyPool, token: &str) -> Result<Option<String>, sqlx::Error> {
    let row =
        sqlx::query("SELECT report_id FROM incident_tokens WHERE token = $1").bind(token).fetch_optional(pool).await?;
    row.map(|r| r.try_get("report_id")).transpose()
}
