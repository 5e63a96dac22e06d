//! Photo uploads, for the Mini Program and Open311 alike: the bytes are checked and re-encoded
//! on a blocking thread (`crate::photos`), written under the data directory, and recorded as
//! the uploader's until a report attaches them.

use city_platform::time::now_ms;

use super::errors::UploadError;
use crate::photos;
use crate::store::{self, Photo};
use crate::IncidentsState;

/// A stored upload.
#[derive(Debug, Clone)]
pub struct Uploaded {
    /// Its id, for `photo_ids`.
    pub id: String,
    /// Width after processing.
    pub width: i64,
    /// Height after processing.
    pub height: i64,
}

/// Processes and stores `bytes` as an upload of `owner` (`<citizen id>` or `key:<key id>`).
#[tracing::instrument(skip_all, fields(photo_id = tracing::field::Empty))]
pub async fn upload(state: &IncidentsState, owner: &str, bytes: Vec<u8>) -> Result<Uploaded, UploadError> {
    let limits = &state.platform.settings.incidents;
    let max_pixels = limits.photo_max_pixels;
    // Waits for a decoding permit: a burst of uploads queues here instead of decoding at once.
    let permit = photos::decoders(limits.photo_decoders).acquire().await.map_err(|_| UploadError::Worker)?;
    let processed = tokio::task::spawn_blocking(move || photos::process_within(&bytes, max_pixels))
        .await
        .map_err(|_| UploadError::Worker)??;
    drop(permit);
    let id = city_platform::ids::new_id();
    tracing::Span::current().record("photo_id", id.as_str());
    let data_dir = &state.platform.settings.data_dir;
    tokio::fs::create_dir_all(photos::dir(data_dir)).await?;
    tokio::fs::write(photos::file(data_dir, &id, false), &processed.jpeg).await?;
    tokio::fs::write(photos::file(data_dir, &id, true), &processed.thumb).await?;
    let photo = Photo {
        id: id.clone(),
        owner_id: owner.to_owned(),
        report_id: None,
        width: processed.width.into(),
        height: processed.height.into(),
    };
    store::insert_photo(&state.db.pool, &photo, processed.jpeg.len() as i64, now_ms()).await?;
    Ok(Uploaded { id, width: photo.width, height: photo.height })
}

/// The bytes of a photo of a filed report (`thumb`: its thumbnail), or `None` when there is no
/// such photo or it is not attached to a report yet (`access::photo_is_public`).
#[tracing::instrument(skip_all, fields(photo_id = id))]
pub async fn bytes(state: &IncidentsState, id: &str, thumb: bool) -> Result<Option<Vec<u8>>, UploadError> {
    let Some(photo) = store::photo(&state.db.pool, id).await? else { return Ok(None) };
    if !crate::domain::access::photo_is_public(photo.report_id.as_ref().map(|r| r.as_str())) {
        return Ok(None);
    }
    Ok(tokio::fs::read(photos::file(&state.platform.settings.data_dir, &photo.id, thumb)).await.ok())
}

/// Deletes uploads never attached to a report within `incidents.unattached_photo_secs` of
/// `now` (UTC ms; the caller's clock), rows and files, at most `limit` per call. Returns how
/// many went. The row goes first and only while still unattached, so a report filed meanwhile
/// keeps its photo.
#[tracing::instrument(skip_all)]
pub async fn sweep_unattached(state: &IncidentsState, now: i64, limit: i64) -> Result<usize, UploadError> {
    let ttl_ms = i64::try_from(state.platform.settings.incidents.unattached_photo_secs).unwrap_or(i64::MAX / 2) * 1000;
    let data_dir = &state.platform.settings.data_dir;
    let mut gone = 0;
    for id in store::unattached_before(&state.db.pool, now.saturating_sub(ttl_ms), limit).await? {
        if store::delete_unattached(&state.db.pool, &id).await? {
            for thumb in [false, true] {
                if let Err(e) = tokio::fs::remove_file(photos::file(data_dir, &id, thumb)).await {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        tracing::warn!(photo_id = %id, error = %e, "an unattached photo's file could not be removed");
                    }
                }
            }
            gone += 1;
        }
    }
    Ok(gone)
}
