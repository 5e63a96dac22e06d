//! Every SQL statement of the identity service (portable across SQLite and PostgreSQL), by
//! aggregate. Functions return rows and `sqlx::Error`, or a typed error where a statement's
//! outcome is a rule ([`AddPersonError`]); nothing here knows HTTP.

mod api_keys;
mod audit;
mod citizens;
mod contacts;
mod erasure;
mod people;
mod sessions;
mod staff;

pub use api_keys::*;
pub use audit::*;
pub use citizens::*;
pub use contacts::*;
pub use erasure::*;
pub use people::*;
pub use sessions::*;
pub use staff::*;
