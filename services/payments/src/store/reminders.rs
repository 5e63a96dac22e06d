//! The reminders' SQL (issue #23): unpaid items of bound accounts and vehicles not yet reminded
//! of, and the once-only record written with the notice.

use city_platform::outbox;
use sqlx::Row;

use super::{Store, StoreError};

/// An unpaid item a citizen may be reminded of.
#[derive(Debug, Clone)]
pub struct Remindable {
    /// The bill or fine id.
    pub item_id: String,
    /// Who to remind.
    pub citizen_id: String,
    /// The bill's period or the fine's decision number.
    pub label: String,
    /// The amount, in fen.
    pub amount_fen: i64,
    /// The bill's due date (`YYYY-MM-DD`), or the fine's violation.
    pub detail: String,
}

/// Most items one round reminds of (the next round takes the rest).
const LIMIT: i64 = 100;

fn remindable(r: &sqlx::any::AnyRow) -> Result<Remindable, sqlx::Error> {
    Ok(Remindable {
        item_id: r.try_get("item_id")?,
        citizen_id: r.try_get("citizen_id")?,
        label: r.try_get("label")?,
        amount_fen: r.try_get("amount_fen")?,
        detail: r.try_get("detail")?,
    })
}

impl Store {
    /// Unpaid bills of bound accounts with no reminder `prefix` yet for that citizen; with
    /// `due_date`, only those due that day.
    pub async fn bills_to_remind(&self, prefix: &str, due_date: Option<&str>) -> Result<Vec<Remindable>, StoreError> {
        let rows = sqlx::query(
            "SELECT b.id AS item_id, g.citizen_id AS citizen_id, b.period AS label, b.amount_fen AS amount_fen, \
             b.due_date AS detail FROM bills b \
             JOIN bindings g ON g.biller_id = b.biller_id AND g.account_no = b.account_no \
             WHERE b.status = 'unpaid' AND ($1 = '' OR b.due_date = $1) \
             AND NOT EXISTS (SELECT 1 FROM payment_reminders r \
                 WHERE r.reminder_key = $2 || ':' || b.id || ':' || g.citizen_id) \
             ORDER BY b.id LIMIT $3",
        )
        .bind(due_date.unwrap_or(""))
        .bind(prefix)
        .bind(LIMIT)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.iter().map(remindable).collect::<Result<_, _>>()?)
    }

    /// Unpaid fines of vehicles bound (to the car the plate is on now) with no reminder `prefix`.
    pub async fn fines_to_remind(&self, prefix: &str) -> Result<Vec<Remindable>, StoreError> {
        let rows = sqlx::query(
            "SELECT f.id AS item_id, vb.citizen_id AS citizen_id, f.decision_no AS label, f.fine_fen AS amount_fen, \
             f.violation AS detail FROM fines f \
             JOIN vehicles v ON v.plate = f.plate AND v.plate_type = f.plate_type \
             JOIN vehicle_bindings vb ON vb.vehicle_id = v.id \
             WHERE f.status = 'unpaid' \
             AND NOT EXISTS (SELECT 1 FROM payment_reminders r \
                 WHERE r.reminder_key = $1 || ':' || f.id || ':' || vb.citizen_id) \
             ORDER BY f.id LIMIT $2",
        )
        .bind(prefix)
        .bind(LIMIT)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.iter().map(remindable).collect::<Result<_, _>>()?)
    }

    /// Records reminder `key` and writes its notice, in one transaction; false when it was
    /// already sent (another replica, an earlier round).
    pub async fn remind_once(
        &self,
        key: &str,
        citizen_id: &str,
        notice: &serde_json::Value,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let new = sqlx::query(
            "INSERT INTO payment_reminders (reminder_key, citizen_id, created_at_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (reminder_key) DO NOTHING",
        )
        .bind(key)
        .bind(citizen_id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if new {
            outbox::enqueue(&mut tx, "notify.requested", notice).await?;
        }
        tx.commit().await?;
        Ok(new)
    }
}
