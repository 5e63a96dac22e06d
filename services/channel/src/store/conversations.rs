//! The SQL of conversations (agents and canned replies in [`super::conversation_agents`]).
//! Optional values are bound as '' or a flag and turned
//! into NULL in SQL (`NULLIF`), never bound as NULL: through the Any driver PostgreSQL refuses a
//! value in a slot a connection first prepared with a NULL (see `crate::store`).
//!
//! Routing invariants live here: an assignment is one transaction holding the agent's
//! conditional increment (`active < max_concurrent`) and the conversation's conditional claim
//! (`state = 'waiting'`); either fails and both roll back, so across tasks and replicas a
//! conversation is assigned once and no agent goes over their maximum.

use city_platform::audit::{self, AuditEntry};
use city_platform::db::is_unique_violation;
use city_platform::{ids::new_id, Db};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::conversation_agents::csv;
pub use super::conversation_agents::*;

/// A conversation as stored, with its place in the queue while waiting.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRow {
    /// Its id.
    pub id: String,
    /// The Service Account's appid the citizen wrote to (replies come from it).
    pub account: String,
    /// The account whose agents handle it (the same unless transferred).
    pub handled_by_account: String,
    /// The follower.
    pub openid: String,
    /// The citizen, if the follower signed in.
    pub citizen_id: Option<String>,
    /// Its skill group.
    pub topic: String,
    /// `zh` or `en`, from the citizen's first text: agents speaking it are offered it first.
    pub language: String,
    /// `waiting`, `assigned` or `closed`.
    pub state: String,
    /// The agent it is assigned to.
    pub agent_id: Option<String>,
    /// When the agent accepted it.
    pub accepted_at: Option<i64>,
    /// Opened (ms).
    pub opened_at: i64,
    /// Last message either way (ms).
    pub last_message_at: i64,
    /// The citizen's last message (ms): the window's start.
    pub last_citizen_at: i64,
    /// The last text, up to 60 characters.
    pub preview: String,
    /// Position in its group's queue (1 = next) while waiting.
    pub queue_position: Option<i64>,
    /// How it was closed.
    pub outcome: Option<String>,
    /// The citizen's 1–5.
    pub satisfaction: Option<i64>,
}

/// A message of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRow {
    /// Its id.
    pub id: String,
    /// `citizen`, `agent`, `assistant` or `system`.
    pub sender: String,
    /// The agent who wrote it.
    pub agent_id: Option<String>,
    /// `text`, `image`, `voice`, `location` or `template`.
    pub kind: String,
    /// The text (a media id for image and voice).
    pub text: String,
    /// When (ms).
    pub at: i64,
    /// `sent`, `window-closed`, `failed`; none for the citizen's.
    pub delivery: Option<String>,
}

/// A transfer.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferRow {
    /// From whom.
    pub from_agent_id: String,
    /// To an agent.
    pub to_agent_id: Option<String>,
    /// To a group's queue.
    pub to_group: Option<String>,
    /// To another account's agents (its appid).
    pub to_account: Option<String>,
    /// Why.
    pub note: String,
    /// When (ms).
    pub at: i64,
}

const CONV_COLS: &str =
    "c.id, c.account, c.handled_by_account, c.openid, c.citizen_id, c.topic, c.language, c.state, c.agent_id, c.accepted_at, c.opened_at, \
     c.last_message_at, c.last_citizen_at, c.preview, c.outcome, c.satisfaction, \
     CASE WHEN c.state = 'waiting' THEN (SELECT COUNT(*) FROM conversations q WHERE q.state = 'waiting' \
     AND q.topic = c.topic AND q.handled_by_account = c.handled_by_account AND (q.queued_at < c.queued_at OR (q.queued_at = c.queued_at AND q.id <= c.id))) END \
     AS queue_position";

fn conversation_row(r: &AnyRow) -> Result<ConversationRow, sqlx::Error> {
    Ok(ConversationRow {
        id: r.try_get("id")?,
        account: r.try_get("account")?,
        handled_by_account: r.try_get("handled_by_account")?,
        openid: r.try_get("openid")?,
        citizen_id: r.try_get("citizen_id")?,
        topic: r.try_get("topic")?,
        language: r.try_get("language")?,
        state: r.try_get("state")?,
        agent_id: r.try_get("agent_id")?,
        accepted_at: r.try_get("accepted_at")?,
        opened_at: r.try_get("opened_at")?,
        last_message_at: r.try_get("last_message_at")?,
        last_citizen_at: r.try_get("last_citizen_at")?,
        preview: r.try_get("preview")?,
        queue_position: r.try_get("queue_position")?,
        outcome: r.try_get("outcome")?,
        satisfaction: r.try_get("satisfaction")?,
    })
}

/// One conversation.
pub async fn conversation(db: &Db, id: &str) -> Result<Option<ConversationRow>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {CONV_COLS} FROM conversations c WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    row.as_ref().map(conversation_row).transpose()
}

/// Which conversations a list shows.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this agent's.
    pub agent_id: Option<String>,
    /// Only these groups (`None`: every group).
    pub groups: Option<Vec<String>>,
    /// Only conversations handled by these accounts' agents (appids; `None` or empty: every account).
    pub accounts: Option<Vec<String>>,
    /// Only this state.
    pub state: Option<String>,
    /// Queue order (oldest first) instead of latest message first.
    pub queue_order: bool,
}

/// A page of conversations and how many match.
pub async fn list(db: &Db, f: &Filter, limit: i64, offset: i64) -> Result<(Vec<ConversationRow>, i64), sqlx::Error> {
    // The groups are checked as a comma-wrapped list, so one statement serves any number.
    let groups = f.groups.as_ref().map(|g| csv(g)).unwrap_or_default();
    let accounts = f.accounts.as_ref().filter(|a| !a.is_empty()).map(|a| csv(a)).unwrap_or_default();
    let filter = "($1 = '' OR c.agent_id = $1) AND ($2 = '' OR $2 LIKE '%,' || c.topic || ',%') \
                  AND ($3 = '' OR c.state = $3) AND ($4 = '' OR $4 LIKE '%,' || c.handled_by_account || ',%')";
    let order = if f.queue_order { "c.queued_at, c.id" } else { "c.last_message_at DESC, c.id" };
    let rows = sqlx::query(&format!(
        "SELECT {CONV_COLS} FROM conversations c WHERE {filter} ORDER BY {order} LIMIT $5 OFFSET $6"
    ))
    .bind(f.agent_id.clone().unwrap_or_default())
    .bind(&groups)
    .bind(f.state.clone().unwrap_or_default())
    .bind(&accounts)
    .bind(limit)
    .bind(offset)
    .fetch_all(&db.pool)
    .await?;
    let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM conversations c WHERE {filter}"))
        .bind(f.agent_id.clone().unwrap_or_default())
        .bind(&groups)
        .bind(f.state.clone().unwrap_or_default())
        .bind(&accounts)
        .fetch_one(&db.pool)
        .await?;
    Ok((rows.iter().map(conversation_row).collect::<Result<_, _>>()?, total))
}

/// A citizen's message as it arrives.
#[derive(Debug, Clone)]
pub struct Incoming<'a> {
    /// The appid written to.
    pub account: &'a str,
    /// The follower.
    pub openid: &'a str,
    /// The push's dedupe key.
    pub dedupe_key: &'a str,
    /// `text`, `image`, `voice`, `location`.
    pub kind: &'a str,
    /// The text, media id or place.
    pub content: &'a str,
    /// When.
    pub at: i64,
}

/// What keeping an incoming message did.
#[derive(Debug, Clone, PartialEq)]
pub struct Kept {
    /// The follower's open conversation.
    pub conversation_id: String,
    /// Whether this message opened it.
    pub opened: bool,
    /// False when the push was kept before (a retry).
    pub new_message: bool,
}

/// The follower's open conversation, if any.
pub async fn open_for(db: &Db, account: &str, openid: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM conversations WHERE account = $1 AND openid = $2 AND state <> 'closed'")
        .bind(account)
        .bind(openid)
        .fetch_optional(&db.pool)
        .await
}

/// Keeps a citizen's message in their open conversation, opening one in `topic`'s queue if
/// there is none, all in one transaction. A push kept before changes nothing.
pub async fn keep_incoming(
    db: &Db,
    m: &Incoming<'_>,
    topic: &str,
    citizen_id: Option<&str>,
) -> Result<Kept, sqlx::Error> {
    // A second replica opening the same follower's conversation at the same instant loses on
    // the one-open index; its retry finds the winner's conversation.
    match try_keep_incoming(db, m, topic, citizen_id).await {
        Err(e) if is_unique_violation(&e) => try_keep_incoming(db, m, topic, citizen_id).await,
        other => other,
    }
}

async fn try_keep_incoming(
    db: &Db,
    m: &Incoming<'_>,
    topic: &str,
    citizen_id: Option<&str>,
) -> Result<Kept, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let existing: Option<String> =
        sqlx::query_scalar("SELECT id FROM conversations WHERE account = $1 AND openid = $2 AND state <> 'closed'")
            .bind(m.account)
            .bind(m.openid)
            .fetch_optional(&mut *tx)
            .await?;
    let (id, opened) = match existing {
        Some(id) => (id, false),
        None => {
            let id = new_id();
            sqlx::query(
                "INSERT INTO conversations (id, account, handled_by_account, openid, citizen_id, topic, state, \
                 queued_at, opened_at, last_message_at, last_citizen_at, preview, survey_pending, language) \
                 VALUES ($1, $2, $2, $3, NULLIF($4, ''), $5, 'waiting', $6, $6, $6, $6, '', 0, $7)",
            )
            .bind(&id)
            .bind(m.account)
            .bind(m.openid)
            .bind(citizen_id.unwrap_or_default())
            .bind(topic)
            .bind(m.at)
            .bind(crate::conversations::domain::language_of(m.kind, m.content))
            .execute(&mut *tx)
            .await?;
            (id, true)
        }
    };
    let inserted = sqlx::query(
        "INSERT INTO wechat_conversations (id, dedupe_key, openid, msg_type, content, received_at, answered, \
         conversation_id, sender) VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7, 'citizen') \
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    .bind(new_id())
    .bind(m.dedupe_key)
    .bind(m.openid)
    .bind(m.kind)
    .bind(m.content)
    .bind(m.at)
    .bind(&id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !inserted {
        // A retry: the conversation it opened (if any) is rolled back with it.
        tx.rollback().await?;
        let id = open_for(db, m.account, m.openid).await?.unwrap_or(id);
        return Ok(Kept { conversation_id: id, opened: false, new_message: false });
    }
    let preview =
        if m.kind == "text" { crate::conversations::domain::preview(m.content) } else { format!("[{}]", m.kind) };
    sqlx::query("UPDATE conversations SET last_message_at = $2, last_citizen_at = $2, preview = $3 WHERE id = $1")
        .bind(&id)
        .bind(m.at)
        .bind(&preview)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Kept { conversation_id: id, opened, new_message: true })
}

/// Adds a message from our side (agent, assistant, system); an agent's marks the citizen's as
/// answered.
#[allow(clippy::too_many_arguments)]
pub async fn add_outgoing(
    db: &Db,
    conversation_id: &str,
    openid: &str,
    sender: &str,
    agent_id: Option<&str>,
    kind: &str,
    text: &str,
    delivery: &str,
    at: i64,
    audit: Option<&AuditEntry>,
) -> Result<MessageRow, sqlx::Error> {
    let id = new_id();
    let mut tx = db.begin_write().await?;
    if let Some(entry) = audit {
        audit::record(&mut tx, entry).await?;
    }
    sqlx::query(
        "INSERT INTO wechat_conversations (id, dedupe_key, openid, msg_type, content, received_at, answered, \
         conversation_id, sender, agent_id, delivery) VALUES ($1, $1, $2, $3, $4, $5, TRUE, $6, $7, NULLIF($8, ''), $9)",
    )
    .bind(&id)
    .bind(openid)
    .bind(kind)
    .bind(text)
    .bind(at)
    .bind(conversation_id)
    .bind(sender)
    .bind(agent_id.unwrap_or_default())
    .bind(delivery)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE conversations SET last_message_at = $2, preview = $3 WHERE id = $1")
        .bind(conversation_id)
        .bind(at)
        .bind(crate::conversations::domain::preview(text))
        .execute(&mut *tx)
        .await?;
    if sender == "agent" && delivery == "sent" {
        sqlx::query("UPDATE wechat_conversations SET answered = TRUE WHERE conversation_id = $1 AND answered = FALSE")
            .bind(conversation_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(MessageRow {
        id,
        sender: sender.to_owned(),
        agent_id: agent_id.map(str::to_owned),
        kind: kind.to_owned(),
        text: text.to_owned(),
        at,
        delivery: Some(delivery.to_owned()),
    })
}

/// A conversation's messages, oldest first.
pub async fn messages(db: &Db, conversation_id: &str) -> Result<Vec<MessageRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, sender, agent_id, msg_type, content, received_at, delivery FROM wechat_conversations \
         WHERE conversation_id = $1 ORDER BY received_at, id",
    )
    .bind(conversation_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(MessageRow {
                id: r.try_get("id")?,
                sender: r.try_get("sender")?,
                agent_id: r.try_get("agent_id")?,
                kind: r.try_get("msg_type")?,
                text: r.try_get("content")?,
                at: r.try_get("received_at")?,
                delivery: r.try_get("delivery")?,
            })
        })
        .collect()
}

/// A conversation's transfers, oldest first.
pub async fn transfers(db: &Db, conversation_id: &str) -> Result<Vec<TransferRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT from_agent_id, to_agent_id, to_group, to_account, note, at FROM conversation_transfers \
         WHERE conversation_id = $1 ORDER BY at, id",
    )
    .bind(conversation_id)
    .fetch_all(&db.pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(TransferRow {
                from_agent_id: r.try_get("from_agent_id")?,
                to_agent_id: r.try_get("to_agent_id")?,
                to_group: r.try_get("to_group")?,
                to_account: r.try_get("to_account")?,
                note: r.try_get("note")?,
                at: r.try_get("at")?,
            })
        })
        .collect()
}

/// Assigns the oldest waiting conversation of `topic` handled by `account`'s agents to the
/// least-loaded online agent of the group serving that account with room; `None` when none
/// waits or nobody has room.
pub async fn assign_next(db: &Db, topic: &str, account: &str) -> Result<Option<(String, String)>, sqlx::Error> {
    // Another task or replica may take the same conversation or the agent's last place between
    // our read and our update; the conditional updates see it and we look again.
    for _ in 0..16 {
        let mut tx = db.begin_write().await?;
        let conv: Option<(String, String)> = sqlx::query_as(
            "SELECT id, language FROM conversations WHERE state = 'waiting' AND topic = $1 AND handled_by_account = $2 \
             ORDER BY queued_at, id LIMIT 1",
        )
        .bind(topic)
        .bind(account)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((conv, language)) = conv else { return Ok(None) };
        // Agents speaking the conversation's language first (an agent who named none speaks the
        // city's Chinese), then the least loaded; one who does not speak it still beats a wait.
        let agent: Option<String> = sqlx::query_scalar(
            "SELECT staff_id FROM conversation_agents WHERE status = 'online' AND skill_groups LIKE $1 \
             AND (accounts = '' OR accounts LIKE $2) AND active < max_concurrent \
             ORDER BY CASE WHEN languages LIKE $3 OR (languages IN ('', ',,') AND $4 = 'zh') THEN 0 ELSE 1 END, \
             active, status_changed_at, staff_id LIMIT 1",
        )
        .bind(format!("%,{topic},%"))
        .bind(format!("%,{account},%"))
        .bind(format!("%,{language},%"))
        .bind(&language)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(agent) = agent else { return Ok(None) };
        if claim(&mut tx, &conv, &agent, 0).await? {
            tx.commit().await?;
            return Ok(Some((conv, agent)));
        }
        tx.rollback().await?;
    }
    Ok(None)
}

/// The agent's conditional increment and the conversation's conditional claim, in `tx`; false
/// (and the caller rolls back) when either lost.
async fn claim(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    conv: &str,
    agent: &str,
    accepted_at: i64,
) -> Result<bool, sqlx::Error> {
    let room = sqlx::query(
        "UPDATE conversation_agents SET active = active + 1 WHERE staff_id = $1 AND active < max_concurrent",
    )
    .bind(agent)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if room != 1 {
        return Ok(false);
    }
    let taken = sqlx::query(
        "UPDATE conversations SET state = 'assigned', agent_id = $2, \
         accepted_at = NULLIF($3, 0) WHERE id = $1 AND state = 'waiting'",
    )
    .bind(conv)
    .bind(agent)
    .bind(accepted_at)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(taken == 1)
}

/// What accepting did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// It is the agent's now.
    Yours,
    /// Another agent has it, or it is closed.
    Taken,
    /// It waited, but the agent is at their maximum.
    Full,
}

/// An agent accepts a conversation assigned to them, or takes a waiting one.
pub async fn accept(
    db: &Db,
    conv: &str,
    agent: &str,
    now: i64,
    audit: Option<&AuditEntry>,
) -> Result<Accepted, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let mine = sqlx::query(
        "UPDATE conversations SET accepted_at = COALESCE(accepted_at, $3) WHERE id = $1 AND state = 'assigned' AND agent_id = $2",
    )
    .bind(conv)
    .bind(agent)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if mine == 1 || claim(&mut tx, conv, agent, now).await? {
        if let Some(entry) = audit {
            audit::record(&mut tx, entry).await?;
        }
        tx.commit().await?;
        return Ok(Accepted::Yours);
    }
    tx.rollback().await?;
    let full: Option<i64> =
        sqlx::query_scalar("SELECT CAST(CASE WHEN active >= max_concurrent THEN 1 ELSE 0 END AS BIGINT) FROM conversation_agents WHERE staff_id = $1")
            .bind(agent)
            .fetch_optional(&db.pool)
            .await?;
    let waiting: Option<String> =
        sqlx::query_scalar("SELECT state FROM conversations WHERE id = $1").bind(conv).fetch_optional(&db.pool).await?;
    Ok(if waiting.as_deref() == Some("waiting") && full != Some(0) { Accepted::Full } else { Accepted::Taken })
}

async fn release(tx: &mut sqlx::Transaction<'static, sqlx::Any>, agent: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE conversation_agents SET active = active - 1 WHERE staff_id = $1 AND active > 0")
        .bind(agent)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Closes an open conversation (the satisfaction question is then pending) and frees its
/// agent's place; `None` when it was closed already. `agent` limits it to that agent's.
pub async fn close(
    db: &Db,
    conv: &str,
    agent: Option<&str>,
    outcome: &str,
    now: i64,
    audit: Option<&AuditEntry>,
) -> Result<Option<Option<String>>, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let held: Option<Option<String>> = sqlx::query_scalar(
        "SELECT agent_id FROM conversations WHERE id = $1 AND state <> 'closed' AND ($2 = '' OR agent_id = $2)",
    )
    .bind(conv)
    .bind(agent.unwrap_or_default())
    .fetch_optional(&mut *tx)
    .await?;
    let Some(held) = held else { return Ok(None) };
    let done = sqlx::query(
        "UPDATE conversations SET state = 'closed', outcome = $2, closed_at = $3, survey_pending = 1 \
         WHERE id = $1 AND state <> 'closed' AND COALESCE(agent_id, '') = $4",
    )
    .bind(conv)
    .bind(outcome)
    .bind(now)
    .bind(held.clone().unwrap_or_default())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if done != 1 {
        return Ok(None);
    }
    if let Some(a) = &held {
        release(&mut tx, a).await?;
    }
    if let Some(entry) = audit {
        audit::record(&mut tx, entry).await?;
    }
    tx.commit().await?;
    Ok(Some(held))
}

/// Where a transfer goes.
#[derive(Debug, Clone)]
pub enum TransferTo {
    /// Straight to an agent with room.
    Agent(String),
    /// To the back of a group's queue, of another account's agents when given (appid).
    Group(String, Option<String>),
}

/// Moves a conversation from `from` to another agent (who must have room) or group; the
/// transfer is kept. False when `from` does not hold it or the agent has no room.
pub async fn transfer(
    db: &Db,
    conv: &str,
    from: &str,
    to: &TransferTo,
    note: &str,
    now: i64,
    audit: Option<&AuditEntry>,
) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let moved = match to {
        TransferTo::Agent(a) => {
            let room = sqlx::query(
                "UPDATE conversation_agents SET active = active + 1 WHERE staff_id = $1 AND active < max_concurrent",
            )
            .bind(a)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            room == 1
                && sqlx::query(
                    "UPDATE conversations SET agent_id = $3, accepted_at = NULL \
                     WHERE id = $1 AND state = 'assigned' AND agent_id = $2",
                )
                .bind(conv)
                .bind(from)
                .bind(a)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1
        }
        TransferTo::Group(g, account) => {
            // The reply-from account (`account`) never changes; only who handles it.
            sqlx::query(
                "UPDATE conversations SET state = 'waiting', agent_id = NULL, accepted_at = NULL, topic = $3, \
                 queued_at = $4, handled_by_account = COALESCE(NULLIF($5, ''), handled_by_account) \
                 WHERE id = $1 AND state = 'assigned' AND agent_id = $2",
            )
            .bind(conv)
            .bind(from)
            .bind(g)
            .bind(now)
            .bind(account.clone().unwrap_or_default())
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1
        }
    };
    if !moved {
        tx.rollback().await?;
        return Ok(false);
    }
    release(&mut tx, from).await?;
    let (to_agent, to_group, to_account) = match to {
        TransferTo::Agent(a) => (a.as_str(), "", ""),
        TransferTo::Group(g, account) => ("", g.as_str(), account.as_deref().unwrap_or_default()),
    };
    sqlx::query(
        "INSERT INTO conversation_transfers (id, conversation_id, from_agent_id, to_agent_id, to_group, note, at, \
         to_account) VALUES ($1, $2, $3, NULLIF($4, ''), NULLIF($5, ''), $6, $7, NULLIF($8, ''))",
    )
    .bind(new_id())
    .bind(conv)
    .bind(from)
    .bind(to_agent)
    .bind(to_group)
    .bind(note)
    .bind(now)
    .bind(to_account)
    .execute(&mut *tx)
    .await?;
    if let Some(entry) = audit {
        audit::record(&mut tx, entry).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Records the citizen's score on their last conversation still waiting for one (closed within
/// `since`); false when none waits.
pub async fn record_satisfaction(
    db: &Db,
    account: &str,
    openid: &str,
    score: i64,
    since: i64,
) -> Result<Option<String>, sqlx::Error> {
    let conv: Option<String> = sqlx::query_scalar(
        "SELECT id FROM conversations WHERE account = $1 AND openid = $2 AND state = 'closed' AND survey_pending = 1 \
         AND closed_at >= $3 ORDER BY closed_at DESC LIMIT 1",
    )
    .bind(account)
    .bind(openid)
    .bind(since)
    .fetch_optional(&db.pool)
    .await?;
    let Some(conv) = conv else { return Ok(None) };
    let done = sqlx::query(
        "UPDATE conversations SET satisfaction = $2, survey_pending = 0 WHERE id = $1 AND survey_pending = 1",
    )
    .bind(&conv)
    .bind(score)
    .execute(&db.pool)
    .await?
    .rows_affected();
    Ok((done == 1).then_some(conv))
}

/// Open conversations with no message since `before`.
pub async fn idle(db: &Db, before: i64) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM conversations WHERE state <> 'closed' AND last_message_at < $1 ORDER BY id")
        .bind(before)
        .fetch_all(&db.pool)
        .await
}

/// The unionid kept for `account`'s follower `openid` (`None` inside: WeChat gave none) and
/// when it was asked; `None` when never asked.
pub async fn kept_unionid(db: &Db, account: &str, openid: &str) -> Result<Option<(Option<String>, i64)>, sqlx::Error> {
    let row = sqlx::query("SELECT unionid, fetched_at FROM follower_unionids WHERE account = $1 AND openid = $2")
        .bind(account)
        .bind(openid)
        .fetch_optional(&db.pool)
        .await?;
    row.map(|r| Ok((r.try_get("unionid")?, r.try_get("fetched_at")?))).transpose()
}

/// Keeps WeChat's answer about a follower's unionid (the latest answer wins).
pub async fn keep_unionid(
    db: &Db,
    account: &str,
    openid: &str,
    unionid: Option<&str>,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO follower_unionids (account, openid, unionid, fetched_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (account, openid) DO UPDATE SET unionid = excluded.unionid, fetched_at = excluded.fetched_at",
    )
    .bind(account)
    .bind(openid)
    .bind(unionid)
    .bind(at)
    .execute(&db.pool)
    .await?;
    Ok(())
}
