//! TCP endpoints: a public port per endpoint, on every PoP, each connection relayed through a
//! tunnel stream — this PoP's own when it holds the endpoint's agent, else one opened over the
//! cluster to a PoP that does.
//!
//! Why one table of ports with two kinds of holders: a port is listened on while a local agent
//! serves it (the registry acquires it when the endpoint registers and drops the guard when its
//! last agent leaves) *or* while the replicated bindings say another PoP serves it (the
//! reconcile loop, [`TcpPorts::set_remote`]). Either can come and go first; the listener closes
//! only when neither holds it. Each direction of a connection ends on its own (`shutdown` after
//! EOF), so a client's half-close reaches the backend and back.

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tracing::{Instrument, debug, info, info_span, warn};
use warren_cluster::{ClusterNode, ForwardRequest};
use warren_edge::policy::{JwksStore, tcp_connect_allowed};
use warren_tunnel::{PortBinder, PortGuard, Registry, TunnelStream};
use warren_wire::Protocol;

/// How often the ports served by other PoPs are compared with the replicated bindings.
const RECONCILE: Duration = Duration::from_millis(150);

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What a TCP connection checks before it is relayed: the endpoint's `on_tcp_connect` rules.
pub(crate) struct TcpPolicy {
    pub(crate) policies: Weak<crate::policies::Policies>,
    pub(crate) jwks: Arc<JwksStore>,
    pub(crate) region: String,
    pub(crate) zone: String,
}

/// Everything a connection needs, set once the PoP's parts exist (held weakly: the registry
/// owns the port guards, and a guard must not keep the registry alive).
#[derive(Default)]
pub(crate) struct TcpContext {
    pub(crate) registry: OnceLock<Weak<Registry>>,
    pub(crate) node: OnceLock<Weak<ClusterNode>>,
    pub(crate) policy: OnceLock<TcpPolicy>,
}

struct Listener {
    _task: AbortOnDrop,
    /// Guards handed to the local registry and not yet dropped.
    local: usize,
    /// Another PoP serves this port (replicated bindings).
    remote: bool,
}

/// The ports this PoP listens on for TCP endpoints.
pub(crate) struct TcpPorts {
    ip: IpAddr,
    range: (u16, u16),
    ctx: Arc<TcpContext>,
    listeners: Mutex<HashMap<u16, Listener>>,
}

impl TcpPorts {
    pub(crate) fn new(ip: IpAddr, range: (u16, u16), ctx: Arc<TcpContext>) -> Arc<TcpPorts> {
        Arc::new(TcpPorts { ip, range, ctx, listeners: Mutex::new(HashMap::new()) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u16, Listener>> {
        self.listeners.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The registry's binder: listens on a port for a local endpoint.
    pub(crate) fn binder(self: &Arc<Self>) -> PortBinder {
        let ports = Arc::downgrade(self);
        Arc::new(move |port| {
            let ports = ports.upgrade().ok_or_else(|| std::io::Error::other("the PoP is stopping"))?;
            ports.acquire_local(port)?;
            Ok(Box::new(LocalGuard { ports: Arc::downgrade(&ports), port }) as PortGuard)
        })
    }

    fn acquire_local(&self, port: u16) -> std::io::Result<()> {
        let mut listeners = self.lock();
        match listeners.get_mut(&port) {
            Some(l) => l.local += 1,
            None => {
                let task = self.listen(port)?;
                listeners.insert(port, Listener { _task: task, local: 1, remote: false });
            }
        }
        Ok(())
    }

    fn release_local(&self, port: u16) {
        let mut listeners = self.lock();
        if let Some(l) = listeners.get_mut(&port) {
            l.local = l.local.saturating_sub(1);
            if l.local == 0 && !l.remote {
                listeners.remove(&port);
            }
        }
    }

    /// Listens on exactly `remote` (within this PoP's range) for endpoints other PoPs serve,
    /// keeping the ports local agents hold.
    pub(crate) fn set_remote(&self, remote: &BTreeSet<u16>) {
        let mut listeners = self.lock();
        for (port, l) in listeners.iter_mut() {
            l.remote = remote.contains(port);
        }
        listeners.retain(|_, l| l.local > 0 || l.remote);
        for &port in remote.iter().filter(|p| (self.range.0..=self.range.1).contains(*p)) {
            if listeners.contains_key(&port) {
                continue;
            }
            match self.listen(port) {
                Ok(task) => {
                    info!(port, "listening for a TCP endpoint another PoP serves");
                    listeners.insert(port, Listener { _task: task, local: 0, remote: true });
                }
                Err(e) => warn!(port, error = %e, "cannot listen for a TCP endpoint another PoP serves"),
            }
        }
    }

    fn listen(&self, port: u16) -> std::io::Result<AbortOnDrop> {
        let std_listener = std::net::TcpListener::bind(SocketAddr::new(self.ip, port))?;
        std_listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        let ctx = self.ctx.clone();
        Ok(AbortOnDrop(tokio::spawn(async move {
            loop {
                let Ok((conn, client)) = listener.accept().await else { continue };
                let span = info_span!("tcp", client.addr = %client, port);
                tokio::spawn(relay(ctx.clone(), conn, client, port).instrument(span));
            }
        })))
    }
}

struct LocalGuard {
    ports: Weak<TcpPorts>,
    port: u16,
}

impl Drop for LocalGuard {
    fn drop(&mut self) {
        if let Some(ports) = self.ports.upgrade() {
            ports.release_local(self.port);
        }
    }
}

/// The port of `tcp://ZONE:PORT`.
fn tcp_port_of(url: &str, zone: &str) -> Option<u16> {
    url.strip_prefix("tcp://")?.strip_prefix(zone)?.strip_prefix(':')?.parse().ok()
}

/// TCP ports served by PoPs other than `me`, from the replicated bindings.
fn ports_elsewhere(state: &warren_state::State, zone: &str, me: &str) -> BTreeSet<u16> {
    state
        .bindings()
        .iter()
        .filter(|(_, holders)| holders.keys().any(|p| p != me))
        .filter_map(|(url, _)| tcp_port_of(url, zone))
        .collect()
}

/// Keeps the ports of TCP endpoints other PoPs serve open here, and tells the registry not to
/// hand them to new local endpoints.
pub(crate) fn start_reconcile(ports: &Arc<TcpPorts>, registry: &Registry, node: &Arc<ClusterNode>, zone: String) {
    {
        let node = Arc::downgrade(node);
        let zone = zone.clone();
        registry.set_taken_elsewhere(Arc::new(move |port| {
            let Some(node) = node.upgrade() else { return false };
            let me = node.pop_id().to_owned();
            node.shared().read(|s| ports_elsewhere(s, &zone, &me).contains(&port))
        }));
    }
    let (ports, node) = (Arc::downgrade(ports), Arc::downgrade(node));
    tokio::spawn(async move {
        let mut last = None;
        loop {
            tokio::time::sleep(RECONCILE).await;
            let (Some(ports), Some(node)) = (ports.upgrade(), node.upgrade()) else { return };
            let me = node.pop_id().to_owned();
            let want = node.shared().read(|s| ports_elsewhere(s, &zone, &me));
            if last.as_ref() != Some(&want) {
                ports.set_remote(&want);
                last = Some(want);
            }
        }
    });
}

/// A stream to one of the endpoint's agents and the policy to check first: this PoP's own
/// agent when there is one, else through the cluster.
async fn open(ctx: &TcpContext, port: u16, client: SocketAddr, server: SocketAddr) -> Option<TunnelStream> {
    let zone = ctx.policy.get().map(|p| p.zone.clone()).unwrap_or_default();
    let url = format!("tcp://{zone}:{port}");
    if let Some(registry) = ctx.registry.get().and_then(Weak::upgrade)
        && let Ok(route) = registry.route_tcp(port)
    {
        if !allowed(ctx, route.policy.as_deref(), client, &url) {
            return None;
        }
        return match route.conn.open_stream(route.endpoint_key, Protocol::Tcp, client, server).await {
            Ok(s) => Some(s),
            Err(e) => {
                debug!(error = %e, "cannot open a tunnel stream");
                None
            }
        };
    }
    let node = ctx.node.get().and_then(Weak::upgrade)?;
    let (holders, policy): (Vec<String>, Option<String>) = node.shared().read(|s| {
        let holders = s.holders(&url).into_iter().map(|(p, _)| p.to_owned()).filter(|p| p != node.pop_id());
        (holders.collect(), s.endpoint_policy(&url).map(str::to_owned))
    });
    if holders.is_empty() {
        debug!("no agent for this TCP endpoint");
        return None;
    }
    if !allowed(ctx, policy.as_deref(), client, &url) {
        return None;
    }
    let req = ForwardRequest {
        host: String::new(),
        tcp_port: Some(port),
        protocol: Protocol::Tcp,
        client_addr: client,
        server_addr: server,
    };
    match node.forward(req, holders).await {
        Ok(s) => Some(s),
        Err(code) => {
            debug!(%code, "cannot forward the TCP connection");
            None
        }
    }
}

/// The endpoint's `on_tcp_connect` rules.
fn allowed(ctx: &TcpContext, policy: Option<&str>, client: SocketAddr, url: &str) -> bool {
    let (Some(text), Some(p)) = (policy, ctx.policy.get()) else { return true };
    let Some(policies) = p.policies.upgrade() else { return true };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let allowed = match policies.compile(text) {
        Ok(entry) => tcp_connect_allowed(&entry, &p.jwks, client, url, &p.region, now),
        Err(_) => false,
    };
    if !allowed {
        debug!("closed by the endpoint's on_tcp_connect policy");
        metrics::counter!(crate::metrics::TCP_REFUSED).increment(1);
    }
    allowed
}

async fn relay(ctx: Arc<TcpContext>, conn: TcpStream, client: SocketAddr, port: u16) {
    let server = conn.local_addr().unwrap_or_else(|_| SocketAddr::new(IpAddr::from([0, 0, 0, 0]), port));
    let Some(stream) = open(&ctx, port, client, server).await else { return };
    let _ = conn.set_nodelay(true);
    let (mut cr, mut cw) = conn.into_split();
    let TunnelStream { mut send, mut recv } = stream;
    let up = async {
        let n = tokio::io::copy(&mut cr, &mut send).await?;
        send.shutdown().await?;
        Ok::<u64, std::io::Error>(n)
    };
    let down = async {
        let n = tokio::io::copy(&mut recv, &mut cw).await?;
        cw.shutdown().await?;
        Ok::<u64, std::io::Error>(n)
    };
    match tokio::try_join!(up, down) {
        Ok((a, b)) => {
            metrics::counter!(crate::metrics::TCP_BYTES, "direction" => "in").increment(a);
            metrics::counter!(crate::metrics::TCP_BYTES, "direction" => "out").increment(b);
        }
        Err(e) => debug!(error = %e, "TCP relay ended with an error"),
    }
}

#[cfg(test)]
mod tests {
    use super::tcp_port_of;

    #[test]
    fn the_port_comes_from_tcp_urls_of_the_zone() {
        assert_eq!(tcp_port_of("tcp://edge.test:20001", "edge.test"), Some(20001));
        assert_eq!(tcp_port_of("tcp://other.test:20001", "edge.test"), None);
        assert_eq!(tcp_port_of("https://edge.test:20001", "edge.test"), None);
        assert_eq!(tcp_port_of("tcp://edge.test:x", "edge.test"), None);
    }
}
