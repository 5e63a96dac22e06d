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
    let processed =
        tokio::task::spawn_blocking(move || photos::process(&bytes)).await.map_err(|_| UploadError::Worker)??;
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
