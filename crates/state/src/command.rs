//! The commands of the replicated log and what applying one did.
//!
//! Commands carry everything apply needs (ids, hashes, times, versions) so that apply is a pure
//! function of the state and the command: randomness and validation happen once, on the PoP that
//! proposes the command, never on the PoPs that apply it.

use serde::{Deserialize, Serialize};

use crate::{PopRecord, SecretHash, TokenId};

/// One change to the cluster state. Serialised into the replicated log, so variants and fields
/// may be added but never renamed or re-meant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Adds an agent authtoken. Only the SHA-256 of its secret travels and is stored.
    CreateToken {
        id: TokenId,
        secret_hash: SecretHash,
        description: String,
        created_at_ms: u64,
    },
    /// Revokes a token; revoking a revoked token is a no-op that still reports `TokenRevoked`, so
    /// a retried request converges.
    RevokeToken {
        id: TokenId,
    },
    /// Replaces the global policy. `version` must be the current version plus one (1 for the
    /// first policy): a proposal computed from a stale state is rejected instead of silently
    /// overwriting a newer policy.
    SetGlobalPolicy {
        text: String,
        version: u64,
    },
    /// Adds or updates a PoP's announcement (a PoP sends it whenever it starts; its incarnation
    /// and bindings are untouched).
    UpsertPop {
        record: PopRecord,
    },
    /// Forgets a PoP and every binding it held.
    RemovePop {
        id: String,
    },
    /// A PoP process started: its incarnation grows by one and its old bindings go (a new process
    /// holds no sessions yet).
    StartPop {
        id: String,
    },
    /// `pop` (at `incarnation`) now holds `agents` sessions for `url`, whose traffic policy is
    /// `policy`; 0 agents removes the binding.
    SetEndpointAgents {
        url: String,
        pop: String,
        incarnation: u64,
        agents: u32,
        policy: Option<String>,
        /// The serving agents' ids (see [`crate::Binding::agent_ids`]).
        #[serde(default)]
        agent_ids: Vec<String>,
        #[serde(default)]
        pooling: bool,
    },
    /// The leader saw `id` down: drop its bindings, unless it restarted since (`incarnation` is
    /// the one the leader saw).
    ExpirePop {
        id: String,
        incarnation: u64,
    },
    /// Reserves `url` for the agents of `token`.
    ReserveUrl {
        url: String,
        token: TokenId,
        created_at_ms: u64,
    },
    ReleaseUrl {
        url: String,
    },
}

/// What applying a command did. Deterministic, like the state: every PoP gets the same outcome
/// for the same log entry, so the proposer can answer its client from its own apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    TokenCreated {
        id: TokenId,
    },
    TokenRevoked {
        id: TokenId,
    },
    PolicySet {
        version: u64,
    },
    PopUpserted {
        id: String,
    },
    PopRemoved {
        id: String,
    },
    PopStarted {
        id: String,
        incarnation: u64,
    },
    EndpointBound {
        url: String,
        pop: String,
        agents: u32,
    },
    PopExpired {
        id: String,
        bindings_removed: u32,
    },
    UrlReserved {
        url: String,
    },
    UrlReleased {
        url: String,
    },
    /// The command took no effect; the state is unchanged.
    Rejected(Rejection),
}

/// Why a command took no effect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rejection {
    /// A token with this id already exists (ids come from 64 random bits: a retried proposal).
    TokenIdExists { id: TokenId },
    /// Another token already has this secret hash.
    SecretHashExists { existing: TokenId },
    /// No token has this id.
    UnknownToken { id: TokenId },
    /// The proposed policy version is not the current one plus one.
    PolicyVersion { current: u64, proposed: u64 },
    /// No PoP has this id.
    UnknownPop { id: String },
    /// A write from an incarnation that is not the PoP's current one (fencing).
    StaleIncarnation { id: String, current: u64, proposed: u64 },
    /// The URL is already reserved (by this or another token).
    UrlTaken { url: String, token: TokenId },
    /// No reservation for this URL.
    UnknownReservation { url: String },
}
