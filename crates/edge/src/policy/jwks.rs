//! The PoP's JWKS cache: one per process, shared by every policy, keyed by JWKS URL.
//!
//! The decisions (when to fetch, single flight, backoff, stale keys when the IdP is down,
//! rate-limited refetch on an unknown `kid`) are `warren_jwt::JwksCacheState`'s; this file
//! only performs the HTTP fetches. A request that finds no keys at all waits for the first
//! fetch (bounded); a due refresh with keys at hand happens in the background.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;
use tracing::{info, warn};
use warren_jwt::{FetchDecision, JwksCacheConfig, JwksCacheState, JwksStatus, KeySet};

/// The longest a request waits for a JWKS it has never had.
const FIRST_FETCH_WAIT: Duration = Duration::from_secs(5);
/// Bounded JWKS documents (warren-jwt bounds them again when parsing).
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Metric: JWKS fetches by outcome (`ok`, `error`).
pub const JWKS_FETCHES: &str = "warren_policy_jwks_fetches_total";

/// Fetches and caches JWKS documents.
pub struct JwksStore {
    state: Mutex<JwksCacheState>,
    fetched: Notify,
    client: reqwest::Client,
}

impl std::fmt::Debug for JwksStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwksStore")
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl JwksStore {
    pub fn new() -> Arc<JwksStore> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("warren/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Arc::new(JwksStore {
            state: Mutex::new(JwksCacheState::new(JwksCacheConfig::default())),
            fetched: Notify::new(),
            client,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, JwksCacheState> {
        // Only plain bookkeeping happens under the lock; a poisoned one holds consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The keys of `url` right now.
    pub fn status(&self, url: &str) -> JwksStatus {
        self.lock().status(url)
    }

    /// Makes sure every URL is tracked and fetched when due; waits (bounded) only for URLs
    /// that have no keys at all.
    pub async fn ensure(self: &Arc<Self>, urls: &[&str]) {
        for url in urls {
            let (decision, has_keys) = {
                let mut st = self.lock();
                st.track(url);
                (st.decide(url, now_secs()), matches!(st.status(url), JwksStatus::Keys { .. }))
            };
            match (decision, has_keys) {
                (FetchDecision::FetchNow(_), true) => {
                    let this = self.clone();
                    let url = url.to_string();
                    tokio::spawn(async move { this.fetch(&url).await });
                }
                (FetchDecision::FetchNow(_), false) => {
                    let _ = tokio::time::timeout(FIRST_FETCH_WAIT, self.fetch(url)).await;
                }
                (FetchDecision::InFlight, false) => {
                    let _ = tokio::time::timeout(FIRST_FETCH_WAIT, self.fetched.notified()).await;
                }
                _ => {}
            }
        }
    }

    /// A token named a `kid` we do not have: refetch now if the rate limit allows. Returns
    /// whether new keys were fetched.
    pub async fn refetch_for_unknown_kid(&self, url: &str, kid: Option<&str>) -> bool {
        let allowed = self.lock().on_unknown_kid(url, kid, now_secs());
        allowed && self.fetch(url).await
    }

    /// One fetch, if this caller wins the single-flight ticket. Returns whether keys changed.
    async fn fetch(&self, url: &str) -> bool {
        let Some(ticket) = self.lock().begin_fetch(url, now_secs()) else {
            let _ = tokio::time::timeout(FIRST_FETCH_WAIT, self.fetched.notified()).await;
            return false;
        };
        let result = self.download(url).await;
        match &result {
            Ok(keys) => {
                metrics::counter!(JWKS_FETCHES, "outcome" => "ok").increment(1);
                info!(jwks.url = %url, keys = keys.len(), "JWKS fetched");
            }
            Err(e) => {
                metrics::counter!(JWKS_FETCHES, "outcome" => "error").increment(1);
                warn!(jwks.url = %url, error = %e, "JWKS fetch failed; keeping the keys we have");
            }
        }
        let ok = result.is_ok();
        self.lock().finish_fetch(ticket, now_secs(), result);
        self.fetched.notify_waiters();
        ok
    }

    async fn download(&self, url: &str) -> Result<KeySet, String> {
        let res = self.client.get(url).send().await.map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            return Err(format!("HTTP {}", res.status()));
        }
        if res.content_length().is_some_and(|n| n > MAX_JWKS_BYTES as u64) {
            return Err("JWKS document too large".into());
        }
        let body = res.bytes().await.map_err(|e| e.to_string())?;
        KeySet::from_jwks_json(&body).map_err(|e| e.to_string())
    }
}
