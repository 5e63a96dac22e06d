//! Bulk demo data for load tests: `n` reports spread over the city's districts, written in
//! multi-row INSERTs (far faster than the API, which is measured separately).

use city_platform::coords::LatLon;
use city_platform::districts::Districts;
use city_platform::ids::new_id;
use city_platform::time::now_ms;
use city_platform::Db;

use crate::domain::{Catalogue, State};

/// Rows per INSERT: 24 parameters each stays under SQLite's 32,766-variable limit.
const BATCH: usize = 1000;

/// Writes `n` reports with pins inside the city, random categories and states, created over
/// the last 180 days. Deterministic for a given `seed`.
pub async fn seed_reports(
    db: &Db,
    districts: &Districts,
    catalogue: &Catalogue,
    n: usize,
    seed: u64,
) -> Result<(), sqlx::Error> {
    let mut rng = seed.max(1);
    let mut next = move || {
        // xorshift64*: good enough for spreading demo pins.
        rng ^= rng >> 12;
        rng ^= rng << 25;
        rng ^= rng >> 27;
        (rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    };
    let now = now_ms();
    let mut written = 0;
    while written < n {
        let take = BATCH.min(n - written);
        let mut rows = Vec::with_capacity(take);
        while rows.len() < take {
            // Denser downtown, as real reports are.
            let (lat, lon) = if next() < 0.6 {
                (30.60 + next() * 0.12, 104.00 + next() * 0.14)
            } else {
                (30.48 + next() * 0.36, 103.86 + next() * 0.41)
            };
            let Some(d) = LatLon::new(lat, lon).and_then(|p| districts.locate(p)) else { continue };
            let cat = &catalogue.categories
                [(next() * catalogue.categories.len() as f64) as usize % catalogue.categories.len()];
            let agency = catalogue.route(&cat.code, &d.code).map(|a| a.id.clone()).unwrap_or_default();
            let state = State::ALL[(next() * State::ALL.len() as f64) as usize % State::ALL.len()];
            let created = now - (next() * 180.0 * 86_400_000.0) as i64;
            rows.push((lat, lon, d.code.clone(), cat.code.clone(), agency, state, created, cat.sla_hours));
        }
        let mut sql = String::from(
            "INSERT INTO incident_reports (id, citizen_id, anonymous, channel, category, agency, district, state, is_open,
             description, address, attributes, lat, lon, orig_crs, orig_lat, orig_lon, moderation, n_photos, n_followers,
             version, created_at, updated_at, due_at) VALUES ",
        );
        for i in 0..rows.len() {
            let b = i * 13;
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${}, NULL, TRUE, 'seed', ${}, ${}, ${}, ${}, ${}, 'Seeded report', '', '{{}}', ${}, ${}, 'wgs84', ${}, ${}, 'pass', 0, 0, 1, ${}, ${}, ${})",
                b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8, b + 9, b + 10, b + 11, b + 12, b + 13
            ));
        }
        let mut q = sqlx::query(&sql);
        for (lat, lon, district, category, agency, state, created, sla) in &rows {
            q = q
                .bind(new_id())
                .bind(category.clone())
                .bind(agency.clone())
                .bind(district.clone())
                .bind(state.code())
                .bind(state.is_open())
                .bind(*lat)
                .bind(*lon)
                .bind(*lat)
                .bind(*lon)
                .bind(*created)
                .bind(*created)
                .bind(*created + sla * 3_600_000);
        }
        let mut tx = db.begin_write().await?;
        q.execute(&mut *tx).await?;
        tx.commit().await?;
        written += rows.len();
    }
    Ok(())
}
