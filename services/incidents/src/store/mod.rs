//! Every SQL statement of the incidents service, in the portable dialect (SQLite and
//! PostgreSQL through the Any driver), by aggregate: `reports` (the reports table, the clerk
//! queue, the repeat-report guard), `history` (updates and followers), `photos`, `map` (the
//! count table and the map index), `open311` (search and tokens), `clerks` (who an assignment
//! may name), `seed` (bulk demo loads).
//! SQL only: no HTTP, no rules; rows come back as the domain's types and failures as
//! [`StoreError`].

mod clerks;
pub mod erasure;
mod history;
pub mod internal;
mod map;
mod open311;
mod photos;
mod reports;
pub mod seed;

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::domain::{Report, ReportId};

pub use clerks::{clerk, clerks, remember_clerk};
pub use history::{follow, followers, insert_update, updates};
pub use map::{add_counts, count_upto, counted_cells, grouped_cells, pins, MapFilter, Pin};
pub use open311::{insert_token, open311_search, token, Open311Filter};
pub use photos::{
    attach_photos, attach_update_photo, delete_unattached, insert_photo, photo, report_photos, unattached_before,
    update_photos, Photo,
};
pub use reports::{
    apply_change, claim_reporter_slot, get_report, insert_report, mine, open_in_box, pending_texts, queue,
    queue_counts, report_by_id, settle_pending, Change, QueueCounts, QueueFilter, QueueSort,
};

/// Why the store failed. Only infrastructure: every rule's refusal is decided by the use cases
/// or written into a conditional statement whose "no" comes back as a value.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or did not answer.
    #[error("incidents store: {0}")]
    Db(#[from] sqlx::Error),
}

impl StoreError {
    /// The database error behind it.
    pub fn into_sqlx(self) -> sqlx::Error {
        match self {
            Self::Db(e) => e,
        }
    }
}

/// What the store's functions return.
pub type Result<T> = std::result::Result<T, StoreError>;

const COLUMNS: &str = "id, citizen_id, reporter_name, anonymous, channel, contact, category, agency, district, state,
    description, address, attributes, lat, lon, orig_crs, orig_lat, orig_lon, moderation, assignee_id, assignee_name,
    duplicate_of, n_photos, n_followers, version, created_at, updated_at, due_at, closed_at";

/// The select list: booleans come back as integers, which the Any driver decodes on both backends.
const SELECT: &str =
    "id, citizen_id, reporter_name, CAST(CASE WHEN anonymous THEN 1 ELSE 0 END AS BIGINT) AS anonymous,
    channel, contact, category, agency, district, state, description, address, attributes, lat, lon, orig_crs, orig_lat,
    orig_lon, moderation, assignee_id, assignee_name, duplicate_of, n_photos, n_followers, version, created_at,
    updated_at, due_at, closed_at";

fn report(row: &AnyRow) -> std::result::Result<Report, sqlx::Error> {
    Ok(Report {
        id: ReportId::from(row.try_get::<String, _>("id")?),
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
        duplicate_of: row.try_get::<Option<String>, _>("duplicate_of")?.map(ReportId::from),
        n_photos: row.try_get("n_photos")?,
        n_followers: row.try_get("n_followers")?,
        version: row.try_get("version")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        due_at: row.try_get("due_at")?,
        closed_at: row.try_get("closed_at")?,
    })
}

/// A value to bind to a dynamically built statement.
#[derive(Debug, Clone)]
enum Bind {
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
