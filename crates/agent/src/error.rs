//! Agent errors that stop the agent (everything else is retried).

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("no PoP address: pass --server-addr HOST:PORT or set WARREN_SERVER_ADDR")]
    NoServers,
    #[error("no authtoken: pass --authtoken, set WARREN_AUTHTOKEN, or run `warren config add-authtoken TOKEN`")]
    NoAuthtoken,
    #[error("cannot read the CA file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("TLS set-up: {0}")]
    Tls(String),
    #[error("the PoP refused the agent: {code}: {message}")]
    Refused { code: String, message: String },
    #[error("tunnel: {0}")]
    Tunnel(#[from] warren_tunnel::TunnelError),
}
