//! Every SQL statement of announcements. Each staff action is audited in the transaction
//! that makes it; state changes are conditional updates, so two editors (or replicas) acting at
//! once cannot both win.

use city_platform::audit::{self, AuditEntry};
use city_platform::auth::Staff;
use city_platform::Db;
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::announcements::domain::{Status, STALE_CLAIM_MS};

const SERVICE: &str = "channel";

/// An announcement as stored, with WeChat's job totals once the job finished.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnouncementRow {
    /// Its id (also the broadcast's `clientmsgid`).
    pub id: String,
    /// The articles, JSON.
    pub articles: String,
    /// A district code, or empty for every follower.
    pub district: String,
    /// Where it stands.
    pub status: Status,
    /// Who wrote it.
    pub author_id: String,
    /// Their sign-in name.
    pub author_name: String,
    /// Who approved it.
    pub approver_name: Option<String>,
    /// When it was approved (ms).
    pub approved_at: Option<i64>,
    /// WeChat's job id.
    pub msg_id: Option<i64>,
    /// When WeChat accepted it (ms).
    pub sent_at: Option<i64>,
    /// Why the last send attempt failed.
    pub last_error: Option<String>,
    /// When it was written (ms).
    pub created_at: i64,
    /// Urgent: template messages to the citizens concerned instead of a broadcast.
    pub urgent: bool,
    /// Citizens an urgent one was planned for, once sent.
    pub recipients: Option<i64>,
    /// `MASSSENDJOBFINISH`: (status, total, filter, sent, error, at).
    pub job: Option<JobTotals>,
}

/// What `MASSSENDJOBFINISH` reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobTotals {
    /// WeChat's `Status`.
    pub status: String,
    /// Followers targeted.
    pub total_count: i64,
    /// Left after filtering (the monthly limit among others).
    pub filter_count: i64,
    /// Delivered.
    pub sent_count: i64,
    /// Failed.
    pub error_count: i64,
    /// When the event arrived (ms).
    pub finished_at: i64,
}

const SELECT: &str = "SELECT a.id, a.articles, a.district, a.status, a.author_id, a.author_name, a.approver_name, \
    a.approved_at, a.msg_id, a.sent_at, a.last_error, a.created_at, a.urgent, a.recipients, j.status AS job_status, j.total_count, \
    j.filter_count, j.sent_count, j.error_count, j.finished_at \
    FROM announcements a LEFT JOIN announcement_jobs j ON j.msg_id = a.msg_id";

fn row_of(r: &AnyRow) -> Result<AnnouncementRow, sqlx::Error> {
    let status: String = r.try_get("status")?;
    let job_status: Option<String> = r.try_get("job_status")?;
    let job = match job_status {
        None => None,
        Some(status) => Some(JobTotals {
            status,
            total_count: r.try_get("total_count")?,
            filter_count: r.try_get("filter_count")?,
            sent_count: r.try_get("sent_count")?,
            error_count: r.try_get("error_count")?,
            finished_at: r.try_get("finished_at")?,
        }),
    };
    Ok(AnnouncementRow {
        id: r.try_get("id")?,
        articles: r.try_get("articles")?,
        district: r.try_get("district")?,
        status: Status::parse(&status).ok_or_else(|| sqlx::Error::Decode(format!("status {status}").into()))?,
        author_id: r.try_get("author_id")?,
        author_name: r.try_get("author_name")?,
        approver_name: r.try_get("approver_name")?,
        approved_at: r.try_get("approved_at")?,
        msg_id: r.try_get("msg_id")?,
        sent_at: r.try_get("sent_at")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
        urgent: r.try_get::<i64, _>("urgent")? != 0,
        recipients: r.try_get("recipients")?,
        job,
    })
}

/// Stores a new announcement awaiting approval (audited).
pub async fn insert(
    db: &Db,
    staff: &Staff,
    id: &str,
    articles_json: &str,
    district: &str,
    urgent: bool,
    now: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO announcements (id, articles, district, status, author_id, author_name, created_at, urgent) \
         VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(articles_json)
    .bind(district)
    .bind(&staff.staff_id)
    .bind(&staff.username)
    .bind(now)
    .bind(i64::from(urgent))
    .execute(&mut *tx)
    .await?;
    let entry = AuditEntry::by_staff(staff, SERVICE, "create_announcement", format!("announcement:{id}"))
        .with_change(None, Some(json!({"district": district, "urgent": urgent, "status": "pending"})));
    audit::record(&mut tx, &entry).await?;
    tx.commit().await
}

/// One announcement.
pub async fn get(db: &Db, id: &str) -> Result<Option<AnnouncementRow>, sqlx::Error> {
    let row = sqlx::query(&format!("{SELECT} WHERE a.id = $1")).bind(id).fetch_optional(&db.pool).await?;
    row.as_ref().map(row_of).transpose()
}

/// The latest announcements, newest first.
pub async fn list(db: &Db, limit: i64) -> Result<Vec<AnnouncementRow>, sqlx::Error> {
    let rows = sqlx::query(&format!("{SELECT} ORDER BY a.created_at DESC, a.id DESC LIMIT $1"))
        .bind(limit)
        .fetch_all(&db.pool)
        .await?;
    rows.iter().map(row_of).collect()
}

/// Approves a pending announcement written by someone else (audited); false when the
/// conditions did not hold (the caller reads the row to say which).
pub async fn approve(db: &Db, staff: &Staff, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let done = sqlx::query(
        "UPDATE announcements SET status = 'approved', approver_id = $2, approver_name = $3, approved_at = $4 \
         WHERE id = $1 AND status = 'pending' AND author_id <> $2",
    )
    .bind(id)
    .bind(&staff.staff_id)
    .bind(&staff.username)
    .bind(now)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if done {
        let entry = AuditEntry::by_staff(staff, SERVICE, "approve_announcement", format!("announcement:{id}"))
            .with_change(Some(json!({"status": "pending"})), Some(json!({"status": "approved"})));
        audit::record(&mut tx, &entry).await?;
    }
    tx.commit().await?;
    Ok(done)
}

/// Takes the one right to send an approved announcement (or a claim gone stale); false when
/// another sender holds it, it was sent, or it is not approved.
pub async fn claim_send(db: &Db, id: &str, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE announcements SET status = 'sending', claimed_at = $2 \
         WHERE id = $1 AND (status = 'approved' OR (status = 'sending' AND claimed_at < $3))",
    )
    .bind(id)
    .bind(now)
    .bind(now - STALE_CLAIM_MS)
    .execute(&db.pool)
    .await?
    .rows_affected();
    Ok(done == 1)
}

/// WeChat accepted the broadcast as job `msg_id` (audited).
pub async fn mark_sent(db: &Db, staff: &Staff, id: &str, msg_id: i64, now: i64) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE announcements SET status = 'sent', msg_id = $2, sent_at = $3, last_error = '' \
         WHERE id = $1 AND status = 'sending'",
    )
    .bind(id)
    .bind(msg_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let entry = AuditEntry::by_staff(staff, SERVICE, "send_announcement", format!("announcement:{id}"))
        .with_change(Some(json!({"status": "approved"})), Some(json!({"status": "sent", "msg_id": msg_id})));
    audit::record(&mut tx, &entry).await?;
    tx.commit().await
}

/// An urgent announcement's template messages are planned: sent, with how many citizens they
/// were planned for (audited).
pub async fn mark_urgent_sent(db: &Db, staff: &Staff, id: &str, recipients: i64, now: i64) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "UPDATE announcements SET status = 'sent', recipients = $2, sent_at = $3, last_error = '' \
         WHERE id = $1 AND status = 'sending'",
    )
    .bind(id)
    .bind(recipients)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let entry = AuditEntry::by_staff(staff, SERVICE, "send_announcement", format!("announcement:{id}"))
        .with_change(Some(json!({"status": "approved"})), Some(json!({"status": "sent", "recipients": recipients})));
    audit::record(&mut tx, &entry).await?;
    tx.commit().await
}

/// How many citizens have a template message of urgent announcement `id` planned (the notifier's
/// rows, whatever their state), counted from the store rather than from this attempt, so a
/// send retried after a partial failure still counts everyone.
pub async fn urgent_recipients(db: &Db, id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(DISTINCT notification_id) FROM notify_deliveries WHERE notification_id LIKE $1")
        .bind(format!("{}%", urgent_notification_prefix(id)))
        .fetch_one(&db.pool)
        .await
}

/// The start of every notification id of urgent announcement `id`
/// (`announcement:<id>:urgent:<citizen_id>`); the id, a UUID, holds no `LIKE` wildcard.
pub fn urgent_notification_prefix(id: &str) -> String {
    format!("announcement:{id}:urgent:")
}

/// The send failed before WeChat took it: approved again, with the reason.
pub async fn release(db: &Db, id: &str, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE announcements SET status = 'approved', last_error = $2 WHERE id = $1 AND status = 'sending'")
        .bind(id)
        .bind(error)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Keeps a `MASSSENDJOBFINISH` result; a repeated event changes nothing.
pub async fn record_job(db: &Db, msg_id: i64, totals: &JobTotals) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO announcement_jobs (msg_id, status, total_count, filter_count, sent_count, error_count, finished_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (msg_id) DO NOTHING",
    )
    .bind(msg_id)
    .bind(&totals.status)
    .bind(totals.total_count)
    .bind(totals.filter_count)
    .bind(totals.sent_count)
    .bind(totals.error_count)
    .bind(totals.finished_at)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// The WeChat tag kept for `district`.
pub async fn district_tag(db: &Db, district: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT tag_id FROM announcement_district_tags WHERE district = $1")
        .bind(district)
        .fetch_optional(&db.pool)
        .await
}

/// Remembers `district`'s tag (the first one stored wins).
pub async fn set_district_tag(db: &Db, district: &str, tag_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO announcement_district_tags (district, tag_id) VALUES ($1, $2) ON CONFLICT (district) DO NOTHING",
    )
    .bind(district)
    .bind(tag_id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Who we tagged with `district`'s tag.
pub async fn tag_members(db: &Db, district: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT openid FROM announcement_tag_members WHERE district = $1 ORDER BY openid")
        .bind(district)
        .fetch_all(&db.pool)
        .await
}

/// Records tagging changes made at WeChat.
pub async fn change_tag_members(
    db: &Db,
    district: &str,
    added: &[String],
    removed: &[String],
) -> Result<(), sqlx::Error> {
    let mut tx = db.begin_write().await?;
    for openid in added {
        sqlx::query(
            "INSERT INTO announcement_tag_members (district, openid) VALUES ($1, $2) ON CONFLICT (district, openid) DO NOTHING",
        )
        .bind(district)
        .bind(openid)
        .execute(&mut *tx)
        .await?;
    }
    for openid in removed {
        sqlx::query("DELETE FROM announcement_tag_members WHERE district = $1 AND openid = $2")
            .bind(district)
            .bind(openid)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// Followers who follow now and have a known location: (openid, latitude, longitude).
pub async fn located_followers(db: &Db) -> Result<Vec<(String, f64, f64)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT openid, latitude, longitude FROM wechat_followers \
         WHERE subscribed = TRUE AND latitude IS NOT NULL AND longitude IS NOT NULL ORDER BY openid",
    )
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(|r| Ok((r.try_get("openid")?, r.try_get("latitude")?, r.try_get("longitude")?))).collect()
}
