//! Staff and API-key administration shared by the admin API and the `city staff` / `city apikey`
//! commands, and the audit log: every service's `audit.recorded` events kept for admins.

use std::sync::Arc;

use city_platform::audit::{self, AuditEntry};
use city_platform::auth::{Role, Scopes};
use city_platform::bus::{Event, Handler};
use city_platform::time::now_ms;
use city_platform::{Db, IntoProblem, Platform, Problem};
use serde_json::json;
use tracing::field::Empty;

use crate::domain::credential;
use crate::password::{self, PasswordError, MIN_PASSWORD_CHARS};
use crate::state::IdentityState;
use crate::store::{self, ApiKeyRow, StaffRow};
use crate::{MIGRATOR, NAME};

/// Why an administrative change was not made.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A field breaks a rule.
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// Another staff member has this username.
    #[error("the username is taken")]
    UsernameTaken,
    /// The change would lock the admins out: disabling oneself, or the last enabled admin.
    #[error("{0}")]
    Refused(&'static str),
    /// No such staff member or live API key.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The password pool failed.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] sqlx::Error),
    /// The store could not be opened (command line).
    #[error("the identity store cannot be opened: {0}")]
    StoreUnavailable(String),
}

fn invalid(field: &'static str, message: impl Into<String>) -> AdminError {
    AdminError::Invalid { field, message: message.into() }
}

/// Who is acting, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Staff id, or `cli` for the command line.
    pub id: String,
    /// Their username.
    pub name: String,
}

impl Actor {
    /// The operator at the command line.
    pub fn cli() -> Self {
        Self { id: "cli".into(), name: "command-line".into() }
    }

    fn entry(&self, action: &str, target: String) -> AuditEntry {
        AuditEntry {
            actor_id: self.id.clone(),
            actor_name: self.name.clone(),
            service: NAME.into(),
            action: action.into(),
            target,
            before: None,
            after: None,
            request_id: city_platform::request_id::current(),
            at_ms: now_ms(),
        }
    }
}

/// A new staff member.
#[derive(Debug, Clone)]
pub struct NewStaff {
    /// Sign-in name: 3-64 of `a-z 0-9 . _ -`.
    pub username: String,
    /// Shown in the back office.
    pub display_name: String,
    /// At least [`MIN_PASSWORD_CHARS`] characters.
    pub password: String,
    /// At least one role.
    pub roles: Vec<Role>,
    /// Where they may act.
    pub scopes: Scopes,
}

/// The audit view of a staff member (no hash).
pub fn staff_json(s: &StaffRow) -> serde_json::Value {
    json!({"id": s.id, "username": s.username, "roles": s.roles, "scopes": s.scopes, "disabled": s.disabled,
           "must_change_password": s.must_change_password})
}

/// Checks a new staff member's fields; the error names the field.
pub fn check_new_staff(n: &NewStaff) -> Result<(), AdminError> {
    let ok_name = (3..=64).contains(&n.username.len())
        && n.username.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if !ok_name {
        return Err(invalid("username", "3 to 64 characters of a-z, 0-9, '.', '_' and '-'"));
    }
    if n.password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(invalid("password", format!("at least {MIN_PASSWORD_CHARS} characters")));
    }
    if n.roles.is_empty() {
        return Err(invalid("roles", "at least one role"));
    }
    Ok(())
}

/// Creates a staff member (`hashed`: the password's argon2id hash) and audits it.
pub async fn create_staff(db: &Db, actor: &Actor, n: NewStaff, hashed: String) -> Result<StaffRow, AdminError> {
    create_staff_with(db, actor, n, hashed, false).await
}

/// [`create_staff`], the password marked `temporary` or not, in the same transaction.
#[tracing::instrument(skip_all, fields(actor = %actor.id, staff_id = Empty))]
async fn create_staff_with(
    db: &Db,
    actor: &Actor,
    n: NewStaff,
    hashed: String,
    temporary: bool,
) -> Result<StaffRow, AdminError> {
    check_new_staff(&n)?;
    let display = if n.display_name.trim().is_empty() { n.username.clone() } else { n.display_name.trim().to_owned() };
    let mut tx = db.begin_write().await?;
    let Some(row) = store::insert_staff(&mut tx, &n.username, &display, &hashed, &n.roles, &n.scopes).await? else {
        return Err(AdminError::UsernameTaken);
    };
    tracing::Span::current().record("staff_id", row.id.as_str());
    let row = if temporary {
        store::set_password_temporary(&mut tx, &row.id).await?;
        StaffRow { must_change_password: true, ..row }
    } else {
        row
    };
    let entry = actor.entry("create_staff", format!("staff:{}", row.id)).with_change(None, Some(staff_json(&row)));
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    tracing::info!(staff_id = %row.id, "staff member created");
    Ok(row)
}

/// Creates a staff member for an admin: checks the fields, hashes the password on the bounded
/// pool, creates and audits. A `temporary` password must be changed at the first sign-in.
pub async fn hash_and_create_staff(
    state: &IdentityState,
    actor: &Actor,
    n: NewStaff,
    temporary: bool,
) -> Result<StaffRow, AdminError> {
    check_new_staff(&n)?;
    let hashed = state.passwords.hash(n.password.clone()).await?;
    create_staff_with(&state.db, actor, n, hashed, temporary).await
}

/// Disables a staff member for an admin and drops their sessions from every replica's cache.
pub async fn disable_staff(state: &IdentityState, actor: &Actor, staff_id: &str) -> Result<StaffRow, AdminError> {
    let (row, revoked) = set_disabled(&state.db, actor, staff_id, true).await?;
    state.sessions.forget_tokens(&revoked).await;
    Ok(row)
}

/// Disables or re-enables a staff member, ending their sessions when disabling; audited.
/// Returns the row after, and the token hashes to drop from the cache. Nobody disables their
/// own account, and the last enabled admin stays enabled: decided under the admins' row
/// locks, so two admins disabling each other at once cannot both succeed.
#[tracing::instrument(skip_all, fields(actor = %actor.id, staff_id = %staff_id, disabled))]
pub async fn set_disabled(
    db: &Db,
    actor: &Actor,
    staff_id: &str,
    disabled: bool,
) -> Result<(StaffRow, Vec<String>), AdminError> {
    if disabled && actor.id == staff_id {
        return Err(AdminError::Refused("you cannot disable your own account; ask another admin"));
    }
    let mut tx = db.begin_write().await?;
    if disabled {
        store::lock_admins(&mut tx).await?;
        let target = store::staff_by_id_in(&mut tx, staff_id).await?;
        if let Some(t) = target.filter(|t| t.roles.contains(&Role::Admin) && !t.disabled) {
            if store::other_enabled_admins(&mut tx, &t.id).await? == 0 {
                return Err(AdminError::Refused("this is the last enabled admin; make another admin first"));
            }
        }
    }
    let Some(before) = store::set_staff_disabled(&mut tx, staff_id, disabled).await? else {
        return Err(AdminError::NotFound("staff member"));
    };
    let revoked = if disabled { store::revoke_sessions_of(&mut tx, staff_id).await? } else { Vec::new() };
    let after = StaffRow { disabled, failed_logins: 0, locked_until_ms: 0, ..before.clone() };
    let action = if disabled { "disable_staff" } else { "enable_staff" };
    let entry = actor
        .entry(action, format!("staff:{staff_id}"))
        .with_change(Some(staff_json(&before)), Some(staff_json(&after)));
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    tracing::info!(staff_id = %staff_id, sessions_ended = revoked.len(), "staff member {action}d");
    Ok((after, revoked))
}

/// Creates an API key; returns the key itself (shown once) and its row. Audited.
#[tracing::instrument(skip_all, fields(actor = %actor.id, key_id = Empty))]
pub async fn create_api_key(
    db: &Db,
    actor: &Actor,
    name: &str,
    scopes: &[String],
) -> Result<(String, ApiKeyRow), AdminError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(invalid("name", "1 to 100 characters"));
    }
    if scopes.is_empty() || scopes.len() > 20 || !scopes.iter().all(|s| credential::known_scope(s)) {
        return Err(invalid("scopes", credential::SCOPES_RULE));
    }
    let key = credential::new_api_key();
    let mut tx = db.begin_write().await?;
    let row = store::insert_api_key(&mut tx, name, &credential::hash(&key), scopes).await?;
    tracing::Span::current().record("key_id", row.id.as_str());
    let entry = actor
        .entry("create_api_key", format!("api_key:{}", row.id))
        .with_change(None, Some(json!({"id": row.id, "name": row.name, "scopes": row.scopes})));
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    tracing::info!(key_id = %row.id, "API key created");
    Ok((key, row))
}

/// Revokes an API key; its hash (to drop from the cache). Audited.
#[tracing::instrument(skip_all, fields(actor = %actor.id, key_id = %id))]
pub async fn revoke_api_key(db: &Db, actor: &Actor, id: &str) -> Result<String, AdminError> {
    let mut tx = db.begin_write().await?;
    let Some(hash) = store::revoke_api_key(&mut tx, id).await? else {
        return Err(AdminError::NotFound("live API key"));
    };
    let entry =
        actor.entry("revoke_api_key", format!("api_key:{id}")).with_change(None, Some(json!({"revoked": true})));
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    tracing::info!(key_id = %id, "API key revoked");
    Ok(hash)
}

/// Revokes an API key for an admin and drops it from every replica's cache.
pub async fn revoke_and_forget_api_key(state: &IdentityState, actor: &Actor, id: &str) -> Result<(), AdminError> {
    let hash = revoke_api_key(&state.db, actor, id).await?;
    state.sessions.forget_key(&hash).await;
    Ok(())
}

/// Keeps every service's `audit.recorded` events in the audit log.
pub(crate) fn subscribe_audit(state: &Arc<IdentityState>) {
    let db = state.db.clone();
    let handler: Handler = Arc::new(move |event: Event| {
        let db = db.clone();
        Box::pin(async move {
            let entry: AuditEntry = match serde_json::from_value(event.payload.clone()) {
                Ok(e) => e,
                Err(err) => {
                    // Redelivering an unreadable entry would not make it readable.
                    tracing::error!(error = %err, event = %event.id, "unreadable audit entry dropped");
                    return Ok(());
                }
            };
            let mut tx = db.begin_write().await?;
            store::insert_audit(&mut tx, &event.id, &entry).await?;
            tx.commit().await?;
            Ok(())
        })
    });
    state.platform.bus.clone().subscribe(audit::TOPIC, NAME, handler, state.platform.shutdown.clone());
}

/// `city staff create`: opens identity's store from the settings and creates the member.
pub async fn cli_create_staff(platform: &Platform, n: NewStaff) -> Result<StaffRow, Problem> {
    async {
        check_new_staff(&n)?;
        let db = open(platform).await?;
        let pw = n.password.clone();
        let hashed =
            tokio::task::spawn_blocking(move || password::hash_blocking(&pw)).await.map_err(PasswordError::from)?;
        create_staff(&db, &Actor::cli(), n, hashed).await
    }
    .await
    .map_err(IntoProblem::into_problem)
}

/// `city staff disable`: disables the member with this username and ends their sessions.
pub async fn cli_disable_staff(platform: &Platform, username: &str) -> Result<StaffRow, Problem> {
    async {
        let db = open(platform).await?;
        let Some(row) = store::staff_by_username(&db, username).await? else {
            return Err(AdminError::NotFound("staff member"));
        };
        let (after, revoked) = set_disabled(&db, &Actor::cli(), &row.id, true).await?;
        crate::sessions::Sessions::new(db, platform.cache.clone()).forget_tokens(&revoked).await;
        Ok(after)
    }
    .await
    .map_err(IntoProblem::into_problem)
}

/// `city staff enable`: re-enables the member with this username and clears a lockout.
pub async fn cli_enable_staff(platform: &Platform, username: &str) -> Result<StaffRow, Problem> {
    async {
        let db = open(platform).await?;
        let Some(row) = store::staff_by_username(&db, username).await? else {
            return Err(AdminError::NotFound("staff member"));
        };
        let (after, _) = set_disabled(&db, &Actor::cli(), &row.id, false).await?;
        Ok(after)
    }
    .await
    .map_err(IntoProblem::into_problem)
}

/// `city apikey create`: a new key (returned, to be printed once).
pub async fn cli_create_api_key(platform: &Platform, name: &str, scopes: &[String]) -> Result<String, Problem> {
    async {
        let db = open(platform).await?;
        create_api_key(&db, &Actor::cli(), name, scopes).await.map(|(key, _)| key)
    }
    .await
    .map_err(IntoProblem::into_problem)
}

async fn open(platform: &Platform) -> Result<Db, AdminError> {
    Db::open(&platform.settings, NAME, &MIGRATOR).await.map_err(|e| AdminError::StoreUnavailable(e.to_string()))
}

/// Hashes a password with the service's argon2id parameters (blocking; for tools and tests).
pub fn hash_password_blocking(password: &str) -> String {
    password::hash_blocking(password)
}
