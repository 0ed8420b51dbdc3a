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

/// Which carrier the agent's tunnels use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransportMode {
    /// QUIC, and TCP+TLS to the same port when QUIC gets no answer (UDP blocked).
    #[default]
    Auto,
    /// QUIC only.
    Quic,
    /// TCP+TLS only.
    Tcp,
}

impl std::str::FromStr for TransportMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(TransportMode::Auto),
            "quic" => Ok(TransportMode::Quic),
            "tcp" => Ok(TransportMode::Tcp),
            other => Err(format!("unknown transport {other:?}: expected auto, quic or tcp")),
        }
    }
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
    /// QUIC with a TCP+TLS fallback (the default), or one of them only.
    pub transport: TransportMode,
}
