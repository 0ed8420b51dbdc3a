//! A Point of Presence, assembled: the edge listeners, the tunnel listener and its endpoint
//! registry, TCP endpoints, the admin API and metrics, and an orderly drain on shutdown.
//!
//! Everything here is wiring; the behaviour lives in the crates below (`warren-edge`,
//! `warren-tunnel`, `warren-admin`, `warren-state`). [`Pop::start`] binds every listener and
//! reports the bound addresses (port 0 is allowed everywhere), [`Pop::shutdown`] drains.

mod backend;
mod bindings;
mod cluster;
mod dns;
mod error;
mod hooks;
pub mod metrics;
mod policies;
mod router;
mod tcp;
pub mod tls;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use tracing::{info, warn};
use warren_cluster::ClusterNode;
use warren_config::PopConfig;
use warren_state::{Command, Outcome};
use warren_tunnel::{Registry, TunnelServer};

pub use error::PopError;

/// The addresses a PoP actually bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub http: Option<SocketAddr>,
    pub https: Option<SocketAddr>,
    pub tunnel: SocketAddr,
    pub cluster: SocketAddr,
    pub admin: SocketAddr,
    /// UDP and TCP on the same port.
    pub dns: Option<SocketAddr>,
}

impl Bound {
    /// `(name, addr)` for every listener, in the order they are printed.
    pub fn listeners(&self) -> Vec<(&'static str, SocketAddr)> {
        let mut v = Vec::new();
        if let Some(a) = self.http {
            v.push(("http", a));
        }
        if let Some(a) = self.https {
            v.push(("https", a));
        }
        v.push(("tunnel", self.tunnel));
        v.push(("cluster", self.cluster));
        v.push(("admin", self.admin));
        if let Some(a) = self.dns {
            v.push(("dns", a));
        }
        v
    }
}

/// `global_policy_file`: applied when the cluster has no global policy yet, or a different one
/// (the file is the operator's source of truth at start; `warren admin policy set` changes it
/// at run time). Only the bootstrap PoP applies it.
async fn apply_global_policy_file(backend: &backend::ClusterBackend, path: &std::path::Path) -> Result<(), PopError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| PopError::Io { path: path.display().to_string(), source: e })?;
    if let Err(ds) = warren_policy::validate(&text, &path.display().to_string()) {
        let lines: Vec<String> = ds.iter().map(|d| d.to_string()).collect();
        return Err(PopError::State(format!("global_policy_file is invalid:\n{}", lines.join("\n"))));
    }
    let current = backend.read(|s| s.global_policy().map(|g| g.text.clone()));
    if current.as_deref() != Some(text.as_str()) {
        backend.set_global_policy(text).await.map_err(|e| PopError::State(e.message))?;
        info!(file = %path.display(), "global policy applied from global_policy_file");
    }
    Ok(())
}

/// A running PoP.
pub struct Pop {
    pub bound: Bound,
    pub dev_ca: Option<std::path::PathBuf>,
    tunnel: Arc<TunnelServer>,
    edge: warren_edge::EdgeHandle,
    admin: warren_admin::AdminHandle,
    node: Arc<ClusterNode>,
    dns: Option<warren_dns::DnsHandle>,
    /// Owns the TCP endpoint listeners (the registry and the reconcile loop hold it weakly).
    tcp_ports: Option<Arc<tcp::TcpPorts>>,
}

impl Pop {
    /// Binds everything and starts serving. `admin_token` guards the admin API.
    pub async fn start(cfg: PopConfig, admin_token: String) -> Result<Pop, PopError> {
        let data_dir = cfg.data_dir.clone();
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| PopError::Io { path: data_dir.display().to_string(), source: e })?;
        let render = metrics::install();

        // Certificates: one pair serves the public HTTPS listener and the tunnel listener.
        let mut ips: Vec<IpAddr> = vec![IpAddr::from([127, 0, 0, 1])];
        ips.extend(cfg.public_ipv4.map(IpAddr::V4));
        ips.extend(cfg.public_ipv6.map(IpAddr::V6));
        ips.extend([cfg.listen.tunnel.ip()].into_iter().filter(|ip| !ip.is_unspecified()));
        ips.dedup();
        let certs = tls::load(&cfg.tls, &data_dir, cfg.zone.as_str(), &ips)?;

        // The endpoint table; TCP endpoints listen on the http listener's address (or the
        // tunnel's when there is none).
        let tcp_ip = cfg.listen.http.unwrap_or(cfg.listen.tunnel).ip();
        let tcp_ctx: Arc<tcp::TcpContext> = Arc::default();
        let tcp_ports = cfg.tcp_ports.map(|r| tcp::TcpPorts::new(tcp_ip, (r.first, r.last), tcp_ctx.clone()));
        let registry = Arc::new(Registry::new(
            cfg.zone.clone(),
            cfg.tcp_ports.map(|r| (r.first, r.last)),
            tcp_ports.as_ref().map(|p| p.binder()),
        ));
        let _ = tcp_ctx.registry.set(Arc::downgrade(&registry));

        // Control state: this PoP's replica of the cluster state, kept by Raft.
        let shared = warren_raft::SharedState::new();
        let tunnel_cell: Arc<OnceLock<Weak<TunnelServer>>> = Arc::default();
        {
            // Revocations close the token's tunnels on every PoP, as each applies the entry.
            let tunnel_cell = tunnel_cell.clone();
            shared.on_apply(move |applied| {
                if let Some((Command::RevokeToken { .. }, Outcome::TokenRevoked { id })) = applied
                    && let Some(t) = tunnel_cell.get().and_then(Weak::upgrade)
                {
                    let n = t.revoke_token(id.as_str());
                    if n > 0 {
                        info!(token.id = %id.as_str(), sessions = n, "token revoked, tunnels closed");
                    }
                }
            });
        }
        let node = Arc::new(cluster::start(&cfg, shared.clone()).await?);
        let backend = Arc::new(backend::ClusterBackend::new(node.clone(), |text| {
            warren_policy::validate(text, "global-policy")
                .map(|_| ())
                .map_err(|ds| ds.iter().map(|d| d.to_string()).collect())
        }));
        if let Some(path) = cfg.global_policy_file.clone().filter(|_| cfg.bootstrap) {
            let alone = cfg.peers.keys().all(|p| *p == cfg.id);
            if alone {
                apply_global_policy_file(&backend, &path).await?;
            } else {
                // The other members may not be up yet: keep trying in the background.
                let backend = backend.clone();
                tokio::spawn(async move {
                    while let Err(e) = apply_global_policy_file(&backend, &path).await {
                        warn!(error = %e, "global_policy_file not applied yet; retrying");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                });
            }
        }
        let policies = Arc::new(policies::Policies::new(shared.clone(), Arc::downgrade(&registry)));

        let tunnel = TunnelServer::bind(
            cfg.listen.tunnel,
            certs.server_config(&[])?,
            registry.clone(),
            Arc::new(hooks::Hooks { state: shared.clone(), policies: policies.clone() }),
            cfg.id.to_string(),
        )?;
        let _ = tunnel_cell.set(Arc::downgrade(&tunnel));
        let tunnel_addr =
            tunnel.local_addr().map_err(|e| PopError::Io { path: "tunnel listener".into(), source: e })?;
        tokio::spawn(tunnel.clone().run());

        let jwks = warren_edge::policy::JwksStore::new();
        let _ = tcp_ctx.node.set(Arc::downgrade(&node));
        if let Some(ports) = &tcp_ports {
            tcp::start_reconcile(ports, &registry, &node, cfg.zone.to_string());
        }
        let _ = tcp_ctx.policy.set(tcp::TcpPolicy {
            policies: Arc::downgrade(&policies),
            jwks: jwks.clone(),
            region: cfg.region.clone(),
            zone: cfg.zone.to_string(),
        });
        let networks = cfg
            .geo
            .networks
            .iter()
            .map(|n| warren_edge::policy::GeoNetwork {
                cidr: n.cidr,
                latitude: n.location.lat,
                longitude: n.location.lon,
            })
            .collect();
        let geo = Arc::new(warren_edge::policy::GeoDb::open(networks, cfg.geo.mmdb.as_deref()).map_err(PopError::Geo)?);
        let guard = warren_edge::policy::PolicyGuard::new(policies, jwks, cfg.region.clone()).with_geo(geo.clone());
        node.set_local_endpoints(Arc::new(router::LocalOnly { registry: registry.clone() }));
        {
            // A URL another agent serves on another PoP is refused here too.
            let node = Arc::downgrade(&node);
            registry.set_url_taken_elsewhere(Arc::new(move |url, agent, pooling| {
                let Some(node) = node.upgrade() else { return false };
                node.shared().read(|s| s.url_taken_elsewhere(url, node.pop_id(), agent, pooling))
            }));
        }
        tokio::spawn(bindings::sync_loop(node.clone(), Arc::downgrade(&registry)));
        let router = Arc::new(router::ClusterRouter { registry: registry.clone(), node: node.clone() });
        let edge = router::start_edge(&cfg, router, Arc::new(guard)).await?;
        let admin =
            warren_admin::AdminServer::start(cfg.listen.admin, admin_token, backend, Arc::new(move || render.render()))
                .await?;

        let dns = dns::start(&cfg, node.clone(), geo).await?;

        let bound = Bound {
            http: edge.http_addr(),
            https: edge.https_addr(),
            tunnel: tunnel_addr,
            cluster: node.local_addr(),
            admin: admin.addr(),
            dns: dns.as_ref().map(|d| d.udp_addr()),
        };
        info!(pop.id = %cfg.id, zone = %cfg.zone, "PoP started");
        Ok(Pop { bound, dev_ca: certs.dev_ca, tunnel, edge, admin, node, dns, tcp_ports })
    }

    /// Drains: stop accepting agents and tell them to move, let in-flight requests finish
    /// (at most `grace`), then close everything.
    pub async fn shutdown(self, grace: Duration) {
        info!("draining");
        self.tunnel.drain();
        self.edge.shutdown(grace).await;
        drop(self.tcp_ports);
        self.tunnel.close().await;
        self.admin.shutdown().await;
        if let Some(dns) = self.dns {
            dns.shutdown().await;
        }
        self.node.shutdown().await;
        info!("stopped");
    }
}
