//! The seam between the admin API and the rest of a PoP.
//!
//! The trait is object-safe (the server holds an `Arc<dyn AdminBackend>`) and its calls return
//! boxed futures, because a clustered PoP answers most of them only after a Raft round trip.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use warren_core::PopId;
use warren_state::{TokenId, TokenInfo, TokenSecret};

use crate::AdminApiError;

/// A boxed, sendable future borrowing the backend.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the admin API needs from a PoP. Writes must be durable (committed through Raft in a
/// cluster) before they return `Ok`; a write that cannot reach a majority returns
/// [`AdminApiError::no_quorum`].
pub trait AdminBackend: Send + Sync + 'static {
    /// Creates an agent authtoken; the secret is returned once and never stored.
    fn create_token(&self, description: String) -> BoxFuture<'_, Result<CreatedToken, AdminApiError>>;
    /// Revokes a token and closes its tunnels; [`AdminApiError::not_found`] if there is none.
    fn revoke_token(&self, id: TokenId) -> BoxFuture<'_, Result<(), AdminApiError>>;
    fn list_tokens(&self) -> BoxFuture<'_, Result<Vec<TokenInfo>, AdminApiError>>;
    fn cluster_status(&self) -> BoxFuture<'_, Result<ClusterStatus, AdminApiError>>;
    /// Adds a member at its cluster address (`host:port`), as a voter or a learner.
    fn add_member(&self, id: PopId, addr: String, learner: bool) -> BoxFuture<'_, Result<(), AdminApiError>>;
    fn remove_member(&self, id: PopId) -> BoxFuture<'_, Result<(), AdminApiError>>;
    /// Validates and stores a new global policy; refuses an invalid one with
    /// [`AdminApiError::bad_request`] and the error lines as details.
    fn set_policy(&self, text: String) -> BoxFuture<'_, Result<PolicyDoc, AdminApiError>>;
    fn get_policy(&self) -> BoxFuture<'_, Result<PolicyDoc, AdminApiError>>;
    fn list_endpoints(&self) -> BoxFuture<'_, Result<Vec<EndpointInfo>, AdminApiError>>;
    /// Whether the PoP has joined its cluster and applied the latest state (`/readyz`).
    fn ready(&self) -> bool;
}

/// A freshly created token. `secret` prints as `***`; the server sends it to the client once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedToken {
    pub id: TokenId,
    pub secret: TokenSecret,
    pub description: String,
    pub created_at_ms: u64,
}

/// `GET /v1/cluster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// The current leader's PoP id; `None` during an election or without quorum.
    pub leader: Option<String>,
    pub members: Vec<MemberStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberStatus {
    pub id: String,
    /// The member's cluster address.
    pub addr: String,
    /// `false` for a learner.
    pub voter: bool,
    pub healthy: bool,
    /// The last log index the member applied, when the answering PoP knows it.
    pub last_applied: Option<u64>,
}

/// `GET /v1/policy`: the global policy and its version (0 and empty text before the first set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyDoc {
    pub version: u64,
    pub policy: String,
}

/// One row of `GET /v1/endpoints`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointInfo {
    pub url: String,
    /// The PoPs holding a tunnel of this endpoint's agents.
    pub pops: Vec<String>,
    pub agents: u32,
}
