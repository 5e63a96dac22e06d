//! What the channel holds about one citizen, for their data export (issue #23): the Service
//! Account follower row and kept conversations (by the openid identity gives), and the Mini
//! Program subscribe-message grants (by citizen id).

use city_platform::Db;
use sqlx::Row;

/// The follower row of an openid, as the citizen may see it.
pub struct FollowerRow {
    /// Following now.
    pub subscribed: bool,
    /// When they followed (ms), if known.
    pub subscribed_at: Option<i64>,
    /// Last message or event (ms).
    pub last_interaction_at: i64,
    /// Last reported location (GCJ-02).
    pub location: Option<(f64, f64)>,
}

/// A message kept for staff.
pub struct ConversationRow {
    /// Id.
    pub id: String,
    /// `text`, `voice`, ...
    pub msg_type: String,
    /// What they wrote.
    pub content: String,
    /// When (ms).
    pub received_at: i64,
}

/// The follower row of `openid`, if any.
pub async fn follower(db: &Db, openid: &str) -> Result<Option<FollowerRow>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT CAST(CASE WHEN subscribed THEN 1 ELSE 0 END AS BIGINT) AS subscribed, subscribed_at, \
         last_interaction_at, latitude, longitude FROM wechat_followers WHERE openid = $1",
    )
    .bind(openid)
    .fetch_optional(&db.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let lat: Option<f64> = row.try_get("latitude")?;
    let lon: Option<f64> = row.try_get("longitude")?;
    Ok(Some(FollowerRow {
        // The Any driver decodes no SQLite BOOLEAN; the query turns it into 0/1.
        subscribed: row.try_get::<i64, _>("subscribed")? == 1,
        subscribed_at: row.try_get("subscribed_at")?,
        last_interaction_at: row.try_get("last_interaction_at")?,
        location: lat.zip(lon),
    }))
}

/// The conversations kept from `openid`, oldest first.
pub async fn conversations(db: &Db, openid: &str) -> Result<Vec<ConversationRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, msg_type, content, received_at FROM wechat_conversations WHERE openid = $1 \
         ORDER BY received_at, id",
    )
    .bind(openid)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ConversationRow {
                id: r.try_get("id")?,
                msg_type: r.try_get("msg_type")?,
                content: r.try_get("content")?,
                received_at: r.try_get("received_at")?,
            })
        })
        .collect()
}

/// The citizen's subscribe-message grants: (template id, sends left).
pub async fn grants(db: &Db, citizen_id: &str) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT template_id, remaining FROM wechat_subscriptions WHERE citizen_id = $1 ORDER BY template_id",
    )
    .bind(citizen_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(|r| Ok((r.try_get("template_id")?, r.try_get("remaining")?))).collect()
}
