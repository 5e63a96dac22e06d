//! The demo catalogue (`seeds/booking/catalogue.json`): hospitals around real Chengdu
//! addresses, their departments and doctors with weekly templates, turned into sessions for the
//! coming days. Idempotent: rows that exist are left alone, so it also tops the schedule up.

use chrono::{Datelike, Duration};
use city_platform::time::{city_date, from_ms};
use city_platform::Db;
use serde::Deserialize;

use crate::domain::{Period, ReleaseRules};
use crate::store::{self, DoctorRow, NewSession};

const CATALOGUE: &str = include_str!("../../../seeds/booking/catalogue.json");

/// Days of schedule the demo keeps published ahead.
const DAYS_AHEAD: i64 = 8;

#[derive(Deserialize)]
struct Catalogue {
    hospitals: Vec<Hospital>,
    departments: Vec<Department>,
    doctors: Vec<Doctor>,
}

#[derive(Deserialize)]
struct Hospital {
    id: String,
    name_zh: String,
    name_en: String,
    district_code: String,
    level: String,
    address: String,
    lat: f64,
    lon: f64,
    phone: String,
    charges_online: bool,
}

#[derive(Deserialize)]
struct Department {
    id: String,
    hospital_id: String,
    name_zh: String,
    name_en: String,
}

#[derive(Deserialize)]
struct Doctor {
    id: String,
    hospital_id: String,
    department_id: String,
    name: String,
    title: String,
    specialty: String,
    fee_fen: i64,
    photo_url: String,
    capacity: i64,
    slot_minutes: i64,
    /// (weekday from Monday = 0, period).
    weekly: Vec<(u32, String)>,
}

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
    let rules = ReleaseRules::default();
    let mut tx = db.begin_write().await?;
    for h in &c.hospitals {
        sqlx::query(
            "INSERT INTO hospitals (id, name_zh, name_en, district_code, level, address, lat, lon, phone, charges_online,
                release_days_ahead, release_minute_of_day, cutoff_minutes_before, cancel_days_before, cancel_minute_of_day,
                hold_minutes, waitlist_accept_minutes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, 15, 60)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&h.id)
        .bind(&h.name_zh)
        .bind(&h.name_en)
        .bind(&h.district_code)
        .bind(&h.level)
        .bind(&h.address)
        .bind(h.lat)
        .bind(h.lon)
        .bind(&h.phone)
        .bind(h.charges_online)
        .bind(rules.release_days_ahead)
        .bind(rules.release_minute_of_day)
        .bind(rules.cutoff_minutes_before)
        .bind(rules.cancel_days_before)
        .bind(rules.cancel_minute_of_day)
        .execute(&mut *tx)
        .await?;
    }
    for d in &c.departments {
        sqlx::query("INSERT INTO departments (id, hospital_id, name_zh, name_en) VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING")
            .bind(&d.id)
            .bind(&d.hospital_id)
            .bind(&d.name_zh)
            .bind(&d.name_en)
            .execute(&mut *tx)
            .await?;
    }
    for d in &c.doctors {
        sqlx::query(
            "INSERT INTO doctors (id, hospital_id, department_id, name, title, specialty, fee_fen, photo_url)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&d.id)
        .bind(&d.hospital_id)
        .bind(&d.department_id)
        .bind(&d.name)
        .bind(&d.title)
        .bind(&d.specialty)
        .bind(d.fee_fen)
        .bind(&d.photo_url)
        .execute(&mut *tx)
        .await?;
    }
    let Some(now) = schedule_from else {
        tx.commit().await?;
        return Ok(());
    };
    let today = city_date(from_ms(now));
    for d in &c.doctors {
        let row = DoctorRow {
            id: d.id.clone(),
            name: d.name.clone(),
            title: d.title.clone(),
            specialty: d.specialty.clone(),
            fee_fen: d.fee_fen,
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
                store::insert_session(&mut tx, &new, now).await?;
            }
        }
    }
    tx.commit().await?;
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
