//! Citizens and their WeChat identities (appid, openid, unionid): one citizen per person.

use city_platform::db::is_unique_violation;
use city_platform::ids::new_id;
use city_platform::time::now_ms;
use city_platform::Db;
use sqlx::Row;

use crate::domain::citizen_id::CitizenId;

/// A citizen as `/v1/me` shows it.
#[derive(Debug, Clone)]
pub struct CitizenRow {
    /// The citizen id.
    pub id: CitizenId,
    /// Masked phone, when bound.
    pub phone_masked: Option<String>,
    /// Which apps they have signed in through (appids).
    pub appids: Vec<String>,
    /// When the citizen was first seen.
    pub created_at_ms: i64,
}

/// Finds the citizen behind (appid, openid), or the one with the same unionid, or creates one.
pub async fn find_or_create_citizen(
    db: &Db,
    appid: &str,
    openid: &str,
    unionid: Option<&str>,
) -> Result<CitizenId, sqlx::Error> {
    // A concurrent first sign-in of the same person may win the insert: then try again and find it.
    let mut attempts = 0;
    loop {
        attempts += 1;
        match try_find_or_create(db, appid, openid, unionid).await {
            Err(e) if is_unique_violation(&e) && attempts < 3 => continue,
            other => return other.map(CitizenId::new),
        }
    }
}

async fn try_find_or_create(db: &Db, appid: &str, openid: &str, unionid: Option<&str>) -> Result<String, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let now = now_ms();
    let known: Option<String> =
        sqlx::query_scalar("SELECT citizen_id FROM wechat_identities WHERE appid = $1 AND openid = $2")
            .bind(appid)
            .bind(openid)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some(id) = known {
        if let Some(u) = unionid {
            // WeChat may reveal the unionid later (binding to an Open Platform account).
            sqlx::query(
                "UPDATE wechat_identities SET unionid = $1 WHERE appid = $2 AND openid = $3 AND unionid IS NULL",
            )
            .bind(u)
            .bind(appid)
            .bind(openid)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE citizens SET unionid = $1 WHERE id = $2 AND unionid IS NULL
                 AND NOT EXISTS (SELECT 1 FROM citizens WHERE unionid = $1)",
            )
            .bind(u)
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        return Ok(id);
    }
    let by_union: Option<String> = match unionid {
        Some(u) => {
            sqlx::query_scalar("SELECT id FROM citizens WHERE unionid = $1").bind(u).fetch_optional(&mut *tx).await?
        }
        None => None,
    };
    let citizen_id = match by_union {
        Some(id) => id,
        None => {
            let id = new_id();
            sqlx::query("INSERT INTO citizens (id, unionid, people_count, created_at_ms) VALUES ($1, $2, 0, $3)")
                .bind(&id)
                .bind(unionid)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            id
        }
    };
    sqlx::query(
        "INSERT INTO wechat_identities (appid, openid, unionid, citizen_id, created_at_ms) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(appid)
    .bind(openid)
    .bind(unionid)
    .bind(&citizen_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(citizen_id)
}

/// Links (appid, openid) to `citizen_id` when that identity is not yet anyone's; returns the
/// citizen it belongs to afterwards.
pub async fn link_identity(
    db: &Db,
    citizen_id: &CitizenId,
    appid: &str,
    openid: &str,
    unionid: Option<&str>,
) -> Result<CitizenId, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO wechat_identities (appid, openid, unionid, citizen_id, created_at_ms) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (appid, openid) DO NOTHING",
    )
    .bind(appid)
    .bind(openid)
    .bind(unionid)
    .bind(citizen_id.as_str())
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    let owner: String = sqlx::query_scalar("SELECT citizen_id FROM wechat_identities WHERE appid = $1 AND openid = $2")
        .bind(appid)
        .bind(openid)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(CitizenId::new(owner))
}

/// The citizen with this id.
pub async fn citizen(db: &Db, id: &CitizenId) -> Result<Option<CitizenRow>, sqlx::Error> {
    let Some(row) = sqlx::query("SELECT id, phone_masked, created_at_ms FROM citizens WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(&db.pool)
        .await?
    else {
        return Ok(None);
    };
    let appids: Vec<String> =
        sqlx::query_scalar("SELECT appid FROM wechat_identities WHERE citizen_id = $1 ORDER BY created_at_ms")
            .bind(id.as_str())
            .fetch_all(&db.pool)
            .await?;
    Ok(Some(CitizenRow {
        id: CitizenId::new(row.get::<String, _>("id")),
        phone_masked: row.get("phone_masked"),
        appids,
        created_at_ms: row.get("created_at_ms"),
    }))
}

/// The citizen who signed in through `appid` as `openid`, if any.
pub async fn citizen_by_openid(db: &Db, appid: &str, openid: &str) -> Result<Option<CitizenId>, sqlx::Error> {
    let id: Option<String> =
        sqlx::query_scalar("SELECT citizen_id FROM wechat_identities WHERE appid = $1 AND openid = $2")
            .bind(appid)
            .bind(openid)
            .fetch_optional(&db.pool)
            .await?;
    Ok(id.map(CitizenId::new))
}

/// The citizen with `unionid` (the same person through any app bound to our Open Platform
/// account), if any.
pub async fn citizen_by_unionid(db: &Db, unionid: &str) -> Result<Option<CitizenId>, sqlx::Error> {
    let id: Option<String> =
        sqlx::query_scalar("SELECT id FROM citizens WHERE unionid = $1").bind(unionid).fetch_optional(&db.pool).await?;
    Ok(id.map(CitizenId::new))
}

/// The citizen's openid in each app they signed in through (the latest one per app), or `None`
/// when there is no such citizen.
pub async fn openids_of(db: &Db, citizen_id: &CitizenId) -> Result<Option<Vec<(String, String)>>, sqlx::Error> {
    let exists: Option<String> = sqlx::query_scalar("SELECT id FROM citizens WHERE id = $1")
        .bind(citizen_id.as_str())
        .fetch_optional(&db.pool)
        .await?;
    if exists.is_none() {
        return Ok(None);
    }
    let rows = sqlx::query(
        "SELECT appid, openid FROM wechat_identities WHERE citizen_id = $1 ORDER BY created_at_ms DESC, openid",
    )
    .bind(citizen_id.as_str())
    .fetch_all(&db.pool)
    .await?;
    let mut openids: Vec<(String, String)> = Vec::new();
    for row in rows {
        let appid: String = row.try_get("appid")?;
        if !openids.iter().any(|(a, _)| *a == appid) {
            openids.push((appid, row.try_get("openid")?));
        }
    }
    Ok(Some(openids))
}

/// Binds a phone to a citizen.
pub async fn set_phone(db: &Db, id: &CitizenId, sealed: &str, masked: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE citizens SET phone_sealed = $1, phone_masked = $2 WHERE id = $3")
        .bind(sealed)
        .bind(masked)
        .bind(id.as_str())
        .execute(&db.pool)
        .await?;
    Ok(())
}
