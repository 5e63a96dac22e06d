//! The demo data (`seeds/payments/demo.json`) into an empty store; fines and due dates are
//! dated relative to `today`, and each fine's vehicle goes into the registry.

use chrono::NaiveDate;
use city_platform::ids::new_id;

use super::vehicles::{record_fines_on, NewFine};
use super::Store;
use crate::domain::{self, vehicles, vehicles::EngineCode};

impl Store {
    /// Loads the demo seed unless billers exist already (at start-up, where a failure is the
    /// database's, reported as `DbError::Sql`); fines' engine numbers are hashed with
    /// `vehicle_key` into the vehicle registry.
    pub async fn seed_demo(
        &self,
        seed: &serde_json::Value,
        vehicle_key: &[u8; 32],
        today: NaiveDate,
        at_ms: i64,
    ) -> Result<(), sqlx::Error> {
        let (count,): (i64,) =
            sqlx::query_as("SELECT CAST(COUNT(*) AS BIGINT) FROM billers").fetch_one(&self.db.pool).await?;
        if count > 0 {
            return Ok(());
        }
        let s = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or_default().to_owned();
        let i = |v: &serde_json::Value, k: &str| v[k].as_i64().unwrap_or_default();
        let mut tx = self.db.begin_write().await?;
        for b in seed["billers"].as_array().into_iter().flatten() {
            sqlx::query("INSERT INTO billers (id, kind, name_zh, name_en, min_topup_fen) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING")
                .bind(s(b, "id"))
                .bind(s(b, "kind"))
                .bind(s(b, "name_zh"))
                .bind(s(b, "name_en"))
                .bind(i(b, "min_topup_fen"))
                .execute(&mut *tx)
                .await?;
        }
        for a in seed["accounts"].as_array().into_iter().flatten() {
            sqlx::query(
                "INSERT INTO sim_accounts (biller_id, account_no, holder_name, address, prepaid, balance_fen, posting_mode)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (biller_id, account_no) DO NOTHING",
            )
            .bind(s(a, "biller_id"))
            .bind(s(a, "account_no"))
            .bind(s(a, "holder_name"))
            .bind(s(a, "address"))
            .bind(a["prepaid"].as_bool().unwrap_or(false))
            .bind(i(a, "balance_fen"))
            .bind(a["posting_mode"].as_str().unwrap_or("ok"))
            .execute(&mut *tx)
            .await?;
        }
        for b in seed["bills"].as_array().into_iter().flatten() {
            let due = today + chrono::Duration::days(i(b, "due_in_days"));
            sqlx::query(
                "INSERT INTO bills (id, biller_id, account_no, period, amount_fen, due_date, status, created_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6, 'unpaid', $7) ON CONFLICT (biller_id, account_no, period) DO NOTHING",
            )
            .bind(new_id())
            .bind(s(b, "biller_id"))
            .bind(s(b, "account_no"))
            .bind(s(b, "period"))
            .bind(i(b, "amount_fen"))
            .bind(due.to_string())
            .bind(at_ms)
            .execute(&mut *tx)
            .await?;
        }
        // Fines go in the way the fines file brings them: with their vehicles in the registry.
        let mut fines = Vec::new();
        for f in seed["fines"].as_array().into_iter().flatten() {
            let (Some(plate), Some(plate_type)) =
                (domain::Plate::parse(&s(f, "plate")), domain::plate_type(&s(f, "plate_type")))
            else {
                continue;
            };
            let engine = EngineCode::of_engine_number(&s(f, "engine_no"));
            let hash = engine.map(|e| vehicles::engine_hash(vehicle_key, &plate, plate_type, &e));
            let decided = today - chrono::Duration::days(i(f, "decided_days_ago"));
            fines.push((f, plate, plate_type, hash, decided.to_string()));
        }
        let texts: Vec<[String; 3]> =
            fines.iter().map(|(f, ..)| [s(f, "decision_no"), s(f, "violation"), s(f, "location")]).collect();
        let rows: Vec<NewFine> = fines
            .iter()
            .zip(&texts)
            .map(|((f, plate, plate_type, hash, decided), [decision_no, violation, location])| NewFine {
                decision_no,
                plate: plate.as_str(),
                plate_type,
                engine_hash: hash.as_deref(),
                fine_fen: i(f, "fine_fen"),
                decided_on: decided.clone(),
                violation,
                location,
            })
            .collect();
        record_fines_on(&mut tx, &rows, at_ms).await?;
        tx.commit().await
    }
}
