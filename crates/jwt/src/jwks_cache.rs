//! When to fetch which JWKS, and what to verify with meanwhile — the cache logic without the
//! fetching.
//!
//! The I/O layer asks [`JwksCacheState::decide`] per URL (or [`JwksCacheState::next_wakeup`] for
//! a timer), calls [`JwksCacheState::begin_fetch`] (which grants at most one fetch in flight per
//! URL: single flight), performs the HTTP request, and reports with
//! [`JwksCacheState::finish_fetch`]. Rules:
//! - never fetched: fetch now; until a fetch succeeds the status is [`JwksStatus::NoKeys`]
//!   (the edge answers 503, not 401: the client did nothing wrong);
//! - success replaces the keys and schedules the next refresh after `refresh_interval_secs`;
//! - failure keeps the previous (stale) keys and retries with exponential backoff;
//! - a token with an unknown `kid` may trigger an early refetch, at most once per
//!   `unknown_kid_min_interval_secs`, so random `kid`s cannot turn the edge into a JWKS flooder.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::keyset::KeySet;

/// Tunables of the refresh schedule, all in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksCacheConfig {
    /// Scheduled refresh after a success (default 300 s).
    pub refresh_interval_secs: u64,
    /// Minimum spacing of refetches caused by unknown `kid`s (default 10 s).
    pub unknown_kid_min_interval_secs: u64,
    /// First retry delay after a failure, doubled per consecutive failure (default 1 s).
    pub backoff_initial_secs: u64,
    /// Ceiling of the retry delay (default 300 s).
    pub backoff_max_secs: u64,
    /// A fetch in flight longer than this is presumed lost and another may begin (default 60 s).
    pub fetch_timeout_secs: u64,
}

impl Default for JwksCacheConfig {
    fn default() -> Self {
        JwksCacheConfig {
            refresh_interval_secs: 300,
            unknown_kid_min_interval_secs: 10,
            backoff_initial_secs: 1,
            backoff_max_secs: 300,
            fetch_timeout_secs: 60,
        }
    }
}

/// Why a fetch is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchReason {
    Initial,
    Scheduled,
    Retry,
    UnknownKid,
}

/// What the I/O layer should do for one URL now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchDecision {
    FetchNow(FetchReason),
    /// Nothing until this time (unix seconds).
    WaitUntil(u64),
    /// A fetch is already running; wait for it.
    InFlight,
}

/// The keys available for one URL.
#[derive(Debug, Clone)]
pub enum JwksStatus {
    /// Never fetched successfully: verification is impossible (map to 503).
    NoKeys { last_error: Option<String> },
    /// Keys from the last successful fetch; `stale` when later fetches have failed.
    Keys { keys: Arc<KeySet>, fetched_at: u64, stale: bool },
}

/// Proof that this caller owns the single in-flight fetch for `url`.
#[derive(Debug, PartialEq, Eq)]
pub struct FetchTicket {
    url: String,
    generation: u64,
}

impl FetchTicket {
    pub fn url(&self) -> &str {
        &self.url
    }
}

#[derive(Debug, Default)]
struct Entry {
    keys: Option<Arc<KeySet>>,
    fetched_at: u64,
    next_fetch_at: u64,
    reason: Option<FetchReason>,
    in_flight_since: Option<u64>,
    generation: u64,
    failures: u32,
    last_error: Option<String>,
    last_unknown_kid_fetch: Option<u64>,
}

/// Refresh bookkeeping for every JWKS URL the policies use.
#[derive(Debug, Default)]
pub struct JwksCacheState {
    config: JwksCacheConfig,
    entries: BTreeMap<String, Entry>,
}

impl JwksCacheState {
    pub fn new(config: JwksCacheConfig) -> Self {
        JwksCacheState { config, entries: BTreeMap::new() }
    }

    /// Starts tracking `url` (idempotent); its first fetch is due immediately.
    pub fn track(&mut self, url: &str) {
        self.entries
            .entry(url.to_owned())
            .or_insert_with(|| Entry { reason: Some(FetchReason::Initial), ..Entry::default() });
    }

    /// Stops tracking `url` (its policy went away).
    pub fn untrack(&mut self, url: &str) {
        self.entries.remove(url);
    }

    /// The tracked URLs.
    pub fn urls(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    fn in_flight(&self, entry: &Entry, now: u64) -> bool {
        entry.in_flight_since.is_some_and(|since| now < since.saturating_add(self.config.fetch_timeout_secs))
    }

    /// What to do for `url` at `now`. An untracked URL is tracked first.
    pub fn decide(&mut self, url: &str, now: u64) -> FetchDecision {
        self.track(url);
        let entry = &self.entries[url];
        if self.in_flight(entry, now) {
            return FetchDecision::InFlight;
        }
        if now >= entry.next_fetch_at {
            FetchDecision::FetchNow(entry.reason.unwrap_or(FetchReason::Scheduled))
        } else {
            FetchDecision::WaitUntil(entry.next_fetch_at)
        }
    }

    /// The earliest time any tracked URL needs a fetch (for the I/O layer's timer).
    pub fn next_wakeup(&self) -> Option<u64> {
        self.entries.values().map(|e| e.next_fetch_at).min()
    }

    /// A token named a `kid` the cached keys lack. Returns true when that justifies a refetch now
    /// (the fetch is then due immediately); false when one happened too recently or the keys do
    /// contain the kid after all.
    pub fn on_unknown_kid(&mut self, url: &str, kid: Option<&str>, now: u64) -> bool {
        self.track(url);
        let min_interval = self.config.unknown_kid_min_interval_secs;
        let Some(entry) = self.entries.get_mut(url) else { return false };
        if let (Some(keys), Some(kid)) = (&entry.keys, kid)
            && keys.contains_kid(kid)
        {
            return false;
        }
        if entry.last_unknown_kid_fetch.is_some_and(|last| now < last.saturating_add(min_interval)) {
            return false;
        }
        entry.last_unknown_kid_fetch = Some(now);
        if entry.next_fetch_at > now {
            entry.next_fetch_at = now;
            entry.reason = Some(FetchReason::UnknownKid);
        }
        true
    }

    /// Claims the single in-flight fetch for `url`, if it is due and none is running.
    pub fn begin_fetch(&mut self, url: &str, now: u64) -> Option<FetchTicket> {
        match self.decide(url, now) {
            FetchDecision::FetchNow(_) => {}
            FetchDecision::WaitUntil(_) | FetchDecision::InFlight => return None,
        }
        let entry = self.entries.get_mut(url)?;
        entry.generation += 1;
        entry.in_flight_since = Some(now);
        Some(FetchTicket { url: url.to_owned(), generation: entry.generation })
    }

    /// Records the outcome of the fetch `ticket` granted. A late ticket (its fetch timed out and a
    /// newer one began) is ignored; returns whether it was applied.
    pub fn finish_fetch(&mut self, ticket: FetchTicket, now: u64, result: Result<KeySet, String>) -> bool {
        let config = self.config;
        let Some(entry) = self.entries.get_mut(&ticket.url) else { return false };
        if entry.generation != ticket.generation {
            return false;
        }
        entry.in_flight_since = None;
        match result {
            Ok(keys) => {
                entry.keys = Some(Arc::new(keys));
                entry.fetched_at = now;
                entry.failures = 0;
                entry.last_error = None;
                entry.next_fetch_at = now.saturating_add(config.refresh_interval_secs);
                entry.reason = Some(FetchReason::Scheduled);
            }
            Err(error) => {
                let shift = entry.failures.min(20);
                let delay = config
                    .backoff_initial_secs
                    .max(1)
                    .saturating_mul(1u64 << shift)
                    .min(config.backoff_max_secs.max(1));
                entry.failures = entry.failures.saturating_add(1);
                entry.last_error = Some(error);
                entry.next_fetch_at = now.saturating_add(delay);
                entry.reason = Some(FetchReason::Retry);
            }
        }
        true
    }

    /// The keys to verify with for `url`.
    pub fn status(&self, url: &str) -> JwksStatus {
        match self.entries.get(url) {
            Some(Entry { keys: Some(keys), fetched_at, failures, .. }) => {
                JwksStatus::Keys { keys: Arc::clone(keys), fetched_at: *fetched_at, stale: *failures > 0 }
            }
            Some(entry) => JwksStatus::NoKeys { last_error: entry.last_error.clone() },
            None => JwksStatus::NoKeys { last_error: None },
        }
    }
}
