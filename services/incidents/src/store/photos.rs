//! Photos: uploads and their attachment to a report.

use sqlx::{AnyConnection, AnyPool, Row};

use super::Result;
use crate::domain::ReportId;

/// Attaches the owner's unattached photos to a report; returns how many were attached.
pub async fn attach_photos(tx: &mut AnyConnection, ids: &[String], owner: &str, report_id: &ReportId) -> Result<u64> {
    let mut n = 0;
    for id in ids {
        n += sqlx::query(
            "UPDATE incident_photos SET report_id = $1 WHERE id = $2 AND owner_id = $3 AND report_id IS NULL",
        )
        .bind(report_id.as_str())
        .bind(id)
        .bind(owner)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    }
    Ok(n)
}

/// Attaches the owner's unattached upload `id` to update `update_id` of a report; false when
/// there is no such unattached upload of theirs.
pub async fn attach_update_photo(
    tx: &mut AnyConnection,
    id: &str,
    owner: &str,
    report_id: &ReportId,
    update_id: &str,
) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE incident_photos SET report_id = $1, update_id = $2
         WHERE id = $3 AND owner_id = $4 AND report_id IS NULL",
    )
    .bind(report_id.as_str())
    .bind(update_id)
    .bind(id)
    .bind(owner)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// The photos of a report's updates: (update id, photo id).
pub async fn update_photos(pool: &AnyPool, report_id: &ReportId) -> Result<Vec<(String, String)>> {
    let rows = sqlx::query(
        "SELECT update_id, id FROM incident_photos WHERE report_id = $1 AND update_id IS NOT NULL ORDER BY id",
    )
    .bind(report_id.as_str())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Ok((r.try_get("update_id")?, r.try_get("id")?)))
        .collect::<std::result::Result<_, sqlx::Error>>()?)
}

/// A stored photo.
#[derive(Debug, Clone)]
pub struct Photo {
    /// Id.
    pub id: String,
    /// The uploader.
    pub owner_id: String,
    /// The report it belongs to, once attached.
    pub report_id: Option<ReportId>,
    /// Width in pixels.
    pub width: i64,
    /// Height in pixels.
    pub height: i64,
}

/// Records an uploaded photo (the files are already written).
pub async fn insert_photo(pool: &AnyPool, p: &Photo, n_bytes: i64, now: i64) -> Result<()> {
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
    .await?;
    Ok(())
}

/// One photo.
pub async fn photo(pool: &AnyPool, id: &str) -> Result<Option<Photo>> {
    let row = sqlx::query("SELECT id, owner_id, report_id, width, height FROM incident_photos WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.map(|r| {
        Ok(Photo {
            id: r.try_get("id")?,
            owner_id: r.try_get("owner_id")?,
            report_id: r.try_get::<Option<String>, _>("report_id")?.map(ReportId::from),
            width: r.try_get("width")?,
            height: r.try_get("height")?,
        })
    })
    .transpose()
}

/// The ids of a report's photos (the reporter's, not those of its updates), oldest first.
pub async fn report_photos(pool: &AnyPool, report_id: &ReportId) -> Result<Vec<String>> {
    let rows = sqlx::query("SELECT id FROM incident_photos WHERE report_id = $1 AND update_id IS NULL ORDER BY id")
        .bind(report_id.as_str())
        .fetch_all(pool)
        .await?;
    Ok(rows.iter().map(|r| r.try_get("id")).collect::<std::result::Result<_, _>>()?)
}

/// Uploads never attached to a report and made before `cutoff` (UTC ms), oldest first.
pub async fn unattached_before(pool: &AnyPool, cutoff: i64, limit: i64) -> Result<Vec<String>> {
    let rows = sqlx::query(
        "SELECT id FROM incident_photos WHERE report_id IS NULL AND created_at < $1 ORDER BY created_at, id LIMIT $2",
    )
    .bind(cutoff)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(|r| r.try_get("id")).collect::<std::result::Result<_, _>>()?)
}

/// Deletes an upload if it is still unattached; whether it was (a report may have taken it
/// since it was listed).
pub async fn delete_unattached(pool: &AnyPool, id: &str) -> Result<bool> {
    let n = sqlx::query("DELETE FROM incident_photos WHERE id = $1 AND report_id IS NULL")
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(n > 0)
}
