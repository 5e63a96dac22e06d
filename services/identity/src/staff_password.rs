//! A staff member changes their own password: the current one proves it is them (a wrong one
//! counts towards the lockout, as at sign-in), the new one follows the same rule as an admin's,
//! and a temporary password stops being temporary. Audited.

use city_platform::audit::{self, AuditEntry};
use city_platform::time::now_ms;

use crate::password::{PasswordError, MIN_PASSWORD_CHARS};
use crate::staff_login::{LOCKOUT, LOCKOUT_THRESHOLD};
use crate::state::IdentityState;
use crate::store::{self, StaffRow};
use crate::NAME;

/// Why the password was not changed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordChangeError {
    /// A field breaks a rule (the current password is wrong, the new one too short or the same).
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        message: &'static str,
    },
    /// The account is locked after repeated failures.
    #[error("the account is locked")]
    Locked {
        /// Seconds until the lock ends.
        retry_after_secs: u64,
    },
    /// The password pool failed.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

fn invalid(field: &'static str, message: &'static str) -> PasswordChangeError {
    PasswordChangeError::Invalid { field, message }
}

/// Changes `staff_id`'s password from `current` to `new`; the row after.
#[tracing::instrument(skip_all, fields(staff_id = %staff_id))]
pub async fn change_own(
    s: &IdentityState,
    staff_id: &str,
    current: String,
    new: String,
) -> Result<StaffRow, PasswordChangeError> {
    if new.chars().count() < MIN_PASSWORD_CHARS {
        return Err(invalid("new_password", "at least 10 characters"));
    }
    if new == current {
        return Err(invalid("new_password", "must differ from the current password"));
    }
    // Their session was just checked, so the row exists; a missing one is the store's fault.
    let row = store::staff_by_id(&s.db, staff_id).await?.ok_or(sqlx::Error::RowNotFound)?;
    let now = now_ms();
    // Reserved before the check, as at sign-in, so parallel guesses get no extra tries.
    if store::reserve_attempt(&s.db, &row.id, LOCKOUT_THRESHOLD, LOCKOUT.as_millis() as i64).await?.is_none() {
        let locked_until = store::staff_by_id(&s.db, staff_id).await?.map_or(now, |r| r.locked_until_ms);
        return Err(PasswordChangeError::Locked { retry_after_secs: ((locked_until - now) / 1000).max(1) as u64 });
    }
    if !s.passwords.verify(current, Some(row.password_hash.clone())).await? {
        tracing::info!(staff_id = %row.id, "password change refused: wrong current password");
        return Err(invalid("current_password", "does not match"));
    }
    store::record_good_login(&s.db, &row.id).await?;
    let hashed = s.passwords.hash(new).await?;
    let mut tx = s.db.begin_write().await?;
    if !store::replace_password(&mut tx, &row.id, &row.password_hash, &hashed).await? {
        // Changed by another request between our read and write: that one won.
        return Err(invalid("current_password", "does not match"));
    }
    let entry = AuditEntry {
        actor_id: row.id.clone(),
        actor_name: row.username.clone(),
        service: NAME.into(),
        action: "change_own_password".into(),
        target: format!("staff:{}", row.id),
        before: Some(serde_json::json!({"must_change_password": row.must_change_password})),
        after: Some(serde_json::json!({"must_change_password": false})),
        request_id: city_platform::request_id::current(),
        at_ms: now,
    };
    audit::record(&mut tx, &entry).await?;
    tx.commit().await?;
    tracing::info!(staff_id = %row.id, "staff member changed their password");
    Ok(StaffRow { password_hash: hashed, must_change_password: false, failed_logins: 0, ..row })
}
