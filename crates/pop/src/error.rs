//! Why a PoP could not start.

#[derive(Debug, thiserror::Error)]
pub enum PopError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("state: {0}")]
    State(String),
    #[error("tunnel listener: {0}")]
    Tunnel(#[from] warren_tunnel::TunnelError),
    #[error("geo database: {0}")]
    Geo(String),
    #[error("DNS listener: {0}")]
    Dns(String),
    #[error("edge: {0}")]
    Edge(String),
    #[error("admin API: {0}")]
    Admin(#[from] warren_admin::AdminError),
}
