//! The listeners: accept, TLS, HTTP/1.1 and HTTP/2 with upgrades, graceful shutdown.
//!
//! Each listener runs one accept loop that owns its connections (a `JoinSet`) and a
//! `GracefulShutdown`. On shutdown the loop stops accepting, asks every connection to finish
//! (HTTP/1.1: after the in-flight response; HTTP/2: GOAWAY), waits until the deadline, and
//! then aborts whatever is left.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tracing::Instrument;
use warren_core::Zone;
use warren_proxy::Proto;

use crate::EdgeError;
use crate::metrics::ACTIVE_CONNECTIONS;
use crate::router::{AllowAll, RequestGuard, Router};
use crate::service::{ConnInfo, Shared, handle};
use crate::tls::{self, TlsSource};

/// A client must finish its TLS handshake within this time.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A client must send a complete HTTP/1 request head within this time (slowloris guard).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The edge's listeners and certificate.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// Plain HTTP (HTTP/1.1 and h2c prior knowledge); `None` for no such listener. Port 0 picks one.
    pub http: Option<SocketAddr>,
    /// HTTPS (ALPN `h2`, `http/1.1`); needs `tls`.
    pub https: Option<SocketAddr>,
    /// Endpoints are `NAME.ZONE`; the certificate covers `*.ZONE` and `ZONE`.
    pub zone: Zone,
    pub tls: Option<TlsSource>,
}

/// Starts edges.
#[derive(Debug)]
pub struct EdgeServer;

impl EdgeServer {
    /// Binds the configured listeners and serves them with `router`, no traffic policy.
    pub async fn start(cfg: EdgeConfig, router: Arc<dyn Router>) -> Result<EdgeHandle, EdgeError> {
        Self::start_with_guard(cfg, router, Arc::new(AllowAll)).await
    }

    /// As [`EdgeServer::start`], with `guard` deciding about each request before routing.
    pub async fn start_with_guard(
        cfg: EdgeConfig,
        router: Arc<dyn Router>,
        guard: Arc<dyn RequestGuard>,
    ) -> Result<EdgeHandle, EdgeError> {
        let tls = match (&cfg.tls, cfg.https) {
            (Some(source), Some(_)) => Some(tls::load(source, &cfg.zone)?),
            (None, Some(_)) => return Err(EdgeError::TlsMissing),
            _ => None,
        };
        let dev_ca_pem = tls.as_ref().and_then(|t| t.dev_ca_pem.clone());
        let http = match cfg.http {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let https = match cfg.https {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let shared = Arc::new(Shared { router, guard });
        let (stop_tx, stop_rx) = watch::channel(None);
        let mut loops = Vec::new();
        let mut addrs = [None, None];
        let listeners = [
            http.map(|l| (l, None, Proto::Http)),
            https.zip(tls).map(|(l, t)| (l, Some(TlsAcceptor::from(t.config)), Proto::Https)),
        ];
        for (i, (listener, acceptor, proto)) in listeners.into_iter().enumerate().filter_map(|(i, l)| Some((i, l?))) {
            addrs[i] = listener.local_addr().ok();
            tracing::info!(addr = ?addrs[i], proto = proto.as_str(), "edge listening");
            let accept = AcceptLoop { listener, acceptor, proto, shared: Arc::clone(&shared), stop: stop_rx.clone() };
            loops.push(tokio::spawn(accept.run()));
        }
        Ok(EdgeHandle { http_addr: addrs[0], https_addr: addrs[1], dev_ca_pem, stop: stop_tx, loops })
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, EdgeError> {
    TcpListener::bind(addr).await.map_err(|source| EdgeError::Bind { addr, source })
}

/// A running edge. Dropping it stops accepting and cuts connections at once; prefer
/// [`EdgeHandle::shutdown`].
#[derive(Debug)]
pub struct EdgeHandle {
    http_addr: Option<SocketAddr>,
    https_addr: Option<SocketAddr>,
    dev_ca_pem: Option<PathBuf>,
    stop: watch::Sender<Option<Instant>>,
    loops: Vec<JoinHandle<()>>,
}

impl EdgeHandle {
    /// The bound address of the http listener, if configured.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The bound address of the https listener, if configured.
    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https_addr
    }

    /// `ca.pem` of the dev CA, for agents and tests to trust; `None` with file certificates.
    pub fn dev_ca_pem_path(&self) -> Option<&Path> {
        self.dev_ca_pem.as_deref()
    }

    /// Stops accepting, lets in-flight requests finish for up to `deadline`, then cuts what is
    /// left. Returns when every connection is gone.
    pub async fn shutdown(mut self, deadline: Duration) {
        let _ = self.stop.send(Some(Instant::now() + deadline));
        for task in std::mem::take(&mut self.loops) {
            let _ = task.await;
        }
    }
}

impl Drop for EdgeHandle {
    fn drop(&mut self) {
        // Not shut down: stop now, with no grace period.
        let _ = self.stop.send(Some(Instant::now()));
    }
}

struct AcceptLoop {
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    proto: Proto,
    shared: Arc<Shared>,
    stop: watch::Receiver<Option<Instant>>,
}

impl AcceptLoop {
    async fn run(mut self) {
        let graceful = GracefulShutdown::new();
        let mut conns = JoinSet::new();
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
        let builder = Arc::new(builder);
        let deadline = loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let (tcp, client) = match accepted {
                        Ok(accepted) => accepted,
                        Err(e) => {
                            // Usually EMFILE: back off instead of spinning.
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let conn = Conn {
                        tcp,
                        client,
                        acceptor: self.acceptor.clone(),
                        proto: self.proto,
                        shared: Arc::clone(&self.shared),
                        builder: Arc::clone(&builder),
                    };
                    let span = tracing::info_span!("conn", client.addr = %client, proto = self.proto.as_str());
                    conns.spawn(conn.serve(graceful.watcher()).instrument(span));
                }
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
                changed = self.stop.changed() => {
                    match (changed, *self.stop.borrow()) {
                        (Ok(()), Some(deadline)) => break deadline,
                        (Ok(()), None) => continue,
                        // The handle is gone without a deadline: stop at once.
                        (Err(_), _) => break Instant::now(),
                    }
                }
            }
        };
        drop(self.listener);
        if tokio::time::timeout_at(deadline, graceful.shutdown()).await.is_err() {
            tracing::info!(left = conns.len(), "drain deadline passed, cutting connections");
            conns.abort_all();
        }
        while conns.join_next().await.is_some() {}
    }
}

struct Conn {
    tcp: TcpStream,
    client: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    proto: Proto,
    shared: Arc<Shared>,
    builder: Arc<auto::Builder<TokioExecutor>>,
}

impl Conn {
    async fn serve(self, watcher: hyper_util::server::graceful::Watcher) {
        let proto = self.proto.as_str();
        metrics::gauge!(ACTIVE_CONNECTIONS, "proto" => proto).increment(1.0);
        let _gauge = DecrementOnDrop(proto);
        let _ = self.tcp.set_nodelay(true);
        let Ok(server) = self.tcp.local_addr() else { return };
        let info = ConnInfo { client: self.client, server, proto: self.proto };
        let shared = self.shared;
        let service = service_fn(move |req| {
            let shared = Arc::clone(&shared);
            async move { Ok::<_, Infallible>(handle(req, info, shared).await) }
        });
        let result = match self.acceptor {
            None => watcher.watch(self.builder.serve_connection_with_upgrades(TokioIo::new(self.tcp), service)).await,
            Some(acceptor) => match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(self.tcp)).await {
                Ok(Ok(tls)) => {
                    watcher.watch(self.builder.serve_connection_with_upgrades(TokioIo::new(tls), service)).await
                }
                Ok(Err(e)) => return tracing::debug!(error = %e, "TLS handshake failed"),
                Err(_) => return tracing::debug!("TLS handshake timed out"),
            },
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "connection ended with an error");
        }
    }
}

struct DecrementOnDrop(&'static str);

impl Drop for DecrementOnDrop {
    fn drop(&mut self) {
        metrics::gauge!(ACTIVE_CONNECTIONS, "proto" => self.0).decrement(1.0);
    }
}
