//! The service's clock, injected through the state like booking's: handlers and use cases ask
//! it for "now" and "today" instead of reading the wall clock, so a test can stand it still.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use city_platform::time::{city_date, from_ms, now_ms};

/// The system clock, or one a test sets and moves.
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock standing at `ms` until moved.
    pub fn fixed(ms: i64) -> Self {
        Self(Some(Arc::new(AtomicI64::new(ms))))
    }

    /// Moves a fixed clock to `ms` (no effect on the system clock).
    pub fn set(&self, ms: i64) {
        if let Some(t) = &self.0 {
            t.store(ms, Ordering::SeqCst);
        }
    }

    /// Now, UTC ms.
    pub fn now_ms(&self) -> i64 {
        self.0.as_ref().map_or_else(now_ms, |t| t.load(Ordering::SeqCst))
    }

    /// Now, as an instant.
    pub fn now(&self) -> DateTime<Utc> {
        from_ms(self.now_ms())
    }

    /// Today's Beijing date.
    pub fn today(&self) -> NaiveDate {
        city_date(self.now())
    }
}
