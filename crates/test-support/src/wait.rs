//! Waiting for a state instead of sleeping for a guess.
//!
//! Every helper polls with a short, growing backoff (10 ms doubling up to 200 ms) and never sleeps
//! past its deadline. On timeout the error names how long it waited and how many checks it made;
//! [`wait_for_ok`] also carries the last failure, which is usually the useful part.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::Error;

const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_millis(200);

struct Poll {
    deadline: Instant,
    backoff: Duration,
    checks: u32,
}

impl Poll {
    fn new(timeout: Duration) -> Self {
        Self { deadline: Instant::now() + timeout, backoff: FIRST_BACKOFF, checks: 0 }
    }

    /// Sleeps before the next check; `false` once the deadline has passed.
    async fn next(&mut self) -> bool {
        self.checks += 1;
        let now = Instant::now();
        if now >= self.deadline {
            return false;
        }
        tokio::time::sleep(self.backoff.min(self.deadline - now)).await;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        true
    }

    fn timeout(&self, timeout: Duration, what: &str, last: Option<String>) -> Error {
        let detail = match last {
            Some(last) => format!(" ({} checks; last: {last})", self.checks),
            None => format!(" ({} checks)", self.checks),
        };
        Error::Timeout { what: what.to_owned(), after: timeout, detail }
    }
}

/// Polls the async `condition` until it returns `true`, or fails after `timeout`.
///
/// ```ignore
/// wait_until(Duration::from_secs(5), || async { client.get(url).send().await.is_ok() }).await?;
/// ```
pub async fn wait_until<F, Fut>(timeout: Duration, mut condition: F) -> Result<(), Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let mut poll = Poll::new(timeout);
    loop {
        if condition().await {
            return Ok(());
        }
        if !poll.next().await {
            return Err(poll.timeout(timeout, "condition to become true", None));
        }
    }
}

/// Polls a plain (non-async) predicate, e.g. over an atomic counter or a captured log.
pub async fn wait_until_sync<F>(timeout: Duration, mut predicate: F) -> Result<(), Error>
where
    F: FnMut() -> bool,
{
    wait_until(timeout, || std::future::ready(predicate())).await
}

/// Polls until `probe` yields `Some(value)`, and returns the value.
pub async fn wait_for<T, F, Fut>(timeout: Duration, mut probe: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let mut poll = Poll::new(timeout);
    loop {
        if let Some(value) = probe().await {
            return Ok(value);
        }
        if !poll.next().await {
            return Err(poll.timeout(timeout, "a value", None));
        }
    }
}

/// Polls until `probe` succeeds; on timeout the error includes the last failure.
pub async fn wait_for_ok<T, E, F, Fut>(timeout: Duration, mut probe: F) -> Result<T, Error>
where
    E: Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut poll = Poll::new(timeout);
    loop {
        let last = match probe().await {
            Ok(value) => return Ok(value),
            Err(e) => e.to_string(),
        };
        if !poll.next().await {
            return Err(poll.timeout(timeout, "success", Some(last)));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn returns_once_the_condition_holds() {
        let calls = Arc::new(AtomicU32::new(0));
        let c = Arc::clone(&calls);
        wait_until(Duration::from_secs(5), move || {
            let c = Arc::clone(&c);
            async move { c.fetch_add(1, Ordering::SeqCst) >= 3 }
        })
        .await
        .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn times_out_with_a_description() {
        let start = Instant::now();
        let err = wait_until_sync(Duration::from_secs(2), || false).await.unwrap_err();
        assert!(start.elapsed() >= Duration::from_secs(2));
        assert!(start.elapsed() < Duration::from_millis(2300), "overshot: {:?}", start.elapsed());
        let msg = err.to_string();
        assert!(msg.starts_with("timed out after 2s waiting for condition"), "{msg}");

        let err =
            wait_for_ok(Duration::from_millis(100), || async { Err::<(), _>("connection refused") }).await.unwrap_err();
        assert!(err.to_string().contains("last: connection refused"), "{err}");
    }

    #[tokio::test(start_paused = true)]
    async fn wait_for_returns_the_value() {
        let mut n = 0;
        let v = wait_for(Duration::from_secs(1), || {
            n += 1;
            let n = n;
            async move { (n == 3).then_some(n * 10) }
        })
        .await
        .unwrap();
        assert_eq!(v, 30);
    }
}
