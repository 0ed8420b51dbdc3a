//! The messages PoPs exchange. One request per QUIC stream, one reply, then the stream ends;
//! except `Forward`, whose stream carries the forwarded request's tunnel frames after the reply.
//!
//! Encoded with `warren-wire`'s bounded bincode framing, like the tunnel protocol: a malformed or
//! oversized frame is an error for that stream only.

use std::net::SocketAddr;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use serde::{Deserialize, Serialize};
use warren_raft::{NodeId, Request, Response, TypeConfig};
use warren_wire::Protocol;

use crate::WriteRefused;

/// Largest request or reply: a batch of log entries or a snapshot chunk fits comfortably.
pub(crate) const MAX_RPC: usize = 64 * 1024 * 1024;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Rpc {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A write forwarded to the leader.
    Write(Request),
    /// A PoP that is not a member asks to be added as a learner.
    Join {
        pop: String,
        addr: String,
    },
    /// `warren admin cluster add-member`, forwarded to the leader.
    AddMember {
        pop: String,
        addr: String,
        learner: bool,
    },
    RemoveMember {
        pop: String,
    },
    /// Health probe.
    Ping {
        from: String,
    },
    /// Carry one public request to an agent of this PoP; tunnel frames follow the reply.
    Forward(ForwardRequest),
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum RpcReply {
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    InstallSnapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
    /// The log index of the committed write and what applying it did.
    Write(Result<(u64, Response), WriteRefused>),
    Membership(Result<(), WriteRefused>),
    Pong {
        pop: String,
        last_applied: Option<u64>,
    },
    /// `Err` holds the stable error code (e.g. `WARREN_ERR_ENDPOINT_OFFLINE`).
    Forward(Result<(), String>),
}

/// A request handed from the PoP a client reached to the PoP holding the agent's tunnel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardRequest {
    /// The endpoint's host (HTTP) — lower case, no port.
    pub host: String,
    /// For TCP endpoints, the public port.
    pub tcp_port: Option<u16>,
    pub protocol: Protocol,
    /// The public client, as the first PoP saw it.
    pub client_addr: SocketAddr,
    /// The first PoP's address the client connected to.
    pub server_addr: SocketAddr,
}
