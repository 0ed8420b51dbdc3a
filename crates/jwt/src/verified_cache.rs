//! A bounded memo of verified tokens, so a client repeating its bearer token does not pay for a
//! signature check on every request.
//!
//! Keyed by the SHA-256 of the token (the token itself is a credential and is not kept). An entry
//! lives until the token's `exp`; tokens without `exp` are not cached. Memory is bounded by
//! `capacity`: on insert, expired entries go first, then the oldest. The cached verdict belongs to
//! one verifier configuration and key set: keep one cache per jwt-validation action and
//! [`VerifiedCache::clear`] it when the key set changes (a key removed from the JWKS must stop
//! validating tokens).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::verifier::VerifiedToken;

type TokenHash = [u8; 32];

struct Entry {
    token: Arc<VerifiedToken>,
    expires_at: u64,
    seq: u64,
}

/// Bounded map from token hash to verified token; time is passed in.
pub struct VerifiedCache {
    capacity: usize,
    entries: HashMap<TokenHash, Entry>,
    by_expiry: BTreeSet<(u64, u64, TokenHash)>,
    by_age: BTreeSet<(u64, TokenHash)>,
    next_seq: u64,
}

impl std::fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedCache").field("capacity", &self.capacity).field("len", &self.entries.len()).finish()
    }
}

fn hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

impl VerifiedCache {
    /// A cache holding at most `capacity` tokens (0 disables caching).
    pub fn new(capacity: usize) -> Self {
        VerifiedCache {
            capacity,
            entries: HashMap::new(),
            by_expiry: BTreeSet::new(),
            by_age: BTreeSet::new(),
            next_seq: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cached verdict for `token`, if it has not expired at `now`.
    pub fn get(&mut self, token: &str, now: u64) -> Option<Arc<VerifiedToken>> {
        let key = hash(token);
        let entry = self.entries.get(&key)?;
        if entry.expires_at <= now {
            self.remove(&key);
            return None;
        }
        Some(Arc::clone(&entry.token))
    }

    /// Remembers a verified token until its `exp`. Tokens without `exp`, or already expired at
    /// `now`, are not cached.
    pub fn insert(&mut self, token: &str, verified: Arc<VerifiedToken>, now: u64) {
        if self.capacity == 0 {
            return;
        }
        let Some(exp) = verified.exp.and_then(|e| u64::try_from(e).ok()) else { return };
        if exp <= now {
            return;
        }
        let key = hash(token);
        self.remove(&key);
        self.purge_expired(now);
        while self.entries.len() >= self.capacity {
            let Some(&(_, oldest)) = self.by_age.iter().next() else { break };
            self.remove(&oldest);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_expiry.insert((exp, seq, key));
        self.by_age.insert((seq, key));
        self.entries.insert(key, Entry { token: verified, expires_at: exp, seq });
    }

    /// Drops entries expired at `now`.
    pub fn purge_expired(&mut self, now: u64) {
        while let Some(&(exp, _, key)) = self.by_expiry.iter().next() {
            if exp > now {
                break;
            }
            self.remove(&key);
        }
    }

    /// Forgets everything (call when the key set changes).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.by_expiry.clear();
        self.by_age.clear();
    }

    fn remove(&mut self, key: &TokenHash) {
        if let Some(entry) = self.entries.remove(key) {
            self.by_expiry.remove(&(entry.expires_at, entry.seq, *key));
            self.by_age.remove(&(entry.seq, *key));
        }
    }
}
