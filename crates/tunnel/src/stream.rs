//! One bidirectional stream of a tunnel, independent of the transport under it.

use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

/// The receiving half of a tunnel stream.
pub type BoxRead = Pin<Box<dyn AsyncRead + Send + Sync>>;
/// The sending half of a tunnel stream; `shutdown()` ends this direction (half-close).
pub type BoxWrite = Pin<Box<dyn AsyncWrite + Send + Sync>>;

/// A bidirectional stream of a tunnel: a QUIC stream, or a multiplexed stream of the TCP+TLS
/// fallback. Each direction ends independently, so TCP half-close maps onto it exactly.
pub struct TunnelStream {
    pub send: BoxWrite,
    pub recv: BoxRead,
}

impl TunnelStream {
    pub fn new(send: impl AsyncWrite + Send + Sync + 'static, recv: impl AsyncRead + Send + Sync + 'static) -> Self {
        TunnelStream { send: Box::pin(send), recv: Box::pin(recv) }
    }

    /// A QUIC stream. Its sending half resets the stream, instead of finishing it, when dropped
    /// without `shutdown()`, so the peer sees an abort as an error rather than a clean end.
    pub fn from_quic(send: quinn::SendStream, recv: quinn::RecvStream) -> TunnelStream {
        TunnelStream::new(crate::quic_io::QuicSend::new(send), recv)
    }

    /// An in-memory pair of connected streams, for tests of the layers above.
    pub fn pair(buffer: usize) -> (TunnelStream, TunnelStream) {
        let (b_recv, a_send) = tokio::io::simplex(buffer);
        let (a_recv, b_send) = tokio::io::simplex(buffer);
        (TunnelStream::new(a_send, a_recv), TunnelStream::new(b_send, b_recv))
    }
}

impl std::fmt::Debug for TunnelStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TunnelStream")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn pair_is_connected_and_half_closes() {
        let (mut a, mut b) = TunnelStream::pair(64);
        a.send.write_all(b"ping").await.unwrap();
        a.send.shutdown().await.unwrap();
        let mut got = Vec::new();
        b.recv.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"ping");
        // The other direction still works after the first one ended.
        b.send.write_all(b"pong").await.unwrap();
        b.send.shutdown().await.unwrap();
        let mut got = Vec::new();
        a.recv.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"pong");
    }
}
