//! The edge's router: host → a stream to one of the endpoint's agents, through this PoP's own
//! tunnel when it has one, else through the PoP that holds one (cluster forwarding).

use std::net::SocketAddr;
use std::sync::Arc;

use warren_cluster::{BoxFuture as ClusterFuture, ClusterNode, ForwardRequest, LocalEndpoints};
use warren_config::{PopConfig, TlsConfig};
use warren_core::ErrorCode;
use warren_edge::{BoxFuture, EdgeConfig, EdgeHandle, EdgeServer, Proto, Router, TlsSource};
use warren_tunnel::{Registry, TunnelStream, open_on_route};
use warren_wire::Protocol;

use crate::PopError;

/// Routes through the local registry, then the cluster.
pub(crate) struct ClusterRouter {
    pub(crate) registry: Arc<Registry>,
    pub(crate) node: Arc<ClusterNode>,
}

impl ClusterRouter {
    /// PoPs holding `url` according to the replicated bindings.
    fn holders(&self, url: &str) -> Vec<String> {
        self.node.shared().read(|s| s.holders(url).into_iter().map(|(p, _)| p.to_owned()).collect())
    }
}

impl Router for ClusterRouter {
    fn open<'a>(
        &'a self,
        host: &'a str,
        client: SocketAddr,
        server: SocketAddr,
        _proto: Proto,
    ) -> BoxFuture<'a, Result<TunnelStream, ErrorCode>> {
        Box::pin(async move {
            let local = open_on_route(|| self.registry.route_http(host), Protocol::Http, client, server).await;
            match local {
                Err(code @ (ErrorCode::EndpointNotFound | ErrorCode::EndpointOffline)) => {
                    let holders = self.holders(&format!("https://{host}"));
                    if holders.iter().all(|h| h == self.node.pop_id()) {
                        return Err(code);
                    }
                    let req = ForwardRequest {
                        host: host.to_owned(),
                        tcp_port: None,
                        protocol: Protocol::Http,
                        client_addr: client,
                        server_addr: server,
                    };
                    self.node.forward(req, holders).await
                }
                other => other,
            }
        })
    }
}

/// The PoP's side of requests other PoPs forward here: local agents only.
pub(crate) struct LocalOnly {
    pub(crate) registry: Arc<Registry>,
}

impl LocalEndpoints for LocalOnly {
    fn open_local<'a>(&'a self, req: &'a ForwardRequest) -> ClusterFuture<'a, Result<TunnelStream, ErrorCode>> {
        Box::pin(async move {
            match req.tcp_port {
                Some(port) => {
                    open_on_route(|| self.registry.route_tcp(port), Protocol::Tcp, req.client_addr, req.server_addr)
                        .await
                }
                None => {
                    let host = req.host.to_ascii_lowercase();
                    open_on_route(|| self.registry.route_http(&host), Protocol::Http, req.client_addr, req.server_addr)
                        .await
                }
            }
        })
    }
}

pub(crate) async fn start_edge(
    cfg: &PopConfig,
    router: Arc<dyn Router>,
    guard: Arc<dyn warren_edge::RequestGuard>,
) -> Result<EdgeHandle, PopError> {
    let tls = match &cfg.tls {
        TlsConfig::None => None,
        TlsConfig::DevCa(dir) => Some(TlsSource::DevCa { dir: dir.clone() }),
        TlsConfig::Files { cert, key } => Some(TlsSource::Files { cert: cert.clone(), key: key.clone() }),
    };
    let edge_cfg = EdgeConfig { http: cfg.listen.http, https: cfg.listen.https, zone: cfg.zone.clone(), tls };
    EdgeServer::start_with_guard(edge_cfg, router, guard).await.map_err(|e| PopError::Edge(e.to_string()))
}
