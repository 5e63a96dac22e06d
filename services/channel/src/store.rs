//! The channel's tables: followers, conversations kept for staff; announcements in
//! [`announcements`].

pub mod announcements;
pub mod conversation_agents;
pub mod conversations;
pub mod erasure;
pub mod export;

use city_platform::{ids::new_id, Db};
use sqlx::Row;

use crate::domain::followers::{FollowerChange, Subscription};

/// Writes a batch of follower changes in one transaction: one upsert per follower; what the
/// change does not say keeps its stored value.
///
/// Every parameter is bound with a value and a flag says whether it applies, never as NULL:
/// through the Any driver, once a connection has prepared the statement with a NULL in a slot,
/// PostgreSQL refuses a real value there on its next use ("incorrect binary data format in bind
/// parameter"), and batches mix followers with and without a location.
pub async fn apply_follower_changes(db: &Db, changes: &[FollowerChange]) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    for c in changes {
        // 0: no follow or unfollow in the batch; 1: followed; 2: left.
        let (subscription, subscription_at) = match c.subscription {
            None => (0_i64, 0_i64),
            Some(Subscription::Followed(at)) => (1, at),
            Some(Subscription::Left(at)) => (2, at),
        };
        let (located, (latitude, longitude, located_at)) = match c.location {
            Some(l) => (true, l),
            None => (false, (0.0, 0.0, 0)),
        };
        sqlx::query(
            "INSERT INTO wechat_followers (openid, subscribed, subscribed_at, unsubscribed_at, last_interaction_at, \
             latitude, longitude, located_at) VALUES ($1, $2, CASE WHEN $3 = 1 THEN $4 END, CASE WHEN $3 = 2 THEN $4 END, \
             $5, CASE WHEN $7 THEN $8 END, CASE WHEN $7 THEN $9 END, CASE WHEN $7 THEN $10 END) \
             ON CONFLICT (openid) DO UPDATE SET \
             subscribed = CASE WHEN $3 = 0 THEN wechat_followers.subscribed ELSE $3 = 1 END, \
             subscribed_at = CASE WHEN $3 = 1 THEN $4 ELSE wechat_followers.subscribed_at END, \
             unsubscribed_at = CASE WHEN $3 = 2 THEN $4 ELSE wechat_followers.unsubscribed_at END, \
             last_interaction_at = CASE WHEN $6 THEN $5 ELSE wechat_followers.last_interaction_at END, \
             latitude = CASE WHEN $7 THEN $8 ELSE wechat_followers.latitude END, \
             longitude = CASE WHEN $7 THEN $9 ELSE wechat_followers.longitude END, \
             located_at = CASE WHEN $7 THEN $10 ELSE wechat_followers.located_at END",
        )
        .bind(&c.openid)
        .bind(c.follows_when_new())
        .bind(subscription)
        .bind(subscription_at)
        // A follower first seen leaving has no interaction: 0 keeps the window shut.
        .bind(c.last_interaction_at.unwrap_or(0))
        .bind(c.last_interaction_at.is_some())
        .bind(located)
        .bind(latitude)
        .bind(longitude)
        .bind(located_at)
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

/// Adds one allowed send of each template to the citizen's subscriptions, in one transaction;
/// each template's sends left afterwards, in the order given.
pub async fn add_subscriptions(
    db: &Db,
    citizen_id: &str,
    template_ids: &[String],
    now: i64,
) -> Result<Vec<i64>, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let mut remaining = Vec::with_capacity(template_ids.len());
    for id in template_ids {
        let left: i64 = sqlx::query_scalar(
            "INSERT INTO wechat_subscriptions (citizen_id, template_id, remaining, updated_at) VALUES ($1, $2, 1, $3) \
             ON CONFLICT (citizen_id, template_id) DO UPDATE SET remaining = wechat_subscriptions.remaining + 1, \
             updated_at = $3 RETURNING remaining",
        )
        .bind(citizen_id)
        .bind(id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        remaining.push(left);
    }
    tx.commit().await?;
    Ok(remaining)
}
