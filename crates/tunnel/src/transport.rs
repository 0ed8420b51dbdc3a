//! QUIC transport settings for tunnels.
//!
//! Keep-alives every second and a 5-second idle timeout: a dead path (laptop lid closed, NAT
//! binding gone, PoP killed) is noticed within a few seconds on both sides, and the agent
//! reconnects. The agent accepts many concurrent streams (one per public request); the PoP
//! accepts only the agent's control stream.

use std::sync::Arc;
use std::time::Duration;

use quinn::VarInt;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};

use crate::TunnelError;

pub const KEEP_ALIVE: Duration = Duration::from_secs(1);
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Concurrent public requests one agent session can carry.
pub const MAX_STREAMS_TO_AGENT: u32 = 4096;

fn transport(accept_streams: u32) -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    t.keep_alive_interval(Some(KEEP_ALIVE));
    t.max_idle_timeout(Some(IDLE_TIMEOUT.try_into().expect("5 s fits a QUIC idle timeout")));
    t.max_concurrent_bidi_streams(VarInt::from_u32(accept_streams));
    t.max_concurrent_uni_streams(VarInt::from_u32(0));
    // Bulk transfers: a larger per-stream window than the default keeps a single download
    // from being window-limited on long paths; memory stays bounded by the window.
    t.stream_receive_window(VarInt::from_u32(4 * 1024 * 1024));
    t.receive_window(VarInt::from_u32(32 * 1024 * 1024));
    t.send_window(32 * 1024 * 1024);
    t
}

/// quinn server config for a PoP's tunnel listener from a rustls server config (ALPN is set here).
pub fn server_config(mut tls: rustls::ServerConfig) -> Result<quinn::ServerConfig, TunnelError> {
    tls.alpn_protocols = vec![warren_wire::ALPN.to_vec()];
    let crypto = QuicServerConfig::try_from(tls).map_err(|e| TunnelError::Tls(e.to_string()))?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    cfg.transport_config(Arc::new(transport(4)));
    Ok(cfg)
}

/// quinn client config for an agent from a rustls client config (ALPN is set here).
pub fn client_config(mut tls: rustls::ClientConfig) -> Result<quinn::ClientConfig, TunnelError> {
    tls.alpn_protocols = vec![warren_wire::ALPN.to_vec()];
    let crypto = QuicClientConfig::try_from(tls).map_err(|e| TunnelError::Tls(e.to_string()))?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    cfg.transport_config(Arc::new(transport(MAX_STREAMS_TO_AGENT)));
    Ok(cfg)
}
