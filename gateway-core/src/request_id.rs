//! Request ids: which API call a piece of work belongs to.
//!
//! A host (the HTTP layer) runs each request inside [`scope`]; while it runs, [`current`] returns
//! the request's id, and every job enqueued on its behalf records it ([`NewJob`] constructors
//! read it). A [`Worker`] runs each job inside the scope of the id its row carries, so the jobs
//! a job enqueues (a settled payment's webhook deliveries) inherit it too: one id traces an API
//! call through every job it caused, in the job rows and in the logs.
//!
//! The id lives in a tokio task-local: it follows the request's future, not the thread, and a
//! task spawned from it starts without one unless that task is run in a [`scope`] of its own.
//!
//! [`NewJob`]: crate::jobs::NewJob
//! [`Worker`]: crate::runner::Worker

use std::future::Future;

use crate::crypto::random_alphanumeric;

/// The longest request id accepted from a client or proxy.
pub const MAX_LEN: usize = 128;

tokio::task_local! {
    static CURRENT: Option<String>;
}

/// Runs `future` with `id` as the current request id (none if `id` is `None`).
pub async fn scope<F: Future>(id: Option<String>, future: F) -> F::Output {
    CURRENT.scope(id, future).await
}

/// The id of the request the running task works for, if any.
pub fn current() -> Option<String> {
    CURRENT.try_with(Clone::clone).ok().flatten()
}

/// A new id: `req_` + 20 alphanumerics from a CSPRNG.
pub fn generate() -> String {
    format!("req_{}", random_alphanumeric(20))
}

/// `candidate` if it is a usable id from outside: 1–[`MAX_LEN`] characters of
/// `[A-Za-z0-9._:-]`. Anything else (empty, too long, spaces, quotes, control characters) could
/// break a log line or a header and is not accepted.
pub fn accept(candidate: &str) -> Option<&str> {
    let fits = (1..=MAX_LEN).contains(&candidate.len())
        && candidate
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    fits.then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_acceptable_and_distinct() {
        let (a, b) = (generate(), generate());
        assert!(a.starts_with("req_") && a.len() == 24, "{a}");
        assert_eq!(accept(&a), Some(a.as_str()));
        assert_ne!(a, b);
    }

    #[test]
    fn only_short_plain_ids_are_accepted() {
        for good in ["my-trace-123", "a", "A.b_c:d-9", &"x".repeat(MAX_LEN)] {
            assert_eq!(accept(good), Some(good));
        }
        for bad in [
            "",
            "has space",
            "quote\"",
            "line\nbreak",
            "ünïcode",
            "semi;colon",
            &"x".repeat(MAX_LEN + 1),
        ] {
            assert_eq!(accept(bad), None, "{bad:?}");
        }
    }

    #[tokio::test]
    async fn the_id_is_current_inside_its_scope_only() {
        assert_eq!(current(), None);
        let inside = scope(Some("req_1".into()), async { current() }).await;
        assert_eq!(inside, Some("req_1".into()));
        assert_eq!(scope(None, async { current() }).await, None);
        assert_eq!(current(), None);
    }
}
