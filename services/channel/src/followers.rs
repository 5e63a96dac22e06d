//! Follower state written off the reply path: pushes hand their facts (followed, left,
//! interacted, located) to one writer task, which folds whatever queued up while the previous
//! batch was being written and stores it in one transaction. A push thus costs no database write
//! of its own; under load a batch holds hundreds of pushes.
//!
//! The last location also goes to the shared cache at once (Redis when distributed), so an
//! "air near me" click right after a LOCATION event finds it on any replica before the batch
//! lands. A crash loses at most the batch in flight: follower state only (last interaction,
//! location, follow flag), which the next push of that follower writes again.

use std::time::Duration;

use city_platform::cache::Cache;
use city_platform::shutdown::Shutdown;
use city_platform::Db;
use tokio::sync::{mpsc, oneshot};

use crate::domain::followers::{fold, FollowerFact};
use crate::store;

/// Largest number of facts folded into one transaction.
const MAX_BATCH: usize = 2048;
/// Facts waiting beyond this make pushes wait (backpressure when the store is slow).
const QUEUE: usize = 16 * 1024;
/// How long a cached location stands in for the stored one (the batch lands long before).
const LOCATION_TTL: Duration = Duration::from_secs(3600);

enum Job {
    Fact(FollowerFact),
    Flush(oneshot::Sender<()>),
}

/// The handle pushes record follower facts through.
#[derive(Clone)]
pub struct FollowerWriter {
    jobs: mpsc::Sender<Job>,
}

impl FollowerWriter {
    /// Starts the writer task over `db`; it drains what is queued and stops on shutdown.
    pub fn spawn(db: Db, shutdown: Shutdown) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, queue, shutdown));
        Self { jobs }
    }

    /// Queues a fact; it is stored with the next batch.
    pub async fn record(&self, fact: FollowerFact) {
        if self.jobs.send(Job::Fact(fact)).await.is_err() {
            tracing::warn!("follower writer stopped; a follower update is lost");
        }
    }

    /// Waits until everything queued before this call is stored (tests, shutdown paths).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.jobs.send(Job::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn run(db: Db, mut queue: mpsc::Receiver<Job>, mut shutdown: Shutdown) {
    let mut facts = Vec::new();
    let mut waiting = Vec::new();
    loop {
        let first = tokio::select! {
            job = queue.recv() => job,
            _ = shutdown.wait() => None,
        };
        let Some(first) = first else {
            // Shutting down (or every handle dropped): store what is still queued.
            queue.close();
            while let Ok(job) = queue.try_recv() {
                take(job, &mut facts, &mut waiting);
            }
            write(&db, &mut facts).await;
            break;
        };
        take(first, &mut facts, &mut waiting);
        // Whatever queued while the last batch was written joins this one.
        while facts.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => take(job, &mut facts, &mut waiting),
                Err(_) => break,
            }
        }
        write(&db, &mut facts).await;
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
    for done in waiting.drain(..) {
        let _ = done.send(());
    }
}

fn take(job: Job, facts: &mut Vec<FollowerFact>, waiting: &mut Vec<oneshot::Sender<()>>) {
    match job {
        Job::Fact(fact) => facts.push(fact),
        Job::Flush(done) => waiting.push(done),
    }
}

async fn write(db: &Db, facts: &mut Vec<FollowerFact>) {
    if facts.is_empty() {
        return;
    }
    let changes = fold(facts.drain(..));
    // A failed batch is tried again a few times; follower state is last-write-wins, so a batch
    // given up on is repaired by that follower's next push.
    for attempt in 1..=3 {
        match store::apply_follower_changes(db, &changes).await {
            Ok(()) => return,
            Err(e) if attempt < 3 => {
                tracing::warn!(error = %e, attempt, "follower batch not stored; retrying");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => tracing::error!(error = %e, n_followers = changes.len(), "follower batch dropped"),
        }
    }
}

fn location_key(openid: &str) -> String {
    format!("wechat:location:{openid}")
}

/// Shares the follower's latest location with every replica at once.
pub async fn cache_location(cache: &dyn Cache, openid: &str, latitude: f64, longitude: f64) {
    let value = format!("{latitude},{longitude}");
    if let Err(e) = cache.set(&location_key(openid), value.as_bytes(), LOCATION_TTL).await {
        tracing::warn!(error = %e, "could not cache a follower location");
    }
}

/// The follower's latest location from the shared cache, if it is there.
pub async fn cached_location(cache: &dyn Cache, openid: &str) -> Option<(f64, f64)> {
    let raw = cache.get(&location_key(openid)).await.ok().flatten()?;
    let (lat, lon) = std::str::from_utf8(&raw).ok()?.split_once(',')?;
    Some((lat.parse().ok()?, lon.parse().ok()?))
}
