//! The types openraft is instantiated with: node ids, node addresses, log payloads and responses.
//!
//! Node ids are derived from PoP names rather than assigned, so that every PoP computes the same id
//! for a peer from configuration alone, with no registry to keep in sync, and a PoP that is wiped
//! and re-created under a new name can never come back with an id the cluster already knows
//! (openraft requires that a node id is never reused).

use std::fmt;
use std::io::Cursor;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use warren_state::{Command, Outcome};

/// A Raft node id: [`node_id`] of the PoP's name.
pub type NodeId = u64;

/// The stable id of a PoP name: the first 8 bytes of SHA-256 of `pop_id`, big endian, with the top
/// bit cleared, and never 0.
///
/// The top bit is cleared so the id also fits an `i64` (JSON tooling, metrics backends) without
/// changing sign; 0 is avoided because it reads as "unset" in logs and in openraft's own tests.
pub fn node_id(pop_id: &str) -> NodeId {
    let digest = Sha256::digest(pop_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let id = u64::from_be_bytes(first) & (u64::MAX >> 1);
    if id == 0 { 1 } else { id }
}

/// What the cluster knows about a member: its PoP name and the address its cluster listener is
/// reached on. Stored in membership log entries, so fields may be added but never re-meant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PopNode {
    pub pop: String,
    pub addr: String,
}

impl fmt::Display for PopNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.pop, self.addr)
    }
}

/// A normal log entry's payload: one state-machine command and the proposer's clock.
///
/// The time travels in the entry because [`warren_state::State::apply`] must be a function of the
/// log alone: every PoP applies the command with the proposer's time, never its own clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub cmd: Command,
    /// Unix milliseconds on the proposing PoP when the command was proposed.
    pub at_ms: u64,
}

/// What applying a log entry produced: the command's [`Outcome`] for a normal entry, `None` for a
/// blank (leader) or membership entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    pub outcome: Option<Outcome>,
}

openraft::declare_raft_types!(
    /// The openraft type configuration of a Warren cluster.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = NodeId,
        Node = PopNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = crate::WarrenRuntime,
);

/// A running Raft node of a Warren cluster.
pub type Raft = openraft::Raft<TypeConfig>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_id_is_stable_positive_and_distinct() {
        // Pinned: changing the derivation would give every existing PoP a new identity.
        let a = node_id("par1");
        assert_eq!(a, node_id("par1"));
        assert_ne!(a, node_id("fra1"));
        assert_eq!(a >> 63, 0);
        assert_ne!(a, 0);
        let digest = Sha256::digest(b"par1");
        let expected = u64::from_be_bytes(digest[..8].try_into().unwrap()) & (u64::MAX >> 1);
        assert_eq!(a, expected);
    }

    #[test]
    fn pop_node_displays_as_pop_at_addr() {
        let node = PopNode { pop: "par1".into(), addr: "10.0.0.1:7000".into() };
        assert_eq!(node.to_string(), "par1@10.0.0.1:7000");
    }
}
