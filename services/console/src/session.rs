//! Console sessions: the cookie holds only an opaque random id; the shared cache (Redis when
//! distributed) maps its hash to the staff token and the CSRF token, with the idle timeout as
//! its time to live, renewed on every request. Signing out deletes the entry and revokes the
//! staff token at identity.

use std::sync::Arc;
use std::time::Duration;

use city_platform::cache::Cache;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const COOKIE: &str = "city_console";
/// The sign-in form's CSRF cookie (before there is a session).
pub const LOGIN_COOKIE: &str = "city_console_login";

/// What a console session holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsoleSession {
    /// The staff bearer token identity issued.
    pub token: String,
    /// The CSRF token every unsafe request must carry.
    pub csrf: String,
    /// Staff id.
    pub staff_id: String,
    /// Sign-in name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// Roles, as identity names them.
    pub roles: Vec<String>,
    /// District codes.
    pub districts: Vec<String>,
    /// Agency ids.
    pub agencies: Vec<String>,
    /// Signed in with a temporary password: every page but the password change is closed.
    #[serde(default)]
    pub must_change: bool,
}

impl ConsoleSession {
    /// The page a staff member starts on: the tickets for clerks and admins, else the place of
    /// their role (an agent-only account would otherwise land on a queue it may not read).
    pub fn home(&self) -> &'static str {
        let has = |r: &str| self.roles.iter().any(|x| x == r);
        if has("clerk") || has("admin") {
            "/console/queue"
        } else if has("agent") {
            "/console/conversations"
        } else if has("editor") {
            "/console/announcements"
        } else {
            "/console/queue"
        }
    }
}

/// The sessions in the shared cache.
#[derive(Clone)]
pub struct Sessions {
    cache: Arc<dyn Cache>,
    idle: Duration,
}

/// A fresh random token (256 bits, hex).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn key(id: &str) -> String {
    // The cache holds a hash of the id, so reading the cache does not give a usable cookie.
    format!("console:session:{}", hex::encode(Sha256::digest(id.as_bytes())))
}

impl Sessions {
    /// Over the platform's cache, ending sessions idle for `idle`.
    pub fn new(cache: Arc<dyn Cache>, idle: Duration) -> Self {
        Self { cache, idle }
    }

    /// Stores `session` under a new id and returns the id (the cookie's value).
    pub async fn create(&self, session: &ConsoleSession) -> Result<String, city_platform::cache::CacheError> {
        let id = random_token();
        let value = serde_json::to_vec(session).unwrap_or_default();
        self.cache.set(&key(&id), &value, self.idle).await?;
        Ok(id)
    }

    /// The live session of cookie value `id`, its idle clock restarted.
    pub async fn touch(&self, id: &str) -> Result<Option<ConsoleSession>, city_platform::cache::CacheError> {
        let k = key(id);
        let Some(raw) = self.cache.get(&k).await? else { return Ok(None) };
        let Ok(session) = serde_json::from_slice::<ConsoleSession>(&raw) else { return Ok(None) };
        self.cache.set(&k, &raw, self.idle).await?;
        Ok(Some(session))
    }

    /// Replaces what session `id` holds (its idle clock restarted).
    pub async fn update(&self, id: &str, session: &ConsoleSession) -> Result<(), city_platform::cache::CacheError> {
        let value = serde_json::to_vec(session).unwrap_or_default();
        self.cache.set(&key(id), &value, self.idle).await
    }

    /// Ends the session of cookie value `id`.
    pub async fn end(&self, id: &str) -> Result<(), city_platform::cache::CacheError> {
        self.cache.delete(&key(id)).await
    }
}

/// Compares two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    use subtle_free::ct_eq;
    ct_eq(a.as_bytes(), b.as_bytes())
}

mod subtle_free {
    /// Constant-time equality of two byte strings (length is not secret).
    pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?.split(';').map(str::trim).find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.trim() == name).then(|| v.trim())
    })
}

/// A `Set-Cookie` value for the console's path: `HttpOnly`, `SameSite=Strict`, `Secure` when
/// the request came over https; `max_age` 0 deletes it.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<u64>) -> String {
    let mut c = format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let h = Some("a=1; city_console_login=x; city_console=abc");
        assert_eq!(cookie(h, COOKIE), Some("abc"));
        assert_eq!(cookie(h, LOGIN_COOKIE), Some("x"));
        assert_eq!(cookie(h, "city"), None);
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_only_over_https() {
        let c = set_cookie(COOKIE, "v", false, None);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && !c.contains("Secure"));
        assert!(set_cookie(COOKIE, "v", true, Some(0)).ends_with("; Secure; Max-Age=0"));
    }

    #[test]
    fn each_role_starts_on_its_own_page() {
        let with = |roles: &[&str]| ConsoleSession {
            token: "t".into(),
            csrf: "c".into(),
            staff_id: "s".into(),
            username: "u".into(),
            display_name: "U".into(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            districts: vec![],
            agencies: vec![],
            must_change: false,
        };
        assert_eq!(with(&["clerk", "agent"]).home(), "/console/queue");
        assert_eq!(with(&["admin"]).home(), "/console/queue");
        assert_eq!(with(&["agent"]).home(), "/console/conversations");
        assert_eq!(with(&["editor"]).home(), "/console/announcements");
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "ab"));
    }

    #[tokio::test]
    async fn a_session_ends_when_idle_and_when_ended() {
        let cache = city_platform::cache::MemoryCache::new();
        let sessions = Sessions::new(cache, Duration::from_millis(200));
        let s = ConsoleSession {
            token: "t".into(),
            csrf: random_token(),
            staff_id: "s1".into(),
            username: "u".into(),
            display_name: "U".into(),
            roles: vec!["clerk".into()],
            districts: vec![],
            agencies: vec![],
            must_change: false,
        };
        let id = sessions.create(&s).await.unwrap();
        assert!(sessions.touch(&id).await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(sessions.touch(&id).await.unwrap().is_some(), "touching restarts the idle clock");
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(sessions.touch(&id).await.unwrap().is_some());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(sessions.touch(&id).await.unwrap().is_none(), "idle past the timeout");
        let id = sessions.create(&s).await.unwrap();
        sessions.end(&id).await.unwrap();
        assert!(sessions.touch(&id).await.unwrap().is_none());
    }
}
