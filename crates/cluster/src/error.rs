//! Errors of the cluster layer.
//!
//! [`ClusterError`] is for starting a node (the PoP refuses to start and says why);
//! [`WriteRefused`] is what a write or membership change answers, and it travels between PoPs
//! when a write is forwarded to the leader, so it is serialisable and carries no sources.

use serde::{Deserialize, Serialize};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ClusterError {
    #[error("{0}")]
    Secret(String),
    #[error("cluster TLS: {0}")]
    Tls(String),
    #[error("cannot bind the cluster listener {addr}: {source}")]
    Bind { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("raft storage: {0}")]
    Storage(String),
    #[error("raft: {0}")]
    Raft(String),
}

/// Why a write or a membership change did not happen.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum WriteRefused {
    /// No leader could be reached within the write deadline: this PoP is cut off from a majority
    /// (or an election is still running). Reads keep answering from the local copy.
    #[error(
        "no quorum: this PoP cannot reach a majority of the cluster, so writes are refused (reads still answer from its local copy of the state)"
    )]
    NoQuorum,
    /// The request was sent to a PoP that is not the leader (between PoPs only; callers of
    /// [`crate::ClusterNode`] never see it: the node follows the hint).
    #[error("not the leader")]
    NotLeader { leader: Option<String> },
    /// The change is not allowed (e.g. a sixth voter, removing the last voter).
    #[error("{0}")]
    Invalid(String),
    /// The change refers to something that does not exist.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Internal(String),
}
