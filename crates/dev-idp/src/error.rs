//! The one error type of this crate.
//!
//! Every variant carries the value that was wrong, so a failing test or a `warren dev-idp` user sees
//! what to fix without a debugger.

use std::net::SocketAddr;

/// What can go wrong while starting the provider, generating keys or minting tokens.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The listener could not be bound.
    #[error("cannot bind the identity provider on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// Key generation or export failed inside aws-lc-rs.
    #[error("cannot generate a {alg} key: {reason}")]
    KeyGeneration { alg: &'static str, reason: String },
    /// jsonwebtoken refused to sign.
    #[error("cannot sign a {alg} token: {source}")]
    Sign {
        alg: &'static str,
        #[source]
        source: jsonwebtoken::errors::Error,
    },
    /// An algorithm name this provider does not sign with.
    #[error("unsupported algorithm {0:?}: expected RS256 or ES256")]
    UnsupportedAlgorithm(String),
    /// A `/token` request whose body could not be understood.
    #[error("bad token request: {0}")]
    BadRequest(String),
}
