//! The use cases: what the handlers, the background job, booking's events and the command line
//! ask of the service. Each holds a rule's steps, calls the store for data and `wechat` for
//! WeChat Pay, reads "now" from the state's clock and returns a typed error that `api::problems`
//! maps to the table in `errors`.
//!
//! - [`orders`]: price an item, create or resume its order, place it at WeChat Pay, retire it.
//! - [`applying`]: why applying a payment or a refund was refused, and the citizen's notice.
//! - [`settlement`]: apply a paid transaction exactly once; receive WeChat Pay's notifications.
//! - [`refunds`]: the one refund path (finance, booking, a biller's rejection) and its success.
//! - [`jobs`]: the background rounds (queries, closes, postings, stuck refunds).
//! - [`reconciliation`]: the three-way report of a day.
//! - [`accounts`]: billers, bound accounts and bills, fine lookup, unpaid items.
//! - [`imports`]: the finance office's bill file and the traffic police's fines file.
//! - [`vehicles`]: the vehicle registry: proving a car, binding it, its fines.
//! - [`booking_fees`]: booking's events.

pub mod accounts;
pub mod applying;
pub mod booking_fees;
pub mod imports;
pub mod jobs;
pub mod orders;
pub mod reconciliation;
pub mod refunds;
pub mod reminders;
pub mod settlement;
pub mod vehicles;
