//! Billers behind one adapter: query an account, post a payment (销账) with our order number as
//! the idempotency key, and the daily statement. The embedded default simulates every biller in
//! this service's store, with a per-account `posting_mode` so tests can make posting fail, time
//! out or be rejected.

use async_trait::async_trait;
use city_platform::Db;

/// An account as the biller reports it.
#[derive(Debug, Clone)]
pub struct BillerAccount {
    /// The holder's full name (mask before showing it).
    pub holder_name: String,
    /// The service address.
    pub address: String,
    /// Prepaid (top-ups) rather than billed per period.
    pub prepaid: bool,
    /// Prepaid balance, fen.
    pub balance_fen: i64,
}

/// How a posting went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostingOutcome {
    /// The biller has the payment (now or from an earlier attempt with the same key).
    Posted,
    /// Try again later (failure or timeout: the outcome is unknown, the key makes a retry safe).
    Retry(String),
    /// The biller refuses for good; the money goes back.
    Rejected(String),
}

/// One payment to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostingRequest {
    /// The biller.
    pub biller_id: String,
    /// The account (the plate for fines).
    pub account_no: String,
    /// Our order number: the idempotency key.
    pub out_trade_no: String,
    /// Fen.
    pub amount_fen: i64,
    /// A prepaid top-up (adds to the balance) rather than a bill payment.
    pub topup: bool,
}

/// One line of a biller's daily statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    /// Our order number.
    pub out_trade_no: String,
    /// Amount posted, fen.
    pub amount_fen: i64,
}

/// A biller adapter.
#[async_trait]
pub trait Biller: Send + Sync + 'static {
    /// The account, or `None` when the biller does not know it.
    async fn query_account(&self, biller_id: &str, account_no: &str) -> Result<Option<BillerAccount>, sqlx::Error>;
    /// Posts a payment; `out_trade_no` is the idempotency key.
    async fn post_payment(
        &self,
        biller_id: &str,
        account_no: &str,
        out_trade_no: &str,
        amount_fen: i64,
        topup: bool,
    ) -> PostingOutcome;
    /// Posts several payments, one outcome each in order. Billers that take batches (a posting
    /// file, a bulk call) override this; the default posts them one after another.
    async fn post_payments(&self, postings: &[PostingRequest]) -> Vec<PostingOutcome> {
        let mut outcomes = Vec::with_capacity(postings.len());
        for p in postings {
            outcomes.push(self.post_payment(&p.biller_id, &p.account_no, &p.out_trade_no, p.amount_fen, p.topup).await);
        }
        outcomes
    }
    /// What the biller posted between two instants (a Beijing day), for reconciliation.
    async fn statement(&self, from_ms: i64, to_ms: i64) -> Result<Vec<StatementLine>, sqlx::Error>;
}

/// The simulated biller over this service's `sim_*` tables.
pub struct SimulatedBiller {
    db: Db,
}

impl SimulatedBiller {
    /// Over the service's store.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Books accepted postings once each (by order number), topping up prepaid balances.
    async fn book(&self, postings: &[&PostingRequest]) -> Result<(), sqlx::Error> {
        let at = city_platform::time::now_ms();
        let values: Vec<String> = (0..postings.len())
            .map(|i| format!("(${}, ${}, ${}, ${}, $1)", i * 4 + 2, i * 4 + 3, i * 4 + 4, i * 4 + 5))
            .collect();
        let sql = format!(
            "INSERT INTO sim_postings (out_trade_no, biller_id, account_no, amount_fen, posted_at_ms) VALUES {}
             ON CONFLICT (out_trade_no) DO NOTHING RETURNING out_trade_no",
            values.join(", ")
        );
        let mut insert = sqlx::query_as::<_, (String,)>(&sql).bind(at);
        for p in postings {
            insert = insert.bind(&p.out_trade_no).bind(&p.biller_id).bind(&p.account_no).bind(p.amount_fen);
        }
        let mut tx = self.db.begin_write().await?;
        // Only postings booked now (not repeats of earlier ones) add to a prepaid balance.
        let new: std::collections::HashSet<String> =
            insert.fetch_all(&mut *tx).await?.into_iter().map(|r| r.0).collect();
        let mut topups: std::collections::BTreeMap<(&str, &str), i64> = std::collections::BTreeMap::new();
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
        tx.commit().await
    }
}

#[async_trait]
impl Biller for SimulatedBiller {
    async fn query_account(&self, biller_id: &str, account_no: &str) -> Result<Option<BillerAccount>, sqlx::Error> {
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

    async fn post_payment(
        &self,
        biller_id: &str,
        account_no: &str,
        out_trade_no: &str,
        amount_fen: i64,
        topup: bool,
    ) -> PostingOutcome {
        let request = PostingRequest {
            biller_id: biller_id.to_owned(),
            account_no: account_no.to_owned(),
            out_trade_no: out_trade_no.to_owned(),
            amount_fen,
            topup,
        };
        self.post_payments(std::slice::from_ref(&request))
            .await
            .pop()
            .unwrap_or(PostingOutcome::Retry("no outcome".into()))
    }

    /// One write transaction for the whole batch, like a biller taking a posting file.
    async fn post_payments(&self, postings: &[PostingRequest]) -> Vec<PostingOutcome> {
        let mut outcomes = Vec::with_capacity(postings.len());
        // A batch often pays one account many times (top-ups): look each account up once.
        let mut modes: std::collections::HashMap<(&str, &str), Result<Option<(String,)>, String>> =
            std::collections::HashMap::new();
        for p in postings {
            let key = (p.biller_id.as_str(), p.account_no.as_str());
            let mode = match modes.entry(key) {
                std::collections::hash_map::Entry::Occupied(known) => known.get().clone(),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    let found = sqlx::query_as(
                        "SELECT posting_mode FROM sim_accounts WHERE biller_id = $1 AND account_no = $2",
                    )
                    .bind(&p.biller_id)
                    .bind(&p.account_no)
                    .fetch_optional(&self.db.pool)
                    .await
                    .map_err(|e| e.to_string());
                    slot.insert(found).clone()
                }
            };
            // Fines go to the traffic police system, which has no accounts here and always accepts.
            let outcome = match mode {
                Err(err) => Some(PostingOutcome::Retry(format!("biller store: {err}"))),
                Ok(None) if p.biller_id == "traffic" => None,
                Ok(None) => Some(PostingOutcome::Rejected("unknown account".into())),
                Ok(Some((mode,))) => match mode.as_str() {
                    "ok" => None,
                    "fail" => Some(PostingOutcome::Retry("biller error".into())),
                    "timeout" => Some(PostingOutcome::Retry("biller timed out".into())),
                    "reject" => Some(PostingOutcome::Rejected("the biller refused the payment".into())),
                    _ => Some(PostingOutcome::Rejected("unknown account".into())),
                },
            };
            outcomes.push(outcome);
        }
        let accepted: Vec<&PostingRequest> =
            postings.iter().zip(&outcomes).filter(|(_, o)| o.is_none()).map(|(p, _)| p).collect();
        let stored = if accepted.is_empty() { Ok(()) } else { self.book(&accepted).await };
        outcomes
            .into_iter()
            .map(|o| match (o, &stored) {
                (Some(decided), _) => decided,
                (None, Ok(())) => PostingOutcome::Posted,
                (None, Err(err)) => PostingOutcome::Retry(format!("biller store: {err}")),
            })
            .collect()
    }

    async fn statement(&self, from_ms: i64, to_ms: i64) -> Result<Vec<StatementLine>, sqlx::Error> {
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
