//! openraft's network, over the cluster transport.
//!
//! # AppendEntries across a planet
//!
//! openraft 0.9 gives every `AppendEntries` call its heartbeat interval as a deadline and drops
//! the call when it passes (`replication/mod.rs`: `C::timeout(heartbeat_interval, ..)`), then
//! sends the same entries again at once. Warren's heartbeat (250 ms by default) is shorter than
//! the round trip to the farthest voters (Ashburn–Singapore is 270–360 ms), so a far follower's
//! every answer would arrive after its call was dropped: it would receive the entries but the
//! leader would never count it, for good. The heartbeat cannot simply grow with the distances: it
//! also paces the leader's lease and the followers' election timers (`cluster.heartbeat_ms`).
//!
//! So an exchange here is not the call's: [`PeerNetwork::append_entries`] runs it on its own task
//! with a deadline sized for wide-area links ([`APPEND_TIMEOUT`]), and when openraft drops the call
//! and sends again, the new call waits for the exchange already under way instead of starting
//! another. That is sound because openraft's retry carries the same leader vote and the same
//! `prev_log_id`: a reply to the earlier request says how far the follower's log matched this
//! leader's, which is still true for the new one (a leader's log only grows within its term), so
//! it is answered as `Success` when the earlier request reached as far, else as `PartialSuccess`
//! up to where it reached. A new request of another vote or position starts a new exchange.
//!
//! One thing is approximate: openraft stamps a reply with the time its own call was sent, which
//! can be later than when the exchange was sent. It uses that time for leader leases, which only
//! matter to linearizable reads; Warren's reads are local by design and never ask for one.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::{LogId, Vote};
use warren_raft::{NodeId, PopNode, TypeConfig};

use crate::rpc::{Rpc, RpcReply};
use crate::transport::{CallError, Transport};

pub(crate) struct NetworkFactory {
    pub(crate) transport: Arc<Transport>,
    pub(crate) me: NodeId,
}

/// How long one `AppendEntries` exchange may take, whatever openraft's hint (its heartbeat
/// interval): a round trip to the far side of the planet, a few QUIC retransmissions on a lossy
/// path, or a congested link several times slower than usual.
pub(crate) const APPEND_TIMEOUT: Duration = Duration::from_secs(3);

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerNetwork;

    async fn new_client(&mut self, target: NodeId, node: &PopNode) -> PeerNetwork {
        PeerNetwork {
            transport: self.transport.clone(),
            target,
            addr: node.addr.clone(),
            is_self: target == self.me,
            append: None,
        }
    }
}

/// What a follower answered to an exchange, in a form many waiters can share.
#[derive(Debug, Clone)]
enum Answer {
    /// It matched the leader's log up to here (`Success` of the request: its last log id).
    Matched(Option<LogId<NodeId>>),
    Conflict,
    HigherVote(Vote<NodeId>),
    Refused(RaftError<NodeId>),
}

type Outcome = Result<Answer, CallError>;

/// An `AppendEntries` exchange under way (or finished, its caller gone), see the module doc.
struct Exchange {
    vote: Vote<NodeId>,
    prev: Option<LogId<NodeId>>,
    /// The last log id the request carried (`prev` for a heartbeat).
    last: Option<LogId<NodeId>>,
    /// Shared rather than a `watch` channel, for a fixed wake-up order (see `transport.rs`).
    outcome: Shared<BoxFuture<'static, Outcome>>,
}

impl Exchange {
    /// Whether the reply to this exchange answers a request of `vote` from `prev` to `last`:
    /// same leader, same starting point, and it reaches as far, or it carries entries (a
    /// heartbeat's reply would only say `prev` matches, which the new request re-checks anyway).
    fn answers(&self, vote: &Vote<NodeId>, prev: &Option<LogId<NodeId>>, last: &Option<LogId<NodeId>>) -> bool {
        self.vote == *vote && self.prev == *prev && (self.last >= *last || self.last > self.prev)
    }
}

pub(crate) struct PeerNetwork {
    transport: Arc<Transport>,
    target: NodeId,
    addr: String,
    /// openraft should never address its own node; if it does, the call fails instead of
    /// dialling ourselves.
    is_self: bool,
    /// The last `AppendEntries` exchange, until a call has taken its reply.
    append: Option<Exchange>,
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
        self.transport.call(&self.addr, &rpc, option.hard_ttl()).await.map_err(call_error)
    }

    fn remote<E: std::error::Error>(&self, e: E) -> RPCError<NodeId, PopNode, E> {
        RPCError::RemoteError(RemoteError::new(self.target, e))
    }

    /// Starts an `AppendEntries` exchange on its own task, which outlives the call.
    fn start_append(&self, rpc: AppendEntriesRequest<TypeConfig>, timeout: Duration) -> Exchange {
        let vote = rpc.vote;
        let prev = rpc.prev_log_id;
        let last = rpc.entries.last().map(|e| e.log_id).or(prev);
        let transport = self.transport.clone();
        let addr = self.addr.clone();
        let task = tokio::spawn(async move {
            match transport.call(&addr, &Rpc::AppendEntries(rpc), timeout).await {
                Ok(RpcReply::AppendEntries(Ok(resp))) => Ok(match resp {
                    AppendEntriesResponse::Success => Answer::Matched(last),
                    AppendEntriesResponse::PartialSuccess(m) => Answer::Matched(m),
                    AppendEntriesResponse::Conflict => Answer::Conflict,
                    AppendEntriesResponse::HigherVote(v) => Answer::HigherVote(v),
                }),
                Ok(RpcReply::AppendEntries(Err(e))) => Ok(Answer::Refused(e)),
                Ok(_) => Err(CallError::Unexpected),
                Err(e) => Err(e),
            }
        });
        let outcome = async move { task.await.unwrap_or(Err(CallError::Unexpected)) }.boxed().shared();
        Exchange { vote, prev, last, outcome }
    }
}

fn call_error<E: std::error::Error>(e: CallError) -> RPCError<NodeId, PopNode, E> {
    match e {
        e @ CallError::Unreachable { .. } => RPCError::Unreachable(Unreachable::new(&Msg(e.to_string()))),
        e => RPCError::Network(NetworkError::new(&Msg(e.to_string()))),
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
        if self.is_self {
            return Err(RPCError::Unreachable(Unreachable::new(&Msg("a node never dials itself".into()))));
        }
        let (vote, prev) = (rpc.vote, rpc.prev_log_id);
        let last = rpc.entries.last().map(|e| e.log_id).or(prev);
        // An earlier exchange that ended in a failure nobody saw is not reused: this call tries
        // again.
        let reusable = self
            .append
            .as_ref()
            .is_some_and(|ex| ex.answers(&vote, &prev, &last) && !matches!(ex.outcome.peek(), Some(Err(_))));
        if !reusable {
            self.append = Some(self.start_append(rpc, APPEND_TIMEOUT.max(option.hard_ttl())));
        }
        let Some(ex) = &self.append else { return Err(unexpected()) };
        // If openraft drops this call here (its deadline), the exchange goes on for the next one.
        let outcome = ex.outcome.clone().await;
        self.append = None;
        match outcome.map_err(call_error)? {
            Answer::Matched(m) if m >= last => Ok(AppendEntriesResponse::Success),
            // `m >= prev`: the follower answered a request starting at `prev`.
            Answer::Matched(m) => Ok(AppendEntriesResponse::PartialSuccess(m)),
            Answer::Conflict => Ok(AppendEntriesResponse::Conflict),
            Answer::HigherVote(v) => Ok(AppendEntriesResponse::HigherVote(v)),
            Answer::Refused(e) => Err(self.remote(e)),
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
