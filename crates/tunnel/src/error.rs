//! Tunnel errors: what went wrong on a session or a stream, and the public code for it.

use warren_core::ErrorCode;
use warren_wire::WireError;

#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    #[error("QUIC connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    #[error("cannot connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    #[error("stream write: {0}")]
    Write(#[from] quinn::WriteError),
    #[error("stream read: {0}")]
    Read(#[from] quinn::ReadExactError),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("protocol: {0}")]
    Wire(#[from] WireError),
    #[error("TLS configuration: {0}")]
    Tls(String),
    #[error("the peer closed the control stream")]
    ControlClosed,
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    #[error("unexpected message: {0}")]
    Unexpected(String),
    /// The TCP+TLS fallback session failed or is gone.
    #[error("TCP+TLS tunnel: {0}")]
    Fallback(String),
    /// Neither QUIC nor the TCP+TLS fallback reached the PoP.
    #[error("cannot reach the PoP: over QUIC: {quic}; over TCP+TLS: {tcp}")]
    NoPath { quic: String, tcp: String },
    /// The other side refused with a stable code (e.g. a bad authtoken).
    #[error("{code}: {message}")]
    Refused { code: String, message: String },
}

impl TunnelError {
    /// The path failed (no answer, unreachable, reset) rather than the PoP saying no: another
    /// transport to the same PoP may get through.
    pub fn is_unreachable(&self) -> bool {
        match self {
            TunnelError::Timeout(_) | TunnelError::Connect(_) | TunnelError::Io(_) => true,
            TunnelError::Connection(e) => matches!(
                e,
                quinn::ConnectionError::TimedOut
                    | quinn::ConnectionError::Reset
                    | quinn::ConnectionError::LocallyClosed
            ),
            _ => false,
        }
    }

    /// The public code for a failure to reach an agent through this tunnel.
    pub fn code(&self) -> ErrorCode {
        match self {
            TunnelError::Refused { code, .. } => ErrorCode::from_code(code).unwrap_or(ErrorCode::TunnelStreamFailed),
            _ => ErrorCode::TunnelStreamFailed,
        }
    }
}
