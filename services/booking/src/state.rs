//! What the booking handlers and use cases share: the store, the platform, the options (clock,
//! identity client, rules) and the slot-list cache. Lower modules import it from here, not from
//! the crate root that composes them.

use std::sync::Arc;
use std::time::Duration;

use city_platform::bus::{Event, Handler};
use city_platform::{Db, Platform};

use crate::domain::{BookingLimits, NoShowRule};
use crate::people::{CachedPeople, HttpPeople, PeopleDirectory};
use crate::NAME;

/// The cache key holding the generation of a doctor-day's slot list; a booking bumps it.
pub(crate) fn slot_generation_key(doctor_id: &str, date: &str) -> String {
    format!("booking:slotgen:{doctor_id}:{date}")
}

pub use city_platform::time::Clock;

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
        // All-in-one, identity answers on the portal's own address; apart, at its replicas: the
        // mode the process runs in says which, never the URL.
        let s = &platform.settings;
        let identity = s.peer("identity", &s.services.identity);
        Self {
            clock: Clock::system(),
            // Identity's answer for a citizen's own patient is reused for a minute.
            people: Arc::new(CachedPeople::new(
                HttpPeople::to(identity).vouched_by(platform.internal_token.clone()),
                Duration::from_secs(60),
            )),
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
    pub(crate) slot_memo: parking_lot::Mutex<std::collections::HashMap<String, MemoEntry>>,
    /// Readers waiting for the next read of a slot-list generation from a shared cache, by key;
    /// a key is present while a task is reading it (see [`BookingState::slot_generation`]).
    pub(crate) generation_reads: parking_lot::Mutex<std::collections::HashMap<String, Vec<GenerationWaiter>>>,
}

/// A reader waiting for a generation; None when the cache did not answer.
type GenerationWaiter = tokio::sync::oneshot::Sender<Option<String>>;

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
        let key = slot_generation_key(doctor_id, date);
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

    pub(crate) fn subscribe(self: &Arc<Self>) {
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
