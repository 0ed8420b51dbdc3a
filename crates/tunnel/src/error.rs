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
    /// The other side refused with a stable code (e.g. a bad authtoken).
    #[error("{code}: {message}")]
    Refused { code: String, message: String },
}

impl TunnelError {
    /// The public code for a failure to reach an agent through this tunnel.
    pub fn code(&self) -> ErrorCode {
        match self {
            TunnelError::Refused { code, .. } => ErrorCode::from_code(code).unwrap_or(ErrorCode::TunnelStreamFailed),
            _ => ErrorCode::TunnelStreamFailed,
        }
    }
}
