//! The simulated billers' tables (`sim_accounts`, `sim_postings`), behind `biller::SimulatedBiller`.

use std::collections::{BTreeMap, HashSet};

use super::{Store, StoreError};
use crate::biller::{BillerAccount, PostingRequest, StatementLine};

impl Store {
    /// A simulated account.
    pub async fn sim_account(&self, biller_id: &str, account_no: &str) -> Result<Option<BillerAccount>, StoreError> {
        let row: Option<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT holder_name, address, CAST(CASE WHEN prepaid THEN 1 ELSE 0 END AS BIGINT), balance_fen FROM sim_accounts WHERE biller_id = $1 AND account_no = $2",
        )
        .bind(biller_id)
        .bind(account_no)
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(row.map(|(holder_name, address, prepaid, balance_fen)| BillerAccount {
            holder_name,
            address,
            prepaid: prepaid != 0,
            balance_fen,
        }))
    }

    /// How a simulated account answers postings (`ok`, `fail`, `timeout`, `reject`).
    pub async fn sim_posting_mode(&self, biller_id: &str, account_no: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT posting_mode FROM sim_accounts WHERE biller_id = $1 AND account_no = $2")
                .bind(biller_id)
                .bind(account_no)
                .fetch_optional(&self.db.pool)
                .await?;
        Ok(row.map(|r| r.0))
    }

    /// Books accepted postings once each (by order number), topping up prepaid balances.
    pub async fn sim_book(&self, postings: &[&PostingRequest], at_ms: i64) -> Result<(), StoreError> {
        let values: Vec<String> = (0..postings.len())
            .map(|i| format!("(${}, ${}, ${}, ${}, $1)", i * 4 + 2, i * 4 + 3, i * 4 + 4, i * 4 + 5))
            .collect();
        let sql = format!(
            "INSERT INTO sim_postings (out_trade_no, biller_id, account_no, amount_fen, posted_at_ms) VALUES {}
             ON CONFLICT (out_trade_no) DO NOTHING RETURNING out_trade_no",
            values.join(", ")
        );
        let mut insert = sqlx::query_as::<_, (String,)>(&sql).bind(at_ms);
        for p in postings {
            insert = insert.bind(&p.out_trade_no).bind(&p.biller_id).bind(&p.account_no).bind(p.amount_fen);
        }
        let mut tx = self.db.begin_write().await?;
        // Only postings booked now (not repeats of earlier ones) add to a prepaid balance.
        let new: HashSet<String> = insert.fetch_all(&mut *tx).await?.into_iter().map(|r| r.0).collect();
        let mut topups: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        for p in postings.iter().filter(|p| p.topup && new.contains(&p.out_trade_no)) {
            *topups.entry((p.biller_id.as_str(), p.account_no.as_str())).or_default() += p.amount_fen;
        }
        for ((biller_id, account_no), fen) in topups {
            sqlx::query(
                "UPDATE sim_accounts SET balance_fen = balance_fen + $1 WHERE biller_id = $2 AND account_no = $3",
            )
            .bind(fen)
            .bind(biller_id)
            .bind(account_no)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// What the simulated billers posted in `[from_ms, to_ms)`, by order number.
    pub async fn sim_statement(&self, from_ms: i64, to_ms: i64) -> Result<Vec<StatementLine>, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(
            "SELECT out_trade_no, amount_fen FROM sim_postings WHERE posted_at_ms >= $1 AND posted_at_ms < $2 ORDER BY out_trade_no",
        )
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.into_iter().map(|(out_trade_no, amount_fen)| StatementLine { out_trade_no, amount_fen }).collect())
    }
}
