//! The SQL of agents and the canned replies they share (issue #20). `active` moves only in
//! [`super::conversations`]' routing transactions.

use city_platform::{ids::new_id, Db};
use sqlx::any::AnyRow;
use sqlx::Row;

/// An agent as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRow {
    /// The staff member.
    pub staff_id: String,
    /// Their sign-in name.
    pub display_name: String,
    /// Skill groups.
    pub groups: Vec<String>,
    /// Languages.
    pub languages: Vec<String>,
    /// Most conversations at once.
    pub max_concurrent: i64,
    /// Conversations assigned now.
    pub active: i64,
    /// `online` or `away`.
    pub status: String,
    /// The accounts served (appids); empty: every account.
    pub accounts: Vec<String>,
}

/// A canned reply.
#[derive(Debug, Clone, PartialEq)]
pub struct CannedRow {
    /// Its id.
    pub id: String,
    /// Short title.
    pub title: String,
    /// The text sent.
    pub text: String,
    /// Its group.
    pub group: String,
}

pub(crate) fn csv(items: &[String]) -> String {
    format!(",{},", items.join(","))
}

pub(crate) fn uncsv(s: &str) -> Vec<String> {
    s.split(',').filter(|p| !p.is_empty()).map(str::to_owned).collect()
}

const AGENT_COLS: &str = "staff_id, display_name, skill_groups, languages, max_concurrent, active, status, accounts";

fn agent_row(r: &AnyRow) -> Result<AgentRow, sqlx::Error> {
    Ok(AgentRow {
        staff_id: r.try_get("staff_id")?,
        display_name: r.try_get("display_name")?,
        groups: uncsv(&r.try_get::<String, _>("skill_groups")?),
        languages: uncsv(&r.try_get::<String, _>("languages")?),
        max_concurrent: r.try_get("max_concurrent")?,
        active: r.try_get("active")?,
        status: r.try_get("status")?,
        accounts: uncsv(&r.try_get::<String, _>("accounts")?),
    })
}

/// The agent, made on first sight (away, general, Chinese, the default maximum); the display
/// name follows the staff member's sign-in name.
pub async fn ensure_agent(
    db: &Db,
    staff_id: &str,
    display_name: &str,
    default_max: i64,
    now: i64,
) -> Result<AgentRow, sqlx::Error> {
    let row = sqlx::query(&format!(
        "INSERT INTO conversation_agents ({AGENT_COLS}, status_changed_at) VALUES ($1, $2, ',general,', ',zh,', $3, 0, 'away', '', $4) \
         ON CONFLICT (staff_id) DO UPDATE SET display_name = $2 RETURNING {AGENT_COLS}"
    ))
    .bind(staff_id)
    .bind(display_name)
    .bind(default_max)
    .bind(now)
    .fetch_one(&db.pool)
    .await?;
    agent_row(&row)
}

/// The agent, if known.
pub async fn agent(db: &Db, staff_id: &str) -> Result<Option<AgentRow>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {AGENT_COLS} FROM conversation_agents WHERE staff_id = $1"))
        .bind(staff_id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(agent_row).transpose()
}

/// Every agent, by name.
pub async fn agents(db: &Db) -> Result<Vec<AgentRow>, sqlx::Error> {
    let rows = sqlx::query(&format!("SELECT {AGENT_COLS} FROM conversation_agents ORDER BY display_name, staff_id"))
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(agent_row).collect()
}

/// Online or away.
pub async fn set_status(db: &Db, staff_id: &str, status: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE conversation_agents SET status = $2, status_changed_at = $3 WHERE staff_id = $1 AND status <> $2",
    )
    .bind(staff_id)
    .bind(status)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// An admin's settings for an agent (made if new, named by the id until they sign in).
pub async fn configure_agent(
    db: &Db,
    staff_id: &str,
    groups: &[String],
    languages: &[String],
    max_concurrent: i64,
    accounts: &[String],
    now: i64,
) -> Result<AgentRow, sqlx::Error> {
    // No accounts is stored as '' (every account), never ',,'.
    let accounts = if accounts.is_empty() { String::new() } else { csv(accounts) };
    let row = sqlx::query(&format!(
        "INSERT INTO conversation_agents ({AGENT_COLS}, status_changed_at) VALUES ($1, $1, $2, $3, $4, 0, 'away', $6, $5) \
         ON CONFLICT (staff_id) DO UPDATE SET skill_groups = $2, languages = $3, max_concurrent = $4, accounts = $6 \
         RETURNING {AGENT_COLS}"
    ))
    .bind(staff_id)
    .bind(csv(groups))
    .bind(csv(languages))
    .bind(max_concurrent)
    .bind(now)
    .bind(accounts)
    .fetch_one(&db.pool)
    .await?;
    agent_row(&row)
}

/// Online agents of a group serving `account`.
pub async fn online_in(db: &Db, topic: &str, account: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM conversation_agents WHERE status = 'online' AND skill_groups LIKE $1 \
         AND (accounts = '' OR accounts LIKE $2)",
    )
    .bind(format!("%,{topic},%"))
    .bind(format!("%,{account},%"))
    .fetch_one(&db.pool)
    .await
}

/// The shared canned replies, by group then title.
pub async fn canned(db: &Db) -> Result<Vec<CannedRow>, sqlx::Error> {
    let rows = sqlx::query("SELECT id, title, body, topic FROM conversation_canned_replies ORDER BY topic, title, id")
        .fetch_all(&db.pool)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(CannedRow {
                id: r.try_get("id")?,
                title: r.try_get("title")?,
                text: r.try_get("body")?,
                group: r.try_get("topic")?,
            })
        })
        .collect()
}

/// Adds a canned reply.
pub async fn add_canned(db: &Db, title: &str, text: &str, group: &str, now: i64) -> Result<CannedRow, sqlx::Error> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO conversation_canned_replies (id, title, body, topic, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(title)
    .bind(text)
    .bind(group)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(CannedRow { id, title: title.to_owned(), text: text.to_owned(), group: group.to_owned() })
}
