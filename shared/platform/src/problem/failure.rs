//! The error half of an operation's result, documented from the errors its handler can return.
//!
//! A handler returns `Result<T, Failure<E>>`, where `E` is the typed error of the use case it
//! calls (or a set declared with [`error_set!`](crate::error_set)). The OpenAPI document then
//! lists exactly `E`'s kinds plus what the edge itself answers ([`kind::EDGE`]), one response per
//! status with every kind behind it named; nothing is listed by hand. In debug builds (every test
//! run) a problem whose status the operation does not document panics, so a test that reaches it
//! fails instead of the document quietly lying.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Mutex, OnceLock};

use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::ApiResponse;

use super::kind::{self, ErrorKind};
use super::{Problem, PROBLEM_JSON};

/// Every kind a typed error (or a declared set) can become.
pub trait ErrorSet: Send + Sync + 'static {
    /// The kinds; the order is that of the documentation.
    fn kinds() -> Vec<&'static ErrorKind>;
}

/// A typed error that knows its problem: services implement it for their own error enums so `?`
/// turns them into a [`Failure`].
pub trait IntoProblem {
    /// The problem a client sees; 5xx causes are logged here, never sent.
    fn into_problem(self) -> Problem;
}

impl IntoProblem for sqlx::Error {
    fn into_problem(self) -> Problem {
        Problem::from(self)
    }
}

/// Declares a set of error kinds, for operations whose handler returns more than one use case's
/// errors or only common ones:
///
/// ```ignore
/// city_platform::error_set!(
///     /// What reading a doctor's day can fail with.
///     pub DayErrors = [kind::NOT_FOUND, kind::VALIDATION] + BookError
/// );
/// ```
#[macro_export]
macro_rules! error_set {
    ($(#[$m:meta])* $vis:vis $name:ident = [$($kind:path),* $(,)?] $(+ $inc:ty)*) => {
        $(#[$m])*
        #[derive(Debug)]
        $vis enum $name {}
        impl $crate::problem::ErrorSet for $name {
            fn kinds() -> Vec<&'static $crate::problem::ErrorKind> {
                #[allow(unused_mut)]
                let mut v: Vec<&'static $crate::problem::ErrorKind> = vec![$(&$kind),*];
                $( v.extend(<$inc as $crate::problem::ErrorSet>::kinds()); )*
                v
            }
        }
    };
}

/// An operation's error: a [`Problem`] whose possible kinds are `E`'s.
pub struct Failure<E> {
    problem: Problem,
    documented: PhantomData<fn() -> E>,
}

impl<E> std::fmt::Debug for Failure<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.problem.fmt(f)
    }
}

impl<E: ErrorSet> Failure<E> {
    /// Wraps a problem; in debug builds, checks the operation documents its status.
    pub fn new(problem: Problem) -> Self {
        if cfg!(debug_assertions) && !documented_statuses::<E>().contains(&problem.status) {
            panic!(
                "{} answered {} ({}) but documents only {:?}: add the kind to its error set",
                std::any::type_name::<E>(),
                problem.status,
                problem.kind,
                documented_statuses::<E>()
            );
        }
        Self { problem, documented: PhantomData }
    }

    /// The problem inside.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }

    /// The problem inside, by value.
    pub fn into_problem(self) -> Problem {
        self.problem
    }
}

impl<E: ErrorSet> From<Problem> for Failure<E> {
    fn from(p: Problem) -> Self {
        Self::new(p)
    }
}

impl<E: ErrorSet, X: IntoProblem> From<X> for Failure<E> {
    fn from(err: X) -> Self {
        Self::new(err.into_problem())
    }
}

impl<E> IntoResponse for Failure<E> {
    fn into_response(self) -> Response {
        self.problem.into_response()
    }
}

impl<E: ErrorSet> From<Failure<E>> for poem::Error {
    fn from(f: Failure<E>) -> Self {
        poem::Error::from_response(f.problem.into_response())
    }
}

/// `E`'s kinds and the edge's, without repeats, in documentation order.
pub fn documented_kinds<E: ErrorSet>() -> Vec<&'static ErrorKind> {
    let mut all: Vec<&'static ErrorKind> = Vec::new();
    for k in E::kinds().into_iter().chain(kind::EDGE.iter().copied()) {
        if !all.iter().any(|seen| seen.code == k.code) {
            all.push(k);
        }
    }
    all
}

fn documented_statuses<E: ErrorSet>() -> Vec<u16> {
    let mut s: Vec<u16> = documented_kinds::<E>().iter().map(|k| k.status).collect();
    s.sort_unstable();
    s.dedup();
    s
}

/// poem-openapi wants `&'static str` descriptions; each distinct text is kept once.
fn interned(text: String) -> &'static str {
    static TEXTS: OnceLock<Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    let mut texts = TEXTS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(t) = texts.get(&text) {
        return t;
    }
    let leaked: &'static str = Box::leak(text.clone().into_boxed_str());
    texts.insert(text, leaked);
    leaked
}

impl<E: ErrorSet> ApiResponse for Failure<E> {
    fn meta() -> MetaResponses {
        let kinds = documented_kinds::<E>();
        let mut responses = Vec::new();
        for status in documented_statuses::<E>() {
            let lines: Vec<String> =
                kinds.iter().filter(|k| k.status == status).map(|k| format!("`{}`: {}", k.code, k.meaning)).collect();
            responses.push(MetaResponse {
                description: interned(lines.join("\n\n")),
                status: Some(status),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: PROBLEM_JSON,
                    schema: <poem_openapi::payload::Json<Problem> as poem_openapi::payload::Payload>::schema_ref(),
                }],
                headers: vec![],
            });
        }
        MetaResponses { responses }
    }

    fn register(registry: &mut Registry) {
        <Problem as Type>::register(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOT_FULL: ErrorKind = ErrorKind::new(409, "slot-full", "The slot is full", "号源已满", "No place left.");
    crate::error_set!(Booking = [SLOT_FULL, kind::NOT_FOUND]);
    crate::error_set!(Reading = []);

    #[test]
    fn an_operation_documents_its_kinds_and_the_edges_and_nothing_else() {
        let statuses: Vec<u16> = Failure::<Reading>::meta().responses.iter().filter_map(|r| r.status).collect();
        assert_eq!(statuses, vec![400, 401, 413, 415, 429, 500, 503]);
        let statuses: Vec<u16> = Failure::<Booking>::meta().responses.iter().filter_map(|r| r.status).collect();
        assert_eq!(statuses, vec![400, 401, 404, 409, 413, 415, 429, 500, 503]);
    }

    #[test]
    fn each_response_names_the_kinds_behind_its_status() {
        let meta = Failure::<Booking>::meta();
        let conflict = meta.responses.iter().find(|r| r.status == Some(409)).unwrap();
        assert!(conflict.description.contains("`slot-full`"), "{}", conflict.description);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "documents only")]
    fn an_undocumented_status_panics_in_debug_builds() {
        let _ = Failure::<Reading>::from(Problem::of(&kind::NOT_FOUND));
    }
}
