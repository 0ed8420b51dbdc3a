//! The zone's contents, as the PoP sees them now.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use warren_gslb::PopCandidate;

/// Everything the answers depend on, taken once per query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZoneSnapshot {
    /// Grows with every change of the replicated state; the SOA serial is its low 32 bits
    /// (serial arithmetic, RFC 1982, tolerates the wrap).
    pub version: u64,
    /// Every PoP of the cluster, with health and drain flags. Each also gets `NS` and
    /// `ns-<id>.<zone>` records.
    pub pops: Vec<PopCandidate>,
    /// Registered endpoints by their label under the zone (`api` for `api.<zone>`, lower case),
    /// with the ids of the PoPs holding a live tunnel for it (may be empty). A label missing
    /// here is NXDOMAIN.
    pub endpoints: BTreeMap<String, Vec<String>>,
}

/// Where the server reads the zone from; the PoP implements it over the replicated state.
/// Called once per query: keep it cheap (hand out a prepared `Arc`).
pub trait DnsView: Send + Sync + 'static {
    fn snapshot(&self) -> Arc<ZoneSnapshot>;
}

impl<F> DnsView for F
where
    F: Fn() -> Arc<ZoneSnapshot> + Send + Sync + 'static,
{
    fn snapshot(&self) -> Arc<ZoneSnapshot> {
        self()
    }
}

/// A [`DnsView`] holding a snapshot that is replaced as a whole: for tests, tools, and owners
/// that push changes rather than being asked.
#[derive(Debug, Default)]
pub struct StaticView {
    current: RwLock<Arc<ZoneSnapshot>>,
}

impl StaticView {
    pub fn new(snapshot: ZoneSnapshot) -> StaticView {
        StaticView { current: RwLock::new(Arc::new(snapshot)) }
    }

    /// Replaces the snapshot; queries already running finish with the old one.
    pub fn set(&self, snapshot: ZoneSnapshot) {
        // A poisoned lock only means a writer panicked between two whole snapshots.
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
    }

    /// Edits a copy of the current snapshot and installs it.
    pub fn update(&self, edit: impl FnOnce(&mut ZoneSnapshot)) {
        let mut next = ZoneSnapshot::clone(&self.snapshot());
        edit(&mut next);
        self.set(next);
    }
}

impl DnsView for StaticView {
    fn snapshot(&self) -> Arc<ZoneSnapshot> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
