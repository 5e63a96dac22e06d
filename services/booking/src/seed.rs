//! The demo catalogue (`seeds/booking/catalogue.json`): hospitals around real Chengdu
//! addresses, their departments and doctors with weekly templates, turned into sessions for the
//! coming days. Idempotent: rows that exist are left alone, so it also tops the schedule up.

use chrono::{Datelike, Duration};
use city_platform::money::Fen;
use city_platform::time::{city_date, from_ms};
use city_platform::Db;

use crate::domain::Period;
use crate::store::seed::SeedCatalogue as Catalogue;
use crate::store::{self, DoctorRow, NewSession};

const CATALOGUE: &str = include_str!("../../../seeds/booking/catalogue.json");

/// Days of schedule the demo keeps published ahead.
const DAYS_AHEAD: i64 = 8;

/// The demo hospitals' ids, districts and `(lat, lon)`, for checks.
#[cfg(test)]
fn hospital_points() -> Vec<(String, String, f64, f64)> {
    let c: Catalogue = serde_json::from_str(CATALOGUE).unwrap_or(Catalogue {
        hospitals: vec![],
        departments: vec![],
        doctors: vec![],
    });
    c.hospitals.into_iter().map(|h| (h.id, h.district_code, h.lat, h.lon)).collect()
}

/// Loads the catalogue and publishes the coming days' sessions.
pub async fn load(db: &Db, now: i64) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    load_catalogue(db, Some(now)).await
}

/// Loads the catalogue; with `schedule_from`, also the sessions of the coming days.
pub async fn load_catalogue(
    db: &Db,
    schedule_from: Option<i64>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let c: Catalogue = serde_json::from_str(CATALOGUE)?;
    let mut sessions = Vec::new();
    let Some(now) = schedule_from else {
        store::seed::load(db, &c, &sessions, 0).await?;
        return Ok(());
    };
    let today = city_date(from_ms(now));
    for d in &c.doctors {
        let row = DoctorRow {
            id: d.id.clone(),
            name: d.name.clone(),
            title: d.title.clone(),
            specialty: d.specialty.clone(),
            fee_fen: Fen(d.fee_fen),
            photo_url: d.photo_url.clone(),
            hospital_id: d.hospital_id.clone(),
            hospital_name_zh: String::new(),
            district_code: String::new(),
            department_id: d.department_id.clone(),
            department_name_zh: String::new(),
            department_name_en: String::new(),
            lat: 0.0,
            lon: 0.0,
        };
        for offset in 0..=DAYS_AHEAD {
            let day = today + Duration::days(offset);
            let weekday = day.weekday().num_days_from_monday();
            for (wd, period) in &d.weekly {
                let Some(period) = Period::parse(period).filter(|_| *wd == weekday) else { continue };
                let new = NewSession {
                    doctor: row.clone(),
                    visit_date: day,
                    period,
                    capacity: d.capacity,
                    slot_minutes: d.slot_minutes,
                };
                sessions.push(new);
            }
        }
    }
    store::seed::load(db, &c, &sessions, now).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_has_at_least_five_hospitals_thirty_departments_and_150_doctors() {
        let c: Catalogue = serde_json::from_str(CATALOGUE).unwrap();
        assert!(c.hospitals.len() >= 5);
        assert!(c.departments.len() >= 30);
        assert!(c.doctors.len() >= 150);
        assert!(c.doctors.iter().all(|d| crate::domain::DoctorTitle::parse(&d.title).is_some()));
    }

    #[test]
    fn every_demo_hospital_lies_in_its_own_district() {
        let districts = city_platform::districts::Districts::demo().unwrap();
        for (id, code, lat, lon) in hospital_points() {
            let at = city_platform::coords::LatLon::new(lat, lon).unwrap();
            let found = districts.locate(at).map(|d| d.code.clone());
            assert_eq!(found.as_deref(), Some(code.as_str()), "{id}");
        }
    }
}
