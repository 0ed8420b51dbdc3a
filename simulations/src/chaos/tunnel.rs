//! A simulated PoP's tunnel listener: Warren's real [`TunnelServer`] on a QUIC endpoint over the
//! simulated network, with the PoP's hooks, its local router and its registry sync.
//!
//! What `warren-pop` does around the listener is copied here in small, because those parts of
//! `crates/pop` are private to its binary: the hooks check the agent's authtoken against the
//! replicated state (`crates/pop/src/hooks.rs`), [`Tunnels`] is `crates/pop/src/router.rs`'s
//! local router (both open the stream with the tunnel crate's
//! [`open_on_route`](warren_tunnel::open_on_route)), and [`bind_loop`] is `crates/pop/src/bindings.rs`'s
//! reconciliation of the real [`Registry`] with the replicated bindings. Not copied: traffic
//! policies (the simulated agents send none, so every policy check passes), the TCP+TLS fallback
//! (turmoil has UDP here, and [`TunnelServer::from_endpoint`] runs QUIC alone), and the check
//! that a URL is not held by another agent on another PoP (each endpoint has a single agent).
//!
//! TLS: one self-signed certificate for [`SERVER_NAME`], made once per run, serves every PoP;
//! the agents trust it alone. Like all TLS in the simulation it draws from the OS (see
//! `chaos.rs` on why that does not show). So does the listener's registration seed, which only
//! names endpoints registered without a URL; the simulated agents always send theirs.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::PrivateKeyDer;
use warren_cluster::{BoxFuture, ClusterNode, ForwardRequest, LocalEndpoints};
use warren_core::{ErrorCode, Zone};
use warren_raft::SharedState;
use warren_state::{AuthError, Command};
use warren_tunnel::{Registry, SessionHooks, TunnelServer, TunnelStream, open_on_route};
use warren_wire::Protocol;

use super::ChaosError;
use super::net::{self, SimSocket};
use super::pop::{Env, brief, now_ms};
use super::world::ZONE;

/// Every PoP's tunnel listener (UDP).
pub(crate) const TUNNEL_PORT: u16 = 4443;
/// The name on the PoPs' tunnel certificate, which the agents check.
pub(crate) const SERVER_NAME: &str = "tunnel.edge.sim";
/// How often the registry is compared with the replicated bindings (`crates/pop/src/bindings.rs`).
const BIND_TICK: Duration = Duration::from_millis(150);

/// The tunnel TLS of a run: the PoPs' server config and the agents' client config.
#[derive(Debug)]
pub(crate) struct TunnelTls {
    pub(crate) server: rustls::ServerConfig,
    pub(crate) client: rustls::ClientConfig,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

impl TunnelTls {
    pub(crate) fn new() -> Result<TunnelTls, ChaosError> {
        let err = |e: &dyn std::fmt::Display| ChaosError::Setup(format!("tunnel TLS: {e}"));
        let ck = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_owned()]).map_err(|e| err(&e))?;
        let cert = ck.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
        let server = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| err(&e))?
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .map_err(|e| err(&e))?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).map_err(|e| err(&e))?;
        let client = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| err(&e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TunnelTls { server, client })
    }
}

/// What the listener asks the PoP (`crates/pop/src/hooks.rs`, without policies).
struct Hooks {
    state: SharedState,
}

impl SessionHooks for Hooks {
    fn authenticate(&self, authtoken: &str) -> Result<String, ErrorCode> {
        match self.state.read(|s| s.authenticate(authtoken)) {
            Ok(id) => Ok(id.as_str().to_owned()),
            Err(AuthError::Revoked { .. }) => Err(ErrorCode::AuthtokenRevoked),
            Err(_) => Err(ErrorCode::AuthtokenInvalid),
        }
    }

    fn check_policy(&self, _text: &str) -> Result<(), String> {
        Ok(())
    }
}

/// Starts the tunnel listener of process `process` of PoP `me` on the simulated network.
pub(crate) async fn listen(
    env: &Env,
    me: usize,
    process: u64,
    ip: IpAddr,
    state: SharedState,
) -> Result<Arc<TunnelServer>, Box<dyn std::error::Error>> {
    let socket = turmoil::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, TUNNEL_PORT)).await?;
    let endpoint = net::endpoint(
        SimSocket::new(socket, ip, env.faults.clone()),
        env.seed_bytes("tunnel", &env.world.pops[me].id, process),
    )?;
    let registry = Arc::new(Registry::new(Zone::parse(ZONE)?, None, None));
    let hooks = Arc::new(Hooks { state });
    let server = TunnelServer::from_endpoint(
        endpoint,
        env.tunnel_tls.server.clone(),
        registry,
        hooks,
        env.world.pops[me].id.clone(),
    )?;
    tokio::spawn(server.clone().run());
    Ok(server)
}

/// The agents connected to this PoP, as the cluster's forward path and the PoP's own requests
/// reach them (`crates/pop/src/router.rs`'s `LocalOnly`, HTTP endpoints only).
pub(crate) struct Tunnels {
    pub(crate) registry: Arc<Registry>,
}

impl std::fmt::Debug for Tunnels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tunnels").field("endpoints", &self.registry.endpoints()).finish()
    }
}

impl LocalEndpoints for Tunnels {
    fn open_local<'a>(&'a self, req: &'a ForwardRequest) -> BoxFuture<'a, Result<TunnelStream, ErrorCode>> {
        Box::pin(async move {
            let host = req.host.to_ascii_lowercase();
            open_on_route(|| self.registry.route_http(&host), Protocol::Http, req.client_addr, req.server_addr).await
        })
    }
}

/// What this PoP holds for one URL: agents, agent ids, pooling (no policies in the simulation).
type Holding = (u32, Vec<String>, bool);

/// Keeps this PoP's bindings in the replicated state equal to its registry: the loop of
/// `crates/pop/src/bindings.rs`, each write's outcome traced.
pub(crate) async fn bind_loop(env: Arc<Env>, node: Arc<ClusterNode>, registry: Arc<Registry>) {
    node.announced().await;
    let me = node.pop_id().to_owned();
    let mut ticker = tokio::time::interval(BIND_TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let local: std::collections::BTreeMap<String, Holding> =
            registry.endpoints().into_iter().map(|e| (e.url, (e.agents as u32, e.agent_ids, e.pooling))).collect();
        let replicated: std::collections::BTreeMap<String, Holding> = node.shared().read(|s| {
            s.bindings()
                .iter()
                .filter_map(|(url, holders)| {
                    holders.get(&me).map(|b| (url.clone(), (b.agents, b.agent_ids.clone(), b.pooling)))
                })
                .collect()
        });
        let mut changes: Vec<(String, Holding)> = local
            .iter()
            .filter(|(url, held)| replicated.get(*url) != Some(held))
            .map(|(u, h)| (u.clone(), h.clone()))
            .collect();
        changes.extend(
            replicated.keys().filter(|url| !local.contains_key(*url)).map(|url| (url.clone(), (0, vec![], false))),
        );
        for (url, (agents, agent_ids, pooling)) in changes {
            let cmd = Command::SetEndpointAgents {
                url: url.clone(),
                pop: me.clone(),
                incarnation: node.incarnation(),
                agents,
                policy: None,
                agent_ids,
                pooling,
            };
            match node.write(cmd).await {
                Ok(outcome) => env.history(|h| h.trace(now_ms(), &me, format_args!("bind {url}: {}", brief(&outcome)))),
                // No quorum: keep serving locally and try again on a later tick.
                Err(_) => break,
            }
        }
    }
}
