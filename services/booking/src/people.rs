//! The patients a citizen may book for (就诊人), owned by identity and read through its API.
//!
//! Booking never stores a real name or an ID number: it keeps the masked name for display and
//! the keyed hash of the ID number, which is what per-patient limits and suspensions count by.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use city_platform::Problem;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// A citizen's own family member, as identity describes it (already masked).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// The person's id in identity.
    pub id: String,
    /// `张*`.
    pub name_masked: String,
    /// `self`, `child`, `parent`, ...
    pub relation: String,
    /// `male` | `female`.
    pub sex: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// `5101**********1234`.
    pub id_number_masked: String,
    /// Hex HMAC-SHA256 of the normalised ID number: stable, not reversible.
    pub id_number_hash: String,
    /// `138****5678`, when identity has a phone for them.
    #[serde(default)]
    pub phone_masked: Option<String>,
}

impl std::fmt::Debug for Person {
    // The hash is a stable identifier of a real person: keep it out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Person").field("id", &self.id).field("name_masked", &self.name_masked).finish()
    }
}

/// Looks up a caller's own people.
#[async_trait]
pub trait PeopleDirectory: Send + Sync + 'static {
    /// The person `person_id` if it belongs to the calling citizen, else `None`.
    /// `authorization` is the citizen's own `Authorization` header, forwarded unchanged.
    async fn person(&self, citizen_id: &str, authorization: &str, person_id: &str) -> Result<Option<Person>, Problem>;
}

/// Identity over HTTP: `GET {base}/v1/me/people/{person_id}` with the citizen's own header.
pub struct HttpPeople {
    base: String,
    http: reqwest::Client,
}

impl HttpPeople {
    /// A client of identity at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self { base: base.into().trim_end_matches('/').to_owned(), http }
    }
}

#[async_trait]
impl PeopleDirectory for HttpPeople {
    async fn person(&self, _citizen_id: &str, authorization: &str, person_id: &str) -> Result<Option<Person>, Problem> {
        if person_id.is_empty() || !person_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Ok(None);
        }
        let url = format!("{}/v1/me/people/{person_id}", self.base);
        let res = self.http.get(&url).header("authorization", authorization).send().await.map_err(|err| {
            tracing::warn!(error = %err, "identity is not answering");
            Problem::unavailable("the identity service is not answering")
        })?;
        match res.status().as_u16() {
            200 => res.json::<Person>().await.map(Some).map_err(|err| {
                tracing::error!(error = %err, "identity answered an unreadable person");
                Problem::unavailable("the identity service answered something unreadable")
            }),
            404 => Ok(None),
            status => {
                tracing::warn!(status, "identity refused a person lookup");
                Err(Problem::unavailable("the identity service could not answer"))
            }
        }
    }
}

/// A fixed directory for tests and demos: citizen id → people.
#[derive(Default)]
pub struct StaticPeople {
    people: Mutex<HashMap<String, Vec<Person>>>,
}

impl StaticPeople {
    /// Empty.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// `citizen_id` may book for `person`.
    pub fn add(&self, citizen_id: &str, person: Person) {
        self.people.lock().entry(citizen_id.to_owned()).or_default().push(person);
    }
}

#[async_trait]
impl PeopleDirectory for StaticPeople {
    async fn person(&self, citizen_id: &str, _authorization: &str, person_id: &str) -> Result<Option<Person>, Problem> {
        Ok(self.people.lock().get(citizen_id).and_then(|ps| ps.iter().find(|p| p.id == person_id).cloned()))
    }
}
