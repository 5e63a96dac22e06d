//! The feed on a store, with a clock the test moves: the first start, the backfill behind it,
//! and a restart that fills the hours missed while the portal was down.

use std::sync::Arc;
use std::time::{Duration, Instant};

use city_platform::config::Profile;
use city_platform::time::Clock;
use city_platform::Db;

use super::{enabled, sites, start, BACKFILL_DAYS, FIRST_HOURS};
use crate::hours::{hour_floor, HOUR_MS};
use crate::state::AirState;
use crate::store;

async fn count(state: &AirState, from: i64, to: i64) -> usize {
    let codes: Vec<String> = sites(state).into_iter().map(|s| s.station).collect();
    store::readings_between(&state.db, &codes, from, to).await.unwrap().len()
}

#[tokio::test]
async fn a_first_start_has_the_last_day_at_once_then_thirty_days_and_a_restart_fills_the_gap() {
    let t = city_platform::testing::test_platform_with(|s| s.air.demo_feed = true).await;
    let db = Db::open(&t.platform.settings, store::NAME, &store::MIGRATOR).await.unwrap();
    t.track(&db);
    let state = Arc::new(AirState::new(db, t.platform.clone()));
    crate::seed_stations(&state).await.unwrap();
    let stations = sites(&state).len();
    assert_eq!(stations, 12);
    let now = hour_floor(city_platform::time::now_ms()) + 10 * 60_000;
    let clock = Clock::fixed(now);

    let started = Instant::now();
    start(&state, clock.clone()).await;
    let first = started.elapsed();
    let per_hour = stations * 6;
    assert_eq!(count(&state, now - FIRST_HOURS * HOUR_MS, now).await, FIRST_HOURS as usize * per_hour);

    let all = BACKFILL_DAYS as usize * 24 * per_hour;
    let deadline = Instant::now() + Duration::from_secs(60);
    // Newest first, a batch a transaction: the oldest hour is in the last one.
    let oldest = now - BACKFILL_DAYS * 24 * HOUR_MS;
    while count(&state, oldest, oldest + HOUR_MS).await < per_hour {
        assert!(Instant::now() < deadline, "the backfill did not finish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let backfilled = started.elapsed();
    assert_eq!(count(&state, oldest, now).await, all);
    eprintln!(
        "air demo feed ({:?}): last {FIRST_HOURS} h stored in {} ms before ready; {BACKFILL_DAYS} days ({all} rows) in {} ms",
        state.db.backend,
        first.as_millis(),
        backfilled.as_millis()
    );

    // Down for five hours, then started again: each missed hour arrives, nothing twice.
    clock.set(now + 5 * HOUR_MS);
    start(&state, clock.clone()).await;
    assert_eq!(count(&state, now, now + 5 * HOUR_MS).await, 5 * per_hour);
    assert_eq!(count(&state, now - BACKFILL_DAYS * 24 * HOUR_MS, now + 5 * HOUR_MS).await, all + 5 * per_hour);
    t.cleanup().await;
}

#[tokio::test]
async fn a_backfill_cut_short_is_finished_at_the_next_start() {
    let t = city_platform::testing::test_platform_with(|s| s.air.demo_feed = true).await;
    let db = Db::open(&t.platform.settings, store::NAME, &store::MIGRATOR).await.unwrap();
    t.track(&db);
    let state = Arc::new(AirState::new(db, t.platform.clone()));
    crate::seed_stations(&state).await.unwrap();
    let now = hour_floor(city_platform::time::now_ms()) + 10 * 60_000;
    // A first start that stopped after its recent hours: newest first, so the oldest are missing.
    super::fill(&state, &sites(&state), now - 3 * 24 * HOUR_MS, now, now).await.unwrap();

    start(&state, Clock::fixed(now)).await;
    let per_hour = sites(&state).len() * 6;
    let oldest = hour_floor(now) - BACKFILL_DAYS * 24 * HOUR_MS;
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&state, oldest, oldest + HOUR_MS).await < per_hour {
        assert!(Instant::now() < deadline, "the interrupted backfill was not finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(count(&state, oldest, now).await, BACKFILL_DAYS as usize * 24 * per_hour);
    t.cleanup().await;
}

#[test]
fn production_never_feeds() {
    let mut s = city_platform::Settings::default();
    assert!(enabled(&s));
    s.profile = Profile::Production;
    assert!(!enabled(&s));
    s.profile = Profile::Demo;
    s.air.demo_feed = false;
    assert!(!enabled(&s));
}
