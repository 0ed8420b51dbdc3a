//! The admin HTTP API of a PoP: what `warren admin` talks to.
//!
//! Operators create and revoke agent authtokens, inspect and change cluster membership, set the
//! global traffic policy and list endpoints through JSON calls under `/v1/`, each authenticated
//! with the admin bearer token. `/healthz`, `/readyz` and `/metrics` answer without a token, for
//! load balancers and Prometheus: the admin listener binds to 127.0.0.1 by default.
//!
//! This crate is I/O (tokio, hyper) and knows nothing about Raft or tunnels: it talks to the rest
//! of the PoP through the object-safe [`AdminBackend`] trait. [`LocalBackend`] implements it on an
//! in-memory `warren-state` [`warren_state::State`], for a single PoP and for tests; a clustered PoP
//! implements it by proposing commands through Raft.
//!
//! Start at [`AdminServer::start`]; `routes.rs` maps each method and path to a backend call.

mod backend;
mod error;
mod handlers;
mod local;
mod metrics;
mod respond;
mod routes;
mod server;

pub use backend::{AdminBackend, BoxFuture, ClusterStatus, CreatedToken, EndpointInfo, MemberStatus, PolicyDoc};
pub use error::{AdminApiError, AdminError};
pub use local::LocalBackend;
pub use metrics::REQUESTS_TOTAL;
pub use respond::rfc3339;
pub use server::{AdminHandle, AdminServer, MAX_BODY_BYTES};
