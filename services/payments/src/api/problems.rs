//! How the use cases' typed errors become problems, and which kinds each can become. The kinds
//! come from the platform's table and payments' own (`crate::errors`); a store or infrastructure
//! cause is logged and becomes the opaque 500 (or 503 when the database is not answering).

use city_platform::problem::kind;
use city_platform::{ErrorKind, ErrorSet, IntoProblem, Problem};

use crate::biller::BillerError;
use crate::errors;
use crate::store::StoreError;
use crate::usecases::accounts::AccountError;
use crate::usecases::imports::{FineImportError, ImportError};
use crate::usecases::orders::OrderError;
use crate::usecases::reconciliation::ReconError;
use crate::usecases::refunds::RefundError;
use crate::usecases::vehicles::VehicleError;

impl IntoProblem for StoreError {
    fn into_problem(self) -> Problem {
        match self {
            Self::Sql(err) => Problem::from(err),
            other => Problem::internal_from(&other),
        }
    }
}

impl ErrorSet for StoreError {
    fn kinds() -> Vec<&'static ErrorKind> {
        Vec::new()
    }
}

impl IntoProblem for BillerError {
    fn into_problem(self) -> Problem {
        Problem::internal_from(&self)
    }
}

impl IntoProblem for OrderError {
    fn into_problem(self) -> Problem {
        match self {
            Self::Invalid { field, message } => Problem::invalid(field, message),
            Self::NotFound(what) => Problem::not_found(what),
            Self::NotYourAccount => Problem::of(&errors::NOT_YOUR_ACCOUNT),
            Self::AlreadyPaid(detail) => Problem::of(&errors::ALREADY_PAID).with_detail(detail),
            Self::PaymentInProgress(detail) => Problem::of(&errors::PAYMENT_IN_PROGRESS).with_detail(detail),
            Self::QuoteExpired(detail) => Problem::of(&errors::QUOTE_EXPIRED).with_detail(detail),
            Self::TopupOutOfRange(min) => Problem::of(&errors::TOPUP_OUT_OF_RANGE)
                .with_field("topup_fen", format!("between {} and 1000000 fen", min.0)),
            Self::BookingFeeVoid => Problem::of(&errors::BOOKING_FEE_VOID),
            Self::BookingHoldLapsed => {
                Problem::of(&errors::BOOKING_HOLD_LAPSED).with_detail("book again; the slot may be free")
            }
            Self::NotPaid => Problem::of(&errors::NOT_PAID),
            Self::Unavailable(detail) => Problem::unavailable(detail),
            Self::Settlement(err) => Problem::internal_from(&err),
            Self::Biller(err) => err.into_problem(),
            Self::Store(err) => err.into_problem(),
        }
    }
}

/// What creating an order can fail with (reading orders has smaller sets in `api`).
impl ErrorSet for OrderError {
    fn kinds() -> Vec<&'static ErrorKind> {
        vec![
            &kind::VALIDATION,
            &kind::NOT_FOUND,
            &errors::NOT_YOUR_ACCOUNT,
            &errors::ALREADY_PAID,
            &errors::PAYMENT_IN_PROGRESS,
            &errors::QUOTE_EXPIRED,
            &errors::TOPUP_OUT_OF_RANGE,
            &errors::BOOKING_FEE_VOID,
            &errors::BOOKING_HOLD_LAPSED,
        ]
    }
}

impl IntoProblem for AccountError {
    fn into_problem(self) -> Problem {
        match self {
            Self::UnknownBiller => Problem::invalid("biller_id", "no utility with this id"),
            Self::UnknownAccount => {
                Problem::of(&errors::ACCOUNT_NOT_FOUND).with_field("account_no", "unknown at this biller")
            }
            Self::BindingNotFound => Problem::not_found("account binding"),
            Self::BadDecisionNumber => {
                Problem::of(&errors::INVALID_DECISION_NUMBER).with_field("decision_no", "15-20 digits")
            }
            Self::Vehicle(err) => err.into_problem(),
            Self::Biller(err) => err.into_problem(),
            Self::Store(err) => err.into_problem(),
        }
    }
}

impl IntoProblem for VehicleError {
    fn into_problem(self) -> Problem {
        match self {
            Self::Missing(field) => {
                Problem::malformed(Some(field), "give decision_no, or plate with plate_type and engine_last6")
            }
            Self::BadPlate => Problem::of(&errors::INVALID_PLATE)
                .with_field("plate", "province, issuer letter and 5 (or 6 new-energy) characters, e.g. 川A12345"),
            Self::BadPlateType => {
                Problem::of(&errors::INVALID_PLATE_TYPE).with_field("plate_type", "a 号牌种类 code such as 02 or 52")
            }
            Self::BadEngineCode => {
                Problem::invalid("engine_last6", "the last six letters or digits of the engine number (发动机号后六位)")
            }
            Self::NoMatch => Problem::of(&errors::VEHICLE_NOT_FOUND),
            Self::TooManyAttempts => Problem::of(&kind::RATE_LIMITED).with_detail(
                "too many fine lookups today, by you or at this plate; try again tomorrow (a bound vehicle's fines are not limited)",
            ),
            Self::BindingNotFound => Problem::not_found("vehicle binding"),
            Self::BindingStale => Problem::of(&errors::VEHICLE_CHANGED),
            Self::Unavailable => Problem::unavailable("the fine lookup is not available right now; try again shortly"),
            Self::Store(err) => err.into_problem(),
        }
    }
}

/// What proving a vehicle (a plate lookup, a binding) can fail with besides the edge's kinds (a
/// missing field is the edge's `malformed-request`, too many attempts its `rate-limited`); a
/// bound vehicle's own kinds are listed where it is read.
impl ErrorSet for VehicleError {
    fn kinds() -> Vec<&'static ErrorKind> {
        vec![&kind::VALIDATION, &errors::INVALID_PLATE, &errors::INVALID_PLATE_TYPE, &errors::VEHICLE_NOT_FOUND]
    }
}

impl IntoProblem for FineImportError {
    fn into_problem(self) -> Problem {
        match self {
            Self::BadRows(rows) => rows.into_iter().fold(Problem::of(&errors::BAD_FINE_ROWS), |p, e| {
                p.with_field(
                    format!("content.line[{}]{}", e.line, e.column.map(|c| format!(".{c}")).unwrap_or_default()),
                    e.message,
                )
            }),
            Self::Store(err) => err.into_problem(),
        }
    }
}

impl ErrorSet for FineImportError {
    fn kinds() -> Vec<&'static ErrorKind> {
        vec![&errors::BAD_FINE_ROWS]
    }
}

impl IntoProblem for RefundError {
    fn into_problem(self) -> Problem {
        match self {
            Self::NotPositive => Problem::invalid("amount_fen", "must be positive"),
            Self::OrderNotFound => Problem::not_found("order"),
            Self::NotRefundable => Problem::of(&errors::NOT_REFUNDABLE),
            Self::AmountChanged(Some(available)) => Problem::of(&errors::REFUND_AMOUNT_CHANGED)
                .with_detail(format!("{} fen are refundable now", available.0)),
            Self::AmountChanged(None) => Problem::of(&errors::REFUND_AMOUNT_CHANGED)
                .with_detail("another refund of this order happened at the same time"),
            Self::ExceedsRemaining(available) => Problem::of(&errors::REFUND_EXCEEDS_REMAINING)
                .with_field("amount_fen", format!("at most {} fen", available.0)),
            Self::Exists => Problem::of(&errors::REFUND_EXISTS),
            Self::Store(err) => err.into_problem(),
        }
    }
}

impl ErrorSet for RefundError {
    fn kinds() -> Vec<&'static ErrorKind> {
        vec![
            &kind::VALIDATION,
            &kind::NOT_FOUND,
            &errors::NOT_REFUNDABLE,
            &errors::REFUND_AMOUNT_CHANGED,
            &errors::REFUND_EXCEEDS_REMAINING,
            &errors::REFUND_EXISTS,
        ]
    }
}

impl IntoProblem for ImportError {
    fn into_problem(self) -> Problem {
        match self {
            Self::BadRows(rows) => rows.into_iter().fold(Problem::of(&errors::BAD_BILL_ROWS), |p, e| {
                p.with_field(
                    format!("content.line[{}]{}", e.line, e.column.map(|c| format!(".{c}")).unwrap_or_default()),
                    e.message,
                )
            }),
            Self::Store(err) => err.into_problem(),
        }
    }
}

impl ErrorSet for ImportError {
    fn kinds() -> Vec<&'static ErrorKind> {
        vec![&errors::BAD_BILL_ROWS]
    }
}

impl IntoProblem for ReconError {
    fn into_problem(self) -> Problem {
        match self {
            Self::Unavailable(detail) => Problem::unavailable(detail),
            Self::Biller(err) => err.into_problem(),
            Self::Store(err) => err.into_problem(),
            other @ Self::NoSuchDay => Problem::internal_from(&other),
        }
    }
}

impl ErrorSet for ReconError {
    fn kinds() -> Vec<&'static ErrorKind> {
        Vec::new()
    }
}
