//! Every SQL statement of the identity service (portable across SQLite and PostgreSQL).

use city_platform::audit::AuditEntry;
use city_platform::auth::{Role, Scopes};
use city_platform::db::is_unique_violation;
use city_platform::ids::new_id;
use city_platform::time::now_ms;
use city_platform::Db;
use sqlx::any::AnyRow;
use sqlx::Row;

/// Session kinds.
pub const CITIZEN: &str = "citizen";
/// Session kinds.
pub const STAFF: &str = "staff";

/// A live session found by its token hash.
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// The session id.
    pub id: String,
    /// `citizen` or `staff`.
    pub kind: String,
    /// The citizen or staff id.
    pub subject_id: String,
    /// When it stops working.
    pub expires_at_ms: i64,
}

/// A citizen as `/v1/me` shows it.
#[derive(Debug, Clone)]
pub struct CitizenRow {
    /// The citizen id.
    pub id: String,
    /// Masked phone, when bound.
    pub phone_masked: Option<String>,
    /// Which apps they have signed in through (appids).
    pub appids: Vec<String>,
    /// When the citizen was first seen.
    pub created_at_ms: i64,
}

/// A family member as stored (sealed fields stay sealed here).
#[derive(Debug, Clone)]
pub struct PersonRow {
    /// Id.
    pub id: String,
    /// Masked name.
    pub name_masked: String,
    /// Relation to the citizen.
    pub relation: String,
    /// `male` / `female`.
    pub sex: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// Masked ID number.
    pub id_number_masked: String,
    /// Keyed hash of the ID number.
    pub id_number_hash: String,
    /// Masked phone.
    pub phone_masked: Option<String>,
    /// Created.
    pub created_at_ms: i64,
}

/// A new family member, sealed.
#[derive(Debug, Clone)]
pub struct NewPerson {
    /// Sealed name.
    pub name_sealed: String,
    /// Masked name.
    pub name_masked: String,
    /// Relation.
    pub relation: String,
    /// Sex.
    pub sex: String,
    /// Birth date.
    pub birth_date: String,
    /// Sealed ID number.
    pub id_number_sealed: String,
    /// Keyed hash.
    pub id_number_hash: String,
    /// Masked ID number.
    pub id_number_masked: String,
    /// Sealed phone.
    pub phone_sealed: Option<String>,
    /// Masked phone.
    pub phone_masked: Option<String>,
}

/// Why a family member was not added.
#[derive(Debug, thiserror::Error)]
pub enum AddPersonError {
    /// Already five.
    #[error("at most 5 people per citizen")]
    Limit,
    /// The same ID number is already on the list.
    #[error("this ID number is already on the list")]
    Duplicate,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// A staff member as stored.
#[derive(Debug, Clone)]
pub struct StaffRow {
    /// Id.
    pub id: String,
    /// Sign-in name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// Roles.
    pub roles: Vec<Role>,
    /// Scopes.
    pub scopes: Scopes,
    /// Disabled staff cannot sign in, and their sessions end.
    pub disabled: bool,
    /// Consecutive failed sign-ins.
    pub failed_logins: i64,
    /// Locked until this instant (0: not locked).
    pub locked_until_ms: i64,
    /// Created.
    pub created_at_ms: i64,
}

/// An API key as stored.
#[derive(Debug, Clone)]
pub struct ApiKeyRow {
    /// Id.
    pub id: String,
    /// Integrator name.
    pub name: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Created.
    pub created_at_ms: i64,
    /// Revoked when set.
    pub revoked_at_ms: Option<i64>,
}

/// Finds the citizen behind (appid, openid), or the one with the same unionid, or creates one.
pub async fn find_or_create_citizen(
    db: &Db,
    appid: &str,
    openid: &str,
    unionid: Option<&str>,
) -> Result<String, sqlx::Error> {
    // A concurrent first sign-in of the same person may win the insert: then try again and find it.
    let mut attempts = 0;
    loop {
        attempts += 1;
        match try_find_or_create(db, appid, openid, unionid).await {
            Err(e) if is_unique_violation(&e) && attempts < 3 => continue,
            other => return other,
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
    citizen_id: &str,
    appid: &str,
    openid: &str,
    unionid: Option<&str>,
) -> Result<String, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO wechat_identities (appid, openid, unionid, citizen_id, created_at_ms) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (appid, openid) DO NOTHING",
    )
    .bind(appid)
    .bind(openid)
    .bind(unionid)
    .bind(citizen_id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    let owner: String = sqlx::query_scalar("SELECT citizen_id FROM wechat_identities WHERE appid = $1 AND openid = $2")
        .bind(appid)
        .bind(openid)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(owner)
}

/// Stores a new session; returns its id.
pub async fn create_session(
    db: &Db,
    kind: &str,
    subject_id: &str,
    token_hash: &str,
    expires_at_ms: i64,
) -> Result<String, sqlx::Error> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO sessions (id, token_hash, kind, subject_id, created_at_ms, expires_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(token_hash)
    .bind(kind)
    .bind(subject_id)
    .bind(now_ms())
    .bind(expires_at_ms)
    .execute(&db.pool)
    .await?;
    Ok(id)
}

/// The live (unexpired, unrevoked) session with this token hash.
pub async fn live_session(db: &Db, token_hash: &str) -> Result<Option<SessionRow>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, kind, subject_id, expires_at_ms FROM sessions
         WHERE token_hash = $1 AND revoked_at_ms IS NULL AND expires_at_ms > $2",
    )
    .bind(token_hash)
    .bind(now_ms())
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(|r| SessionRow {
        id: r.get("id"),
        kind: r.get("kind"),
        subject_id: r.get("subject_id"),
        expires_at_ms: r.get("expires_at_ms"),
    }))
}

/// Revokes one session; its token hash when it was live.
pub async fn revoke_session(db: &Db, session_id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE sessions SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL RETURNING token_hash",
    )
    .bind(now_ms())
    .bind(session_id)
    .fetch_optional(&db.pool)
    .await
}

/// Revokes every live session of a subject inside `tx`; their token hashes.
pub async fn revoke_sessions_of(tx: &mut sqlx::AnyConnection, subject_id: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE sessions SET revoked_at_ms = $1 WHERE subject_id = $2 AND revoked_at_ms IS NULL RETURNING token_hash",
    )
    .bind(now_ms())
    .bind(subject_id)
    .fetch_all(&mut *tx)
    .await
}

/// The citizen with this id.
pub async fn citizen(db: &Db, id: &str) -> Result<Option<CitizenRow>, sqlx::Error> {
    let Some(row) = sqlx::query("SELECT id, phone_masked, created_at_ms FROM citizens WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
    else {
        return Ok(None);
    };
    let appids: Vec<String> =
        sqlx::query_scalar("SELECT appid FROM wechat_identities WHERE citizen_id = $1 ORDER BY created_at_ms")
            .bind(id)
            .fetch_all(&db.pool)
            .await?;
    Ok(Some(CitizenRow {
        id: row.get("id"),
        phone_masked: row.get("phone_masked"),
        appids,
        created_at_ms: row.get("created_at_ms"),
    }))
}

/// The citizen who signed in through `appid` as `openid`, if any.
pub async fn citizen_by_openid(db: &Db, appid: &str, openid: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT citizen_id FROM wechat_identities WHERE appid = $1 AND openid = $2")
        .bind(appid)
        .bind(openid)
        .fetch_optional(&db.pool)
        .await
}

/// The citizen's openid in each app they signed in through (the latest one per app), or `None`
/// when there is no such citizen.
pub async fn openids_of(db: &Db, citizen_id: &str) -> Result<Option<Vec<(String, String)>>, sqlx::Error> {
    let exists: Option<String> =
        sqlx::query_scalar("SELECT id FROM citizens WHERE id = $1").bind(citizen_id).fetch_optional(&db.pool).await?;
    if exists.is_none() {
        return Ok(None);
    }
    let rows = sqlx::query(
        "SELECT appid, openid FROM wechat_identities WHERE citizen_id = $1 ORDER BY created_at_ms DESC, openid",
    )
    .bind(citizen_id)
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
pub async fn set_phone(db: &Db, id: &str, sealed: &str, masked: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE citizens SET phone_sealed = $1, phone_masked = $2 WHERE id = $3")
        .bind(sealed)
        .bind(masked)
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

const PERSON_COLUMNS: &str =
    "id, name_masked, relation, sex, birth_date, id_number_masked, id_number_hash, phone_masked, created_at_ms";

fn person(r: AnyRow) -> PersonRow {
    PersonRow {
        id: r.get("id"),
        name_masked: r.get("name_masked"),
        relation: r.get("relation"),
        sex: r.get("sex"),
        birth_date: r.get("birth_date"),
        id_number_masked: r.get("id_number_masked"),
        id_number_hash: r.get("id_number_hash"),
        phone_masked: r.get("phone_masked"),
        created_at_ms: r.get("created_at_ms"),
    }
}

/// The citizen's family members, oldest first.
pub async fn people(db: &Db, citizen_id: &str) -> Result<Vec<PersonRow>, sqlx::Error> {
    let rows =
        sqlx::query(&format!("SELECT {PERSON_COLUMNS} FROM people WHERE citizen_id = $1 ORDER BY created_at_ms, id"))
            .bind(citizen_id)
            .fetch_all(&db.pool)
            .await?;
    Ok(rows.into_iter().map(person).collect())
}

/// One of the citizen's family members (`None` for anyone else's).
pub async fn person_of(db: &Db, citizen_id: &str, person_id: &str) -> Result<Option<PersonRow>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {PERSON_COLUMNS} FROM people WHERE id = $1 AND citizen_id = $2"))
        .bind(person_id)
        .bind(citizen_id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(person))
}

/// Adds a family member, at most `limit` per citizen (a conditional counter update, so
/// concurrent adds cannot exceed it).
pub async fn add_person(db: &Db, citizen_id: &str, p: &NewPerson, limit: i64) -> Result<PersonRow, AddPersonError> {
    let mut tx = db.begin_write().await?;
    let counted: Option<i64> = sqlx::query_scalar(
        "UPDATE citizens SET people_count = people_count + 1 WHERE id = $1 AND people_count < $2 RETURNING people_count",
    )
    .bind(citizen_id)
    .bind(limit)
    .fetch_optional(&mut *tx)
    .await?;
    if counted.is_none() {
        return Err(AddPersonError::Limit);
    }
    let id = new_id();
    let inserted = sqlx::query(
        "INSERT INTO people (id, citizen_id, name_sealed, name_masked, relation, sex, birth_date, id_number_sealed,
         id_number_hash, id_number_masked, phone_sealed, phone_masked, created_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&id)
    .bind(citizen_id)
    .bind(&p.name_sealed)
    .bind(&p.name_masked)
    .bind(&p.relation)
    .bind(&p.sex)
    .bind(&p.birth_date)
    .bind(&p.id_number_sealed)
    .bind(&p.id_number_hash)
    .bind(&p.id_number_masked)
    .bind(&p.phone_sealed)
    .bind(&p.phone_masked)
    .bind(now_ms())
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => return Err(AddPersonError::Duplicate),
        Err(e) => return Err(e.into()),
        Ok(_) => {}
    }
    let row = sqlx::query(&format!("SELECT {PERSON_COLUMNS} FROM people WHERE id = $1"))
        .bind(&id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(person(row))
}

/// Removes one of the citizen's family members; whether there was one.
pub async fn delete_person(db: &Db, citizen_id: &str, person_id: &str) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let gone = sqlx::query("DELETE FROM people WHERE id = $1 AND citizen_id = $2")
        .bind(person_id)
        .bind(citizen_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        > 0;
    if gone {
        sqlx::query("UPDATE citizens SET people_count = people_count - 1 WHERE id = $1")
            .bind(citizen_id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(gone)
}

// The Any driver cannot decode SQLite booleans: read the flag as a number on both backends.
const STAFF_COLUMNS: &str = "id, username, display_name, password_hash, roles, scopes,
    CAST(CASE WHEN disabled THEN 1 ELSE 0 END AS BIGINT) AS disabled_n, failed_logins, locked_until_ms, created_at_ms";

fn staff(r: AnyRow) -> StaffRow {
    let roles: String = r.get("roles");
    let scopes: String = r.get("scopes");
    StaffRow {
        id: r.get("id"),
        username: r.get("username"),
        display_name: r.get("display_name"),
        password_hash: r.get("password_hash"),
        roles: serde_json::from_str(&roles).unwrap_or_default(),
        scopes: serde_json::from_str(&scopes).unwrap_or_default(),
        disabled: r.get::<i64, _>("disabled_n") != 0,
        failed_logins: r.get("failed_logins"),
        locked_until_ms: r.get("locked_until_ms"),
        created_at_ms: r.get("created_at_ms"),
    }
}

/// Inserts a staff member inside `tx`; `Ok(None)` when the username is taken.
pub async fn insert_staff(
    tx: &mut sqlx::AnyConnection,
    username: &str,
    display_name: &str,
    password_hash: &str,
    roles: &[Role],
    scopes: &Scopes,
) -> Result<Option<StaffRow>, sqlx::Error> {
    let id = new_id();
    let inserted = sqlx::query(
        "INSERT INTO staff (id, username, display_name, password_hash, roles, scopes, disabled, failed_logins,
         locked_until_ms, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, FALSE, 0, 0, $7)",
    )
    .bind(&id)
    .bind(username)
    .bind(display_name)
    .bind(password_hash)
    .bind(serde_json::to_string(roles).unwrap_or_else(|_| "[]".into()))
    .bind(serde_json::to_string(scopes).unwrap_or_else(|_| "{}".into()))
    .bind(now_ms())
    .execute(&mut *tx)
    .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e),
        Ok(_) => {
            let row = sqlx::query(&format!("SELECT {STAFF_COLUMNS} FROM staff WHERE id = $1"))
                .bind(&id)
                .fetch_one(&mut *tx)
                .await?;
            Ok(Some(staff(row)))
        }
    }
}

/// The staff member with this username.
pub async fn staff_by_username(db: &Db, username: &str) -> Result<Option<StaffRow>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {STAFF_COLUMNS} FROM staff WHERE username = $1"))
        .bind(username)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(staff))
}

/// The staff member with this id.
pub async fn staff_by_id(db: &Db, id: &str) -> Result<Option<StaffRow>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {STAFF_COLUMNS} FROM staff WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?;
    Ok(row.map(staff))
}

/// Every staff member, by username.
pub async fn all_staff(db: &Db) -> Result<Vec<StaffRow>, sqlx::Error> {
    let rows = sqlx::query(&format!("SELECT {STAFF_COLUMNS} FROM staff ORDER BY username")).fetch_all(&db.pool).await?;
    Ok(rows.into_iter().map(staff).collect())
}

/// Counts a failed sign-in; locks the account for `lock_ms` when it reaches `threshold`.
pub async fn record_failed_login(db: &Db, id: &str, threshold: i64, lock_ms: i64) -> Result<(), sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "UPDATE staff SET failed_logins = failed_logins + 1,
         locked_until_ms = CASE WHEN failed_logins + 1 >= $1 THEN $2 ELSE locked_until_ms END
         WHERE id = $3",
    )
    .bind(threshold)
    .bind(now + lock_ms)
    .bind(id)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Clears the failure count after a good sign-in.
pub async fn record_good_login(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE staff SET failed_logins = 0, locked_until_ms = 0 WHERE id = $1 AND failed_logins > 0")
        .bind(id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Disables (or re-enables) a staff member inside `tx`; the row before, when it exists.
pub async fn set_staff_disabled(
    tx: &mut sqlx::AnyConnection,
    id: &str,
    disabled: bool,
) -> Result<Option<StaffRow>, sqlx::Error> {
    let before = sqlx::query(&format!("SELECT {STAFF_COLUMNS} FROM staff WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .map(staff);
    if before.is_some() {
        sqlx::query("UPDATE staff SET disabled = $1, failed_logins = 0, locked_until_ms = 0 WHERE id = $2")
            .bind(disabled)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(before)
}

fn api_key(r: AnyRow) -> ApiKeyRow {
    let scopes: String = r.get("scopes");
    ApiKeyRow {
        id: r.get("id"),
        name: r.get("name"),
        scopes: serde_json::from_str(&scopes).unwrap_or_default(),
        created_at_ms: r.get("created_at_ms"),
        revoked_at_ms: r.get("revoked_at_ms"),
    }
}

/// Stores a new API key's hash inside `tx`.
pub async fn insert_api_key(
    tx: &mut sqlx::AnyConnection,
    name: &str,
    key_hash: &str,
    scopes: &[String],
) -> Result<ApiKeyRow, sqlx::Error> {
    let id = new_id();
    let now = now_ms();
    sqlx::query("INSERT INTO api_keys (id, name, key_hash, scopes, created_at_ms) VALUES ($1, $2, $3, $4, $5)")
        .bind(&id)
        .bind(name)
        .bind(key_hash)
        .bind(serde_json::to_string(scopes).unwrap_or_else(|_| "[]".into()))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    Ok(ApiKeyRow { id, name: name.into(), scopes: scopes.to_vec(), created_at_ms: now, revoked_at_ms: None })
}

/// The live key with this hash.
pub async fn live_api_key(db: &Db, key_hash: &str) -> Result<Option<ApiKeyRow>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, name, scopes, created_at_ms, revoked_at_ms FROM api_keys WHERE key_hash = $1 AND revoked_at_ms IS NULL",
    )
    .bind(key_hash)
    .fetch_optional(&db.pool)
    .await?;
    Ok(row.map(api_key))
}

/// Every key, newest first.
pub async fn api_keys(db: &Db) -> Result<Vec<ApiKeyRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, name, scopes, created_at_ms, revoked_at_ms FROM api_keys ORDER BY created_at_ms DESC, id",
    )
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(api_key).collect())
}

/// Revokes a key inside `tx`; its hash when it was live.
pub async fn revoke_api_key(tx: &mut sqlx::AnyConnection, id: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE api_keys SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL RETURNING key_hash",
    )
    .bind(now_ms())
    .bind(id)
    .fetch_optional(&mut *tx)
    .await
}

/// Keeps one audit entry (the event id makes redelivery harmless).
pub async fn insert_audit(tx: &mut sqlx::AnyConnection, event_id: &str, e: &AuditEntry) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (id, actor_id, actor_name, service, action, target, before_json, after_json, request_id, at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING",
    )
    .bind(event_id)
    .bind(&e.actor_id)
    .bind(&e.actor_name)
    .bind(&e.service)
    .bind(&e.action)
    .bind(&e.target)
    .bind(e.before.as_ref().map(|v| v.to_string()))
    .bind(e.after.as_ref().map(|v| v.to_string()))
    .bind(&e.request_id)
    .bind(e.at_ms)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// A page of the audit log, newest first, optionally only before an instant or of one service.
pub async fn audit_page(
    db: &Db,
    before_ms: Option<i64>,
    service: Option<&str>,
    limit: i64,
) -> Result<Vec<(String, AuditEntry)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, actor_id, actor_name, service, action, target, before_json, after_json, request_id, at_ms
         FROM audit_log WHERE at_ms < $1 AND ($2 = '' OR service = $2) ORDER BY at_ms DESC, id DESC LIMIT $3",
    )
    .bind(before_ms.unwrap_or(i64::MAX))
    .bind(service.unwrap_or(""))
    .bind(limit)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let before: Option<String> = r.get("before_json");
            let after: Option<String> = r.get("after_json");
            (
                r.get("id"),
                AuditEntry {
                    actor_id: r.get("actor_id"),
                    actor_name: r.get("actor_name"),
                    service: r.get("service"),
                    action: r.get("action"),
                    target: r.get("target"),
                    before: before.and_then(|b| serde_json::from_str(&b).ok()),
                    after: after.and_then(|a| serde_json::from_str(&a).ok()),
                    request_id: r.get("request_id"),
                    at_ms: r.get("at_ms"),
                },
            )
        })
        .collect())
}
