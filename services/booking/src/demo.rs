//! The demo's busy week (issue #25): the seed already publishes every hospital's sessions for
//! the coming days; this books most places of about one session in three for made-up patients,
//! so some days are nearly full while every doctor keeps free places elsewhere.
//!
//! Demo profile only, with `seed_demo_data` and `demo_activity`. Which sessions fill is decided
//! by doctor, date and period, and a session with any place taken is left alone, so a restart
//! changes nothing and a newly published day gets its share.

use chrono::Duration;
use city_platform::config::Profile;
use city_platform::time::Clock;
use city_platform::{Db, Settings};

use crate::store::demo as sql;

/// Days ahead, from today, whose sessions may fill.
const DAYS: i64 = 7;
/// Masked names of the made-up patients.
const PATIENTS: [&str; 8] = ["张*", "李*", "王*", "刘*", "陈*", "杨*", "赵*", "黄*"];

/// Whether these settings want the busy week.
pub fn enabled(settings: &Settings) -> bool {
    settings.profile == Profile::Demo && settings.seed_demo_data && settings.demo_activity
}

/// How many places of a session the demo leaves free, or `None` to leave the session alone.
fn leave_free(doctor_id: &str, visit_date: &str, period: &str) -> Option<usize> {
    // FNV-1a: stable across runs and releases.
    let h = [doctor_id, visit_date, period]
        .iter()
        .flat_map(|s| s.bytes().chain([0]))
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    (h % 3 == 0).then_some(1 + (h / 3 % 3) as usize)
}

/// Fills the chosen sessions of the coming week. Returns the places booked.
pub async fn fill(db: &Db, clock: &Clock) -> Result<u64, sqlx::Error> {
    let today = clock.today();
    let last = today + Duration::days(DAYS);
    let chosen: Vec<(String, usize)> = sql::open_sessions(db, &today.to_string(), &last.to_string())
        .await?
        .into_iter()
        .filter(|s| s.taken == 0)
        .filter_map(|s| leave_free(&s.doctor_id, &s.visit_date, &s.period).map(|leave| (s.id, leave)))
        .collect();
    if chosen.is_empty() {
        return Ok(0);
    }
    sql::fill_sessions(db, &chosen, &PATIENTS, clock.now_ms()).await
}

/// At start, when the settings want it.
pub async fn start(settings: &Settings, db: &Db, clock: &Clock) {
    if !enabled(settings) {
        return;
    }
    let started = std::time::Instant::now();
    match fill(db, clock).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(n, ms = started.elapsed().as_millis() as u64, "booking: demo places booked"),
        Err(e) => tracing::warn!(error = %e, "booking: the demo's busy days were not filled"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn some_sessions_of_the_week_are_nearly_full_once() {
        let t = city_platform::testing::test_platform().await;
        let db = Db::open(&t.platform.settings, crate::NAME, &crate::MIGRATOR).await.unwrap();
        t.track(&db);
        let clock = Clock::system();
        crate::seed::load(&db, clock.now_ms()).await.unwrap();
        let started = std::time::Instant::now();
        let booked = fill(&db, &clock).await.unwrap();
        eprintln!("{booked} demo places booked in {} ms ({:?})", started.elapsed().as_millis(), db.backend);
        assert!(booked > 100, "{booked}");
        assert_eq!(fill(&db, &clock).await.unwrap(), 0, "a restart books nothing more");
        let week =
            sql::open_sessions(&db, &clock.today().to_string(), &(clock.today() + Duration::days(DAYS)).to_string())
                .await
                .unwrap();
        let filled: Vec<_> = week.iter().filter(|s| s.taken > 0).collect();
        assert!(!filled.is_empty() && filled.len() < week.len(), "{} of {}", filled.len(), week.len());
        for s in filled {
            assert_eq!(leave_free(&s.doctor_id, &s.visit_date, &s.period).map(|_| ()), Some(()));
        }
        // Fee-free and unpaid, as a free booking is: stopping their session asks payments for no
        // refund of a fee that was never paid there.
        let (charged, paid): (i64, i64) = sqlx::query_as(
            "SELECT CAST(COUNT(*) FILTER (WHERE fee_fen <> 0) AS BIGINT), CAST(COUNT(*) FILTER (WHERE paid) AS BIGINT)
             FROM appointments WHERE citizen_id = 'demo-patient'",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!((charged, paid), (0, 0));
        t.cleanup().await;
    }

    #[test]
    fn about_a_third_of_sessions_fill_and_each_keeps_a_place() {
        let picked: Vec<usize> = (1..=28)
            .flat_map(|d| ["morning", "afternoon"].map(|p| (d, p)))
            .filter_map(|(d, p)| leave_free("d-1", &format!("2026-12-{d:02}"), p))
            .collect();
        assert!((10..=30).contains(&picked.len()), "{}", picked.len());
        assert!(picked.iter().all(|n| (1..=3).contains(n)));
    }
}
