//! Three-way reconciliation of a Beijing day: our orders, WeChat Pay's trade bill and the
//! billers' statements, with every difference named.

use std::fmt;

use chrono::{NaiveDate, TimeZone as _, Utc};
use city_platform::time::{next_city_midnight, CITY_TZ};

use crate::biller::BillerError;
use crate::store::reconciliation::DuplicateLine;
use crate::store::StoreError;
use crate::PaymentsState;
use crate::{domain, wechat};

/// Why a day could not be reconciled.
#[derive(Debug)]
pub enum ReconError {
    /// WeChat Pay's trade bill could not be had.
    Unavailable(String),
    /// The day has no Beijing midnight (cannot happen in Asia/Shanghai).
    NoSuchDay,
    /// The billers' statements could not be had.
    Biller(BillerError),
    /// The store failed.
    Store(StoreError),
}

impl fmt::Display for ReconError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(why) => f.write_str(why),
            Self::NoSuchDay => f.write_str("the day has no Beijing midnight"),
            Self::Biller(err) => err.fmt(f),
            Self::Store(err) => err.fmt(f),
        }
    }
}

impl std::error::Error for ReconError {}

impl From<StoreError> for ReconError {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

impl From<BillerError> for ReconError {
    fn from(err: BillerError) -> Self {
        Self::Biller(err)
    }
}

/// One difference the three-way reconciliation found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Mismatch {
    /// `lost_notification`, `unknown_at_us`, `missing_at_wechat`, `amount_mismatch`,
    /// `missing_at_biller`, `unknown_at_biller`, `biller_amount_mismatch`, `refund_unknown_at_us`,
    /// `refund_missing_at_wechat`, `duplicate_not_refunded`.
    pub kind: String,
    /// The order number concerned.
    pub out_trade_no: String,
    /// What differs.
    pub detail: String,
}

/// The three-way report for a Beijing day.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReconReport {
    /// The day.
    pub date: String,
    /// Our paid orders that day and their sum.
    pub ours: (i64, i64),
    /// WeChat's SUCCESS rows and their sum.
    pub wechat: (i64, i64),
    /// The biller's postings and their sum.
    pub biller: (i64, i64),
    /// Every difference.
    pub mismatches: Vec<Mismatch>,
    /// Second payments of items another payment had settled (WeChat's bill has them; the
    /// biller never gets them), each with the state of its automatic refund.
    pub duplicates: Vec<DuplicateLine>,
}

/// Reconciles one Beijing day: us, WeChat's trade bill, the billers' statements.
#[tracing::instrument(skip_all, fields(date = %date))]
pub async fn reconcile(state: &PaymentsState, date: NaiveDate) -> Result<ReconReport, ReconError> {
    let start = CITY_TZ
        .from_local_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
        .single()
        .map(|t| t.with_timezone(&Utc))
        .ok_or(ReconError::NoSuchDay)?;
    let (from_ms, to_ms) = (start.timestamp_millis(), next_city_midnight(start).timestamp_millis());
    let bill = wechat::trade_bill(state, &date.to_string()).await.map_err(ReconError::Unavailable)?;
    let ours = state.store.paid_between(from_ms, to_ms).await?;
    let posted = state.store.posted_between(from_ms, to_ms).await?;
    let our_refunds = state.store.refunds_between(from_ms, to_ms).await?;
    let statement = state.biller.statement(from_ms, to_ms).await?;
    let duplicates = state.store.duplicates_between(from_ms, to_ms, domain::duplicate_refund_no).await?;
    let mut mismatches = Vec::new();
    let mut push = |kind: &str, no: &str, detail: String| {
        mismatches.push(Mismatch { kind: kind.into(), out_trade_no: no.into(), detail })
    };
    let paid_rows: Vec<_> = bill.rows.iter().filter(|r| r.trade_state == "SUCCESS").collect();
    for row in &paid_rows {
        match state.store.order_by_no(&row.out_trade_no).await? {
            None => push("unknown_at_us", &row.out_trade_no, "WeChat has a payment we have no order for".into()),
            Some(order) => {
                if order.transaction_id.is_none() {
                    push("lost_notification", &row.out_trade_no, format!("WeChat: paid; us: {}", order.state));
                }
                if order.amount.0 != row.order_fen {
                    push(
                        "amount_mismatch",
                        &row.out_trade_no,
                        format!("us {} fen, WeChat {} fen", order.amount.0, row.order_fen),
                    );
                }
            }
        }
    }
    for (no, _) in &ours {
        if !paid_rows.iter().any(|r| &r.out_trade_no == no) {
            push("missing_at_wechat", no, "we recorded a payment WeChat's bill does not have".into());
        }
    }
    for (no, amount) in &posted {
        match statement.iter().find(|l| &l.out_trade_no == no) {
            None => push("missing_at_biller", no, "posted by us, absent from the biller's statement".into()),
            Some(line) if line.amount_fen != amount.0 => {
                push("biller_amount_mismatch", no, format!("us {} fen, biller {} fen", amount.0, line.amount_fen));
            }
            Some(_) => {}
        }
    }
    for line in &statement {
        if !posted.iter().any(|(no, _)| no == &line.out_trade_no) {
            push(
                "unknown_at_biller",
                &line.out_trade_no,
                "the biller posted a payment we did not record as posted that day".into(),
            );
        }
    }
    for row in bill.rows.iter().filter(|r| !r.out_refund_no.is_empty()) {
        if !our_refunds.iter().any(|(no, _, _)| no == &row.out_refund_no) {
            push(
                "refund_unknown_at_us",
                &row.out_trade_no,
                format!("WeChat refund {} unknown here", row.out_refund_no),
            );
        }
    }
    for (no, trade_no, _) in &our_refunds {
        if !bill.rows.iter().any(|r| &r.out_refund_no == no) {
            push("refund_missing_at_wechat", trade_no, format!("refund {no} absent from WeChat's bill"));
        }
    }
    for d in duplicates.iter().filter(|d| d.refund_state.is_none()) {
        push(
            "duplicate_not_refunded",
            &d.out_trade_no,
            format!("paid {} {} a second time; no refund yet", d.item_kind, d.item_id),
        );
    }
    let count = |n: usize| i64::try_from(n).unwrap_or(0);
    Ok(ReconReport {
        date: date.to_string(),
        ours: (count(ours.len()), ours.iter().map(|x| x.1 .0).sum()),
        wechat: (count(paid_rows.len()), paid_rows.iter().map(|r| r.order_fen).sum()),
        biller: (count(statement.len()), statement.iter().map(|l| l.amount_fen).sum()),
        mismatches,
        duplicates,
    })
}
