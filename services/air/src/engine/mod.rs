//! The use cases over [`AirState`]: the latest hour and history of a station, district and city
//! values, ingestion, and alert evaluation. SQL lives in `store`, arithmetic in `domain`, the state
//! and its cache plumbing in `state`.
//!
//! - [`stations`]: the live index, a station's latest hour (cached by token), nearest station.
//! - [`history`]: a station's last 24 hours and 30 days (daily rollups), district and city values.
//! - [`ingestion`]: storing a batch of readings and what follows its commit.
//! - [`alerts`]: alert subscriptions and their evaluation.

pub mod alerts;
pub mod history;
pub mod ingestion;
pub mod stations;
#[cfg(test)]
mod tests;

pub use crate::hours::{city_day_label, city_day_start, hour_floor, parse_instant, DAY_MS, FRESH_MS, HOUR_MS};
pub use crate::state::{AirState, EngineError};
pub use alerts::{NewSubscription, SubscribeError, Watch, MAX_SUBSCRIPTIONS};
pub use history::{AreaNow, History};
pub use ingestion::{IngestOutcome, Stored, DEFERRED_GRACE_MS, READINGS_STORED};
pub use stations::{Nearest, NearestFound, StationChange, NEAREST_CANDIDATES, NEAREST_RADIUS_M, STATIONS_CHANGED};
