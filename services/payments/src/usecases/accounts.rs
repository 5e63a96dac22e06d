//! What a citizen looks up before paying: billers, their bound accounts and bills, traffic
//! fines with today's amount due, and (for the Service Account) everything still unpaid.

use std::fmt;

use chrono::{DateTime, Utc};
use city_platform::ids::new_id;
use city_platform::money::Fen;
use city_platform::time::{city_date, from_ms, next_city_midnight};

use super::vehicles::{self, VehicleError, VehicleProof};
use crate::biller::BillerError;
use crate::domain;
use crate::domain::fines::{self, FineQuote};
use crate::store::accounts::{BillRow, BillerRow, BindingRow};
use crate::store::fines::FineRow;
use crate::store::StoreError;
use crate::PaymentsState;

/// Why an account could not be bound or read, or fines looked up.
#[derive(Debug)]
pub enum AccountError {
    /// Not a utility's biller id.
    UnknownBiller,
    /// The biller does not know the account number.
    UnknownAccount,
    /// No such binding of the caller's.
    BindingNotFound,
    /// Not a decision number.
    BadDecisionNumber,
    /// The plate form of the fine lookup failed (a missing field, no match, too many attempts).
    Vehicle(VehicleError),
    /// The biller could not be asked.
    Biller(BillerError),
    /// The store failed.
    Store(StoreError),
}

impl fmt::Display for AccountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownBiller => f.write_str("no utility with this id"),
            Self::UnknownAccount => f.write_str("the biller does not know this account number"),
            Self::BindingNotFound => f.write_str("no such account binding"),
            Self::BadDecisionNumber => f.write_str("not a decision number"),
            Self::Vehicle(err) => err.fmt(f),
            Self::Biller(err) => err.fmt(f),
            Self::Store(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for AccountError {}

impl From<StoreError> for AccountError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

impl From<VehicleError> for AccountError {
    fn from(err: VehicleError) -> Self {
        Self::Vehicle(err)
    }
}

impl From<BillerError> for AccountError {
    fn from(err: BillerError) -> Self {
        Self::Biller(err)
    }
}

/// Every biller.
pub async fn billers(state: &PaymentsState) -> Result<Vec<BillerRow>, StoreError> {
    state.store.billers().await
}

/// A bound account with what the biller says about it.
#[derive(Debug, Clone)]
pub struct Account {
    /// The binding.
    pub binding: BindingRow,
    /// The holder's name, masked.
    pub holder_name_masked: String,
    /// Prepaid rather than billed.
    pub prepaid: bool,
    /// Prepaid balance.
    pub balance: Fen,
    /// Unpaid bills.
    pub arrears: Fen,
}

async fn account(state: &PaymentsState, binding: BindingRow) -> Result<Account, AccountError> {
    let account = state.biller.query_account(&binding.biller_id, &binding.account_no).await?;
    let bills = state.store.bills_of(&binding.biller_id, &binding.account_no).await?;
    let arrears = Fen(bills.iter().filter(|b| b.status == "unpaid").map(|b| b.amount.0).sum());
    Ok(Account {
        holder_name_masked: account.as_ref().map(|a| domain::mask_name(&a.holder_name)).unwrap_or_default(),
        prepaid: account.as_ref().is_some_and(|a| a.prepaid),
        balance: Fen(account.as_ref().map_or(0, |a| a.balance_fen)),
        binding,
        arrears,
    })
}

/// Checks an account number with a utility and binds it to the citizen (again: the binding).
#[tracing::instrument(skip_all, fields(citizen = %citizen_id, biller = %biller_id))]
pub async fn bind_account(
    state: &PaymentsState,
    citizen_id: &str,
    biller_id: &str,
    account_no: &str,
    label: Option<&str>,
) -> Result<Account, AccountError> {
    let account_no = account_no.trim();
    match state.store.biller(biller_id).await? {
        Some(b) if b.kind != "traffic" => {}
        _ => return Err(AccountError::UnknownBiller),
    }
    if state.biller.query_account(biller_id, account_no).await?.is_none() {
        return Err(AccountError::UnknownAccount);
    }
    let binding = state.store.bind(&new_id(), citizen_id, biller_id, account_no, label, state.clock.now_ms()).await?;
    account(state, binding).await
}

/// The citizen's bound accounts, oldest binding first.
pub async fn accounts_of(state: &PaymentsState, citizen_id: &str) -> Result<Vec<Account>, AccountError> {
    let mut out = Vec::new();
    for binding in state.store.bindings_of(citizen_id).await? {
        out.push(account(state, binding).await?);
    }
    Ok(out)
}

/// Unbinds one of the citizen's accounts; orders and receipts stay.
pub async fn unbind_account(state: &PaymentsState, citizen_id: &str, binding_id: &str) -> Result<(), AccountError> {
    if state.store.unbind(citizen_id, binding_id).await? {
        Ok(())
    } else {
        Err(AccountError::BindingNotFound)
    }
}

/// A bill and whether its due date has passed unpaid.
#[derive(Debug, Clone)]
pub struct Bill {
    /// The bill.
    pub bill: BillRow,
    /// Due date passed, unpaid.
    pub overdue: bool,
}

/// The bills of one of the citizen's bound accounts, newest period first.
pub async fn bills_of(state: &PaymentsState, citizen_id: &str, binding_id: &str) -> Result<Vec<Bill>, AccountError> {
    let binding = state.store.binding(citizen_id, binding_id).await?.ok_or(AccountError::BindingNotFound)?;
    let today = state.clock.today().to_string();
    let bills = state.store.bills_of(&binding.biller_id, &binding.account_no).await?;
    Ok(bills.into_iter().map(|bill| Bill { overdue: bill.status == "unpaid" && bill.due_date < today, bill }).collect())
}

/// How to find fines.
#[derive(Debug, Clone)]
pub enum FineQuery {
    /// By decision number (决定书编号), as typed.
    Decision(String),
    /// By plate, plate type and the last six characters of the engine number, as typed; a
    /// plate alone finds nothing.
    Plate {
        /// Plate number.
        plate: Option<String>,
        /// Plate type code.
        plate_type: Option<String>,
        /// The last six characters of the engine number.
        engine_last6: Option<String>,
    },
    /// The vehicle of one of the citizen's bindings.
    Bound(String),
}

/// A fine with today's amount due and the quote to pay it with.
#[derive(Debug, Clone)]
pub struct QuotedFine {
    /// The fine.
    pub fine: FineRow,
    /// The plate, partly masked.
    pub plate_masked: String,
    /// Today's amount.
    pub quote: FineQuote,
    /// The quote id (`<fine>@YYYYMMDD`).
    pub quote_id: String,
    /// When the quote expires: the next Beijing midnight.
    pub quote_expires_at: DateTime<Utc>,
}

/// Finds fines for a citizen, each priced for today (the surcharge rule is `domain::fines`).
pub async fn find_fines(
    state: &PaymentsState,
    citizen_id: &str,
    query: FineQuery,
) -> Result<Vec<QuotedFine>, AccountError> {
    let rows = match query {
        FineQuery::Decision(raw) => {
            let no = domain::decision_no(&raw).ok_or(AccountError::BadDecisionNumber)?;
            vehicles::reserve_decision_lookup(state, citizen_id).await?;
            state.store.fines_by_decision(&no).await?
        }
        FineQuery::Plate { plate, plate_type, engine_last6 } => {
            let proof = VehicleProof {
                plate: plate.as_deref(),
                plate_type: plate_type.as_deref(),
                engine_last6: engine_last6.as_deref(),
            };
            vehicles::fines_of_proved(state, citizen_id, proof).await?
        }
        FineQuery::Bound(binding_id) => vehicles::fines_of_bound(state, citizen_id, &binding_id).await?,
    };
    let now = state.clock.now();
    let today = city_date(now);
    Ok(rows
        .into_iter()
        .map(|fine| QuotedFine {
            quote: fines::fine_quote(fine.fine.0, fine.decided_on, today),
            quote_id: fines::quote_id(&fine.id, today),
            plate_masked: domain::mask_plate(&fine.plate),
            quote_expires_at: next_city_midnight(now),
            fine,
        })
        .collect())
}

/// One thing a citizen has to pay, for the Service Account's "my bills".
#[derive(Debug, Clone)]
pub struct UnpaidItem {
    /// `bill` or `booking`.
    pub kind: &'static str,
    /// Bill id or booking id (what `POST /v1/payments/orders` takes).
    pub id: String,
    /// What it is.
    pub description: String,
    /// Amount due.
    pub amount: Fen,
    /// Beijing date it is due by.
    pub due_date: Option<String>,
}

/// The unpaid bills of a citizen's bound accounts and their booking fees still payable, by due date.
pub async fn unpaid_of(state: &PaymentsState, citizen_id: &str) -> Result<Vec<UnpaidItem>, StoreError> {
    let bills = state.store.unpaid_bills_of(citizen_id).await?;
    let fees = state.store.due_fees_of(citizen_id, state.clock.now_ms()).await?;
    let mut items: Vec<UnpaidItem> = bills
        .into_iter()
        .map(|b| UnpaidItem {
            kind: "bill",
            id: b.id,
            description: format!("{} {} {}", b.biller_name_zh, b.period, domain::mask_account(&b.account_no)),
            amount: b.amount,
            due_date: Some(b.due_date),
        })
        .chain(fees.into_iter().map(|f| UnpaidItem {
            kind: "booking",
            id: f.booking_id,
            description: f.description,
            amount: f.amount,
            due_date: Some(city_date(from_ms(f.pay_before_ms)).to_string()),
        }))
        .collect();
    items.sort_by(|a, b| a.due_date.cmp(&b.due_date).then_with(|| a.id.cmp(&b.id)));
    Ok(items)
}
