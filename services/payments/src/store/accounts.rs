//! Billers, the accounts citizens bind, and their bills.

use city_platform::money::Fen;

use super::{Store, StoreError};

/// A biller.
#[derive(Debug, Clone)]
pub struct BillerRow {
    /// Id.
    pub id: String,
    /// `electricity`, `water`, `gas` or `traffic`.
    pub kind: String,
    /// Name in Chinese.
    pub name_zh: String,
    /// Name in English.
    pub name_en: String,
    /// Smallest prepaid top-up.
    pub min_topup: Fen,
}

/// A citizen's bound account.
#[derive(Debug, Clone)]
pub struct BindingRow {
    /// Binding id.
    pub id: String,
    /// Biller.
    pub biller_id: String,
    /// Account number.
    pub account_no: String,
    /// The citizen's label.
    pub label: Option<String>,
}

/// A bill for one period.
#[derive(Debug, Clone)]
pub struct BillRow {
    /// Id.
    pub id: String,
    /// Biller.
    pub biller_id: String,
    /// Account number.
    pub account_no: String,
    /// Period.
    pub period: String,
    /// Amount due.
    pub amount: Fen,
    /// Due date, `YYYY-MM-DD`.
    pub due_date: String,
    /// `unpaid` or `paid`.
    pub status: String,
}

/// An unpaid bill of a bound account, with its biller's Chinese name.
#[derive(Debug, Clone)]
pub struct UnpaidBill {
    /// Bill id.
    pub id: String,
    /// The biller's Chinese name.
    pub biller_name_zh: String,
    /// Account number.
    pub account_no: String,
    /// Period.
    pub period: String,
    /// Amount due.
    pub amount: Fen,
    /// Due date.
    pub due_date: String,
}

type BillTuple = (String, String, String, String, i64, String, String);

fn bill_from((id, biller_id, account_no, period, amount_fen, due_date, status): BillTuple) -> BillRow {
    BillRow { id, biller_id, account_no, period, amount: Fen(amount_fen), due_date, status }
}

const BILL_COLUMNS: &str = "id, biller_id, account_no, period, amount_fen, due_date, status";

impl Store {
    /// Every biller, by id.
    pub async fn billers(&self) -> Result<Vec<BillerRow>, StoreError> {
        let rows: Vec<(String, String, String, String, i64)> =
            sqlx::query_as("SELECT id, kind, name_zh, name_en, min_topup_fen FROM billers ORDER BY id")
                .fetch_all(&self.db.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, kind, name_zh, name_en, min)| BillerRow { id, kind, name_zh, name_en, min_topup: Fen(min) })
            .collect())
    }

    /// One biller.
    pub async fn biller(&self, id: &str) -> Result<Option<BillerRow>, StoreError> {
        let row: Option<(String, String, String, String, i64)> =
            sqlx::query_as("SELECT id, kind, name_zh, name_en, min_topup_fen FROM billers WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.db.pool)
                .await?;
        Ok(row.map(|(id, kind, name_zh, name_en, min)| BillerRow { id, kind, name_zh, name_en, min_topup: Fen(min) }))
    }

    /// Binds an account to a citizen (binding it again changes nothing) and returns the binding.
    pub async fn bind(
        &self,
        id: &str,
        citizen_id: &str,
        biller_id: &str,
        account_no: &str,
        label: Option<&str>,
        at_ms: i64,
    ) -> Result<BindingRow, StoreError> {
        sqlx::query(
            "INSERT INTO bindings (id, citizen_id, biller_id, account_no, label, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (citizen_id, biller_id, account_no) DO NOTHING",
        )
        .bind(id)
        .bind(citizen_id)
        .bind(biller_id)
        .bind(account_no)
        .bind(label)
        .bind(at_ms)
        .execute(&self.db.pool)
        .await?;
        let (id, label): (String, Option<String>) = sqlx::query_as(
            "SELECT id, label FROM bindings WHERE citizen_id = $1 AND biller_id = $2 AND account_no = $3",
        )
        .bind(citizen_id)
        .bind(biller_id)
        .bind(account_no)
        .fetch_one(&self.db.pool)
        .await?;
        Ok(BindingRow { id, biller_id: biller_id.to_owned(), account_no: account_no.to_owned(), label })
    }

    /// A citizen's bindings, oldest first.
    pub async fn bindings_of(&self, citizen_id: &str) -> Result<Vec<BindingRow>, StoreError> {
        let rows: Vec<(String, String, String, Option<String>)> = sqlx::query_as(
            "SELECT id, biller_id, account_no, label FROM bindings WHERE citizen_id = $1 ORDER BY created_at_ms",
        )
        .bind(citizen_id)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, biller_id, account_no, label)| BindingRow { id, biller_id, account_no, label })
            .collect())
    }

    /// One of a citizen's bindings (another's is `None`, like a missing one).
    pub async fn binding(&self, citizen_id: &str, binding_id: &str) -> Result<Option<BindingRow>, StoreError> {
        let row: Option<(String, String, Option<String>)> =
            sqlx::query_as("SELECT biller_id, account_no, label FROM bindings WHERE id = $1 AND citizen_id = $2")
                .bind(binding_id)
                .bind(citizen_id)
                .fetch_optional(&self.db.pool)
                .await?;
        Ok(row.map(|(biller_id, account_no, label)| BindingRow {
            id: binding_id.to_owned(),
            biller_id,
            account_no,
            label,
        }))
    }

    /// Whether the citizen has bound the account.
    pub async fn is_bound(&self, citizen_id: &str, biller_id: &str, account_no: &str) -> Result<bool, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT id FROM bindings WHERE citizen_id = $1 AND biller_id = $2 AND account_no = $3")
                .bind(citizen_id)
                .bind(biller_id)
                .bind(account_no)
                .fetch_optional(&self.db.pool)
                .await?;
        Ok(row.is_some())
    }

    /// Removes one of a citizen's bindings; false when there was none.
    pub async fn unbind(&self, citizen_id: &str, binding_id: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("DELETE FROM bindings WHERE id = $1 AND citizen_id = $2")
            .bind(binding_id)
            .bind(citizen_id)
            .execute(&self.db.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Bills of an account, newest period first.
    pub async fn bills_of(&self, biller_id: &str, account_no: &str) -> Result<Vec<BillRow>, StoreError> {
        let rows: Vec<BillTuple> = sqlx::query_as(&format!(
            "SELECT {BILL_COLUMNS} FROM bills WHERE biller_id = $1 AND account_no = $2 ORDER BY period DESC"
        ))
        .bind(biller_id)
        .bind(account_no)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.into_iter().map(bill_from).collect())
    }

    /// One bill.
    pub async fn bill(&self, id: &str) -> Result<Option<BillRow>, StoreError> {
        let row: Option<BillTuple> = sqlx::query_as(&format!("SELECT {BILL_COLUMNS} FROM bills WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.map(bill_from))
    }

    /// The unpaid bills of a citizen's bound accounts.
    pub async fn unpaid_bills_of(&self, citizen_id: &str) -> Result<Vec<UnpaidBill>, StoreError> {
        let rows: Vec<(String, String, String, String, i64, String)> = sqlx::query_as(
            "SELECT b.id, l.name_zh, b.account_no, b.period, b.amount_fen, b.due_date
             FROM bindings g JOIN bills b ON b.biller_id = g.biller_id AND b.account_no = g.account_no
             JOIN billers l ON l.id = b.biller_id
             WHERE g.citizen_id = $1 AND b.status = 'unpaid'",
        )
        .bind(citizen_id)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, biller_name_zh, account_no, period, amount_fen, due_date)| UnpaidBill {
                id,
                biller_name_zh,
                account_no,
                period,
                amount: Fen(amount_fen),
                due_date,
            })
            .collect())
    }
}
