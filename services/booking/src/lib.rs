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
pub mod domain;
pub mod errors;
mod internal;
pub mod people;
mod seed;
pub mod store;
pub mod usecases;

pub use errors::KINDS as ERROR_KINDS;
pub use usecases::{BookingError, DueWork};

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use city_platform::bus::{Event, Handler};
use city_platform::time::now_ms;
use city_platform::{Db, Platform};
use sqlx::migrate::Migrator;

use domain::{BookingLimits, NoShowRule};
use people::{CachedPeople, HttpPeople, PeopleDirectory};

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

/// The service's clock: the system's, or one a test sets and moves.
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

    /// Now, UTC ms.
    pub fn now(&self) -> i64 {
        self.0.as_ref().map_or_else(now_ms, |t| t.load(Ordering::SeqCst))
    }

    /// Moves a fixed clock to `ms` (no effect on the system clock).
    pub fn set(&self, ms: i64) {
        if let Some(t) = &self.0 {
            t.store(ms, Ordering::SeqCst);
        }
    }
}

/// What the service can be configured with beyond the platform's settings.
#[derive(Clone)]
pub struct BookingOptions {
    /// The clock.
    pub clock: Clock,
    /// Where patients come from (identity).
    pub people: Arc<dyn PeopleDirectory>,
    /// Real-name limits.
    pub limits: BookingLimits,
    /// The no-show rule engine.
    pub no_show: NoShowRule,
    /// How often the background loop runs holds, offers, no-shows and reminders; None: never
    /// (tests call [`BookingState::run_due_work`] themselves).
    pub sweep_every: Option<Duration>,
    /// Minutes after a number's window ends before an unattended booking is a no-show.
    pub no_show_grace_minutes: i64,
    /// Load the demo catalogue and schedules when the store is empty.
    pub seed: bool,
}

impl BookingOptions {
    /// Production defaults for `platform`: identity over HTTP, the system clock.
    pub fn for_platform(platform: &Platform) -> Self {
        // All-in-one, identity answers on the portal's own address; apart, where it is configured.
        let configured = &platform.settings.services.identity;
        let base = if *configured == city_platform::Settings::default().services.identity {
            format!("http://{}", platform.settings.listen)
        } else {
            configured.clone()
        };
        Self {
            clock: Clock::system(),
            // Identity's answer for a citizen's own patient is reused for a minute.
            people: Arc::new(CachedPeople::new(HttpPeople::new(base), Duration::from_secs(60))),
            limits: BookingLimits::default(),
            no_show: NoShowRule::default(),
            sweep_every: Some(Duration::from_secs(5)),
            no_show_grace_minutes: 60,
            seed: platform.settings.seed_demo_data,
        }
    }
}

/// A rendered slot list: the generation it was rendered at, its bytes, and when.
type MemoEntry = (String, Vec<u8>, std::time::Instant);

/// What the booking handlers share.
pub struct BookingState {
    /// The service's own store.
    pub db: Db,
    /// Cache, bus and reference data.
    pub platform: Platform,
    /// Clock, identity client, rules.
    pub options: BookingOptions,
    /// Rendered slot lists by doctor-day, each with the generation it was rendered at; only
    /// served while the shared cache still names that generation.
    slot_memo: parking_lot::Mutex<std::collections::HashMap<String, MemoEntry>>,
    /// Readers waiting for the next read of a slot-list generation from a shared cache, by key;
    /// a key is present while a task is reading it (see [`BookingState::slot_generation`]).
    generation_reads: parking_lot::Mutex<std::collections::HashMap<String, Vec<GenerationWaiter>>>,
}

/// A reader waiting for a generation; None when the cache did not answer.
type GenerationWaiter = tokio::sync::oneshot::Sender<Option<String>>;

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
            if let Err(err) = seed::load(&db, options.clock.now()).await {
                tracing::warn!(error = %err, "loading the booking demo data failed");
            }
        }
        let state = Arc::new(BookingState {
            db: db.clone(),
            platform,
            options,
            slot_memo: Default::default(),
            generation_reads: Default::default(),
        });
        state.subscribe();
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

async fn read_generation(cache: &dyn city_platform::cache::Cache, key: &str) -> Option<String> {
    match cache.get(key).await {
        Ok(value) => Some(value.and_then(|b| String::from_utf8(b).ok()).unwrap_or_default()),
        Err(err) => {
            tracing::warn!(error = %err, "could not read a slot-list generation; answering from the store");
            None
        }
    }
}

impl BookingState {
    /// Invalidates the cached free-slot list of a doctor-day (after the change committed).
    pub async fn slots_changed(&self, doctor_id: &str, date: &str) {
        // A fresh random generation, not a counter: whichever writer sets it last, any reader
        // who sees it read the store after that write, so no stale list is kept under it.
        let key = api::slot_generation_key(doctor_id, date);
        let generation = city_platform::ids::new_id();
        if let Err(err) = self.platform.cache.set(&key, generation.as_bytes(), Duration::from_secs(86_400)).await {
            tracing::warn!(error = %err, "could not invalidate the slot cache");
        }
    }

    /// The current generation of a doctor-day's slot list ("" before its first change); None
    /// when the cache does not answer.
    ///
    /// With a shared (Redis) cache, concurrent readers of one key share round trips: a reader
    /// joins the next read that starts after it arrived, never one already in flight (which
    /// could predate a booking this reader must see), so a booking that returned is always
    /// seen, and one key costs about one cache read per round trip however many read it.
    pub(crate) async fn slot_generation(self: &Arc<Self>, key: &str) -> Option<String> {
        if self.platform.cache.kind() == "memory" {
            return read_generation(self.platform.cache.as_ref(), key).await;
        }
        let (waiter, answer) = tokio::sync::oneshot::channel();
        let lead = {
            let mut reads = self.generation_reads.lock();
            match reads.get_mut(key) {
                Some(waiting) => {
                    waiting.push(waiter);
                    false
                }
                None => {
                    reads.insert(key.to_owned(), vec![waiter]);
                    true
                }
            }
        };
        if lead {
            let state = self.clone();
            let key = key.to_owned();
            tokio::spawn(async move { state.read_generations(key).await });
        }
        answer.await.ok().flatten()
    }

    /// Serves rounds of readers of `key` until none is waiting.
    async fn read_generations(&self, key: String) {
        loop {
            let waiting = {
                let mut reads = self.generation_reads.lock();
                match reads.get_mut(&key) {
                    Some(waiting) if !waiting.is_empty() => std::mem::take(waiting),
                    _ => {
                        reads.remove(&key);
                        return;
                    }
                }
            };
            // Every reader in `waiting` arrived before this read is sent.
            let generation = read_generation(self.platform.cache.as_ref(), &key).await;
            for waiter in waiting {
                let _ = waiter.send(generation.clone());
            }
        }
    }

    /// The memoised slot list of a doctor-day at `generation`.
    pub(crate) fn memo_get(&self, key: &str, generation: &str) -> Option<Vec<u8>> {
        // Also bounded in time, like the shared entry: a generation key that expired reads as
        // "" again, and a day-old list must not pass for it.
        let fresh = std::time::Instant::now() - Duration::from_secs(60);
        self.slot_memo.lock().get(key).filter(|(g, _, at)| g == generation && *at > fresh).map(|(_, b, _)| b.clone())
    }

    /// Remembers a rendered slot list; the memo is bounded by clearing it when it grows large.
    pub(crate) fn memo_put(&self, key: String, generation: String, bytes: Vec<u8>) {
        let mut memo = self.slot_memo.lock();
        if memo.len() >= 10_000 {
            memo.clear();
        }
        memo.insert(key, (generation, bytes, std::time::Instant::now()));
    }

    fn subscribe(self: &Arc<Self>) {
        for topic in ["payments.paid", "payments.refunded"] {
            let state = self.clone();
            let handler: Handler = Arc::new(move |event: Event| {
                let state = state.clone();
                Box::pin(async move { state.on_payment_event(event).await })
            });
            self.platform.bus.clone().subscribe(topic, NAME, handler, self.platform.shutdown.clone());
        }
    }
}
