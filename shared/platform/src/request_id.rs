//! The request id of the request being served, readable anywhere on its task.
//!
//! Set once by the edge middleware; read by [`crate::problem::Problem`] for `instance`.

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The header that carries it, accepted from clients and echoed on every response.
pub const HEADER: &str = "x-request-id";

/// The current request's id, if this task is serving one.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(|id| id.clone()).ok()
}

/// Runs `fut` with `id` as the current request id.
pub async fn scope<F: std::future::Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// A client's id is kept only when it is short and printable, so it is safe in logs and headers.
pub fn accept(candidate: &str) -> bool {
    !candidate.is_empty()
        && candidate.len() <= 128
        && candidate.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}
