//! A compiled policy with the state its actions keep: verified tokens and rate-limit windows.
//!
//! The state lives with the compiled policy on purpose: a verdict ("this token is valid")
//! depends on the jwt-validation action's issuer and audience lists, and a rate-limit window
//! on its capacity and rate, so a changed policy starts from fresh state instead of trusting
//! verdicts made under the old rules.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use warren_jwt::VerifiedCache;
use warren_policy::{Diagnostic, Policy, SlidingWindowLimiter};

/// Verified tokens kept per policy.
const VERIFIED_CAPACITY: usize = 10_000;
/// Distinct rate-limit keys kept per action (oldest windows dropped beyond it).
const RATE_KEYS: usize = 100_000;

/// A policy ready to run.
pub struct PolicyEntry {
    pub policy: Policy,
    verified: Mutex<VerifiedCache>,
    limiters: Mutex<HashMap<usize, SlidingWindowLimiter>>,
}

impl std::fmt::Debug for PolicyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PolicyEntry")
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Caches only: a poisoned lock holds usable (at worst slightly stale) data.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl PolicyEntry {
    /// Validates and compiles `text` (named `name` in error messages).
    pub fn compile(text: &str, name: &str) -> Result<Arc<PolicyEntry>, Vec<Diagnostic>> {
        let policy = warren_policy::validate(text, name)?;
        Ok(Arc::new(PolicyEntry {
            policy,
            verified: Mutex::new(VerifiedCache::new(VERIFIED_CAPACITY)),
            limiters: Mutex::new(HashMap::new()),
        }))
    }

    pub(crate) fn verified(&self) -> MutexGuard<'_, VerifiedCache> {
        lock(&self.verified)
    }

    /// The limiter of one rate-limit action, identified by its address inside this policy
    /// (stable for the policy's life).
    pub(crate) fn with_limiter<R>(
        &self,
        action: &warren_policy::RateLimit,
        f: impl FnOnce(&mut SlidingWindowLimiter) -> R,
    ) -> R {
        let mut map = lock(&self.limiters);
        let limiter = map
            .entry(action as *const _ as usize)
            .or_insert_with(|| SlidingWindowLimiter::new(action.capacity, action.window_secs, RATE_KEYS));
        f(limiter)
    }
}
