//! The state itself: apply, the read side, and snapshot/restore.
//!
//! Maps are `BTreeMap`s so that iteration, listing and snapshots come out in the same order on
//! every PoP. The by-hash index is derived data: it is rebuilt on restore rather than stored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::command::{Command, Outcome, Rejection};
use crate::error::{AuthError, RestoreError};
use crate::policy::GlobalPolicy;
use crate::pops::{Binding, Bindings, PopEntry, PopRecord, Reservation};
use crate::token::{SecretHash, TokenId, TokenInfo, constant_time_eq};

/// 2 added PoPs, bindings and reservations; a format-1 snapshot still restores (they start empty).
const SNAPSHOT_FORMAT: u32 = 2;

/// The whole replicated state of a cluster. `Debug` shows token ids and descriptions and a short
/// prefix of each hash; secrets are never stored, so they can never print.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    tokens: BTreeMap<TokenId, TokenRecord>,
    by_hash: BTreeMap<SecretHash, TokenId>,
    policy: Option<GlobalPolicy>,
    pops: BTreeMap<String, PopEntry>,
    bindings: Bindings,
    reservations: BTreeMap<String, Reservation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct TokenRecord {
    id: TokenId,
    secret_hash: SecretHash,
    description: String,
    created_at_ms: u64,
    revoked_at_ms: Option<u64>,
}

impl TokenRecord {
    fn info(&self) -> TokenInfo {
        TokenInfo {
            id: self.id.clone(),
            description: self.description.clone(),
            created_at_ms: self.created_at_ms,
            revoked: self.revoked_at_ms.is_some(),
            revoked_at_ms: self.revoked_at_ms,
        }
    }
}

/// A point-in-time copy of a [`State`], serialisable with any serde format. Opaque on purpose:
/// its only use is [`State::restore`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    format: u32,
    tokens: Vec<TokenRecord>,
    policy: Option<GlobalPolicy>,
    #[serde(default)]
    pops: Vec<PopEntry>,
    #[serde(default)]
    bindings: Bindings,
    #[serde(default)]
    reservations: Vec<Reservation>,
}

impl State {
    pub fn new() -> State {
        State::default()
    }

    /// Applies one command. `now_unix_ms` is the command's time as recorded in its log entry (the
    /// same on every PoP); it stamps revocations and policy updates.
    pub fn apply(&mut self, cmd: Command, now_unix_ms: u64) -> Outcome {
        match cmd {
            Command::CreateToken { id, secret_hash, description, created_at_ms } => {
                if self.tokens.contains_key(&id) {
                    return Outcome::Rejected(Rejection::TokenIdExists { id });
                }
                if let Some(existing) = self.by_hash.get(&secret_hash) {
                    return Outcome::Rejected(Rejection::SecretHashExists { existing: existing.clone() });
                }
                self.by_hash.insert(secret_hash, id.clone());
                let record =
                    TokenRecord { id: id.clone(), secret_hash, description, created_at_ms, revoked_at_ms: None };
                self.tokens.insert(id.clone(), record);
                Outcome::TokenCreated { id }
            }
            Command::RevokeToken { id } => match self.tokens.get_mut(&id) {
                Some(record) => {
                    record.revoked_at_ms.get_or_insert(now_unix_ms);
                    Outcome::TokenRevoked { id }
                }
                None => Outcome::Rejected(Rejection::UnknownToken { id }),
            },
            Command::SetGlobalPolicy { text, version } => {
                let current = self.policy_version();
                if version != current.saturating_add(1) {
                    return Outcome::Rejected(Rejection::PolicyVersion { current, proposed: version });
                }
                self.policy = Some(GlobalPolicy { text, version, updated_at_ms: now_unix_ms });
                Outcome::PolicySet { version }
            }
            Command::UpsertPop { record } => {
                let id = record.id.clone();
                match self.pops.get_mut(&id) {
                    Some(entry) => entry.record = record,
                    None => {
                        self.pops.insert(id.clone(), PopEntry { record, incarnation: 0 });
                    }
                }
                Outcome::PopUpserted { id }
            }
            Command::RemovePop { id } => {
                if self.pops.remove(&id).is_none() {
                    return Outcome::Rejected(Rejection::UnknownPop { id });
                }
                self.drop_bindings_of(&id);
                Outcome::PopRemoved { id }
            }
            Command::StartPop { id } => {
                let Some(entry) = self.pops.get_mut(&id) else {
                    return Outcome::Rejected(Rejection::UnknownPop { id });
                };
                entry.incarnation += 1;
                let incarnation = entry.incarnation;
                self.drop_bindings_of(&id);
                Outcome::PopStarted { id, incarnation }
            }
            Command::SetEndpointAgents { url, pop, incarnation, agents, policy, agent_ids, pooling } => {
                if let Err(r) = self.check_incarnation(&pop, incarnation) {
                    return Outcome::Rejected(r);
                }
                if agents == 0 {
                    if let Some(holders) = self.bindings.get_mut(&url) {
                        holders.remove(&pop);
                        if holders.is_empty() {
                            self.bindings.remove(&url);
                        }
                    }
                } else {
                    let binding = Binding { agents, policy, agent_ids, pooling };
                    self.bindings.entry(url.clone()).or_default().insert(pop.clone(), binding);
                }
                Outcome::EndpointBound { url, pop, agents }
            }
            Command::ExpirePop { id, incarnation } => {
                if let Err(r) = self.check_incarnation(&id, incarnation) {
                    return Outcome::Rejected(r);
                }
                let bindings_removed = self.drop_bindings_of(&id);
                Outcome::PopExpired { id, bindings_removed }
            }
            Command::ReserveUrl { url, token, created_at_ms } => {
                if let Some(r) = self.reservations.get(&url) {
                    return Outcome::Rejected(Rejection::UrlTaken { url, token: r.token.clone() });
                }
                if !self.tokens.contains_key(&token) {
                    return Outcome::Rejected(Rejection::UnknownToken { id: token });
                }
                self.reservations.insert(url.clone(), Reservation { url: url.clone(), token, created_at_ms });
                Outcome::UrlReserved { url }
            }
            Command::ReleaseUrl { url } => {
                if self.reservations.remove(&url).is_none() {
                    return Outcome::Rejected(Rejection::UnknownReservation { url });
                }
                Outcome::UrlReleased { url }
            }
        }
    }

    fn check_incarnation(&self, pop: &str, proposed: u64) -> Result<(), Rejection> {
        let entry = self.pops.get(pop).ok_or_else(|| Rejection::UnknownPop { id: pop.to_owned() })?;
        if entry.incarnation != proposed {
            return Err(Rejection::StaleIncarnation { id: pop.to_owned(), current: entry.incarnation, proposed });
        }
        Ok(())
    }

    /// Removes every binding held by `pop`; returns how many.
    fn drop_bindings_of(&mut self, pop: &str) -> u32 {
        let mut removed = 0;
        self.bindings.retain(|_, holders| {
            if holders.remove(pop).is_some() {
                removed += 1;
            }
            !holders.is_empty()
        });
        removed
    }

    /// Every PoP, ordered by id.
    pub fn pops(&self) -> impl Iterator<Item = &PopEntry> {
        self.pops.values()
    }

    pub fn pop(&self, id: &str) -> Option<&PopEntry> {
        self.pops.get(id)
    }

    /// Every endpoint URL with the PoPs holding its sessions.
    pub fn bindings(&self) -> &Bindings {
        &self.bindings
    }

    /// The PoPs holding sessions for `url`, with their session counts, ordered by PoP id.
    pub fn holders(&self, url: &str) -> Vec<(&str, u32)> {
        self.bindings.get(url).map(|h| h.iter().map(|(p, b)| (p.as_str(), b.agents)).collect()).unwrap_or_default()
    }

    /// Whether `url` is served on a PoP other than `pop` by an agent other than `agent_id`, in a
    /// way that excludes a new agent: not both pooling. The same agent on several PoPs (an agent
    /// keeps a tunnel to each) is one endpoint, not a conflict.
    pub fn url_taken_elsewhere(&self, url: &str, pop: &str, agent_id: &str, pooling: bool) -> bool {
        self.bindings.get(url).is_some_and(|holders| {
            holders.iter().any(|(p, b)| {
                p != pop
                    && !(pooling && b.pooling)
                    && (b.agent_ids.is_empty() || b.agent_ids.iter().any(|a| a != agent_id))
            })
        })
    }

    /// The traffic policy of `url` as replicated by the PoPs holding it (the first holder's).
    pub fn endpoint_policy(&self, url: &str) -> Option<&str> {
        self.bindings.get(url)?.values().find_map(|b| b.policy.as_deref())
    }

    pub fn reservation(&self, url: &str) -> Option<&Reservation> {
        self.reservations.get(url)
    }

    pub fn reservations(&self) -> impl Iterator<Item = &Reservation> {
        self.reservations.values()
    }

    /// A PoP's announcement, for the cluster's own use.
    pub fn pop_record(&self, id: &str) -> Option<&PopRecord> {
        self.pops.get(id).map(|e| &e.record)
    }

    /// Finds the token whose secret is `presented`.
    ///
    /// The lookup is by hash in a map, and a map lookup is not constant-time. That is safe: the
    /// comparisons it makes reveal, at most, how the *hash of the attacker's own guess* orders
    /// against stored hashes, and learning bits of a SHA-256 output does not help find an input
    /// that produces it. The final comparison is constant-time anyway, so the secret-dependent
    /// step is never a short-circuiting `==`.
    pub fn authenticate(&self, presented: &str) -> Result<TokenId, AuthError> {
        let hash = SecretHash::of(presented);
        let record = self.by_hash.get(&hash).and_then(|id| self.tokens.get(id)).ok_or(AuthError::Unknown)?;
        if !constant_time_eq(record.secret_hash.as_bytes(), hash.as_bytes()) {
            return Err(AuthError::Unknown);
        }
        if record.revoked_at_ms.is_some() {
            return Err(AuthError::Revoked { id: record.id.clone() });
        }
        Ok(record.id.clone())
    }

    /// Every token, ordered by id, without secrets or hashes.
    pub fn list_tokens(&self) -> Vec<TokenInfo> {
        self.tokens.values().map(TokenRecord::info).collect()
    }

    pub fn token(&self, id: &TokenId) -> Option<TokenInfo> {
        self.tokens.get(id).map(TokenRecord::info)
    }

    pub fn global_policy(&self) -> Option<&GlobalPolicy> {
        self.policy.as_ref()
    }

    /// The current policy version; 0 before any policy was set.
    pub fn policy_version(&self) -> u64 {
        self.policy.as_ref().map_or(0, |p| p.version)
    }

    /// The `version` a [`Command::SetGlobalPolicy`] proposed now must carry.
    pub fn next_policy_version(&self) -> u64 {
        self.policy_version().saturating_add(1)
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            format: SNAPSHOT_FORMAT,
            tokens: self.tokens.values().cloned().collect(),
            policy: self.policy.clone(),
            pops: self.pops.values().cloned().collect(),
            bindings: self.bindings.clone(),
            reservations: self.reservations.values().cloned().collect(),
        }
    }

    /// Rebuilds a state (and its indexes) from a snapshot, refusing one no apply could produce.
    pub fn restore(snapshot: Snapshot) -> Result<State, RestoreError> {
        if snapshot.format == 0 || snapshot.format > SNAPSHOT_FORMAT {
            return Err(RestoreError::Format { found: snapshot.format, supported: SNAPSHOT_FORMAT });
        }
        let mut state = State {
            policy: snapshot.policy,
            pops: snapshot.pops.into_iter().map(|p| (p.record.id.clone(), p)).collect(),
            bindings: snapshot.bindings,
            reservations: snapshot.reservations.into_iter().map(|r| (r.url.clone(), r)).collect(),
            ..State::default()
        };
        for record in snapshot.tokens {
            if state.tokens.contains_key(&record.id) {
                return Err(RestoreError::DuplicateTokenId { id: record.id });
            }
            if let Some(first) = state.by_hash.get(&record.secret_hash) {
                return Err(RestoreError::DuplicateSecretHash { first: first.clone(), second: record.id });
            }
            state.by_hash.insert(record.secret_hash, record.id.clone());
            state.tokens.insert(record.id.clone(), record);
        }
        Ok(state)
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
