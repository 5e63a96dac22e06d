//! What the identity handlers, use cases and background consumers share.

use std::sync::Arc;

use city_platform::{Db, Platform};

use crate::domain::real_name::{RealNameCheck, SandboxRealName};
use crate::domain::sealed::Sealer;
use crate::password::Passwords;
use crate::sessions::Sessions;
use crate::wechat::Wechat;

/// What the identity handlers share.
pub struct IdentityState {
    /// The service's own store.
    pub db: Db,
    /// Cache, bus and reference data.
    pub platform: Platform,
    pub(crate) sealer: Sealer,
    pub(crate) wechat: Wechat,
    pub(crate) passwords: Passwords,
    pub(crate) sessions: Sessions,
    /// Whose name an ID number is: the sandbox's until a city plugs in its authority.
    pub(crate) real_name: Arc<dyn RealNameCheck>,
}

impl IdentityState {
    /// The state over an opened store.
    pub(crate) fn new(db: Db, platform: Platform) -> Self {
        let s = &platform.settings.identity;
        let sealer = Sealer::new(s.data_key.expose(), s.hash_key.expose());
        let wechat = Wechat::new(&platform);
        let sessions = Sessions::new(db.clone(), platform.cache.clone());
        let real_name = Arc::new(SandboxRealName);
        Self { db, sealer, wechat, passwords: Passwords::new(), sessions, platform, real_name }
    }
}
