//! Staff sign-in: username and password (argon2id), the lockout after [`LOCKOUT_THRESHOLD`]
//! failures in a row, and the staff session.
//!
//! An attempt is reserved (counted, and the lock set on the last allowed one) in one
//! conditional write *before* the password is checked, so guesses sent at once get no more
//! checks than guesses sent one by one. Every refusal is the same 401, whether the username is
//! unknown, the password wrong, or the account locked or disabled, and takes as long (an
//! argon2 check against a decoy when there is nothing real to check): the answer tells an
//! attacker nothing about the account. The real reason goes to the log, to the audit log
//! (refusals of known accounts before the lock) and to admins (`locked_until`, `disabled`,
//! `failed_logins` in the staff list).

use std::time::Duration;

use city_platform::audit::{self, AuditEntry};
use city_platform::time::now_ms;
use tracing::field::Empty;

use crate::password::PasswordError;
use crate::state::IdentityState;
use crate::store::{self, StaffRow};
use crate::NAME;

/// Consecutive failed staff sign-ins that lock the account.
pub const LOCKOUT_THRESHOLD: i64 = 5;
/// How long a locked account stays locked.
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);

/// Why a staff member was not signed in.
#[derive(Debug, thiserror::Error)]
pub enum StaffLoginError {
    /// Unknown username, wrong password, a locked or a disabled account: which one is not said.
    #[error("wrong username or password")]
    BadCredentials,
    /// The password pool failed.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] sqlx::Error),
}

/// A new staff session.
pub struct StaffSession {
    /// The bearer token (shown once).
    pub token: String,
    /// When it stops working (UTC ms).
    pub expires_at_ms: i64,
    /// Who signed in.
    pub staff: StaffRow,
}

/// Why a known account was refused, for the log and the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The password did not match.
    WrongPassword,
    /// The password matched, but the account is disabled.
    Disabled,
    /// Locked after repeated failures: the password was not checked.
    Locked,
}

impl Refusal {
    /// As written in logs and audit entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WrongPassword => "wrong_password",
            Self::Disabled => "disabled",
            Self::Locked => "locked",
        }
    }
}

/// Signs a staff member in, reserving the attempt before the password is checked.
#[tracing::instrument(skip_all, fields(staff_id = Empty))]
pub async fn sign_in(s: &IdentityState, username: &str, password: String) -> Result<StaffSession, StaffLoginError> {
    let Some(row) = store::staff_by_username(&s.db, username).await? else {
        s.passwords.verify(password, None).await?;
        tracing::info!("staff sign-in refused: unknown username");
        return Err(StaffLoginError::BadCredentials);
    };
    tracing::Span::current().record("staff_id", row.id.as_str());
    let Some(attempt) = store::reserve_attempt(&s.db, &row.id, LOCKOUT_THRESHOLD, LOCKOUT.as_millis() as i64).await?
    else {
        // As long as a real check, so the lock cannot be told apart by time either.
        s.passwords.verify(password, None).await?;
        tracing::info!(staff_id = %row.id, reason = Refusal::Locked.as_str(), "staff sign-in refused");
        return Err(StaffLoginError::BadCredentials);
    };
    let good = s.passwords.verify(password, Some(row.password_hash.clone())).await?;
    if good && !row.disabled {
        store::record_good_login(&s.db, &row.id).await?;
        let ttl = Duration::from_secs(s.platform.settings.identity.staff_session_secs);
        let issued = s.sessions.issue(store::STAFF, &row.id, ttl).await?;
        tracing::info!(staff_id = %row.id, "staff signed in");
        let staff = StaffRow { failed_logins: 0, locked_until_ms: 0, ..row };
        return Ok(StaffSession { token: issued.token, expires_at_ms: issued.expires_at_ms, staff });
    }
    let reason = if good { Refusal::Disabled } else { Refusal::WrongPassword };
    let locked = attempt >= LOCKOUT_THRESHOLD;
    tracing::info!(staff_id = %row.id, reason = reason.as_str(), attempt, locked, "staff sign-in refused");
    audit_refusal(s, &row, reason, attempt, locked).await?;
    Err(StaffLoginError::BadCredentials)
}

/// Writes a refused sign-in of a known account to the audit log (at most the threshold's
/// worth per lock period: a locked account's refusals go to the log only).
async fn audit_refusal(
    s: &IdentityState,
    row: &StaffRow,
    reason: Refusal,
    attempt: i64,
    locked: bool,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let entry = AuditEntry {
        actor_id: row.id.clone(),
        actor_name: row.username.clone(),
        service: NAME.into(),
        action: "refuse_staff_sign_in".into(),
        target: format!("staff:{}", row.id),
        before: None,
        after: Some(serde_json::json!({
            "reason": reason.as_str(),
            "failed_logins": attempt,
            "locked_until_ms": if locked { now + LOCKOUT.as_millis() as i64 } else { 0 },
        })),
        request_id: city_platform::request_id::current(),
        at_ms: now,
    };
    let mut tx = s.db.begin_write().await?;
    audit::record(&mut tx, &entry).await?;
    tx.commit().await
}
