//! The demo catalogue's rows (`crate::seed` reads the file and plans the sessions). Idempotent:
//! rows that exist are left alone, so loading again tops the schedule up.
#![allow(missing_docs)]

use city_platform::Db;
use serde::Deserialize;

use super::sessions::{insert_session, NewSession};
use crate::domain::ReleaseRules;

/// The demo catalogue as `seeds/booking/catalogue.json` holds it.
#[derive(Deserialize)]
pub struct SeedCatalogue {
    pub hospitals: Vec<SeedHospital>,
    pub departments: Vec<SeedDepartment>,
    pub doctors: Vec<SeedDoctor>,
}

/// A demo hospital.
#[derive(Deserialize)]
pub struct SeedHospital {
    pub id: String,
    pub name_zh: String,
    pub name_en: String,
    pub district_code: String,
    pub level: String,
    pub address: String,
    pub lat: f64,
    pub lon: f64,
    pub phone: String,
    pub charges_online: bool,
}

/// A demo department.
#[derive(Deserialize)]
pub struct SeedDepartment {
    pub id: String,
    pub hospital_id: String,
    pub name_zh: String,
    pub name_en: String,
}

/// A demo doctor with a weekly template.
#[derive(Deserialize)]
pub struct SeedDoctor {
    pub id: String,
    pub hospital_id: String,
    pub department_id: String,
    pub name: String,
    pub title: String,
    pub specialty: String,
    pub fee_fen: i64,
    pub photo_url: String,
    pub capacity: i64,
    pub slot_minutes: i64,
    /// (weekday from Monday = 0, period).
    pub weekly: Vec<(u32, String)>,
}

/// Inserts the catalogue (with default release rules) and `sessions`, in one transaction.
pub async fn load(db: &Db, c: &SeedCatalogue, sessions: &[NewSession], now: i64) -> Result<(), sqlx::Error> {
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
    for new in sessions {
        insert_session(&mut tx, new, now).await?;
    }
    tx.commit().await
}
