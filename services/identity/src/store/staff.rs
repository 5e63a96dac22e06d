//! Staff members: password hashes, roles and scopes, failed sign-ins and lockouts.

use city_platform::auth::{Role, Scopes};
use city_platform::db::is_unique_violation;
use city_platform::ids::new_id;
use city_platform::time::now_ms;
use city_platform::Db;
use sqlx::any::AnyRow;
use sqlx::Row;

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
    /// Signed in with a temporary password: must choose their own before working.
    pub must_change_password: bool,
}

// The Any driver cannot decode SQLite booleans: read the flag as a number on both backends.
const STAFF_COLUMNS: &str = "id, username, display_name, password_hash, roles, scopes,
    CAST(CASE WHEN disabled THEN 1 ELSE 0 END AS BIGINT) AS disabled_n, failed_logins, locked_until_ms, created_at_ms,
    CAST(CASE WHEN must_change_password THEN 1 ELSE 0 END AS BIGINT) AS must_change_n";

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
        must_change_password: r.get::<i64, _>("must_change_n") != 0,
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

/// The staff member with this id, inside `tx`.
pub async fn staff_by_id_in(tx: &mut sqlx::AnyConnection, id: &str) -> Result<Option<StaffRow>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {STAFF_COLUMNS} FROM staff WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    Ok(row.map(staff))
}

/// Every staff member, by username.
pub async fn all_staff(db: &Db) -> Result<Vec<StaffRow>, sqlx::Error> {
    let rows = sqlx::query(&format!("SELECT {STAFF_COLUMNS} FROM staff ORDER BY username")).fetch_all(&db.pool).await?;
    Ok(rows.into_iter().map(staff).collect())
}

/// Reserves one password attempt before the password is checked, in one conditional write:
/// the failure count goes up and the account locks for `lock_ms` when it reaches `threshold`,
/// unless it is locked already. So N guesses at once get at most `threshold` checks between
/// them. The count after this attempt, or `None` when the account is locked.
pub async fn reserve_attempt(db: &Db, id: &str, threshold: i64, lock_ms: i64) -> Result<Option<i64>, sqlx::Error> {
    let now = now_ms();
    let row = sqlx::query(
        "UPDATE staff SET failed_logins = failed_logins + 1,
         locked_until_ms = CASE WHEN failed_logins + 1 >= $1 THEN $2 ELSE locked_until_ms END
         WHERE id = $3 AND locked_until_ms <= $4
         RETURNING failed_logins",
    )
    .bind(threshold)
    .bind(now + lock_ms)
    .bind(id)
    .bind(now)
    .fetch_optional(&db.pool)
    .await?;
    row.map(|r| r.try_get::<i64, _>("failed_logins")).transpose()
}

/// Takes the write locks of every admin's row inside `tx`, so two admins disabling each other
/// at once are decided one after the other (PostgreSQL; SQLite's writes are serial anyway).
pub async fn lock_admins(tx: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE staff SET disabled = disabled WHERE roles LIKE '%\"admin\"%'").execute(&mut *tx).await?;
    Ok(())
}

/// How many enabled admins there are besides `id`, inside `tx`.
pub async fn other_enabled_admins(tx: &mut sqlx::AnyConnection, id: &str) -> Result<i64, sqlx::Error> {
    let row = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM staff WHERE id <> $1 AND disabled = FALSE AND roles LIKE '%\"admin\"%'",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    row.try_get::<i64, _>("n")
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

/// Marks a staff member's password as temporary (inside `tx`, right after creating them).
pub async fn set_password_temporary(tx: &mut sqlx::AnyConnection, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE staff SET must_change_password = TRUE WHERE id = $1").bind(id).execute(&mut *tx).await?;
    Ok(())
}

/// Replaces a staff member's password hash with one they chose; it is no longer temporary.
/// Only when the hash is still `old_hash`, so two changes at once cannot both win: false when
/// it was changed meanwhile.
pub async fn replace_password(
    tx: &mut sqlx::AnyConnection,
    id: &str,
    old_hash: &str,
    new_hash: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE staff SET password_hash = $1, must_change_password = FALSE WHERE id = $2 AND password_hash = $3",
    )
    .bind(new_hash)
    .bind(id)
    .bind(old_hash)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
