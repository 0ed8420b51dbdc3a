//! A PoP's membership in the cluster: the Raft node, writes that reach the leader from wherever
//! they start, membership changes one at a time, and the PoP's own announcement.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openraft::error::{ClientWriteError, RaftError};
use openraft::{ChangeMembers, ServerState};
use tokio::task::JoinHandle;
// tokio's clock, which is the system clock in a PoP and the simulated one in `warren-sim`.
use tokio::time::Instant;
use tracing::{info, warn};
use warren_core::ErrorCode;
use warren_raft::{LogStore, NodeId, PopNode, Raft, RaftTimeouts, Request, SharedState, StateMachineStore, node_id};
use warren_state::{Command, Outcome, PopRecord};
use warren_tunnel::TunnelStream;

use crate::health::{Health, HealthSettings};
use crate::network::NetworkFactory;
use crate::rpc::{ForwardRequest, Rpc, RpcReply};
use crate::secret::ClusterSecret;
use crate::transport::Transport;
use crate::{ClusterError, WriteRefused, metrics, server};

/// At most this many voters; further members are learners (they serve traffic and DNS, and
/// replicate the state, without slowing down commits or elections).
pub const MAX_VOTERS: usize = 5;
/// How long a write may look for a leader before it is refused with `NoQuorum`.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a write committed near its deadline may still wait for this PoP to apply it.
const APPLY_GRACE: Duration = Duration::from_secs(1);

/// Everything a node needs to start.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// This PoP's announcement (`cluster_addr` is overwritten with the advertised address).
    pub record: PopRecord,
    pub listen: SocketAddr,
    /// The address peers dial; `None`: the bound address (loopback if bound to all addresses).
    pub advertise: Option<String>,
    pub data_dir: PathBuf,
    pub secret: ClusterSecret,
    pub bootstrap: bool,
    /// Initial members, id → cluster address (may include this PoP).
    pub peers: BTreeMap<String, String>,
    pub timeouts: RaftTimeouts,
    pub health: HealthSettings,
}

/// What a node runs on, when it is not what [`ClusterNode::start`] builds itself: the seam a
/// deterministic simulation (`simulations/`, `warren-sim chaos`) uses to run the real node over a
/// simulated network, disk and clock. Every field left `None` is the production part; a PoP never
/// sets any.
#[derive(Default)]
pub struct NodeParts {
    /// A QUIC endpoint already bound on some socket (for instance a simulated one): the node
    /// installs its server configuration on it instead of binding `listen`.
    pub endpoint: Option<quinn::Endpoint>,
    /// Storage already opened (e.g. `warren_raft::open_storage_with_backend`) instead of the
    /// redb file in `data_dir`.
    pub storage: Option<(LogStore, StateMachineStore)>,
    /// Unix milliseconds stamped on proposed commands (`Request::at_ms`) instead of the system
    /// clock: a simulation passes its simulated time so that a replay proposes the same log.
    pub clock: Option<Arc<dyn Fn() -> u64 + Send + Sync>>,
}

impl std::fmt::Debug for NodeParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeParts")
            .field("endpoint", &self.endpoint.is_some())
            .field("storage", &self.storage.is_some())
            .field("clock", &self.clock.is_some())
            .finish()
    }
}

/// A boxed `Send` future.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// The PoP's side of a forwarded request: a stream to one of its own agents.
pub trait LocalEndpoints: Send + Sync + 'static {
    /// Opens a tunnel stream to a local agent of the request's endpoint (never forwards it on).
    fn open_local<'a>(&'a self, req: &'a ForwardRequest) -> BoxFuture<'a, Result<TunnelStream, ErrorCode>>;
}

/// `GET /v1/cluster`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterView {
    pub leader: Option<String>,
    pub members: Vec<MemberView>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    pub id: String,
    pub addr: String,
    pub voter: bool,
    pub healthy: bool,
    pub last_applied: Option<u64>,
}

pub(crate) struct Inner {
    pub(crate) me: String,
    pub(crate) my_id: NodeId,
    pub(crate) record: PopRecord,
    pub(crate) raft: Raft,
    pub(crate) shared: SharedState,
    pub(crate) transport: Arc<Transport>,
    pub(crate) health: Health,
    membership_lock: tokio::sync::Mutex<()>,
    pub(crate) local: RwLock<Option<Arc<dyn LocalEndpoints>>>,
    incarnation: AtomicU64,
    clock: Arc<dyn Fn() -> u64 + Send + Sync>,
    announced: tokio::sync::watch::Sender<bool>,
    peers: BTreeMap<String, String>,
    stopping: AtomicBool,
}

/// A running cluster member.
pub struct ClusterNode {
    inner: Arc<Inner>,
    tasks: Vec<JoinHandle<()>>,
    local_addr: SocketAddr,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn raft_err(e: impl std::fmt::Display) -> ClusterError {
    ClusterError::Raft(e.to_string())
}

impl ClusterNode {
    /// Opens the durable log in `data_dir`, binds the cluster listener and starts the node:
    /// bootstraps the cluster (first start of the bootstrap PoP), or asks to join it, and
    /// announces this PoP.
    pub async fn start(opts: ClusterOptions, shared: SharedState) -> Result<ClusterNode, ClusterError> {
        ClusterNode::start_with(opts, shared, NodeParts::default()).await
    }

    /// [`ClusterNode::start`] on the given parts (see [`NodeParts`]); the rest is built as usual.
    pub async fn start_with(
        opts: ClusterOptions,
        shared: SharedState,
        parts: NodeParts,
    ) -> Result<ClusterNode, ClusterError> {
        let me = opts.record.id.clone();
        let my_id = node_id(&me);
        let (log, sm) = match parts.storage {
            Some(storage) => storage,
            None => warren_raft::open_storage(&opts.data_dir, shared.clone())
                .map_err(|e| ClusterError::Storage(e.to_string()))?,
        };
        let transport = Transport::bind(opts.listen, parts.endpoint, opts.secret.clone(), me.clone())?;
        let local_addr = transport.local_addr().map_err(|source| ClusterError::Bind { addr: opts.listen, source })?;
        let advertise = opts.advertise.clone().unwrap_or_else(|| {
            let mut a = local_addr;
            if a.ip().is_unspecified() {
                a.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            a.to_string()
        });
        let mut opts = opts;
        opts.record.cluster_addr = advertise;
        let config = warren_raft::raft_config("warren", &opts.timeouts).map_err(raft_err)?;
        let network = NetworkFactory { transport: transport.clone(), me: my_id };
        let raft = Raft::new(my_id, config, network, log, sm).await.map_err(raft_err)?;

        let inner = Arc::new(Inner {
            me: me.clone(),
            my_id,
            record: opts.record.clone(),
            raft,
            shared,
            transport,
            health: Health::new(opts.health),
            membership_lock: tokio::sync::Mutex::new(()),
            local: RwLock::new(None),
            incarnation: AtomicU64::new(0),
            clock: parts.clock.unwrap_or_else(|| Arc::new(now_ms)),
            announced: tokio::sync::watch::channel(false).0,
            peers: opts.peers.clone(),
            stopping: AtomicBool::new(false),
        });
        let mut tasks = vec![tokio::spawn(server::run(inner.clone()))];

        if opts.bootstrap && !inner.raft.is_initialized().await.map_err(raft_err)? {
            let mut members: BTreeMap<NodeId, PopNode> = BTreeMap::new();
            members.insert(my_id, PopNode { pop: me.clone(), addr: opts.record.cluster_addr.clone() });
            for (id, addr) in &opts.peers {
                if members.len() >= MAX_VOTERS {
                    break;
                }
                members.entry(node_id(id)).or_insert_with(|| PopNode { pop: id.clone(), addr: addr.clone() });
            }
            info!(voters = members.len(), "bootstrapping a new cluster");
            inner.raft.initialize(members).await.map_err(raft_err)?;
        }
        tasks.push(tokio::spawn(join_loop(inner.clone())));
        tasks.push(tokio::spawn(announce(inner.clone())));
        tasks.push(tokio::spawn(crate::health::probe_loop(inner.clone())));
        tasks.push(tokio::spawn(crate::election::rerandomize(inner.clone(), opts.timeouts.clone())));
        tasks.push(tokio::spawn(raft_metrics(inner.clone())));
        Ok(ClusterNode { inner, tasks, local_addr })
    }

    /// The cluster listener's bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn pop_id(&self) -> &str {
        &self.inner.me
    }

    /// The applied state (read side).
    pub fn shared(&self) -> &SharedState {
        &self.inner.shared
    }

    /// Where forwarded requests go on this PoP.
    pub fn set_local_endpoints(&self, local: Arc<dyn LocalEndpoints>) {
        *self.inner.local.write().unwrap_or_else(PoisonError::into_inner) = Some(local);
    }

    /// This process's incarnation (0 until the PoP's start was committed).
    pub fn incarnation(&self) -> u64 {
        self.inner.incarnation.load(Ordering::Acquire)
    }

    /// Resolves once this PoP's announcement and start are committed.
    pub async fn announced(&self) {
        let mut rx = self.inner.announced.subscribe();
        let _ = rx.wait_for(|a| *a).await;
    }

    /// Commits `cmd` through the leader, wherever it is; answers once it is applied here too
    /// (a read on this PoP right after sees it). A write committed but not applied here in time
    /// is not acknowledged: it answers `Internal` saying so.
    pub async fn write(&self, cmd: Command) -> Result<Outcome, WriteRefused> {
        self.inner.write(cmd).await
    }

    pub async fn add_member(&self, pop: String, addr: String, learner: bool) -> Result<(), WriteRefused> {
        self.inner.on_leader(Rpc::AddMember { pop, addr, learner }).await
    }

    pub async fn remove_member(&self, pop: String) -> Result<(), WriteRefused> {
        self.inner.on_leader(Rpc::RemoveMember { pop }).await
    }

    /// Health of a PoP as this one's probes see it (itself: always healthy).
    pub fn healthy(&self, pop: &str) -> bool {
        pop == self.inner.me || self.inner.health.healthy(pop)
    }

    /// Every probed peer's health.
    pub fn health(&self) -> BTreeMap<String, bool> {
        self.inner.health.all()
    }

    pub fn status(&self) -> ClusterView {
        self.inner.status()
    }

    /// Joined, a leader known, announced, and the local state caught up with the local log.
    pub fn ready(&self) -> bool {
        let m = self.inner.raft.metrics().borrow().clone();
        let member = m.membership_config.membership().get_node(&self.inner.my_id).is_some();
        let caught_up = m.last_applied.map(|l| l.index) >= m.last_log_index;
        member && m.current_leader.is_some() && caught_up && self.incarnation() > 0
    }

    /// Opens a stream to an agent of the request's endpoint on one of `holders` (PoP ids), the
    /// healthy and nearest first.
    pub async fn forward(&self, req: ForwardRequest, holders: Vec<String>) -> Result<TunnelStream, ErrorCode> {
        crate::forward::open(&self.inner, req, holders).await
    }

    /// openraft's metrics of this node (term, role, leader, log positions), for monitoring and for
    /// the simulation's checks.
    pub fn raft_metrics(&self) -> tokio::sync::watch::Receiver<openraft::RaftMetrics<NodeId, PopNode>> {
        self.inner.raft.metrics()
    }

    /// Leaves quietly: stops the tasks, Raft, and the listener.
    pub async fn shutdown(&self) {
        self.inner.stopping.store(true, Ordering::Release);
        for t in &self.tasks {
            t.abort();
        }
        let _ = tokio::time::timeout(Duration::from_secs(3), self.inner.raft.shutdown()).await;
        self.inner.transport.close().await;
    }
}

impl Inner {
    fn leader(&self) -> Option<(NodeId, PopNode)> {
        let m = self.raft.metrics().borrow().clone();
        let id = m.current_leader?;
        let node = m.membership_config.membership().get_node(&id)?.clone();
        Some((id, node))
    }

    pub(crate) fn status(&self) -> ClusterView {
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let replication = m.replication.clone().unwrap_or_default();
        let leader = m.current_leader.and_then(|id| membership.get_node(&id)).map(|n| n.pop.clone());
        let members = membership
            .nodes()
            .map(|(id, node)| {
                let is_me = *id == self.my_id;
                let last_applied = if is_me {
                    m.last_applied.map(|l| l.index)
                } else {
                    replication.get(id).and_then(|l| l.map(|l| l.index)).or_else(|| self.health.last_applied(&node.pop))
                };
                MemberView {
                    id: node.pop.clone(),
                    addr: node.addr.clone(),
                    voter: voters.contains(id),
                    healthy: is_me || self.health.healthy(&node.pop),
                    last_applied,
                }
            })
            .collect();
        ClusterView { leader, members }
    }

    pub(crate) async fn write(&self, cmd: Command) -> Result<Outcome, WriteRefused> {
        let req = Request { cmd, at_ms: (self.clock)() };
        let started = Instant::now();
        let deadline = started + WRITE_TIMEOUT;
        let result = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Err(WriteRefused::NoQuorum);
            }
            match self.write_here(req.clone(), left).await {
                Ok((index, outcome)) => break self.applied_here(index, deadline).await.map(|()| outcome),
                Err(WriteRefused::NotLeader { leader: Some(addr) }) => {
                    match self.transport.call(&addr, &Rpc::Write(req.clone()), left).await {
                        Ok(RpcReply::Write(Ok((index, resp)))) => {
                            let outcome = resp.outcome.unwrap_or(Outcome::Rejected(unexpected_empty()));
                            break self.applied_here(index, deadline).await.map(|()| outcome);
                        }
                        Ok(RpcReply::Write(Err(WriteRefused::NotLeader { .. }))) | Ok(_) | Err(_) => {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
                Err(WriteRefused::NotLeader { leader: None }) => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(e) => break Err(e),
            }
        };
        let label = if result.is_ok() { "ok" } else { "refused" };
        metrics::record_write(label, started.elapsed());
        result
    }

    /// Proposes on this node; `NotLeader` (with the leader's address when known) if it is not
    /// the leader.
    pub(crate) async fn write_here(&self, req: Request, left: Duration) -> Result<(u64, Outcome), WriteRefused> {
        match tokio::time::timeout(left, self.raft.client_write(req)).await {
            Err(_) => Err(WriteRefused::NoQuorum),
            Ok(Ok(resp)) => Ok((resp.log_id.index, resp.data.outcome.unwrap_or(Outcome::Rejected(unexpected_empty())))),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => {
                let leader = f.leader_node.filter(|_| f.leader_id != Some(self.my_id)).map(|n| n.addr);
                Err(WriteRefused::NotLeader { leader })
            }
            Ok(Err(e)) => Err(WriteRefused::Internal(e.to_string())),
        }
    }

    /// Waits for this PoP to apply log index `index`, committed by the leader: until `deadline`,
    /// or [`APPLY_GRACE`] from now if that is later. A write is acknowledged only once this PoP
    /// applied it (a read here right after sees it); if it did not in time, the write is still
    /// committed and takes effect here once this PoP catches up, but the caller is told so
    /// instead of an acknowledgement that a read here could contradict.
    async fn applied_here(&self, index: u64, deadline: Instant) -> Result<(), WriteRefused> {
        let mut rx = self.shared.watch_applied();
        let until = deadline.max(Instant::now() + APPLY_GRACE);
        match tokio::time::timeout_at(until, rx.wait_for(|applied| *applied >= index)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) | Err(_) => {
                warn!(index, "a committed write was not applied on this PoP in time; not acknowledged");
                Err(WriteRefused::Internal(format!(
                    "the write was committed (log index {index}) but this PoP has not applied it yet (it is behind \
                     the cluster): it takes effect here once the PoP catches up; check before repeating it"
                )))
            }
        }
    }

    /// Runs a membership RPC on the leader: here if this PoP leads, else forwarded.
    async fn on_leader(&self, rpc: Rpc) -> Result<(), WriteRefused> {
        let deadline = Instant::now() + WRITE_TIMEOUT * 2;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(WriteRefused::NoQuorum);
            }
            match self.leader() {
                Some((id, _)) if id == self.my_id => return self.membership_here(&rpc).await,
                Some((_, node)) => match self.transport.call(&node.addr, &rpc, left).await {
                    Ok(RpcReply::Membership(Err(WriteRefused::NotLeader { .. }))) => {}
                    Ok(RpcReply::Membership(r)) => return r,
                    Ok(_) | Err(_) => {}
                },
                None => {}
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A membership change, on the leader, one at a time.
    pub(crate) async fn membership_here(&self, rpc: &Rpc) -> Result<(), WriteRefused> {
        let _one_at_a_time = self.membership_lock.lock().await;
        if self.leader().map(|(id, _)| id) != Some(self.my_id) {
            return Err(WriteRefused::NotLeader { leader: self.leader().map(|(_, n)| n.addr) });
        }
        let membership = self.raft.metrics().borrow().membership_config.membership().clone();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let map_err = |e: RaftError<NodeId, ClientWriteError<NodeId, PopNode>>| match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => WriteRefused::NotLeader { leader: None },
            RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => WriteRefused::Invalid(e.to_string()),
            other => WriteRefused::Internal(other.to_string()),
        };
        match rpc {
            Rpc::Join { pop, addr } | Rpc::AddMember { pop, addr, .. } => {
                let learner = !matches!(rpc, Rpc::AddMember { learner: false, .. });
                let id = node_id(pop);
                if let Some(existing) = membership.get_node(&id) {
                    if existing.pop != *pop {
                        return Err(WriteRefused::Invalid(format!(
                            "PoP id {pop} collides with member {} (same node id); choose another id",
                            existing.pop
                        )));
                    }
                    if matches!(rpc, Rpc::Join { .. }) || (learner && !voters.contains(&id)) {
                        return Ok(());
                    }
                }
                if !learner && !voters.contains(&id) && voters.len() >= MAX_VOTERS {
                    return Err(WriteRefused::Invalid(format!(
                        "the cluster already has {MAX_VOTERS} voters; add {pop} with --learner (learners serve traffic and DNS too)"
                    )));
                }
                let node = PopNode { pop: pop.clone(), addr: addr.clone() };
                if membership.get_node(&id).is_none() {
                    self.raft.add_learner(id, node, false).await.map_err(map_err)?;
                    info!(pop, addr, "learner added");
                }
                if !learner && !voters.contains(&id) {
                    self.raft
                        .change_membership(ChangeMembers::AddVoterIds([id].into()), true)
                        .await
                        .map_err(map_err)?;
                    info!(pop, "promoted to voter");
                }
                Ok(())
            }
            Rpc::RemoveMember { pop } => {
                let id = node_id(pop);
                if membership.get_node(&id).is_none() {
                    return Err(WriteRefused::NotFound(format!("{pop} is not a member of the cluster")));
                }
                if voters.contains(&id) {
                    if voters.len() == 1 {
                        return Err(WriteRefused::Invalid(format!("{pop} is the last voter; it cannot be removed")));
                    }
                    self.raft
                        .change_membership(ChangeMembers::RemoveVoters([id].into()), false)
                        .await
                        .map_err(map_err)?;
                } else {
                    self.raft
                        .change_membership(ChangeMembers::RemoveNodes([id].into()), false)
                        .await
                        .map_err(map_err)?;
                }
                info!(pop, "member removed");
                // Its bindings and DNS presence go with it.
                let req = Request { cmd: Command::RemovePop { id: pop.clone() }, at_ms: (self.clock)() };
                let _ = self.write_here(req, WRITE_TIMEOUT).await;
                Ok(())
            }
            _ => Err(WriteRefused::Internal("not a membership request".into())),
        }
    }
}

fn unexpected_empty() -> warren_state::Rejection {
    warren_state::Rejection::UnknownPop { id: String::new() }
}

/// A PoP that is not a member (a new PoP, or one started without `bootstrap`) asks the peers it
/// knows to add it, as a learner, until it is in the membership.
async fn join_loop(inner: Arc<Inner>) {
    let mut tried_hint: Option<String> = None;
    loop {
        let is_member = inner.raft.metrics().borrow().membership_config.membership().get_node(&inner.my_id).is_some();
        if is_member {
            return;
        }
        let mut targets: Vec<String> =
            inner.peers.iter().filter(|(id, _)| **id != inner.me).map(|(_, a)| a.clone()).collect();
        targets.extend(tried_hint.take());
        for addr in targets {
            let rpc = Rpc::Join { pop: inner.me.clone(), addr: inner.record.cluster_addr.clone() };
            match inner.transport.call(&addr, &rpc, Duration::from_secs(5)).await {
                Ok(RpcReply::Membership(Ok(()))) => {
                    info!(via = %addr, "asked to join the cluster as a learner");
                    break;
                }
                Ok(RpcReply::Membership(Err(WriteRefused::NotLeader { leader }))) => tried_hint = leader,
                Ok(RpcReply::Membership(Err(e))) => warn!(via = %addr, error = %e, "joining the cluster was refused"),
                Ok(_) => {}
                Err(e) => tracing::debug!(via = %addr, error = %e, "cannot ask to join yet"),
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Announces this PoP (`UpsertPop`) and starts its new incarnation (`StartPop`), retrying until
/// both are committed.
async fn announce(inner: Arc<Inner>) {
    let mut pause = Duration::from_millis(200);
    loop {
        let upsert = inner.write(Command::UpsertPop { record: inner.record.clone() }).await;
        let started = match upsert {
            Ok(_) => inner.write(Command::StartPop { id: inner.me.clone() }).await,
            Err(e) => Err(e),
        };
        match started {
            Ok(Outcome::PopStarted { incarnation, .. }) => {
                inner.incarnation.store(incarnation, Ordering::Release);
                // `send_replace`, not `send`: with no receiver yet (a single PoP announces before
                // anything waits for it), `send` would drop the value and `announced()` never return.
                inner.announced.send_replace(true);
                info!(incarnation, "PoP announced to the cluster");
                return;
            }
            Ok(other) => warn!(outcome = ?other, "unexpected outcome announcing the PoP"),
            Err(e) => tracing::debug!(error = %e, "cannot announce the PoP yet"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

/// Mirrors openraft's metrics into `warren_raft_*`.
async fn raft_metrics(inner: Arc<Inner>) {
    let mut rx = inner.raft.metrics();
    let mut leader = None;
    loop {
        {
            let m = rx.borrow_and_update();
            ::metrics::gauge!(metrics::RAFT_TERM).set(m.current_term as f64);
            ::metrics::gauge!(metrics::RAFT_IS_LEADER).set(if m.state == ServerState::Leader { 1.0 } else { 0.0 });
            ::metrics::gauge!(metrics::RAFT_LAST_LOG_INDEX).set(m.last_log_index.unwrap_or(0) as f64);
            ::metrics::gauge!(metrics::RAFT_LAST_APPLIED).set(m.last_applied.map_or(0, |l| l.index) as f64);
            let first = m.snapshot.map_or(0, |s| s.index);
            ::metrics::gauge!(metrics::RAFT_LOG_ENTRIES)
                .set(m.last_log_index.unwrap_or(0).saturating_sub(first) as f64);
            if m.current_leader != leader {
                if m.current_leader.is_some() {
                    ::metrics::counter!(metrics::RAFT_LEADER_CHANGES).increment(1);
                }
                leader = m.current_leader;
            }
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}
