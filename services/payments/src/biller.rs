//! Billers behind one adapter: query an account, post a payment (销账) with our order number as
//! the idempotency key, and the daily statement. The embedded default simulates every biller in
//! this service's store, with a per-account `posting_mode` so tests can make posting fail, time
//! out or be rejected.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt;

use async_trait::async_trait;

use crate::clock::Clock;
use crate::store::{Store, StoreError};

/// A biller could not be asked (its system or our simulation failed).
#[derive(Debug)]
pub struct BillerError(pub String);

impl fmt::Display for BillerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "biller: {}", self.0)
    }
}

impl std::error::Error for BillerError {}

impl From<StoreError> for BillerError {
    fn from(err: StoreError) -> Self {
        Self(err.to_string())
    }
}

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
    async fn query_account(&self, biller_id: &str, account_no: &str) -> Result<Option<BillerAccount>, BillerError>;
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
    async fn statement(&self, from_ms: i64, to_ms: i64) -> Result<Vec<StatementLine>, BillerError>;
}

/// The simulated biller over this service's `sim_*` tables.
pub struct SimulatedBiller {
    store: Store,
    clock: Clock,
}

impl SimulatedBiller {
    /// Over the service's store.
    pub fn new(store: Store, clock: Clock) -> Self {
        Self { store, clock }
    }
}

#[async_trait]
impl Biller for SimulatedBiller {
    async fn query_account(&self, biller_id: &str, account_no: &str) -> Result<Option<BillerAccount>, BillerError> {
        Ok(self.store.sim_account(biller_id, account_no).await?)
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
        let mut modes: HashMap<(&str, &str), Result<Option<String>, String>> = HashMap::new();
        for p in postings {
            let key = (p.biller_id.as_str(), p.account_no.as_str());
            let mode = match modes.entry(key) {
                Entry::Occupied(known) => known.get().clone(),
                Entry::Vacant(slot) => {
                    let found =
                        self.store.sim_posting_mode(&p.biller_id, &p.account_no).await.map_err(|e| e.to_string());
                    slot.insert(found).clone()
                }
            };
            // Fines go to the traffic police system, which has no accounts here and always accepts.
            let outcome = match mode {
                Err(err) => Some(PostingOutcome::Retry(format!("biller store: {err}"))),
                Ok(None) if p.biller_id == "traffic" => None,
                Ok(None) => Some(PostingOutcome::Rejected("unknown account".into())),
                Ok(Some(mode)) => match mode.as_str() {
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
        let stored =
            if accepted.is_empty() { Ok(()) } else { self.store.sim_book(&accepted, self.clock.now_ms()).await };
        outcomes
            .into_iter()
            .map(|o| match (o, &stored) {
                (Some(decided), _) => decided,
                (None, Ok(())) => PostingOutcome::Posted,
                (None, Err(err)) => PostingOutcome::Retry(format!("biller store: {err}")),
            })
            .collect()
    }

    async fn statement(&self, from_ms: i64, to_ms: i64) -> Result<Vec<StatementLine>, BillerError> {
        Ok(self.store.sim_statement(from_ms, to_ms).await?)
    }
}
