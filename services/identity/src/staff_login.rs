//! Staff sign-in: username and password (argon2id, unknown usernames take as long as known
//! ones), the lockout after [`LOCKOUT_THRESHOLD`] failures in a row, and the staff session.

use std::time::Duration;

use city_platform::time::now_ms;
use tracing::field::Empty;

use crate::password::PasswordError;
use crate::state::IdentityState;
use crate::store::{self, StaffRow};

/// Consecutive failed staff sign-ins that lock the account.
pub const LOCKOUT_THRESHOLD: i64 = 5;
/// How long a locked account stays locked.
pub const LOCKOUT: Duration = Duration::from_secs(15 * 60);

/// Why a staff member was not signed in.
#[derive(Debug, thiserror::Error)]
pub enum StaffLoginError {
    /// Unknown username, wrong password, or a disabled account: which one is not said.
    #[error("wrong username or password")]
    BadCredentials,
    /// Locked after repeated failures.
    #[error("the account is locked for {retry_after_secs} s")]
    Locked {
        /// Seconds until the lock ends (at least 1).
        retry_after_secs: u64,
    },
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

/// Signs a staff member in, counting failures towards the lockout.
#[tracing::instrument(skip_all, fields(staff_id = Empty))]
pub async fn sign_in(s: &IdentityState, username: &str, password: String) -> Result<StaffSession, StaffLoginError> {
    let row = store::staff_by_username(&s.db, username).await?;
    if let Some(r) = &row {
        tracing::Span::current().record("staff_id", r.id.as_str());
    }
    let now = now_ms();
    if let Some(r) = row.as_ref().filter(|r| r.locked_until_ms > now) {
        return Err(StaffLoginError::Locked { retry_after_secs: ((r.locked_until_ms - now) / 1000).max(1) as u64 });
    }
    let good = s.passwords.verify(password, row.as_ref().map(|r| r.password_hash.clone())).await?;
    let Some(row) = row else { return Err(StaffLoginError::BadCredentials) };
    if !good {
        store::record_failed_login(&s.db, &row.id, LOCKOUT_THRESHOLD, LOCKOUT.as_millis() as i64).await?;
        tracing::info!(staff_id = %row.id, "staff sign-in refused: wrong password");
        return Err(StaffLoginError::BadCredentials);
    }
    if row.disabled {
        tracing::info!(staff_id = %row.id, "staff sign-in refused: disabled");
        return Err(StaffLoginError::BadCredentials);
    }
    store::record_good_login(&s.db, &row.id).await?;
    let ttl = Duration::from_secs(s.platform.settings.identity.staff_session_secs);
    let issued = s.sessions.issue(store::STAFF, &row.id, ttl).await?;
    tracing::info!(staff_id = %row.id, "staff signed in");
    Ok(StaffSession { token: issued.token, expires_at_ms: issued.expires_at_ms, staff: row })
}
