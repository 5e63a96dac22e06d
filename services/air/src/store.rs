//! Every SQL statement of the air service: stations, hourly readings, daily rollups, alert subscriptions.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use city_platform::Db;
use sqlx::migrate::Migrator;

/// The service's name: its SQLite file, PostgreSQL schema and `--only` argument.
pub const NAME: &str = "air";

/// This service's migrations, compiled in.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/air");

/// The most rows one INSERT carries: 6 bind parameters each, far below SQLite's 32 766 and PostgreSQL's 65 535.
pub const ROWS_PER_STATEMENT: usize = 1_000;

/// A monitoring station as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StationRow {
    /// Network code.
    pub code: String,
    /// Display name.
    pub name: String,
    /// District code, `None` outside the city.
    pub district_code: Option<String>,
    /// WGS-84 latitude.
    pub lat: f64,
    /// WGS-84 longitude.
    pub lon: f64,
    /// Who runs it.
    pub operator: String,
    /// Whether it reports and is shown.
    pub active: bool,
    /// UTC milliseconds.
    pub created_at: i64,
    /// UTC milliseconds.
    pub updated_at: i64,
}

const STATION_COLUMNS: &str = "code, name, district_code, lat, lon, operator, active, created_at, updated_at";
// The Any driver cannot decode SQLite's BOOLEAN; both backends read it as a BIGINT.
const STATION_SELECT: &str =
    "code, name, district_code, lat, lon, operator, CAST(CAST(active AS INTEGER) AS BIGINT) AS active, \
     created_at, updated_at";

fn station(row: &AnyRow) -> Result<StationRow, sqlx::Error> {
    Ok(StationRow {
        code: row.try_get("code")?,
        name: row.try_get("name")?,
        district_code: row.try_get("district_code")?,
        lat: row.try_get("lat")?,
        lon: row.try_get("lon")?,
        operator: row.try_get("operator")?,
        active: row.try_get::<i64, _>("active")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Every station, by code.
pub async fn list_stations(db: &Db) -> Result<Vec<StationRow>, sqlx::Error> {
    let rows = sqlx::query(&format!("SELECT {STATION_SELECT} FROM stations ORDER BY code")).fetch_all(&db.pool).await?;
    rows.iter().map(station).collect()
}

/// One station.
pub async fn get_station(conn: &mut AnyConnection, code: &str) -> Result<Option<StationRow>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {STATION_SELECT} FROM stations WHERE code = $1"))
        .bind(code)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(station).transpose()
}

/// Creates or replaces a station (keeping its creation time).
pub async fn upsert_station(conn: &mut AnyConnection, s: &StationRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO stations ({STATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (code) DO UPDATE SET name = $2, district_code = $3, lat = $4, lon = $5, operator = $6,
         active = $7, updated_at = $9"
    ))
    .bind(&s.code)
    .bind(&s.name)
    .bind(&s.district_code)
    .bind(s.lat)
    .bind(s.lon)
    .bind(&s.operator)
    .bind(s.active)
    .bind(s.created_at)
    .bind(s.updated_at)
    .execute(&mut *conn)
    .await
    .map(|_| ())
}

/// A fingerprint of the station table (count and latest change), polled so replicas rebuild their index.
pub async fn stations_version(db: &Db) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n, CAST(COALESCE(MAX(updated_at), 0) AS BIGINT) AS latest FROM stations",
    )
    .fetch_one(&db.pool)
    .await?;
    Ok((row.try_get("n")?, row.try_get("latest")?))
}

/// The codes of stations that exist (active or not) among `codes`.
pub async fn existing_codes(conn: &mut AnyConnection, codes: &[&str]) -> Result<Vec<String>, sqlx::Error> {
    let mut out = Vec::new();
    for chunk in codes.chunks(ROWS_PER_STATEMENT) {
        let placeholders = (1..=chunk.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        let sql = format!("SELECT code FROM stations WHERE code IN ({placeholders})");
        let mut q = sqlx::query(&sql);
        for c in chunk {
            q = q.bind(*c);
        }
        for row in q.fetch_all(&mut *conn).await? {
            out.push(row.try_get("code")?);
        }
    }
    Ok(out)
}

/// One hourly value to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReading {
    /// Station code.
    pub station_code: String,
    /// End of the hour, UTC milliseconds.
    pub hour_end: i64,
    /// Pollutant code.
    pub pollutant: &'static str,
    /// Exact decimal text in the Chinese standard's unit.
    pub value: String,
}

/// Stores readings in multi-row statements. Without `correction` a (station, hour, pollutant) already
/// stored is left alone; with it, a different value replaces the stored one. Returns how many rows
/// were written (new, or changed by a correction).
pub async fn insert_readings(
    conn: &mut AnyConnection,
    rows: &[NewReading],
    correction: bool,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let conflict = if correction {
        "ON CONFLICT (station_code, hour_end, pollutant) DO UPDATE SET value = excluded.value,
         received_at = excluded.received_at, corrected = excluded.corrected WHERE readings.value <> excluded.value"
    } else {
        "ON CONFLICT (station_code, hour_end, pollutant) DO NOTHING"
    };
    let mut written = 0;
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut sql = String::with_capacity(64 + chunk.len() * 40);
        sql.push_str("INSERT INTO readings (station_code, hour_end, pollutant, value, received_at, corrected) VALUES ");
        for i in 0..chunk.len() {
            let b = i * 6;
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("(${}, ${}, ${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6));
        }
        sql.push(' ');
        sql.push_str(conflict);
        let mut q = sqlx::query(&sql);
        for r in chunk {
            q = q.bind(&r.station_code).bind(r.hour_end).bind(r.pollutant).bind(&r.value).bind(now).bind(correction);
        }
        written += q.execute(&mut *conn).await?.rows_affected();
    }
    Ok(written)
}

/// A stored hourly value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReading {
    /// Station code.
    pub station_code: String,
    /// End of the hour, UTC milliseconds.
    pub hour_end: i64,
    /// Pollutant code.
    pub pollutant: String,
    /// Exact decimal text.
    pub value: String,
}

/// The readings of `codes` with `from < hour_end <= to`.
pub async fn readings_between(
    db: &Db,
    codes: &[String],
    from: i64,
    to: i64,
) -> Result<Vec<StoredReading>, sqlx::Error> {
    let mut out = Vec::new();
    for chunk in codes.chunks(ROWS_PER_STATEMENT) {
        let placeholders = (3..chunk.len() + 3).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT station_code, hour_end, pollutant, value FROM readings
             WHERE hour_end > $1 AND hour_end <= $2 AND station_code IN ({placeholders})"
        );
        let mut q = sqlx::query(&sql).bind(from).bind(to);
        for c in chunk {
            q = q.bind(c);
        }
        for row in q.fetch_all(&db.pool).await? {
            out.push(StoredReading {
                station_code: row.try_get("station_code")?,
                hour_end: row.try_get("hour_end")?,
                pollutant: row.try_get("pollutant")?,
                value: row.try_get("value")?,
            });
        }
    }
    Ok(out)
}

/// The latest hour with any reading for `code`, at or before `to`.
pub async fn latest_hour(db: &Db, code: &str, to: i64) -> Result<Option<i64>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT CAST(MAX(hour_end) AS BIGINT) AS h FROM readings WHERE station_code = $1 AND hour_end <= $2",
    )
    .bind(code)
    .bind(to)
    .fetch_one(&db.pool)
    .await?;
    row.try_get("h")
}

/// The stored daily rollups of a station for `from_day ..= to_day` (YYYY-MM-DD): (day, hours JSON).
pub async fn rollups(db: &Db, code: &str, from_day: &str, to_day: &str) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::query("SELECT day, hours FROM daily_rollups WHERE station_code = $1 AND day >= $2 AND day <= $3")
        .bind(code)
        .bind(from_day)
        .bind(to_day)
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(|r| Ok((r.try_get("day")?, r.try_get("hours")?))).collect()
}

/// A fingerprint of a station's stored hours with `from < hour_end <= to`: how many, and the sum of
/// when each was received (a correction changes it).
pub async fn readings_fingerprint(db: &Db, code: &str, from: i64, to: i64) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n, CAST(COALESCE(SUM(received_at), 0) AS BIGINT) AS received
         FROM readings WHERE station_code = $1 AND hour_end > $2 AND hour_end <= $3",
    )
    .bind(code)
    .bind(from)
    .bind(to)
    .fetch_one(&db.pool)
    .await?;
    Ok((row.try_get("n")?, row.try_get("received")?))
}

/// Stores a finished day's rollup, computed from the hours in `from < hour_end <= to` as they were
/// when [`readings_fingerprint`] gave `fingerprint`; nothing is stored when they changed since (a
/// late or corrected hour committed meanwhile would otherwise be rolled over for good).
pub async fn put_rollup(
    db: &Db,
    code: &str,
    day: &str,
    hours: &str,
    now: i64,
    (from, to): (i64, i64),
    fingerprint: (i64, i64),
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO daily_rollups (station_code, day, hours, updated_at)
         SELECT $1, $2, $3, $4
         WHERE (SELECT CAST(COUNT(*) AS BIGINT) FROM readings
                WHERE station_code = $1 AND hour_end > $5 AND hour_end <= $6) = $7
           AND (SELECT CAST(COALESCE(SUM(received_at), 0) AS BIGINT) FROM readings
                WHERE station_code = $1 AND hour_end > $5 AND hour_end <= $6) = $8
         ON CONFLICT (station_code, day) DO UPDATE SET hours = excluded.hours, updated_at = excluded.updated_at",
    )
    .bind(code)
    .bind(day)
    .bind(hours)
    .bind(now)
    .bind(from)
    .bind(to)
    .bind(fingerprint.0)
    .bind(fingerprint.1)
    .execute(&db.pool)
    .await
    .map(|_| ())
}

/// Drops the rollups of a station from `from_day` on: new or corrected hours make them stale.
pub async fn drop_rollups(conn: &mut AnyConnection, code: &str, from_day: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM daily_rollups WHERE station_code = $1 AND day >= $2")
        .bind(code)
        .bind(from_day)
        .execute(&mut *conn)
        .await
        .map(|_| ())
}

/// A citizen's alert subscription as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionRow {
    /// Id (UUIDv7).
    pub id: String,
    /// The subscriber.
    pub citizen_id: String,
    /// For a district subscription.
    pub district_code: Option<String>,
    /// For a place subscription (WGS-84).
    pub lat: Option<f64>,
    /// For a place subscription (WGS-84).
    pub lon: Option<f64>,
    /// The citizen's name for it ("home").
    pub label: String,
    /// Scheme id.
    pub scheme: String,
    /// Alert from this level (2-6).
    pub threshold_level: i64,
    /// Whether an alert is open.
    pub alerting: bool,
    /// Alerts raised so far.
    pub episode: i64,
    /// Last index seen.
    pub last_aqi: Option<i64>,
    /// Last hour evaluated.
    pub last_hour_end: Option<i64>,
    /// Last alert, UTC milliseconds.
    pub raised_at: Option<i64>,
    /// Last all-clear, UTC milliseconds.
    pub cleared_at: Option<i64>,
    /// UTC milliseconds.
    pub created_at: i64,
}

const SUBSCRIPTION_COLUMNS: &str =
    "id, citizen_id, district_code, lat, lon, label, scheme, threshold_level, alerting, \
     episode, last_aqi, last_hour_end, raised_at, cleared_at, created_at";
const SUBSCRIPTION_SELECT: &str = "id, citizen_id, district_code, lat, lon, label, scheme, threshold_level, \
     CAST(CAST(alerting AS INTEGER) AS BIGINT) AS alerting, episode, last_aqi, last_hour_end, raised_at, cleared_at, created_at";

fn subscription(row: &AnyRow) -> Result<SubscriptionRow, sqlx::Error> {
    Ok(SubscriptionRow {
        id: row.try_get("id")?,
        citizen_id: row.try_get("citizen_id")?,
        district_code: row.try_get("district_code")?,
        lat: row.try_get("lat")?,
        lon: row.try_get("lon")?,
        label: row.try_get("label")?,
        scheme: row.try_get("scheme")?,
        threshold_level: row.try_get("threshold_level")?,
        alerting: row.try_get::<i64, _>("alerting")? != 0,
        episode: row.try_get("episode")?,
        last_aqi: row.try_get("last_aqi")?,
        last_hour_end: row.try_get("last_hour_end")?,
        raised_at: row.try_get("raised_at")?,
        cleared_at: row.try_get("cleared_at")?,
        created_at: row.try_get("created_at")?,
    })
}

/// Stores a new subscription.
pub async fn insert_subscription(db: &Db, s: &SubscriptionRow) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO alert_subscriptions ({SUBSCRIPTION_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    ))
    .bind(&s.id)
    .bind(&s.citizen_id)
    .bind(&s.district_code)
    .bind(s.lat)
    .bind(s.lon)
    .bind(&s.label)
    .bind(&s.scheme)
    .bind(s.threshold_level)
    .bind(s.alerting)
    .bind(s.episode)
    .bind(s.last_aqi)
    .bind(s.last_hour_end)
    .bind(s.raised_at)
    .bind(s.cleared_at)
    .bind(s.created_at)
    .execute(&db.pool)
    .await
    .map(|_| ())
}

/// A citizen's subscriptions, oldest first.
pub async fn subscriptions_of(db: &Db, citizen_id: &str) -> Result<Vec<SubscriptionRow>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {SUBSCRIPTION_SELECT} FROM alert_subscriptions WHERE citizen_id = $1 ORDER BY created_at, id"
    ))
    .bind(citizen_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(subscription).collect()
}

/// Every subscription, for evaluation after an ingestion.
pub async fn all_subscriptions(db: &Db) -> Result<Vec<SubscriptionRow>, sqlx::Error> {
    let rows = sqlx::query(&format!("SELECT {SUBSCRIPTION_SELECT} FROM alert_subscriptions ORDER BY id"))
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(subscription).collect()
}

/// Deletes a citizen's subscription; false when it is not theirs or does not exist.
pub async fn delete_subscription(db: &Db, id: &str, citizen_id: &str) -> Result<bool, sqlx::Error> {
    let res = sqlx::query("DELETE FROM alert_subscriptions WHERE id = $1 AND citizen_id = $2")
        .bind(id)
        .bind(citizen_id)
        .execute(&db.pool)
        .await?;
    Ok(res.rows_affected() == 1)
}

/// Opens an alert if the subscription is still where it was read (closed, same episode); true when this call opened it.
pub async fn raise_alert(
    conn: &mut AnyConnection,
    id: &str,
    episode: i64,
    aqi: i64,
    hour_end: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE alert_subscriptions SET alerting = TRUE, episode = episode + 1, raised_at = $1, last_aqi = $2,
         last_hour_end = $3 WHERE id = $4 AND alerting = FALSE AND episode = $5",
    )
    .bind(now)
    .bind(aqi)
    .bind(hour_end)
    .bind(id)
    .bind(episode)
    .execute(&mut *conn)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Closes an open alert of `episode`; true when this call closed it.
pub async fn clear_alert(
    conn: &mut AnyConnection,
    id: &str,
    episode: i64,
    aqi: i64,
    hour_end: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let res = sqlx::query(
        "UPDATE alert_subscriptions SET alerting = FALSE, cleared_at = $1, last_aqi = $2, last_hour_end = $3
         WHERE id = $4 AND alerting = TRUE AND episode = $5",
    )
    .bind(now)
    .bind(aqi)
    .bind(hour_end)
    .bind(id)
    .bind(episode)
    .execute(&mut *conn)
    .await?;
    Ok(res.rows_affected() == 1)
}

/// Notes the last index seen without changing the alert state.
pub async fn note_aqi(db: &Db, id: &str, aqi: i64, hour_end: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE alert_subscriptions SET last_aqi = $1, last_hour_end = $2 WHERE id = $3")
        .bind(aqi)
        .bind(hour_end)
        .bind(id)
        .execute(&db.pool)
        .await
        .map(|_| ())
}
