//! The listener: hyper 1 (HTTP/1.1) over tokio, one task per connection, graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::{AdminBackend, AdminError};

/// Largest request body accepted (a policy file is the biggest thing anyone uploads); larger
/// bodies get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A client that has not sent its headers by then is dropped (slowloris).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long shutdown waits for requests in flight before cutting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Everything a request handler needs. The admin token itself is not kept: only its SHA-256, which
/// is what requests are compared against.
pub(crate) struct Shared {
    pub(crate) token_hash: [u8; 32],
    pub(crate) backend: Arc<dyn AdminBackend>,
    pub(crate) metrics_render: Arc<dyn Fn() -> String + Send + Sync>,
}

/// The admin API server of a PoP; see [`AdminServer::start`].
#[derive(Debug)]
pub enum AdminServer {}

impl AdminServer {
    /// Binds `bind` (port 0 picks a free port) and serves the admin API until the returned handle
    /// is shut down or dropped. `token` is the admin bearer token; `metrics_render` produces the
    /// Prometheus text for `/metrics` (the PoP's recorder, which also holds this API's counters).
    pub async fn start(
        bind: SocketAddr,
        token: String,
        backend: Arc<dyn AdminBackend>,
        metrics_render: Arc<dyn Fn() -> String + Send + Sync>,
    ) -> Result<AdminHandle, AdminError> {
        if token.is_empty() {
            return Err(AdminError::EmptyToken);
        }
        let token_hash = Sha256::digest(token.as_bytes()).into();
        drop(token);
        let listener = TcpListener::bind(bind).await.map_err(|source| AdminError::Bind { addr: bind, source })?;
        let addr = listener.local_addr().map_err(|source| AdminError::Bind { addr: bind, source })?;
        crate::metrics::describe();
        let shared = Arc::new(Shared { token_hash, backend, metrics_render });
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(serve(listener, shared, stop_rx));
        tracing::info!(admin.addr = %addr, "admin API listening");
        Ok(AdminHandle { addr, stop, task: Some(task) })
    }
}

/// A running admin server. Dropping it stops accepting too; [`AdminHandle::shutdown`] also waits
/// for requests in flight (up to 5 s).
#[derive(Debug)]
pub struct AdminHandle {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl AdminHandle {
    /// The bound address (with the real port when bound to port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for AdminHandle {
    fn drop(&mut self) {
        // The serve loop ends on its own once this sender is gone, closing connections gracefully.
        let _ = self.stop.send(true);
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
            }
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _peer)) => stream,
                    Err(error) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(%error, "admin API accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let shared = Arc::clone(&shared);
                let service = service_fn(move |req| crate::routes::handle(Arc::clone(&shared), req));
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(error) = conn.await {
                        tracing::debug!(%error, "admin API connection ended with an error");
                    }
                });
            }
        }
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
        tracing::warn!("admin API shutdown: requests still in flight after the grace period were cut");
    }
}
