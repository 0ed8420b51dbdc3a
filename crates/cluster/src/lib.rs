//! PoP to PoP: how the members of a Warren cluster talk, agree and hand traffic to each other.
//!
//! One QUIC endpoint per PoP (the `cluster` listener) carries everything: openraft's RPCs, writes
//! forwarded to the leader, membership changes, health probes, and public requests forwarded to
//! the PoP that holds an endpoint's tunnel. Every connection is encrypted by QUIC's TLS 1.3 and
//! mutually authenticated by the cluster secret before anything else is read (`auth.rs`).
//!
//! Consensus is openraft's (no home-made Raft); the log and state machine live in
//! `warren-raft`, the state itself in `warren-state`. What this crate adds is the wiring a
//! world-wide edge needs: writes accepted on any PoP ([`ClusterNode::write`]), one membership
//! change at a time with at most [`MAX_VOTERS`] voters, a PoP's announcement and fencing
//! incarnation, peer health (`health.rs`), and request forwarding (`forward.rs`). And what
//! openraft 0.9 needs to work across oceans: `AppendEntries` exchanges that outlive openraft's
//! heartbeat-long deadline (`network.rs`), connections dialled and kept independently of any one
//! call (`transport.rs`), and candidates that do not split the vote round after round
//! (`election.rs`). The chaos simulation (`simulations/`, `docs/scale.md`) found why each is there.
//!
//! Start reading at [`ClusterNode::start`].

mod auth;
mod election;
mod error;
mod forward;
mod health;
pub mod metrics;
mod network;
mod node;
mod rpc;
mod secret;
mod server;
mod tls;
mod transport;

pub use error::{ClusterError, WriteRefused};
pub use forward::distance_km;
pub use health::HealthSettings;
pub use node::{
    BoxFuture, ClusterNode, ClusterOptions, ClusterView, LocalEndpoints, MAX_VOTERS, MemberView, NodeParts,
    WRITE_TIMEOUT,
};
pub use rpc::ForwardRequest;
pub use secret::{ClusterSecret, MIN_SECRET_LEN};
