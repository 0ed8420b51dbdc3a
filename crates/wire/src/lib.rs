//! The tunnel protocol between agents and PoPs, as plain data.
//!
//! A tunnel is one QUIC connection (or its TCP+TLS fallback) from an agent to a PoP. Inside it:
//!
//! - **One control stream**, opened by the agent: [`AgentMsg`] one way, [`PopMsg`] the other —
//!   hello/authentication, endpoint registration, heartbeats, drain, errors.
//! - **One data stream per public connection or request**, opened by the PoP. It starts with a
//!   [`StreamHeader`] naming the endpoint and the client; then TCP endpoints carry raw bytes, and
//!   HTTP endpoints carry [`HttpFrame`]s (head, body chunks, trailers), switching to raw bytes
//!   after a protocol upgrade (WebSocket). The end of a body is the end of that direction of the
//!   stream (QUIC FIN), so half-close is native.
//!
//! Every message is a length-prefixed frame (`u32` big-endian length, then a bincode payload).
//! Frames come from the other side and are untrusted: [`FrameDecoder`] refuses a length above
//! its limit *before* allocating, and bincode decoding is bounded by the same limit.
//! bincode lives behind [`encode`]/[`decode`] only, so the format can change in one place
//! (it is flagged unmaintained, RUSTSEC-2025-0141; see DEPENDENCIES.md).
//!
//! Start with [`control`], then [`stream`].

pub mod codec;
pub mod control;
pub mod stream;

pub use codec::{FrameDecoder, WireError, decode, encode, encode_frame};
pub use control::{AgentMsg, EndpointSpec, PopMsg, Protocol, RegisterResult};
pub use stream::{HeaderList, HttpFrame, RequestHead, ResponseHead, StreamHeader};

/// The protocol version this build speaks; a PoP refuses a different major version.
pub const PROTOCOL_VERSION: u16 = 1;

/// ALPN id of the tunnel protocol on the QUIC and TCP+TLS listeners.
pub const ALPN: &[u8] = b"warren-tunnel/1";

/// Upper bound of a control frame (a registration carries traffic policies, which are small).
pub const MAX_CONTROL_FRAME: usize = 1024 * 1024;

/// Upper bound of a stream header or HTTP head frame (headers of proxies are capped at 64 KiB
/// by hyper; leave room for the encoding).
pub const MAX_HEAD_FRAME: usize = 128 * 1024;

/// Upper bound of one body chunk; senders split larger chunks.
pub const MAX_DATA_CHUNK: usize = 256 * 1024;
