//! Doctor booking (`/v1/booking`): hospitals, departments, doctors, schedules and numbered
//! slots, real-name booking rules, holds, cancellation, waitlist, stop-diagnosis.
//!
//! Entry points: [`BookingService::start`] opens the store and returns the API; [`BookingApi`] is
//! the poem-openapi surface the gateway mounts (or `city serve --only booking` serves alone).
//! Layout: `domain` (pure rules: release, slots, per-patient limits in `domain/limits.rs`, the
//! cancellation deadline in `domain/cancellation.rs`, no-shows, the texts patients read), `store`
//! (every SQL statement and the transactions, by aggregate, returning `StoreError`), `usecases`
//! (book, cancel, accept an offer, stop a session, ...: the steps of each rule, with spans naming
//! the ids), `api` (handlers and DTOs by resource; errors become problems in `api/problems.rs`),
//! `errors` (this service's table of error kinds), `people` (identity's patients through a client
//! trait), `internal` (`/v1/internal/booking`: service-to-service questions behind the internal
//! token), `seed` (the demo catalogue), [`BookingState::run_due_work`] (holds, offers, no-shows,
//! reminders, waitlist clearing: driven by a clock so tests can move time).
//!
//! Invariants: this service reads no other service's tables; a slot is taken only by a
//! conditional update; per-patient limits are counted by the keyed ID-number hash while that
//! patient's lock row is held; every state change writes its events in the same transaction.

mod api;
mod demo;
pub mod domain;
mod erasure;
pub mod errors;
mod internal;
pub mod people;
mod seed;
mod state;
pub mod store;
pub mod usecases;

pub use errors::KINDS as ERROR_KINDS;
pub use state::{BookingOptions, BookingState, Clock};
pub use usecases::{BookingError, DueWork};

use std::sync::Arc;

use city_platform::{Db, Platform};
use sqlx::migrate::Migrator;

/// Everything the service serves: the citizen and staff API under `/v1/booking` and the
/// service-to-service one under `/v1/internal/booking`, documented under one tag.
pub struct BookingApi {
    public: api::PublicApi,
    internal: internal::InternalApi,
}

impl BookingApi {
    /// Both APIs over shared state.
    pub fn new(state: Arc<BookingState>) -> Self {
        Self { public: api::public(state.clone()), internal: internal::InternalApi::new(state) }
    }
}

// Two `#[OpenApi]` impls (one prefix each) behind the one type the gateway composes.
impl poem_openapi::OpenApi for BookingApi {
    fn meta() -> Vec<poem_openapi::registry::MetaApi> {
        <(api::PublicApi, internal::InternalApi)>::meta()
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        <(api::PublicApi, internal::InternalApi)>::register(registry)
    }

    fn add_routes(
        self,
        route_table: &mut std::collections::HashMap<
            String,
            std::collections::HashMap<poem::http::Method, poem::endpoint::BoxEndpoint<'static>>,
        >,
    ) {
        (self.public, self.internal).add_routes(route_table)
    }
}

/// The service's name: its SQLite file, PostgreSQL schema and `--only` argument.
pub const NAME: &str = "booking";

/// The path prefixes this service owns.
pub const PREFIXES: &[&str] = &["/v1/booking"];

/// This service's migrations, compiled in.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/booking");

/// The running service.
pub struct BookingService;

impl BookingService {
    /// Opens and migrates the store and builds the API.
    pub async fn start(platform: Platform) -> Result<(BookingApi, Db), city_platform::db::DbError> {
        let options = BookingOptions::for_platform(&platform);
        let (api, db, _) = Self::start_with(platform, options).await?;
        Ok((api, db))
    }

    /// [`BookingService::start`] with explicit options; also returns the shared state so tests
    /// can drive time-based work.
    pub async fn start_with(
        platform: Platform,
        options: BookingOptions,
    ) -> Result<(BookingApi, Db, Arc<BookingState>), city_platform::db::DbError> {
        let db = Db::open(&platform.settings, NAME, &MIGRATOR).await?;
        if options.seed {
            if let Err(err) = seed::load(&db, options.clock.now_ms()).await {
                tracing::warn!(error = %err, "loading the booking demo data failed");
            }
        }
        demo::start(&platform.settings, &db, &options.clock).await;
        let state = Arc::new(BookingState {
            db: db.clone(),
            platform,
            options,
            slot_memo: Default::default(),
            generation_reads: Default::default(),
        });
        state.subscribe();
        erasure::start(&state);
        if let Some(every) = state.options.sweep_every {
            let worker = state.clone();
            let mut stop = state.platform.shutdown.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {
                            if let Err(err) = worker.run_due_work().await {
                                tracing::warn!(error = %err, "booking background work failed; will retry");
                            }
                        }
                        _ = stop.wait() => return,
                    }
                }
            });
        }
        Ok((BookingApi::new(state.clone()), db, state))
    }
}

impl BookingService {
    /// Loads the demo hospitals, departments and doctors without schedules (tests publish
    /// their own sessions).
    pub async fn load_demo_catalogue(db: &Db) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        seed::load_catalogue(db, None).await
    }
}
