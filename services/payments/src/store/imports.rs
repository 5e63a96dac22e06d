//! Bill imports: one row per file (by SHA-256) and its bills, all or nothing.

use city_platform::audit::{self, AuditEntry};
use city_platform::ids::new_id;

use super::{Store, StoreError};
use crate::domain::import::BillRow;

/// A parsed file to record.
pub struct NewImport<'a> {
    /// Import id.
    pub import_id: &'a str,
    /// The file's SHA-256, hex.
    pub file_sha256: &'a str,
    /// The file's name, for the record.
    pub file_name: &'a str,
    /// `cli` or the staff id.
    pub imported_by: &'a str,
    /// The rows.
    pub rows: &'a [BillRow],
    /// The audit entry, for a file a person imported.
    pub audit: Option<AuditEntry>,
    /// Now, UTC ms.
    pub at_ms: i64,
}

/// How recording an import went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Every row went in.
    Imported,
    /// A concurrent import of the same file won; nothing changed.
    Raced,
    /// These rows' (account, period) have a bill already (their lines); nothing changed.
    Existing(Vec<u64>),
}

impl Store {
    /// The import of a file with this SHA-256, if any.
    pub async fn import_by_hash(&self, file_sha256: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT id FROM bill_imports WHERE file_sha256 = $1")
            .bind(file_sha256)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.map(|r| r.0))
    }

    /// Every biller id.
    pub async fn biller_ids(&self) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT id FROM billers").fetch_all(&self.db.pool).await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Records a file and all its bills in one transaction, or nothing; `progress` is called
    /// every 500 rows.
    pub async fn record_import(
        &self,
        i: &NewImport<'_>,
        progress: &(dyn Fn(usize, usize) + Send + Sync),
    ) -> Result<Recorded, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let claimed = sqlx::query(
            "INSERT INTO bill_imports (id, file_sha256, file_name, rows_imported, imported_by, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (file_sha256) DO NOTHING",
        )
        .bind(i.import_id)
        .bind(i.file_sha256)
        .bind(i.file_name)
        .bind(i64::try_from(i.rows.len()).unwrap_or(i64::MAX))
        .bind(i.imported_by)
        .bind(i.at_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            return Ok(Recorded::Raced);
        }
        let mut existing = Vec::new();
        for (n, row) in i.rows.iter().enumerate() {
            let inserted = sqlx::query(
                "INSERT INTO bills (id, biller_id, account_no, period, amount_fen, due_date, status, import_id, created_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, 'unpaid', $7, $8) ON CONFLICT (biller_id, account_no, period) DO NOTHING",
            )
            .bind(new_id())
            .bind(&row.biller_id)
            .bind(&row.account_no)
            .bind(&row.period)
            .bind(row.amount_fen)
            .bind(row.due_date.to_string())
            .bind(i.import_id)
            .bind(i.at_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                existing.push(row.line);
            }
            if (n + 1) % 500 == 0 {
                progress(n + 1, i.rows.len());
            }
        }
        if !existing.is_empty() {
            tx.rollback().await?;
            return Ok(Recorded::Existing(existing));
        }
        if let Some(entry) = &i.audit {
            audit::record(&mut tx, entry).await?;
        }
        tx.commit().await?;
        Ok(Recorded::Imported)
    }
}
