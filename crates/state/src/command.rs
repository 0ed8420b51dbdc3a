//! The commands of the replicated log and what applying one did.
//!
//! Commands carry everything apply needs (ids, hashes, times, versions) so that apply is a pure
//! function of the state and the command: randomness and validation happen once, on the PoP that
//! proposes the command, never on the PoPs that apply it.

use serde::{Deserialize, Serialize};

use crate::{SecretHash, TokenId};

/// One change to the cluster state. Serialised into the replicated log, so variants and fields
/// may be added but never renamed or re-meant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Adds an agent authtoken. Only the SHA-256 of its secret travels and is stored.
    CreateToken { id: TokenId, secret_hash: SecretHash, description: String, created_at_ms: u64 },
    /// Revokes a token; revoking a revoked token is a no-op that still reports `TokenRevoked`, so
    /// a retried request converges.
    RevokeToken { id: TokenId },
    /// Replaces the global policy. `version` must be the current version plus one (1 for the
    /// first policy): a proposal computed from a stale state is rejected instead of silently
    /// overwriting a newer policy.
    SetGlobalPolicy { text: String, version: u64 },
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
}
