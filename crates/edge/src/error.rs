//! Why the edge could not start. Request-path failures are not errors of this kind: they
//! become error responses with a stable `ErrorCode` (see `respond.rs`).

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A failure to start the edge's listeners.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("the https listener needs a certificate: set `tls` (cert and key, or a dev CA directory)")]
    TlsMissing,
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("{path}: {reason}")]
    Pem { path: PathBuf, reason: String },
    #[error("cannot make a certificate: {0}")]
    CertGen(String),
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}
