//! The payments service's SQL, and nothing else: no state, no problems, no WeChat Pay calls.
//! One file per aggregate: `orders`, `settlement` (applying a paid transaction), `refunds`,
//! `accounts` (billers, bindings, bills), `fines`, `vehicles` (the registry, the fines file and
//! bound vehicles), `booking_fees`, `imports`, `reconciliation`, `sim` (the simulated billers'
//! tables) and `seed` (demo data).
//!
//! Exactly-once rests on conditional updates inside one write transaction: an order moves
//! `pending|closed → paid` only once (and `transaction_id` is unique), a refund reserves its
//! amount with `refunded_fen + x <= amount_fen`, a refund moves `processing → success` only once.
//! Ledger rows are unique per (order, entry, account), so a replayed effect cannot double-book.

pub mod accounts;
pub mod booking_fees;
pub mod erasure;
pub mod fines;
pub mod imports;
pub mod orders;
pub mod reconciliation;
pub mod refunds;
pub mod reminders;
pub mod seed;
pub mod settlement;
pub mod sim;
pub mod vehicles;

use std::fmt;

use city_platform::Db;

pub use orders::{NewOrder, OrderRow};
pub use refunds::RefundRow;

/// Why the store failed.
#[derive(Debug)]
pub enum StoreError {
    /// The database failed.
    Sql(sqlx::Error),
    /// A stored value does not read as what it should be (a date that is not a date).
    Corrupt(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sql(err) => write!(f, "payments store: {err}"),
            Self::Corrupt(what) => write!(f, "payments store holds a bad value: {what}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Sql(err) => Some(err),
            Self::Corrupt(_) => None,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        Self::Sql(err)
    }
}

/// The payments store over the service's database.
#[derive(Clone)]
pub struct Store {
    db: Db,
}

impl Store {
    /// Over the service's database.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The database (for the group-commit lanes, which hold their own transactions).
    pub fn db(&self) -> &Db {
        &self.db
    }
}
