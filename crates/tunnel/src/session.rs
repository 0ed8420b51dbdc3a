//! One agent session as the PoP sees it: something that opens streams towards the agent.
//!
//! The registry holds sessions through [`SessionConn`] so it does not care whether a session is
//! a QUIC connection or the TCP+TLS fallback, and so its rules are testable without sockets.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use warren_wire::{MAX_HEAD_FRAME, Protocol, StreamHeader};

use crate::framed::write_frame;
use crate::{TunnelError, TunnelStream};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A transport that opens streams to an agent.
pub trait StreamOpener: Send + Sync + 'static {
    fn open(&self) -> BoxFuture<'_, Result<TunnelStream, TunnelError>>;
    fn is_closed(&self) -> bool;
    /// Closes the whole session with an application code and a reason the agent can print.
    fn close(&self, reason: &str);
}

/// A cheap handle to an agent session.
#[derive(Clone)]
pub struct SessionConn(Arc<dyn StreamOpener>);

impl SessionConn {
    pub fn new(opener: impl StreamOpener) -> SessionConn {
        SessionConn(Arc::new(opener))
    }

    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    pub fn close(&self, reason: &str) {
        self.0.close(reason)
    }

    /// Opens a data stream to the agent and writes its header.
    pub async fn open_stream(
        &self,
        endpoint_key: u32,
        protocol: Protocol,
        client_addr: SocketAddr,
        server_addr: SocketAddr,
    ) -> Result<TunnelStream, TunnelError> {
        let mut stream = self.0.open().await?;
        let header = StreamHeader { endpoint_key, protocol, client_addr, server_addr };
        write_frame(&mut stream.send, &header, MAX_HEAD_FRAME).await?;
        metrics::counter!(crate::metrics::STREAMS_OPENED).increment(1);
        Ok(stream)
    }
}

impl std::fmt::Debug for SessionConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionConn")
    }
}

/// Application close code for "closed by the PoP on purpose" (revoked, drained, replaced).
pub const CLOSE_BY_POP: u32 = 1;

impl StreamOpener for quinn::Connection {
    fn open(&self) -> BoxFuture<'_, Result<TunnelStream, TunnelError>> {
        Box::pin(async move {
            let (send, recv) = self.open_bi().await?;
            Ok(TunnelStream::new(crate::quic_io::QuicSend::new(send), recv))
        })
    }

    fn is_closed(&self) -> bool {
        self.close_reason().is_some()
    }

    fn close(&self, reason: &str) {
        quinn::Connection::close(self, quinn::VarInt::from_u32(CLOSE_BY_POP), reason.as_bytes());
    }
}
