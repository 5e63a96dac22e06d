//! A closed account (issue #23, `identity.citizen_erased`): the follower facts, kept
//! conversations (with agents too, issue #20; through any Service Account where the unionid
//! found the citizen) and district tags of the citizen's Service Account openid, their subscribe-
//! message grants, and deliveries still waiting for their openids. Running it again changes nothing.

use city_platform::Db;

/// Erases what the channel keeps about the citizen (`oa_openid`, `mp_openid`: their Service
/// Account and Mini Program openids, when they had them).
pub async fn erase_citizen(
    db: &Db,
    citizen_id: &str,
    oa_openid: Option<&str>,
    mp_openid: Option<&str>,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    if let Some(openid) = oa_openid {
        for statement in [
            // An open conversation's agent gets its place back (one open per follower).
            "UPDATE conversation_agents SET active = active - 1 WHERE active > 0 AND staff_id IN \
             (SELECT agent_id FROM conversations WHERE openid = $1 AND state = 'assigned')",
            "DELETE FROM conversation_transfers WHERE conversation_id IN (SELECT id FROM conversations WHERE openid = $1)",
            "DELETE FROM conversations WHERE openid = $1",
            "DELETE FROM wechat_followers WHERE openid = $1",
            "DELETE FROM wechat_conversations WHERE openid = $1",
            "DELETE FROM announcement_tag_members WHERE openid = $1",
        ] {
            sqlx::query(statement).bind(openid).execute(&mut *tx).await?;
        }
    }
    // Conversations found to be theirs by unionid, through any Service Account (issue #20).
    for statement in [
        "UPDATE conversation_agents SET active = active - 1 WHERE active > 0 AND staff_id IN \
         (SELECT agent_id FROM conversations WHERE citizen_id = $1 AND state = 'assigned')",
        "DELETE FROM follower_unionids WHERE EXISTS (SELECT 1 FROM conversations c WHERE c.citizen_id = $1 \
         AND c.account = follower_unionids.account AND c.openid = follower_unionids.openid)",
        "DELETE FROM conversation_transfers WHERE conversation_id IN (SELECT id FROM conversations WHERE citizen_id = $1)",
        "DELETE FROM wechat_conversations WHERE conversation_id IN (SELECT id FROM conversations WHERE citizen_id = $1)",
        "DELETE FROM conversations WHERE citizen_id = $1",
    ] {
        sqlx::query(statement).bind(citizen_id).execute(&mut *tx).await?;
    }
    if let Some(openid) = oa_openid {
        sqlx::query("DELETE FROM follower_unionids WHERE openid = $1").bind(openid).execute(&mut *tx).await?;
    }
    sqlx::query("DELETE FROM wechat_subscriptions WHERE citizen_id = $1").bind(citizen_id).execute(&mut *tx).await?;
    // Deliveries go to openids; the ones still waiting would reach a closed account.
    for openid in [oa_openid, mp_openid].into_iter().flatten() {
        sqlx::query("DELETE FROM notify_deliveries WHERE recipient = $1 AND status = 'pending'")
            .bind(openid)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}
