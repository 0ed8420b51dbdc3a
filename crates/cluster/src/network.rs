//! openraft's network, over the cluster transport.

use std::sync::Arc;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use warren_raft::{NodeId, PopNode, TypeConfig};

use crate::rpc::{Rpc, RpcReply};
use crate::transport::{CallError, Transport};

pub(crate) struct NetworkFactory {
    pub(crate) transport: Arc<Transport>,
    pub(crate) me: NodeId,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerNetwork;

    async fn new_client(&mut self, target: NodeId, node: &PopNode) -> PeerNetwork {
        PeerNetwork { transport: self.transport.clone(), target, addr: node.addr.clone(), is_self: target == self.me }
    }
}

pub(crate) struct PeerNetwork {
    transport: Arc<Transport>,
    target: NodeId,
    addr: String,
    /// openraft should never address its own node; if it does, the call fails instead of
    /// dialling ourselves.
    is_self: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Msg(String);

impl PeerNetwork {
    async fn call<E: std::error::Error>(
        &self,
        rpc: Rpc,
        option: &RPCOption,
    ) -> Result<RpcReply, RPCError<NodeId, PopNode, E>> {
        if self.is_self {
            return Err(RPCError::Unreachable(Unreachable::new(&Msg("a node never dials itself".into()))));
        }
        match self.transport.call(&self.addr, &rpc, option.hard_ttl()).await {
            Ok(reply) => Ok(reply),
            Err(e @ CallError::Unreachable { .. }) => Err(RPCError::Unreachable(Unreachable::new(&Msg(e.to_string())))),
            Err(e) => Err(RPCError::Network(NetworkError::new(&Msg(e.to_string())))),
        }
    }

    fn remote<E: std::error::Error>(&self, e: E) -> RPCError<NodeId, PopNode, E> {
        RPCError::RemoteError(RemoteError::new(self.target, e))
    }
}

fn unexpected<E: std::error::Error>() -> RPCError<NodeId, PopNode, E> {
    RPCError::Network(NetworkError::new(&Msg(CallError::Unexpected.to_string())))
}

impl RaftNetwork<TypeConfig> for PeerNetwork {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, PopNode, RaftError<NodeId>>> {
        match self.call(Rpc::AppendEntries(rpc), &option).await? {
            RpcReply::AppendEntries(r) => r.map_err(|e| self.remote(e)),
            _ => Err(unexpected()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RPCError<NodeId, PopNode, RaftError<NodeId, InstallSnapshotError>>>
    {
        match self.call(Rpc::InstallSnapshot(rpc), &option).await? {
            RpcReply::InstallSnapshot(r) => r.map_err(|e| self.remote(e)),
            _ => Err(unexpected()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, PopNode, RaftError<NodeId>>> {
        match self.call(Rpc::Vote(rpc), &option).await? {
            RpcReply::Vote(r) => r.map_err(|e| self.remote(e)),
            _ => Err(unexpected()),
        }
    }
}
