//! The channel's tables: followers, conversations kept for staff.

use city_platform::{ids::new_id, Db};
use sqlx::Row;

use crate::domain::followers::{FollowerChange, Subscription};

/// Writes a batch of follower changes in one transaction: one upsert per follower, fields the
/// change leaves `None` keep their stored value.
pub async fn apply_follower_changes(db: &Db, changes: &[FollowerChange]) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    for c in changes {
        let (subscribed, subscribed_at, unsubscribed_at) = match c.subscription {
            Some(Subscription::Followed(at)) => (Some(true), Some(at), None),
            Some(Subscription::Left(at)) => (Some(false), None, Some(at)),
            None => (None, None, None),
        };
        let (latitude, longitude, located_at) = match c.location {
            Some((lat, lon, at)) => (Some(lat), Some(lon), Some(at)),
            None => (None, None, None),
        };
        sqlx::query(
            "INSERT INTO wechat_followers (openid, subscribed, subscribed_at, unsubscribed_at, last_interaction_at, \
             latitude, longitude, located_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (openid) DO UPDATE SET \
             subscribed = COALESCE($9, wechat_followers.subscribed), \
             subscribed_at = COALESCE($3, wechat_followers.subscribed_at), \
             unsubscribed_at = COALESCE($4, wechat_followers.unsubscribed_at), \
             last_interaction_at = COALESCE($10, wechat_followers.last_interaction_at), \
             latitude = COALESCE($6, wechat_followers.latitude), \
             longitude = COALESCE($7, wechat_followers.longitude), \
             located_at = COALESCE($8, wechat_followers.located_at)",
        )
        .bind(&c.openid)
        .bind(c.follows_when_new())
        .bind(subscribed_at)
        .bind(unsubscribed_at)
        .bind(c.last_interaction_at.unwrap_or(0))
        .bind(latitude)
        .bind(longitude)
        .bind(located_at)
        .bind(subscribed)
        .bind(c.last_interaction_at)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
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

/// Keeps a message the FAQ could not answer for staff, once per push (`dedupe_key`).
pub async fn add_conversation(
    db: &Db,
    dedupe_key: &str,
    openid: &str,
    msg_type: &str,
    content: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO wechat_conversations (id, dedupe_key, openid, msg_type, content, received_at, answered) \
         VALUES ($1, $2, $3, $4, $5, $6, FALSE) ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(new_id())
    .bind(dedupe_key)
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
