//! The agent's backend: where it is, how to reach it, and one fresh connection per exchange.
//!
//! One connection per tunnel stream keeps failures independent and the code small; pooling
//! can come later behind the same [`Backend`] without changing the wire protocol.

use std::sync::Arc;
use std::time::Duration;

use http::Request;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::ProxyError;
use crate::body::{AbortOnDrop, BoxBody};

/// How long the agent waits for the backend to accept a connection (and finish TLS).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the agent waits for a response head once the request body has been sent.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// A backend an agent exposes.
#[derive(Debug, Clone)]
pub struct Backend {
    /// `host:port`.
    pub addr: String,
    /// Speak TLS to the backend with this configuration. When it offers ALPN protocols, the
    /// negotiated one decides between HTTP/1.1 and HTTP/2.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The TLS server name; defaults to the host part of `addr`.
    pub server_name: Option<String>,
    /// Always speak HTTP/2 (prior knowledge on cleartext), not only for gRPC.
    pub force_http2: bool,
    /// The `Host` the backend sees; `None` keeps the client's.
    pub host_header: Option<String>,
    pub connect_timeout: Duration,
    /// Counted from the end of the request body, so slow uploads are not cut.
    pub response_timeout: Duration,
}

impl Backend {
    /// A cleartext backend at `addr` (`host:port`) with default timeouts.
    pub fn new(addr: impl Into<String>) -> Backend {
        Backend {
            addr: addr.into(),
            tls: None,
            server_name: None,
            force_http2: false,
            host_header: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
        }
    }

    /// `http` or `https`, for absolute URIs on HTTP/2.
    pub(crate) fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    fn tls_server_name(&self) -> Result<ServerName<'static>, ProxyError> {
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => host_of(&self.addr).to_owned(),
        };
        ServerName::try_from(name.clone())
            .map_err(|_| ProxyError::BackendConfig(format!("invalid TLS server name {name:?}")))
    }
}

/// The host part of `host:port`, `[v6]:port`, or a bare host.
fn host_of(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => addr,
    }
}

trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A request sender on a fresh backend connection; the connection's task ends with it.
pub(crate) struct Conn {
    pub(crate) sender: Sender,
    pub(crate) _driver: AbortOnDrop,
}

pub(crate) enum Sender {
    H1(http1::SendRequest<BoxBody>),
    H2(http2::SendRequest<BoxBody>),
}

impl Conn {
    pub(crate) fn is_h2(&self) -> bool {
        matches!(self.sender, Sender::H2(_))
    }

    pub(crate) async fn send(&mut self, req: Request<BoxBody>) -> hyper::Result<http::Response<hyper::body::Incoming>> {
        match &mut self.sender {
            Sender::H1(s) => s.send_request(req).await,
            Sender::H2(s) => s.send_request(req).await,
        }
    }
}

/// Connects to the backend and shakes hands in HTTP/2 when `want_h2` (or TLS ALPN) says so.
pub(crate) async fn connect(backend: &Backend, want_h2: bool) -> Result<Conn, ProxyError> {
    let addr = &backend.addr;
    let after = backend.connect_timeout;
    let timed_out = || ProxyError::UpstreamTimeout { addr: addr.clone(), what: "accept the connection", after };
    let tcp = timeout(after, TcpStream::connect(addr.as_str())).await.map_err(|_| timed_out())?.map_err(|source| {
        if source.kind() == std::io::ErrorKind::TimedOut {
            timed_out()
        } else {
            ProxyError::UpstreamConnect { addr: addr.clone(), source }
        }
    })?;
    // Small frames (SSE events, gRPC messages) must not wait for Nagle.
    let _ = tcp.set_nodelay(true);
    let (io, h2): (Box<dyn Io>, bool) = match &backend.tls {
        None => (Box::new(tcp), want_h2),
        Some(config) => {
            let name = backend.tls_server_name()?;
            let connector = tokio_rustls::TlsConnector::from(Arc::clone(config));
            let tls = timeout(after, connector.connect(name, tcp))
                .await
                .map_err(|_| timed_out())?
                .map_err(|source| ProxyError::UpstreamTls { addr: addr.clone(), source })?;
            let h2 = match tls.get_ref().1.alpn_protocol() {
                Some(b"h2") => true,
                Some(_) => false,
                None => want_h2,
            };
            (Box::new(tls), h2)
        }
    };
    let io = TokioIo::new(io);
    let http_err = |source| ProxyError::UpstreamHttp { addr: addr.clone(), source };
    let handshake = async {
        if h2 {
            let (sender, conn) = http2::Builder::new(TokioExecutor::new()).handshake(io).await.map_err(http_err)?;
            let driver = tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "backend HTTP/2 connection failed");
                }
            });
            Ok(Conn { sender: Sender::H2(sender), _driver: AbortOnDrop(driver) })
        } else {
            let (sender, conn) = http1::Builder::new().handshake(io).await.map_err(http_err)?;
            let driver = tokio::spawn(async move {
                if let Err(e) = conn.with_upgrades().await {
                    tracing::debug!(error = %e, "backend HTTP/1 connection failed");
                }
            });
            Ok(Conn { sender: Sender::H1(sender), _driver: AbortOnDrop(driver) })
        }
    };
    timeout(after, handshake).await.map_err(|_| timed_out())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_handles_names_ports_and_v6() {
        assert_eq!(host_of("localhost:8080"), "localhost");
        assert_eq!(host_of("[::1]:8080"), "::1");
        assert_eq!(host_of("api.internal"), "api.internal");
        assert_eq!(host_of("::1"), "::1");
    }

    #[tokio::test]
    async fn a_closed_port_is_refused() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = connect(&Backend::new(addr.to_string()), false).await.err().unwrap();
        assert_eq!(err.code(), warren_core::ErrorCode::UpstreamRefused, "{err}");
    }
}
