//! A fake router, edge start-up, and clients that trust the dev CA.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use warren_core::{ErrorCode, Zone};
use warren_edge::{BoxFuture, EdgeConfig, EdgeHandle, EdgeServer, Proto, Router, TlsSource};
use warren_proxy::{Backend, serve};
use warren_tunnel::TunnelStream;

pub const HOST: &str = "api.edge.test";
pub const OFFLINE_HOST: &str = "gone.edge.test";

/// Routes `HOST` to an agent serving `backend`, `OFFLINE_HOST` to "offline", anything else
/// to "not found", as the PoP's registry would.
pub struct FakeRouter {
    routes: HashMap<String, Option<Backend>>,
}

impl FakeRouter {
    pub fn new(backend: SocketAddr) -> Arc<FakeRouter> {
        let routes = HashMap::from([
            (HOST.to_owned(), Some(Backend::new(backend.to_string()))),
            (OFFLINE_HOST.to_owned(), None),
        ]);
        Arc::new(FakeRouter { routes })
    }
}

impl Router for FakeRouter {
    fn open<'a>(
        &'a self,
        host: &'a str,
        _client: SocketAddr,
        _server: SocketAddr,
        _proto: Proto,
    ) -> BoxFuture<'a, Result<TunnelStream, ErrorCode>> {
        Box::pin(async move {
            match self.routes.get(host) {
                Some(Some(backend)) => {
                    let (edge_end, agent_end) = TunnelStream::pair(64 * 1024);
                    let backend = backend.clone();
                    tokio::spawn(async move {
                        let _ = serve(agent_end, &backend).await;
                    });
                    Ok(edge_end)
                }
                Some(None) => Err(ErrorCode::EndpointOffline),
                None => Err(ErrorCode::EndpointNotFound),
            }
        })
    }
}

/// An edge with both listeners on port 0 and a dev CA in `ca_dir`.
pub async fn start_edge(router: Arc<dyn Router>, ca_dir: &Path) -> EdgeHandle {
    let cfg = EdgeConfig {
        http: Some("127.0.0.1:0".parse().unwrap()),
        https: Some("127.0.0.1:0".parse().unwrap()),
        zone: Zone::parse("edge.test").unwrap(),
        tls: Some(TlsSource::DevCa { dir: ca_dir.to_owned() }),
    };
    EdgeServer::start(cfg, router).await.unwrap()
}

/// A client that reaches `HOST` (and the other test hosts) at `addr`, trusting the dev CA.
pub fn client(
    edge: &EdgeHandle,
    addr: SocketAddr,
    configure: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
) -> reqwest::Client {
    let mut builder = reqwest::Client::builder().no_proxy();
    for host in [HOST, OFFLINE_HOST, "nowhere.edge.test"] {
        builder = builder.resolve(host, addr);
    }
    if let Some(ca) = edge.dev_ca_pem_path() {
        let pem = std::fs::read(ca).unwrap();
        builder = builder.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
    }
    configure(builder).build().unwrap()
}

pub fn http_url(edge: &EdgeHandle, host: &str, path: &str) -> String {
    format!("http://{host}:{}{path}", edge.http_addr().unwrap().port())
}

pub fn https_url(edge: &EdgeHandle, host: &str, path: &str) -> String {
    format!("https://{host}:{}{path}", edge.https_addr().unwrap().port())
}
