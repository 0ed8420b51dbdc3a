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

    pub(crate) fn from_arc(opener: Arc<dyn StreamOpener>) -> SessionConn {
        SessionConn(opener)
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

/// What carries a tunnel: QUIC, or the TCP+TLS fallback for networks that drop UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Quic,
    Tcp,
}

impl Transport {
    /// `quic` or `tcp`: the metric label and what the agent prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Quic => "quic",
            Transport::Tcp => "tcp",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An agent's session as the PoP's handshake and control loop see it, whatever carries it.
///
/// The agent opens the first stream (the control stream); the PoP opens every other one.
pub(crate) trait AgentConn: StreamOpener {
    /// The control stream: the first stream the agent opens.
    fn accept_control(&self) -> BoxFuture<'_, Result<TunnelStream, TunnelError>>;
    /// Resolves once the session is closed or asked to close. `Some(reason)` when the carrier
    /// cannot tell the agent why by itself (yamux has no close reason): the control loop then
    /// says it on the control stream before the carrier goes away.
    fn closing(&self) -> BoxFuture<'_, Option<String>>;
    fn transport(&self) -> Transport;
}

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

impl AgentConn for quinn::Connection {
    fn accept_control(&self) -> BoxFuture<'_, Result<TunnelStream, TunnelError>> {
        Box::pin(async move {
            let (send, recv) = self.accept_bi().await?;
            Ok(TunnelStream::new(crate::quic_io::QuicSend::new(send), recv))
        })
    }

    fn closing(&self) -> BoxFuture<'_, Option<String>> {
        // QUIC carries the close reason itself.
        Box::pin(async move {
            self.closed().await;
            None
        })
    }

    fn transport(&self) -> Transport {
        Transport::Quic
    }
}
