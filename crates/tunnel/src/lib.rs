//! Tunnels between agents and PoPs: QUIC, or TCP+TLS where UDP is blocked.
//!
//! The agent dials out (no inbound port on the API's host); the PoP accepts, checks the
//! authtoken, and from then on opens one stream per public connection or request towards the
//! agent. This crate owns the transport and the PoP's endpoint table; what an HTTP exchange
//! looks like inside a stream is `warren-proxy`'s business. The same control protocol and
//! streams also run over a TCP+TLS fallback on the same port (see `fallback.rs`) for networks
//! that drop UDP; nothing above [`TunnelStream`] and [`SessionConn`] can tell them apart.
//!
//! Start with [`TunnelStream`], the unit everything above works with; then [`TunnelServer`]
//! (PoP side), [`Registry`] (which agent serves which URL) and [`AgentSession`] (agent side).

mod client;
mod error;
pub mod fallback;
pub mod framed;
pub mod metrics;
mod quic_io;
mod registry;
mod server;
mod session;
mod stream;
pub mod transport;

pub use client::{
    AgentSession, HANDSHAKE_TIMEOUT, SessionEvent, SharedSession, Welcome, client_endpoint, describe_close,
    read_stream_header,
};
pub use error::TunnelError;
pub use registry::{
    EndpointInfo, PortBinder, PortGuard, PortTakenElsewhere, Registry, Route, SessionId, UrlTakenElsewhere,
    open_on_route,
};
pub use server::{SessionHooks, TunnelServer};
pub use session::{SessionConn, StreamOpener, Transport};
pub use stream::{BoxRead, BoxWrite, TunnelStream};
