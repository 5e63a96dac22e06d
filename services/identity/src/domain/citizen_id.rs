//! The citizen id: who a session, a family member and a WeChat identity belong to.

use std::fmt;

/// A citizen's id (UUIDv7 text), the same through every app when WeChat gives a unionid.
///
/// A newtype so a citizen id cannot be passed where a person (family member), staff or session
/// id is expected: store calls that scope rows to a citizen take this, not a bare `&str`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CitizenId(String);

impl CitizenId {
    /// An id as stored or as carried by a verified session (no format check: ids are ours).
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text, for SQL and JSON.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for CitizenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for CitizenId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}
