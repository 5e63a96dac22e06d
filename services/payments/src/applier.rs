//! Group commit for paid transactions.
//!
//! Every first delivery of a payment notification ends in a write transaction. Taken one per
//! request, SQLite's single writer makes them queue on its busy timeout (which sleeps), and
//! PostgreSQL pays a commit per payment. Instead each transaction is handed to a lane: a task
//! that takes whatever has queued up meanwhile and applies it in one write transaction, then
//! answers each caller once the commit is durable. Under light load a batch is one payment, so
//! nothing waits for company.
//!
//! Exactly-once does not rest on the batching: each payment is still the conditional update
//! in `store::settlement::apply_paid_on` (one statement on PostgreSQL: `apply_paid_pg`), so two copies of
//! one notification in one batch (or in two replicas' batches) change the order once. A batch
//! that fails as a whole (a unique key, a deadlock between replicas) is rolled back and retried
//! one payment per transaction, so one bad payment never fails the others.
//!
//! SQLite gets one lane (it has one writer anyway); PostgreSQL a few, chosen by the order
//! number, so copies of one notification always meet in the same lane rather than waiting on
//! each other's row locks.

use std::hash::{Hash as _, Hasher as _};
use std::sync::Arc;

use city_platform::db::{is_unique_violation, Backend};
use city_platform::money::Fen;
use city_platform::Db;
use city_wechat::pay_client::Transaction;
use tokio::sync::{mpsc, oneshot, Notify};

use crate::clock::Clock;
use crate::domain::{self, OutTradeNo};
use crate::store::settlement::{self, Paid};
use crate::store::{OrderRow, StoreError};
use crate::usecases::settlement::{paid_at_ms, paid_events};

/// Most payments one write transaction takes.
const MAX_BATCH: usize = 64;

/// Lanes on PostgreSQL; each holds one pooled connection while it writes.
const POSTGRES_LANES: usize = 4;

struct Job {
    /// The order as read before queueing (its unchanging fields build the events).
    order: OrderRow,
    transaction: Transaction,
    reply: oneshot::Sender<Result<bool, sqlx::Error>>,
}

/// Applies paid transactions in batches; see the module documentation.
pub struct Applier {
    lanes: Vec<mpsc::Sender<Job>>,
}

impl Applier {
    /// Starts the lanes over `db`; `posted` is told whenever a batch made postings due.
    pub fn start(db: &Db, clock: Clock, posted: Arc<Notify>) -> Self {
        let n = match db.backend {
            Backend::Sqlite => 1,
            Backend::Postgres => POSTGRES_LANES,
        };
        let lanes = (0..n)
            .map(|_| {
                let (sender, receiver) = mpsc::channel(MAX_BATCH * 4);
                tokio::spawn(lane(db.clone(), clock.clone(), posted.clone(), receiver));
                sender
            })
            .collect();
        Self { lanes }
    }

    /// Applies one paid transaction; true when this call changed the order (false: applied
    /// before). Returns after the commit.
    pub async fn apply(&self, order: OrderRow, transaction: Transaction) -> Result<bool, StoreError> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        transaction.out_trade_no.hash(&mut hasher);
        let lane = &self.lanes[(hasher.finish() % self.lanes.len() as u64) as usize];
        let (reply, answer) = oneshot::channel();
        lane.send(Job { order, transaction, reply }).await.map_err(|_| sqlx::Error::PoolClosed)?;
        Ok(answer.await.map_err(|_| sqlx::Error::PoolClosed)??)
    }
}

/// One lane: take what is queued, apply it in one transaction, answer each caller.
async fn lane(db: Db, clock: Clock, posted: Arc<Notify>, mut jobs: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = jobs.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let results: Vec<Result<bool, sqlx::Error>> = match apply_batch(&db, &clock, &batch).await {
            Ok(applied) => applied.into_iter().map(Ok).collect(),
            Err(err) if batch.len() == 1 => vec![single_outcome(err)],
            Err(err) => {
                tracing::debug!(error = %err, size = batch.len(), "payment batch rolled back; applying one by one");
                let mut results = Vec::with_capacity(batch.len());
                for job in &batch {
                    let one = apply_batch(&db, &clock, std::slice::from_ref(job)).await;
                    results.push(one.map(|v| v[0]).or_else(single_outcome));
                }
                results
            }
        };
        if results.iter().any(|r| matches!(r, Ok(true))) {
            posted.notify_one();
        }
        for (job, result) in batch.drain(..).zip(results) {
            // The caller may have gone (client disconnected); the payment stays applied.
            let _ = job.reply.send(result);
        }
    }
}

/// A payment alone in its transaction that hit a unique key: its transaction id is on another
/// order already (a duplicate delivery under another number). Nothing to apply.
fn single_outcome(err: sqlx::Error) -> Result<bool, sqlx::Error> {
    if is_unique_violation(&err) {
        Ok(false)
    } else {
        Err(err)
    }
}

async fn apply_batch(db: &Db, clock: &Clock, batch: &[Job]) -> Result<Vec<bool>, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let at_ms = clock.now_ms();
    let mut applied = Vec::with_capacity(batch.len());
    for job in batch {
        let t = &job.transaction;
        let (Some(transaction_id), "SUCCESS") = (t.transaction_id.as_deref(), t.trade_state.as_str()) else {
            applied.push(false);
            continue;
        };
        let out_trade_no = OutTradeNo::from(t.out_trade_no.as_str());
        let paid = Paid {
            out_trade_no: &out_trade_no,
            transaction_id,
            amount: Fen(t.amount.total),
            paid_at_ms: paid_at_ms(t, at_ms),
            at_ms,
        };
        // Built from the order's fields that never change after creation: the pre-read copy serves.
        let events = paid_events(&job.order, transaction_id);
        let done = match db.backend {
            Backend::Sqlite => settlement::apply_paid_on(&mut tx, &paid, &events).await?,
            Backend::Postgres => {
                let payable = domain::payable_account(&job.order.item_kind, &job.order.biller_id);
                settlement::apply_paid_pg(&mut tx, &paid, &payable, &events).await?
            }
        };
        applied.push(done);
    }
    tx.commit().await?;
    Ok(applied)
}
