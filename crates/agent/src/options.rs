//! What an agent serves and where it connects.

use std::path::PathBuf;

use warren_wire::Protocol;

/// How to reach the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// `host:port`.
    pub addr: String,
    /// The backend speaks TLS (`https://` target).
    pub tls: bool,
}

/// PROXY protocol header sent to a TCP backend before the client's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProxyProtocol {
    #[default]
    None,
    V1,
    V2,
}

/// One endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointOptions {
    pub url: Option<String>,
    pub protocol: Protocol,
    pub upstream: Upstream,
    /// The traffic policy's YAML text, enforced at the edge.
    pub traffic_policy: Option<String>,
    pub pooling: bool,
    pub proxy_protocol: ProxyProtocol,
    /// How long the backend may take to start answering an HTTP request (504 after that).
    pub response_timeout: std::time::Duration,
}

/// Everything an agent needs.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// `host:port` of PoP tunnel listeners; one tunnel is kept to each.
    pub server_addrs: Vec<String>,
    pub authtoken: String,
    /// An extra CA to trust for the tunnel (a PoP with a dev or private CA).
    pub ca_file: Option<PathBuf>,
    pub endpoints: Vec<EndpointOptions>,
}
