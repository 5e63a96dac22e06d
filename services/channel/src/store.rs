//! The channel's tables: pushes seen (dedupe), followers, conversations kept for staff.

use city_platform::{ids::new_id, Db};
use sqlx::Row;

/// What claiming a push's dedupe key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// First delivery: handle it.
    New,
    /// A retry: do nothing again; answer with the stored reply if the first delivery has one.
    Seen(Option<String>),
}

/// Claims `key` for this delivery; exactly one replica's claim of a key is [`Claim::New`].
pub async fn claim_push(db: &Db, key: &str, now: i64) -> Result<Claim, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO wechat_pushes_seen (dedupe_key, received_at) VALUES ($1, $2) ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(key)
    .bind(now)
    .execute(&db.pool)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Claim::New);
    }
    let reply: Option<String> = sqlx::query("SELECT reply FROM wechat_pushes_seen WHERE dedupe_key = $1")
        .bind(key)
        .fetch_optional(&db.pool)
        .await?
        .and_then(|row| row.try_get("reply").ok());
    Ok(Claim::Seen(reply))
}

/// Keeps the passive reply given to the first delivery, for retries.
pub async fn save_reply(db: &Db, key: &str, reply: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE wechat_pushes_seen SET reply = $1 WHERE dedupe_key = $2")
        .bind(reply)
        .bind(key)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Any interaction: the follower exists, follows, and the 48-hour window restarts.
pub async fn touch(db: &Db, openid: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO wechat_followers (openid, subscribed, last_interaction_at) VALUES ($1, TRUE, $2) \
         ON CONFLICT (openid) DO UPDATE SET last_interaction_at = $2",
    )
    .bind(openid)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// `subscribe`.
pub async fn subscribe(db: &Db, openid: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO wechat_followers (openid, subscribed, subscribed_at, last_interaction_at) VALUES ($1, TRUE, $2, $2) \
         ON CONFLICT (openid) DO UPDATE SET subscribed = TRUE, subscribed_at = $2, last_interaction_at = $2",
    )
    .bind(openid)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// `unsubscribe`: recorded; not an interaction (nothing may be sent afterwards).
pub async fn unsubscribe(db: &Db, openid: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO wechat_followers (openid, subscribed, unsubscribed_at, last_interaction_at) VALUES ($1, FALSE, $2, 0) \
         ON CONFLICT (openid) DO UPDATE SET subscribed = FALSE, unsubscribed_at = $2",
    )
    .bind(openid)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Remembers where the follower is (GCJ-02), from a LOCATION event or a sent location.
pub async fn set_location(db: &Db, openid: &str, latitude: f64, longitude: f64, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO wechat_followers (openid, subscribed, last_interaction_at, latitude, longitude, located_at) \
         VALUES ($1, TRUE, $2, $3, $4, $2) \
         ON CONFLICT (openid) DO UPDATE SET last_interaction_at = $2, latitude = $3, longitude = $4, located_at = $2",
    )
    .bind(openid)
    .bind(now)
    .bind(latitude)
    .bind(longitude)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// A follower as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Follower {
    /// Following now.
    pub subscribed: bool,
    /// Start of the 48-hour customer-service window (ms).
    pub last_interaction_at: i64,
    /// Last known location (GCJ-02), if any.
    pub location: Option<(f64, f64)>,
}

/// The follower with this openid, if it ever interacted.
pub async fn follower(db: &Db, openid: &str) -> Result<Option<Follower>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT CAST(CASE WHEN subscribed THEN 1 ELSE 0 END AS BIGINT) AS subscribed, last_interaction_at, latitude, longitude \
         FROM wechat_followers WHERE openid = $1",
    )
    .bind(openid)
    .fetch_optional(&db.pool)
    .await?;
    Ok(match row {
        None => None,
        Some(row) => {
            let lat: Option<f64> = row.try_get("latitude")?;
            let lon: Option<f64> = row.try_get("longitude")?;
            Some(Follower {
                // The Any driver decodes no SQLite BOOLEAN; the query turns it into 0/1.
                subscribed: row.try_get::<i64, _>("subscribed")? == 1,
                last_interaction_at: row.try_get("last_interaction_at")?,
                location: lat.zip(lon),
            })
        }
    })
}

/// Keeps a message the FAQ could not answer for staff.
pub async fn add_conversation(
    db: &Db,
    openid: &str,
    msg_type: &str,
    content: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO wechat_conversations (id, openid, msg_type, content, received_at, answered) \
         VALUES ($1, $2, $3, $4, $5, FALSE)",
    )
    .bind(new_id())
    .bind(openid)
    .bind(msg_type)
    .bind(content)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Messages kept for staff, oldest first: (openid, msg_type, content).
pub async fn open_conversations(db: &Db) -> Result<Vec<(String, String, String)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT openid, msg_type, content FROM wechat_conversations WHERE answered = FALSE ORDER BY received_at, id",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(|r| Ok((r.try_get("openid")?, r.try_get("msg_type")?, r.try_get("content")?))).collect()
}
