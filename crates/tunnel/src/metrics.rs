//! Metric names of the tunnel layer (`warren_tunnel_*`).

/// Gauge: agent sessions currently connected to this PoP, label `transport` (`quic`, `tcp`).
pub const SESSIONS_ACTIVE: &str = "warren_tunnel_sessions_active";
/// Counter: agent sessions accepted (authenticated) since start, label `transport` (`quic`,
/// `tcp`: the TCP+TLS fallback).
pub const SESSIONS_TOTAL: &str = "warren_tunnel_sessions_total";
/// Counter: handshakes refused, label `reason` (auth, version, protocol, timeout).
pub const HANDSHAKE_FAILURES: &str = "warren_tunnel_handshake_failures_total";
/// Counter: data streams opened towards agents.
pub const STREAMS_OPENED: &str = "warren_tunnel_streams_opened_total";
/// Counter: malformed or oversized frames received, by side (`pop`, `agent`).
pub const MALFORMED_FRAMES: &str = "warren_tunnel_malformed_frames_total";
