//! One simulated PoP: Warren's real [`ClusterNode`] and tunnel listener on a turmoil host.
//!
//! [`run`] is the host's software; turmoil calls it again for every restart. It builds the node
//! exactly as `warren-pop` does (`crates/pop/src/cluster.rs`: the same options, timeouts and
//! health settings, the bootstrap PoP first with every peer as a voter) except for the three
//! [`NodeParts`]: a QUIC endpoint on the simulated network, the store on the simulated disk,
//! and the simulated clock for the commands' `at_ms`. Next to it runs the real
//! [`warren_tunnel::TunnelServer`] on a second simulated QUIC endpoint (`tunnel.rs`): the agents
//! (`agent.rs`, hosts of their own) dial it, authenticate against this PoP's replica, and register
//! their endpoint in its real registry, which the registry sync (a copy of
//! `crates/pop/src/bindings.rs`'s loop) writes into the replicated bindings.
//!
//! What a full PoP would add on top is modelled, not run: the edge. A request is the PoP's
//! forward path as its router takes it (`crates/pop/src/router.rs`): a stream through this PoP's
//! own tunnel when its registry has the endpoint, else [`ClusterNode::forward`] to a PoP the
//! replicated bindings name, carrying a payload the agent must echo intact.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use openraft::ServerState;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use warren_cluster::{
    ClusterNode, ClusterOptions, ClusterSecret, ForwardRequest, HealthSettings, LocalEndpoints, NodeParts,
};
use warren_core::ErrorCode;
use warren_geo::GeoDb;
use warren_raft::{RaftTimeouts, SharedState};
use warren_state::{Command, Outcome, PopRecord, TokenId, TokenSecret};
use warren_wire::Protocol;

use super::ChaosError;
use super::disk::Disk;
use super::dns;
use super::history::History;
use super::net::{self, SharedFaults, SimSocket};
use super::tunnel::{self, TunnelTls, Tunnels};
use super::world::World;

/// Every PoP's cluster listener.
pub(crate) const CLUSTER_PORT: u16 = 7000;
/// A client gives up on a request after this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// What the driver asks a running PoP to do.
#[derive(Debug)]
pub(crate) enum Cmd {
    /// A client's write, entered at this PoP (`ClusterNode::write`).
    Write { op: u64, cmd: Command },
    /// A client's request for endpoint number `endpoint`, entered at this PoP.
    Request { op: u64, endpoint: usize },
}

/// A running PoP process, as the driver reaches it.
#[derive(Debug)]
pub(crate) struct Slot {
    /// Weak: the process owns its node, and all of it must go when turmoil crashes the host.
    pub(crate) node: Weak<ClusterNode>,
    pub(crate) cmds: mpsc::UnboundedSender<Cmd>,
}

/// What the driver and every host share. One thread runs them all, in turn.
#[derive(Debug)]
pub(crate) struct Env {
    pub(crate) world: World,
    pub(crate) seed: u64,
    pub(crate) secret: ClusterSecret,
    pub(crate) faults: SharedFaults,
    pub(crate) disks: Vec<Arc<Disk>>,
    /// The running process of each PoP (`None` while it is down).
    pub(crate) slots: Mutex<Vec<Option<Slot>>>,
    /// Processes started so far, per PoP.
    starts: Mutex<Vec<u64>>,
    pub(crate) history: Mutex<History>,
    /// Every PoP's geolocation (the client cities' networks).
    pub(crate) geo: Arc<GeoDb>,
    /// The client host's queue, once it runs.
    pub(crate) clients: Mutex<Option<mpsc::UnboundedSender<dns::Ask>>>,
    /// The tunnels' certificate, for the PoPs, and trust in it, for the agents.
    pub(crate) tunnel_tls: TunnelTls,
    /// Each endpoint's agent's authtoken (a function of the seed); the driver creates them.
    pub(crate) agent_tokens: Vec<(TokenId, TokenSecret)>,
}

impl Env {
    pub(crate) fn new(world: World, seed: u64, secret: ClusterSecret, faults: SharedFaults) -> Result<Env, ChaosError> {
        let n = world.pops.len();
        let names = world.pops.iter().map(|p| p.id.clone()).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6167_656e_7473);
        let agent_tokens = world
            .endpoints
            .iter()
            .map(|_| {
                let mut random = [0u8; 40];
                rng.fill_bytes(&mut random);
                warren_state::new_token(random)
            })
            .collect();
        Ok(Env {
            tunnel_tls: TunnelTls::new()?,
            agent_tokens,
            geo: Arc::new(dns::geo(&world)),
            world,
            seed,
            secret,
            faults,
            disks: (0..n).map(|_| Arc::new(Disk::default())).collect(),
            slots: Mutex::new((0..n).map(|_| None).collect()),
            starts: Mutex::new(vec![0; n]),
            history: Mutex::new(History::new(names)),
            clients: Mutex::new(None),
        })
    }

    pub(crate) fn history<T>(&self, f: impl FnOnce(&mut History) -> T) -> T {
        f(&mut self.history.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The running node of `pop`, if any. Callers drop it before the next step.
    pub(crate) fn node(&self, pop: usize) -> Option<Arc<ClusterNode>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)[pop].as_ref().and_then(|s| s.node.upgrade())
    }

    /// Hands `ask` to the client host; false if it does not run yet.
    pub(crate) fn ask(&self, ask: dns::Ask) -> bool {
        let clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        clients.as_ref().is_some_and(|c| c.send(ask).is_ok())
    }

    /// Sends `cmd` to the running process of `pop`; false if there is none.
    pub(crate) fn send(&self, pop: usize, cmd: Cmd) -> bool {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots[pop].as_ref().is_some_and(|s| s.cmds.send(cmd).is_ok())
    }

    pub(crate) fn forget(&self, pop: usize) {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)[pop] = None;
    }

    /// A 32-byte seed for `what` of process `process` of the host `host`.
    pub(crate) fn seed_bytes(&self, what: &str, host: &str, process: u64) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.seed.to_be_bytes());
        h.update(what.as_bytes());
        h.update(host.as_bytes());
        h.update(process.to_be_bytes());
        h.finalize().into()
    }
}

/// Simulated milliseconds since the simulation started (inside a host).
pub(crate) fn now_ms() -> u64 {
    turmoil::sim_elapsed().map_or(0, |d| d.as_millis() as u64)
}

/// The simulated wall clock, Unix milliseconds: what the node stamps on commands.
fn unix_ms() -> u64 {
    turmoil::since_epoch().map_or(0, |d| d.as_millis() as u64)
}

/// The host software of PoP number `me`.
pub(crate) async fn run(env: Arc<Env>, me: usize) -> turmoil::Result {
    let pop = env.world.pops[me].clone();
    let process = {
        let mut starts = env.starts.lock().unwrap_or_else(PoisonError::into_inner);
        starts[me] += 1;
        starts[me]
    };
    let ip = turmoil::lookup(pop.id.as_str());
    let socket = turmoil::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, CLUSTER_PORT)).await?;
    let endpoint =
        net::endpoint(SimSocket::new(socket, ip, env.faults.clone()), env.seed_bytes("quic", &pop.id, process))?;
    let state = SharedState::new();
    let storage = warren_raft::open_storage_with_backend(
        env.disks[me].open(),
        &format!("sim:{}/raft.redb", pop.id),
        state.clone(),
    )?;
    let peers = env
        .world
        .pops
        .iter()
        .map(|p| (p.id.clone(), format!("{}:{CLUSTER_PORT}", turmoil::lookup(p.id.as_str()))))
        .collect();
    let record = PopRecord {
        id: pop.id.clone(),
        region: "sim".into(),
        lat: pop.lat,
        lon: pop.lon,
        public_ipv4: Some(pop.public_ipv4),
        public_ipv6: None,
        cluster_addr: String::new(),
        weight: 100,
        draining: false,
    };
    let opts = ClusterOptions {
        record,
        listen: SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), CLUSTER_PORT),
        advertise: Some(format!("{ip}:{CLUSTER_PORT}")),
        data_dir: PathBuf::from(format!("sim:{}", pop.id)),
        secret: env.secret.clone(),
        bootstrap: me == 0,
        peers,
        timeouts: RaftTimeouts::default(),
        health: HealthSettings::default(),
    };
    let parts = NodeParts { endpoint: Some(endpoint), storage: Some(storage), clock: Some(Arc::new(unix_ms)) };
    let node = Arc::new(ClusterNode::start_with(opts, state.clone(), parts).await?);
    let server = tunnel::listen(&env, me, process, ip, state).await?;
    let agents = Arc::new(Tunnels { registry: server.registry().clone() });
    node.set_local_endpoints(agents.clone());
    dns::serve(env.clone(), &node).await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    env.slots.lock().unwrap_or_else(PoisonError::into_inner)[me] = Some(Slot { node: Arc::downgrade(&node), cmds: tx });
    env.history(|h| h.trace(now_ms(), &pop.id, format_args!("process {process} started")));
    tokio::spawn(watch_roles(env.clone(), me, node.clone()));
    tokio::spawn(tunnel::bind_loop(env.clone(), node.clone(), agents.registry.clone()));
    while let Some(cmd) = rx.recv().await {
        tokio::spawn(handle(env.clone(), me, node.clone(), agents.clone(), ip, cmd));
    }
    Ok(())
}

/// Records every change of the node's term or role (for "one leader per term").
async fn watch_roles(env: Arc<Env>, me: usize, node: Arc<ClusterNode>) {
    let ids: Vec<(u64, usize)> =
        env.world.pops.iter().enumerate().map(|(i, p)| (warren_raft::node_id(&p.id), i)).collect();
    let mut rx = node.raft_metrics();
    let mut last = None;
    loop {
        let now = {
            let m = rx.borrow_and_update();
            let leader = m.current_leader.and_then(|l| ids.iter().find(|(id, _)| *id == l).map(|(_, i)| *i));
            (m.current_term, m.state == ServerState::Leader, leader)
        };
        if last != Some(now) {
            let (term, is_leader, leader) = now;
            env.history(|h| {
                let at_ms = now_ms();
                if is_leader {
                    h.roles.push(super::history::RoleObs { at_ms, pop: me, term, leader: true });
                }
                let seen = leader.map_or("none", |l| h.names[l].as_str()).to_owned();
                let role = if is_leader { "leader" } else { "member" };
                h.trace(at_ms, &env.world.pops[me].id, format_args!("term {term} {role}, leader {seen}"));
            });
            last = Some(now);
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

async fn handle(env: Arc<Env>, me: usize, node: Arc<ClusterNode>, agents: Arc<Tunnels>, ip: IpAddr, cmd: Cmd) {
    let name = env.world.pops[me].id.clone();
    match cmd {
        Cmd::Write { op, cmd } => {
            let result = node.write(cmd).await;
            env.history(|h| {
                let at = now_ms();
                let shown = match &result {
                    Ok(o) => brief(o),
                    Err(e) => format!("refused: {e}"),
                };
                h.trace(at, &name, format_args!("write #{op} -> {shown}"));
                if let Some(w) = h.writes.get_mut(&op) {
                    w.done = Some((at, result.map_err(|e| e.to_string())));
                }
            });
        }
        Cmd::Request { op, endpoint } => {
            let ep = &env.world.endpoints[endpoint];
            let result = tokio::time::timeout(REQUEST_TIMEOUT, request(&node, &agents, &ep.url, &ep.host, op, ip))
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {REQUEST_TIMEOUT:?}")));
            env.history(|h| {
                let at = now_ms();
                let shown = match &result {
                    Ok(how) => format!("ok ({how})"),
                    Err(e) => format!("failed: {e}"),
                };
                h.trace(at, &name, format_args!("request #{op} {} -> {shown}", ep.host));
                if let Some(r) = h.requests.get_mut(&op) {
                    r.done = Some((at, result));
                }
            });
        }
    }
}

/// One request through this PoP, as its router takes it (`crates/pop/src/router.rs`): a stream
/// through its own tunnel to an agent of the endpoint, else forwarded to a PoP holding one; a
/// payload sent and read back.
async fn request(
    node: &ClusterNode,
    agents: &Tunnels,
    url: &str,
    host: &str,
    op: u64,
    ip: IpAddr,
) -> Result<&'static str, String> {
    let req = ForwardRequest {
        host: host.to_owned(),
        tcp_port: None,
        protocol: Protocol::Http,
        client_addr: SocketAddr::new(Ipv4Addr::new(198, 51, 100, 7).into(), 40_000),
        server_addr: SocketAddr::new(ip, 443),
    };
    let (how, stream) = match agents.open_local(&req).await {
        Err(code @ (ErrorCode::EndpointNotFound | ErrorCode::EndpointOffline)) => {
            let holders: Vec<String> =
                node.shared().read(|s| s.holders(url).into_iter().map(|(pop, _)| pop.to_owned()).collect());
            if holders.iter().all(|h| h == node.pop_id()) {
                ("local", Err(code))
            } else {
                ("forwarded", node.forward(req, holders).await)
            }
        }
        other => ("local", other),
    };
    let mut stream = stream.map_err(|code| code.as_str().to_owned())?;
    let payload = format!("request #{op} for {host}");
    stream.send.write_all(payload.as_bytes()).await.map_err(|e| format!("send: {e}"))?;
    stream.send.shutdown().await.map_err(|e| format!("send: {e}"))?;
    let mut echoed = Vec::new();
    stream.recv.read_to_end(&mut echoed).await.map_err(|e| format!("receive: {e}"))?;
    if echoed != payload.as_bytes() {
        return Err(format!("the response was {} bytes, not the {} sent", echoed.len(), payload.len()));
    }
    Ok(how)
}

/// A command's outcome in a few words, for the trace.
pub(crate) fn brief(o: &Outcome) -> String {
    match o {
        Outcome::TokenCreated { id } => format!("created {id}"),
        Outcome::TokenRevoked { id } => format!("revoked {id}"),
        Outcome::EndpointBound { pop, agents, .. } => format!("bound at {pop} ({agents})"),
        Outcome::Rejected(r) => format!("rejected: {r:?}"),
        other => format!("{other:?}"),
    }
}
