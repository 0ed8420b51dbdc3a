//! The cluster's members as the edge sees them, and which PoP holds which endpoint.
//!
//! A PoP announces itself (`UpsertPop`) when it starts, with everything other PoPs and the GSLB
//! need to send traffic its way. It also takes a new *incarnation* (`StartPop`): a number that grows
//! every time the PoP process starts. Every endpoint binding a PoP writes carries the incarnation
//! it holds, and apply refuses a binding from an older incarnation. That is the fencing term the
//! cluster needs: a PoP that was declared dead (its bindings expired by the leader) and comes back
//! with stale in-flight writes cannot resurrect bindings for sessions it no longer has, and an
//! expiry computed against an old incarnation cannot wipe the bindings of a PoP that restarted.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::TokenId;

/// One PoP, as announced by itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PopRecord {
    pub id: String,
    pub region: String,
    pub lat: f64,
    pub lon: f64,
    pub public_ipv4: Option<Ipv4Addr>,
    pub public_ipv6: Option<Ipv6Addr>,
    /// `host:port` of its cluster listener.
    pub cluster_addr: String,
    /// GSLB weight, 0..=1000 (100 is neutral).
    pub weight: u32,
    /// A draining PoP gets no new DNS clients but keeps serving.
    pub draining: bool,
}

// Coordinates are finite numbers checked by the config; Eq lets State stay Eq.
impl Eq for PopRecord {}

/// What the state knows about a PoP beyond its announcement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PopEntry {
    pub record: PopRecord,
    /// Grows by one on every `StartPop`; 0 before the first.
    pub incarnation: u64,
}

/// A URL reserved for the agents of one token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub url: String,
    pub token: TokenId,
    pub created_at_ms: u64,
}

/// What one PoP holds for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// Agent sessions connected to that PoP for the endpoint (never 0: 0 removes the binding).
    pub agents: u32,
    /// The endpoint's traffic policy as its agents sent it. Replicated because the PoP a request
    /// enters enforces the policy, and that need not be the PoP the agent is connected to.
    pub policy: Option<String>,
    /// The agents serving it there (their `agent_id`s, sorted): a URL held by one agent on one
    /// PoP is not given to another agent on another PoP. Empty in entries written before the
    /// field existed (taken as "some other agent").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agent_ids: Vec<String>,
    /// Its agents asked for pooling: other pooling agents may join, on any PoP.
    #[serde(default)]
    pub pooling: bool,
}

/// Endpoint URL → PoP id → what that PoP holds for it.
pub type Bindings = BTreeMap<String, BTreeMap<String, Binding>>;
