//! The edge's router over the tunnel registry: host → an agent's tunnel stream.

use std::net::SocketAddr;
use std::sync::{Arc, Weak};

use warren_config::{PopConfig, TlsConfig};
use warren_core::ErrorCode;
use warren_edge::{BoxFuture, EdgeConfig, EdgeHandle, EdgeServer, Proto, Router, TlsSource};
use warren_tunnel::{Registry, TunnelStream};
use warren_wire::Protocol;

use crate::PopError;

struct RegistryRouter {
    registry: Arc<Registry>,
}

impl Router for RegistryRouter {
    fn open<'a>(
        &'a self,
        host: &'a str,
        client: SocketAddr,
        server: SocketAddr,
        _proto: Proto,
    ) -> BoxFuture<'a, Result<TunnelStream, ErrorCode>> {
        Box::pin(async move {
            // A pooled endpoint whose chosen agent just went away: try the others before
            // failing, so losing one agent never shows as an error.
            let mut last = ErrorCode::EndpointOffline;
            for _ in 0..3 {
                let route = self.registry.route_http(host)?;
                match route.conn.open_stream(route.endpoint_key, Protocol::Http, client, server).await {
                    Ok(stream) => return Ok(stream),
                    Err(e) => {
                        tracing::debug!(error = %e, "tunnel stream failed, trying another agent");
                        last = ErrorCode::TunnelStreamFailed;
                    }
                }
            }
            Err(last)
        })
    }
}

pub(crate) async fn start_edge(
    cfg: &PopConfig,
    registry: Arc<Registry>,
    guard: Arc<dyn warren_edge::RequestGuard>,
) -> Result<EdgeHandle, PopError> {
    let tls = match &cfg.tls {
        TlsConfig::None => None,
        TlsConfig::DevCa(dir) => Some(TlsSource::DevCa { dir: dir.clone() }),
        TlsConfig::Files { cert, key } => Some(TlsSource::Files { cert: cert.clone(), key: key.clone() }),
    };
    let edge_cfg = EdgeConfig { http: cfg.listen.http, https: cfg.listen.https, zone: cfg.zone.clone(), tls };
    EdgeServer::start_with_guard(edge_cfg, Arc::new(RegistryRouter { registry }), guard)
        .await
        .map_err(|e| PopError::Edge(e.to_string()))
}

/// `GET /v1/endpoints` for a standalone PoP.
pub(crate) fn endpoint_list(registry: &Weak<Registry>, pop_id: &str) -> Vec<warren_admin::EndpointInfo> {
    let Some(registry) = registry.upgrade() else { return Vec::new() };
    registry
        .endpoints()
        .into_iter()
        .map(|e| warren_admin::EndpointInfo { url: e.url, pops: vec![pop_id.to_owned()], agents: e.agents as u32 })
        .collect()
}
