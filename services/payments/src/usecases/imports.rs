//! The finance office's bill file and the traffic police's fines file, each imported all or
//! nothing; the same file again changes nothing.

use std::fmt;

use city_platform::audit::AuditEntry;
use city_platform::auth::Staff;
use city_platform::ids::new_id;
use serde_json::json;
use sha2::Digest as _;

use crate::domain::import::{self, RowError};
use crate::store::imports::{NewImport, Recorded};
use crate::store::vehicles::{FineFile, FinesRecorded};
use crate::store::StoreError;
use crate::PaymentsState;

/// A file imported (now or before).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    /// Every row went in.
    Now {
        /// Import id.
        import_id: String,
        /// Rows.
        rows: usize,
    },
    /// The same file (by SHA-256) was imported before; nothing changed.
    Before {
        /// The earlier import (empty when a concurrent import of it just won).
        import_id: String,
    },
}

/// Why a file was not imported.
#[derive(Debug)]
pub enum ImportError {
    /// Bad rows, every one named; nothing went in.
    BadRows(Vec<RowError>),
    /// The store failed.
    Store(StoreError),
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadRows(rows) => write!(f, "{} bad rows; nothing was imported", rows.len()),
            Self::Store(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for ImportError {}

impl From<StoreError> for ImportError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// Imports a bill file all-or-nothing; `progress` is called every 500 rows. From the API a
/// finance officer imports (and is audited); from the command line, `cli`.
#[tracing::instrument(skip_all, fields(file_name = %file_name))]
pub async fn import_bills(
    state: &PaymentsState,
    data: &[u8],
    file_name: &str,
    staff: Option<&Staff>,
    progress: &(dyn Fn(usize, usize) + Send + Sync),
) -> Result<Imported, ImportError> {
    let imported_by = staff.map_or("cli", |s| s.staff_id.as_str());
    let hash = hex::encode(sha2::Sha256::digest(data));
    if let Some(import_id) = state.store.import_by_hash(&hash).await? {
        return Ok(Imported::Before { import_id });
    }
    let billers = state.store.biller_ids().await?;
    let rows = import::parse_bills(data, |b| billers.iter().any(|id| id == b)).map_err(ImportError::BadRows)?;
    let import_id = new_id();
    let audit = staff.map(|staff| {
        AuditEntry::by_staff(staff, crate::NAME, "bills.import", format!("import:{import_id}"))
            .with_change(None, Some(json!({ "file_name": file_name, "file_sha256": hash, "rows": rows.len() })))
    });
    let new = NewImport {
        import_id: &import_id,
        file_sha256: &hash,
        file_name,
        imported_by,
        rows: &rows,
        audit,
        at_ms: state.clock.now_ms(),
    };
    match state.store.record_import(&new, progress).await? {
        Recorded::Imported => {}
        // A concurrent import of the same file won.
        Recorded::Raced => return Ok(Imported::Before { import_id: String::new() }),
        Recorded::Existing(lines) => {
            return Err(ImportError::BadRows(
                lines
                    .into_iter()
                    .map(|line| RowError {
                        line,
                        column: Some("period"),
                        message: "a bill for this account and period exists already".into(),
                    })
                    .collect(),
            ))
        }
    }
    progress(rows.len(), rows.len());
    tracing::info!(%import_id, rows = rows.len(), "bills imported");
    Ok(Imported::Now { import_id, rows: rows.len() })
}

/// A fines file imported (now or before).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinesImported {
    /// The file's rows went in: new decisions added, known ones left as they are, every
    /// vehicle (re)registered.
    Now {
        /// Import id.
        import_id: String,
        /// Rows in the file.
        rows: usize,
        /// Decisions not known before.
        new_fines: usize,
    },
    /// The same file (by SHA-256) was imported before; nothing changed.
    Before {
        /// The earlier import (empty when a concurrent import of it just won).
        import_id: String,
    },
}

/// Why a fines file was not imported.
#[derive(Debug)]
pub enum FineImportError {
    /// Bad rows, every one named; nothing went in.
    BadRows(Vec<RowError>),
    /// The store failed.
    Store(StoreError),
}

impl fmt::Display for FineImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadRows(rows) => write!(f, "{} bad rows; nothing was imported", rows.len()),
            Self::Store(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for FineImportError {}

impl From<StoreError> for FineImportError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

/// Imports the traffic police's fines file all-or-nothing: the fines and, from each row's
/// engine number, the vehicle registry (only a keyed hash of its last six characters is kept).
#[tracing::instrument(skip_all, fields(file_name = %file_name))]
pub async fn import_fines(
    state: &PaymentsState,
    data: &[u8],
    file_name: &str,
    staff: Option<&Staff>,
) -> Result<FinesImported, FineImportError> {
    let hash = hex::encode(sha2::Sha256::digest(data));
    if let Some(import_id) = state.store.fine_import_by_hash(&hash).await? {
        return Ok(FinesImported::Before { import_id });
    }
    let rows = crate::domain::fine_import::parse_fines(data).map_err(FineImportError::BadRows)?;
    let import_id = new_id();
    let audit = staff.map(|staff| {
        AuditEntry::by_staff(staff, crate::NAME, "fines.import", format!("import:{import_id}"))
            .with_change(None, Some(json!({ "file_name": file_name, "file_sha256": hash, "rows": rows.len() })))
    });
    let file = FineFile {
        import_id: &import_id,
        file_sha256: &hash,
        file_name,
        imported_by: staff.map_or("cli", |s| s.staff_id.as_str()),
        audit,
    };
    match super::vehicles::register_fines(state, &rows, Some(&file)).await? {
        FinesRecorded::Recorded { new_fines } => {
            tracing::info!(%import_id, rows = rows.len(), new_fines, "fines imported");
            Ok(FinesImported::Now { import_id, rows: rows.len(), new_fines })
        }
        FinesRecorded::Raced => Ok(FinesImported::Before { import_id: String::new() }),
    }
}
