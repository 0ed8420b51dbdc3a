//! The TCP+TLS fallback listener: same address and port as the QUIC socket.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpSocket};
use tracing::{Instrument, debug, info_span, warn};

use super::{HANDSHAKE_TIMEOUT, TunnelServer, drained};
use crate::TunnelError;
use crate::fallback::{MuxConn, Side, Watched};

/// Attempts at finding a port free for both UDP and TCP when the configured port is 0.
const PORT_ATTEMPTS: usize = 32;

/// Binds QUIC on `addr`, then TCP on the port QUIC got. With port 0 the UDP port the kernel
/// picks may be taken on TCP: then both are tried again.
pub(super) fn bind_pair(
    addr: SocketAddr,
    quic: quinn::ServerConfig,
) -> Result<(quinn::Endpoint, TcpListener), TunnelError> {
    let attempts = if addr.port() == 0 { PORT_ATTEMPTS } else { 1 };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let endpoint = quinn::Endpoint::server(quic.clone(), addr)?;
        match listen(endpoint.local_addr()?) {
            Ok(listener) => return Ok((endpoint, listener)),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && attempt < attempts => {
                debug!(error = %e, "TCP port taken, trying another pair");
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    // A PoP that restarts gets its port back although old connections linger in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

impl TunnelServer {
    /// Accepts fallback connections until the PoP drains.
    pub(super) async fn accept_tcp(self: Arc<Self>, listener: TcpListener) {
        let mut drain = self.drain.subscribe();
        loop {
            let (tcp, remote) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(v) => v,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        warn!(error = %e, "tunnel TCP accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = drained(&mut drain) => break,
            };
            let this = self.clone();
            let span = info_span!("tunnel.session", client.addr = %remote, tunnel.id = tracing::field::Empty);
            tokio::spawn(
                async move {
                    match this.tcp_handshake(tcp).await {
                        Ok(conn) => this.session(Arc::new(conn)).await,
                        Err(e) => debug!(error = %e, "TCP+TLS handshake failed"),
                    }
                }
                .instrument(span),
            );
        }
    }

    async fn tcp_handshake(&self, tcp: tokio::net::TcpStream) -> Result<MuxConn, TunnelError> {
        let _ = tcp.set_nodelay(true);
        let tcp = Watched::new(tcp);
        let last_read = tcp.last_read();
        let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.tcp_tls.accept(tcp))
            .await
            .map_err(|_| TunnelError::Timeout("the TLS handshake"))??;
        // rustls already refused a client offering other protocols; one offering none is
        // not an agent either.
        if tls.get_ref().1.alpn_protocol() != Some(warren_wire::ALPN) {
            return Err(TunnelError::Tls("the client did not ask for the tunnel protocol (ALPN)".into()));
        }
        Ok(MuxConn::start(tls, last_read, Side::Pop))
    }
}
