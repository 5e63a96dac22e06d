//! Every SQL statement of the booking service, by aggregate, and the transactions that keep its
//! invariants: a slot is taken only by a conditional update, a patient's limits are counted (by
//! the one query in [`patients`]) while that patient's lock row is held, and each state change
//! writes its events in the same transaction.
//!
//! The store holds SQL only: it returns rows and a typed [`StoreError`] (a refusal the data
//! decided, or the database's failure), never an HTTP problem or a text a person reads (those are
//! `crate::api` and `crate::domain::messages`). The rules it applies inside a transaction come from
//! `crate::domain`.

mod appointments;
mod attendance;
mod catalogue;
pub mod demo;
pub mod erasure;
mod error;
pub mod internal;
mod patients;
mod returns;
mod rows;
pub mod seed;
mod sessions;
mod sweeps;
mod waitlist;

use city_platform::db::Backend;
use city_platform::{outbox, Db};
use sqlx::AnyConnection;

use crate::domain::messages::Notice;

pub use appointments::{
    apply_paid, apply_refunded, book, cancel, get_appointment, list_appointments, list_session_appointments,
    next_appointment,
};
pub use attendance::{check_in, lift_suspension, list_suspensions, mark_no_show};
pub use attendance::{HospitalScope, SuspensionRow};
pub use catalogue::RuleOverrides;
pub use catalogue::{
    department_rules, get_doctor, get_hospital, list_departments, list_doctors, list_hospitals, set_department_rules,
    set_hospital_rules,
};
pub use error::StoreError;
pub use patients::{counted_visits, no_shows_by_others, CountedVisit};
pub use rows::{AppointmentRow, DepartmentRow, DoctorFilter, DoctorRow, HospitalRow, SessionRow, SlotContext, SlotRow};
pub use sessions::NewSession;
pub use sessions::{
    get_session, insert_session, list_sessions, list_slots, publish_session, rebooking_offer, same_grade_alternatives,
    slot_context, stop_session,
};
pub use sweeps::{clear_waitlists, expire_hold, lapsed_holds, overdue_unattended, send_reminders};
pub use waitlist::WaitlistRow;
pub use waitlist::{accept_offer, get_waitlist_entry, join_waitlist, leave_waitlist, list_waitlist};

/// The service name in audit entries and inbox records.
pub const SERVICE: &str = "booking";

/// A write transaction of this service's store. On SQLite the service's own writers first
/// queue for their turn in this process, in arrival order, and only then ask for the
/// database's single write lock: writers that wait inside SQLite's busy handler instead sleep
/// in growing steps (up to 100 ms each), which is what made the tail latency under load.
pub struct WriteTx {
    // Field order is drop order: the transaction rolls back before the turn passes on.
    tx: sqlx::Transaction<'static, sqlx::Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

impl WriteTx {
    /// Commits, then lets the next writer in.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

/// Begins a write transaction (see [`WriteTx`]).
pub async fn begin_write(db: &Db) -> Result<WriteTx, sqlx::Error> {
    let turn = match db.backend {
        Backend::Sqlite => Some(sqlite_writers(db).lock_owned().await),
        // PostgreSQL writers run side by side; rows they share are locked row by row.
        Backend::Postgres => None,
    };
    Ok(WriteTx { tx: db.begin_write().await?, _turn: turn })
}

/// The queue of writers of one SQLite file in this process.
fn sqlite_writers(db: &Db) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    type Queues = parking_lot::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>;
    static QUEUES: std::sync::LazyLock<Queues> = std::sync::LazyLock::new(Default::default);
    let file = db.pool.connect_options().database_url.to_string();
    QUEUES.lock().entry(file).or_default().clone()
}

/// Writes a `notify.requested` event (the notify service delivers it) in `tx`.
async fn notify(tx: &mut AnyConnection, notice: &Notice) -> Result<(), sqlx::Error> {
    outbox::enqueue(tx, "notify.requested", &notice.payload()).await.map(|_| ())
}

/// A SQL list of statuses: `('a', 'b')`. Only ever built from this crate's constants.
fn status_list(statuses: &[&str]) -> String {
    let quoted: Vec<String> = statuses.iter().map(|s| format!("'{s}'")).collect();
    format!("({})", quoted.join(", "))
}
