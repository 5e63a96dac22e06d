//! The engine's own tests: the token race, Beijing days, rollups.

use city_platform::time::{from_ms, rfc3339};
use city_platform::Db;

use crate::answers::{scheme_slot, token_key};
use crate::domain::series::HourlySeries;
use crate::domain::{Concentration, Pollutant, Scheme};
use crate::engine::history::{rollup_json, series_from_rollup};
use crate::hours::day_of_hour_end;
use crate::hours::{city_day_label, city_day_start, hour_floor, DAY_MS, HOUR_MS};
use crate::ingest::CheckedReading;
use crate::state::AirState;
use crate::store;
use crate::views::StationNow;

fn hour_rows(code: &str, hour_end: i64, pm25: &str) -> Vec<(CheckedReading, bool)> {
    let at = rfc3339(from_ms(hour_end));
    [("pm25", pm25, "ug/m3"), ("pm10", "40", "ug/m3"), ("so2", "5", "ug/m3"), ("co", "0.6", "mg/m3")]
        .into_iter()
        .map(|(p, v, u)| {
            let raw =
                crate::ingest::RawReading { station_code: code, observed_at: &at, pollutant: p, value: v, unit: u };
            (crate::ingest::check(&raw, city_platform::time::now_ms()).unwrap(), true)
        })
        .collect()
}

/// The race the tokens close, played step by step: a reader takes the token and reads the
/// store, an ingestion commits and invalidates, then the reader caches what it read.
#[tokio::test]
async fn an_answer_read_before_an_ingestion_and_cached_after_it_is_never_served() {
    let t = city_platform::testing::test_platform().await;
    let db = Db::open(&t.platform.settings, crate::store::NAME, &crate::store::MIGRATOR).await.unwrap();
    t.track(&db);
    let state = AirState::new(db.clone(), t.platform.clone());
    let now = city_platform::time::now_ms();
    let row = store::StationRow {
        code: "R1".into(),
        name: "R1".into(),
        district_code: None,
        lat: 30.6,
        lon: 104.0,
        operator: String::new(),
        active: true,
        created_at: now,
        updated_at: now,
    };
    store::upsert_station(&mut db.pool.acquire().await.unwrap(), &row).await.unwrap();
    let h = hour_floor(now);
    state.ingest(&hour_rows("R1", h, "80"), now).await.unwrap();
    let aqi = |n: &StationNow| n.report.as_ref().and_then(|r| r.aqi);
    let before = aqi(&state.station_now("R1", Scheme::Cn2026, now).await.unwrap());

    // The slow reader's first half.
    let key = token_key("R1");
    let token = state.token(&key).await;
    let read = state.compute_now("R1", Scheme::Cn2026, now).await.unwrap();
    // A correction commits and invalidates meanwhile.
    state.ingest(&hour_rows("R1", h, "160"), now).await.unwrap();
    // The reader's second half: it caches what it read, under the token it read first.
    let slot = state.slot("R1");
    state.keep(&slot.answers[scheme_slot(Scheme::Cn2026)], "air:now:R1:cn-2026", token, read).await;

    let after = aqi(&state.station_now("R1", Scheme::Cn2026, now).await.unwrap());
    assert_ne!(after, before, "the answer computed before the correction was served after it");
    assert_eq!(after, aqi(&state.compute_now("R1", Scheme::Cn2026, now).await.unwrap()));
    t.cleanup().await;
}

#[test]
fn beijing_days_start_at_16_00_utc_and_the_24_00_hour_belongs_to_the_day_before() {
    // 2026-11-25T00:00:00+08:00 = 2026-11-24T16:00:00Z.
    let start = 1_795_536_000_000;
    assert_eq!(city_day_start(start), start);
    assert_eq!(city_day_start(start + DAY_MS - 1), start);
    assert_eq!(city_day_label(start), "2026-11-25");
    assert_eq!(day_of_hour_end(start + DAY_MS), start);
    assert_eq!(day_of_hour_end(start + HOUR_MS), start);
}

#[test]
fn a_rollup_round_trips_exact_values() {
    let mut day = HourlySeries::empty(24);
    day.set(Pollutant::Co, 3, Concentration::parse("2.2").unwrap());
    assert_eq!(series_from_rollup(&rollup_json(&day)), Some(day));
}
