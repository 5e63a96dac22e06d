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
    identity: city_platform::peers::Peer,
    http: reqwest::Client,
    internal: Option<city_platform::auth::InternalToken>,
}

impl HttpPeople {
    /// A client of identity at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: impl Into<String>) -> Self {
        Self::to(city_platform::peers::Peer::new("identity", &[base.into()], std::time::Duration::from_secs(10)))
    }

    /// A client of identity's replicas, in turn.
    pub fn to(identity: city_platform::peers::Peer) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self { identity, http, internal: None }
    }

    /// Presents the internal token besides the citizen's header: the lookup is part of a booking
    /// the edge has already counted, and without it every citizen's lookup would spend one shared
    /// budget, the calling replica's address (seen under load: 503s once 1,200 a minute passed).
    pub fn vouched_by(mut self, internal: city_platform::auth::InternalToken) -> Self {
        self.internal = Some(internal);
        self
    }
}

#[async_trait]
impl PeopleDirectory for HttpPeople {
    async fn person(&self, _citizen_id: &str, authorization: &str, person_id: &str) -> Result<Option<Person>, Problem> {
        if person_id.is_empty() || !person_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Ok(None);
        }
        let base = self.identity.base();
        let url = format!("{base}/v1/me/people/{person_id}");
        let mut req = self.http.get(&url).header("authorization", authorization);
        if let Some(internal) = &self.internal {
            req = req.header(city_platform::auth::INTERNAL_TOKEN_HEADER, internal.expose());
        }
        for (name, value) in city_platform::peers::trace_headers() {
            req = req.header(name, value);
        }
        let res = req.send().await.map_err(|err| {
            if err.is_connect() || err.is_timeout() {
                self.identity.failed(&base);
            }
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

/// Remembers the people another directory confirmed, for `ttl`, so a citizen who books again
/// (a retry, a second family member's visit, a waitlist join then a booking) does not cost an
/// identity round trip each time. Keyed by the signed-in citizen, so a confirmation is only
/// ever reused for the citizen it was given to; "not yours" is never remembered, so a family
/// member added a moment ago is bookable at once. A person removed in identity stays bookable
/// for at most `ttl`.
pub struct CachedPeople<D> {
    inner: D,
    ttl: std::time::Duration,
    seen: Mutex<HashMap<(String, String), (Person, std::time::Instant)>>,
}

impl<D: PeopleDirectory> CachedPeople<D> {
    /// `inner`'s answers, remembered for `ttl`.
    pub fn new(inner: D, ttl: std::time::Duration) -> Self {
        Self { inner, ttl, seen: Mutex::new(HashMap::new()) }
    }
}

#[async_trait]
impl<D: PeopleDirectory> PeopleDirectory for CachedPeople<D> {
    async fn person(&self, citizen_id: &str, authorization: &str, person_id: &str) -> Result<Option<Person>, Problem> {
        let key = (citizen_id.to_owned(), person_id.to_owned());
        let now = std::time::Instant::now();
        if let Some((person, _)) = self.seen.lock().get(&key).filter(|(_, at)| now.duration_since(*at) < self.ttl) {
            return Ok(Some(person.clone()));
        }
        let found = self.inner.person(citizen_id, authorization, person_id).await?;
        let mut seen = self.seen.lock();
        // Bounded: expired entries go first, and everything when that is not enough.
        if seen.len() >= 50_000 {
            seen.retain(|_, (_, at)| now.duration_since(*at) < self.ttl);
            if seen.len() >= 50_000 {
                seen.clear();
            }
        }
        match &found {
            Some(person) => seen.insert(key, (person.clone(), now)),
            None => seen.remove(&key),
        };
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    struct Counting {
        people: Arc<StaticPeople>,
        calls: AtomicUsize,
    }

    #[async_trait]
    impl PeopleDirectory for Counting {
        async fn person(&self, citizen_id: &str, auth: &str, person_id: &str) -> Result<Option<Person>, Problem> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.people.person(citizen_id, auth, person_id).await
        }
    }

    fn mum() -> Person {
        Person {
            id: "mum".into(),
            name_masked: "陈**".into(),
            relation: "parent".into(),
            sex: "female".into(),
            birth_date: "1958-06-12".into(),
            id_number_masked: "5101**********0033".into(),
            id_number_hash: "h".into(),
            phone_masked: None,
        }
    }

    #[tokio::test]
    async fn a_confirmed_person_is_remembered_for_that_citizen_only_and_a_refusal_is_not() {
        let people = StaticPeople::new();
        let cached = CachedPeople::new(
            Counting { people: people.clone(), calls: AtomicUsize::new(0) },
            std::time::Duration::from_secs(60),
        );
        // Not (yet) one of hers: asked every time, so adding the person takes effect at once.
        assert!(cached.person("c1", "Bearer a", "mum").await.unwrap().is_none());
        people.add("c1", mum());
        assert_eq!(cached.person("c1", "Bearer a", "mum").await.unwrap(), Some(mum()));
        assert_eq!(cached.person("c1", "Bearer a", "mum").await.unwrap(), Some(mum()));
        assert_eq!(cached.inner.calls.load(Ordering::SeqCst), 2);
        // Another citizen asking for the same id is asked about, and refused.
        assert!(cached.person("c2", "Bearer b", "mum").await.unwrap().is_none());
        assert_eq!(cached.inner.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_remembered_person_is_asked_about_again_after_the_ttl() {
        let people = StaticPeople::new();
        people.add("c1", mum());
        let cached = CachedPeople::new(
            Counting { people: people.clone(), calls: AtomicUsize::new(0) },
            std::time::Duration::from_millis(20),
        );
        cached.person("c1", "Bearer a", "mum").await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        cached.person("c1", "Bearer a", "mum").await.unwrap();
        assert_eq!(cached.inner.calls.load(Ordering::SeqCst), 2);
    }
}
