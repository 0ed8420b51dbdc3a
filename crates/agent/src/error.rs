//! Agent errors that stop the agent (everything else is retried).

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(
        "no PoP address: pass --server-addr HOST:PORT, set WARREN_SERVER_ADDR, or list agent.server_addrs in the agent config file"
    )]
    NoServers,
    #[error("{0:?} is not a PoP address: expected HOST:PORT (e.g. pop1.example.com:4443)")]
    BadServer(String),
    #[error(
        "the PoP at {server} presented a certificate this agent does not trust ({reason}); for a PoP with a dev CA pass --ca-file DEV_CA_DIR/ca.pem"
    )]
    Untrusted { server: String, reason: String },
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
