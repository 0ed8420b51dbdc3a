//! HTTP exchanges over a tunnel stream, both halves.
//!
//! A public request reaches a PoP, which opens a tunnel stream to the agent of its endpoint
//! and calls [`forward`]; the agent accepts the stream and calls [`serve`], which replays the
//! request against its [`Backend`]. Between them each direction of the stream carries
//! `warren-wire` frames: a head, `Data` chunks, optional `Trailers`, then FIN; or raw bytes
//! after a `101 Switching Protocols`. Bodies stream with backpressure and are never held
//! whole, so uploads, downloads, SSE and gRPC streams of any length cost bounded memory.
//!
//! This crate knows nothing of QUIC, routing or policy: it takes a [`TunnelStream`] already
//! positioned after its `StreamHeader` (written and read by `warren-tunnel`'s users), which
//! also makes it testable over `TunnelStream::pair`.
//!
//! Start with [`forward`] (the PoP's half), then [`serve`] (the agent's half).
//!
//! One extension of the wire protocol's rules: an `Error` frame may also travel in the
//! request direction, meaning "the client's body failed"; the agent then aborts the backend
//! request instead of completing a truncated body.
//!
//! [`TunnelStream`]: warren_tunnel::TunnelStream

mod backend;
mod body;
mod error;
mod forward;
mod frames;
mod headers;
mod serve;
mod upgrade;

pub use backend::{Backend, DEFAULT_CONNECT_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT};
pub use body::BoxBody;
pub use error::ProxyError;
pub use forward::{ForwardInfo, Proto, forward};
pub use serve::serve;
