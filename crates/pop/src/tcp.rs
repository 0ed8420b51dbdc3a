//! TCP endpoints: a public port per endpoint, each connection relayed through a tunnel stream.
//!
//! The registry asks for a port to be opened when a TCP endpoint registers and drops the guard
//! when its last agent leaves, which closes the listener. Each direction of a connection ends
//! on its own (`shutdown` after EOF), so a client's half-close reaches the backend and back.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Weak};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tracing::{Instrument, debug, info_span};
use warren_edge::policy::{JwksStore, tcp_connect_allowed};
use warren_tunnel::{PortBinder, PortGuard, Registry};
use warren_wire::Protocol;

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A binder that listens on `ip:port` and relays through the registry (held weakly: the
/// registry owns the guards, and a guard must not keep the registry alive).
/// What a TCP connection checks before it is relayed: the endpoint's `on_tcp_connect` rules.
pub(crate) struct TcpPolicy {
    pub(crate) policies: Weak<crate::policies::Policies>,
    pub(crate) jwks: Arc<JwksStore>,
    pub(crate) region: String,
    pub(crate) zone: String,
}

pub(crate) fn binder(
    ip: IpAddr,
    registry: Arc<std::sync::OnceLock<Weak<Registry>>>,
    policy: Arc<std::sync::OnceLock<TcpPolicy>>,
) -> PortBinder {
    Arc::new(move |port| {
        let std_listener = std::net::TcpListener::bind(SocketAddr::new(ip, port))?;
        std_listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        let registry = registry.clone();
        let policy = policy.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((conn, client)) = listener.accept().await else { continue };
                let Some(reg) = registry.get().and_then(Weak::upgrade) else { break };
                let span = info_span!("tcp", client.addr = %client, port);
                tokio::spawn(relay(reg, policy.clone(), conn, client, port).instrument(span));
            }
        });
        Ok(Box::new(AbortOnDrop(task)) as PortGuard)
    })
}

async fn relay(
    registry: Arc<Registry>,
    policy: Arc<std::sync::OnceLock<TcpPolicy>>,
    conn: TcpStream,
    client: SocketAddr,
    port: u16,
) {
    let server = conn.local_addr().unwrap_or_else(|_| SocketAddr::new(IpAddr::from([0, 0, 0, 0]), port));
    let route = match registry.route_tcp(port) {
        Ok(r) => r,
        Err(code) => {
            debug!(%code, "no agent for this TCP endpoint");
            return;
        }
    };
    if let (Some(text), Some(p)) = (&route.policy, policy.get())
        && let Some(policies) = p.policies.upgrade()
    {
        let url = format!("tcp://{}:{port}", p.zone);
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let allowed = match policies.compile(text) {
            Ok(entry) => tcp_connect_allowed(&entry, &p.jwks, client, &url, &p.region, now),
            Err(_) => false,
        };
        if !allowed {
            debug!("closed by the endpoint's on_tcp_connect policy");
            metrics::counter!(crate::metrics::TCP_REFUSED).increment(1);
            return;
        }
    }
    let stream = match route.conn.open_stream(route.endpoint_key, Protocol::Tcp, client, server).await {
        Ok(s) => s,
        Err(e) => {
            debug!(error = %e, "cannot open a tunnel stream");
            return;
        }
    };
    let _ = conn.set_nodelay(true);
    let (mut cr, mut cw) = conn.into_split();
    let warren_tunnel::TunnelStream { mut send, mut recv } = stream;
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
