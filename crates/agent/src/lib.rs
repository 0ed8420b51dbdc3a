//! The Warren agent, and the SDK it is built on.
//!
//! Two levels:
//! - **SDK**: [`AgentSession`] (re-exported from `warren-tunnel`) opens a tunnel to one PoP,
//!   registers endpoints and hands out each public connection as a [`TunnelStream`] with its
//!   [`StreamHeader`] — enough to embed Warren in a Rust program with no backend socket at all.
//! - **Agent**: [`Agent::run`] keeps one tunnel to every PoP address it is given, reconnects with
//!   jittered exponential backoff, falls back to TCP+TLS where UDP is blocked (`dial.rs`),
//!   re-registers its endpoints, and carries each stream to the backend (HTTP through
//!   `warren-proxy`, TCP as raw bytes with optional PROXY protocol).
//!   `warren http`, `warren tcp` and `warren start` are thin wrappers around it.

mod backoff;
mod dial;
mod error;
mod options;
mod proxy_header;
mod run;
mod serve;
mod tls;

pub use error::AgentError;
pub use options::{AgentOptions, EndpointOptions, ProxyProtocol, TransportMode, Upstream};
pub use run::{Agent, AgentCloser, AgentEvent, EndpointUpdater};
pub use tls::client_tls;
pub use warren_tunnel::{AgentSession, SessionEvent, Transport, TunnelStream, read_stream_header};
pub use warren_wire::{EndpointSpec, Protocol, RegisterResult, StreamHeader};
