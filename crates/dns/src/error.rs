//! Why the DNS server could not start. Query-level problems are not errors: they become DNS
//! response codes (FORMERR, REFUSED, …) and metrics.

use std::io;
use std::net::SocketAddr;

/// A failure to start the DNS server.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("cannot listen on {addr} ({proto}): {source}")]
    Bind { addr: SocketAddr, proto: &'static str, source: io::Error },
    #[error("dns: {field}: {reason}")]
    Config { field: &'static str, reason: String },
}
