//! What can go wrong in an exchange, and which stable code each failure shows the client.
//!
//! Every variant says who caused it through [`ProxyError::code`], so the edge answers with the
//! right status and the agent sends the right `HttpFrame::Error` without deciding at the call
//! site.

use std::io;
use std::time::Duration;

use warren_core::ErrorCode;
use warren_wire::WireError;

/// Why an HTTP exchange over a tunnel stream failed.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// Reading or writing the tunnel stream failed.
    #[error("tunnel stream I/O: {0}")]
    TunnelIo(#[source] io::Error),
    /// The other side sent bytes that are not a valid frame.
    #[error("invalid frame from the tunnel: {0}")]
    Wire(#[from] WireError),
    /// The other side sent a valid frame where the protocol does not allow it.
    #[error("unexpected {got} frame, expected {expected}")]
    UnexpectedFrame { expected: &'static str, got: &'static str },
    /// The tunnel stream ended before the exchange was complete.
    #[error("the tunnel stream ended before the {0}")]
    TunnelClosed(&'static str),
    /// A head carried a method, URI or header that is not valid HTTP.
    #[error("invalid {what} in the {side} head: {value:?}")]
    InvalidHead { side: &'static str, what: &'static str, value: String },
    /// The agent reported an error instead of a response (or in the middle of one).
    #[error("the agent reported {code}: {message}")]
    Remote { code: ErrorCode, message: String },
    /// The edge's client aborted its request body (reported to the agent as an error frame).
    #[error("the client's request body failed: {0}")]
    ClientBody(String),
    /// The agent could not connect to its backend.
    #[error("cannot connect to the backend {addr}: {source}")]
    UpstreamConnect { addr: String, source: io::Error },
    /// The backend did not accept the connection, or did not answer, in time.
    #[error("the backend {addr} did not {what} within {after:?}")]
    UpstreamTimeout { addr: String, what: &'static str, after: Duration },
    /// The TLS handshake with the backend failed.
    #[error("TLS handshake with the backend {addr} failed: {source}")]
    UpstreamTls { addr: String, source: io::Error },
    /// The backend's answer was not valid HTTP, or its connection broke mid-answer.
    #[error("the backend {addr} broke the exchange: {source}")]
    UpstreamHttp { addr: String, source: hyper::Error },
    /// The backend's response body failed after its head had been forwarded.
    #[error("the backend's response body failed: {0}")]
    UpstreamBody(String),
    /// The backend's configuration cannot work (e.g. a TLS server name that is not a name).
    #[error("backend misconfigured: {0}")]
    BackendConfig(String),
    /// Taking over the connection after `101 Switching Protocols` failed.
    #[error("protocol upgrade failed: {0}")]
    Upgrade(String),
}

impl ProxyError {
    /// The stable public code the client sees for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            ProxyError::TunnelIo(_)
            | ProxyError::Wire(_)
            | ProxyError::UnexpectedFrame { .. }
            | ProxyError::TunnelClosed(_) => ErrorCode::TunnelStreamFailed,
            ProxyError::InvalidHead { side: "request", .. } | ProxyError::ClientBody(_) => ErrorCode::BadRequest,
            ProxyError::InvalidHead { .. } => ErrorCode::TunnelStreamFailed,
            ProxyError::Remote { code, .. } => *code,
            ProxyError::UpstreamConnect { .. } => ErrorCode::UpstreamRefused,
            ProxyError::UpstreamTimeout { .. } => ErrorCode::UpstreamTimeout,
            ProxyError::UpstreamTls { .. } | ProxyError::UpstreamHttp { .. } | ProxyError::UpstreamBody(_) => {
                ErrorCode::UpstreamProtocol
            }
            ProxyError::BackendConfig(_) | ProxyError::Upgrade(_) => ErrorCode::Internal,
        }
    }

    /// The error an agent's `HttpFrame::Error` stands for.
    pub(crate) fn remote(code: &str, message: String) -> ProxyError {
        // An agent of a newer build may send a code this PoP does not know: it still failed
        // on the agent's side, which is what TunnelStreamFailed tells the client.
        let code = ErrorCode::from_code(code).unwrap_or(ErrorCode::TunnelStreamFailed);
        ProxyError::Remote { code, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_name_the_culprit() {
        let refused =
            ProxyError::UpstreamConnect { addr: "x:1".into(), source: io::ErrorKind::ConnectionRefused.into() };
        assert_eq!(refused.code(), ErrorCode::UpstreamRefused);
        let bad_req = ProxyError::InvalidHead { side: "request", what: "header", value: "x".into() };
        assert_eq!(bad_req.code(), ErrorCode::BadRequest);
        let bad_resp = ProxyError::InvalidHead { side: "response", what: "header", value: "x".into() };
        assert_eq!(bad_resp.code(), ErrorCode::TunnelStreamFailed);
        assert_eq!(ProxyError::remote("WARREN_ERR_UPSTREAM_TIMEOUT", String::new()).code(), ErrorCode::UpstreamTimeout);
        assert_eq!(
            ProxyError::remote("WARREN_ERR_FROM_THE_FUTURE", String::new()).code(),
            ErrorCode::TunnelStreamFailed
        );
    }
}
