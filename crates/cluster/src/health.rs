//! Peer health: every PoP probes every other one (`interval`, `fall`, `rise` from `pop.yaml`).
//!
//! A peer turns unhealthy after `fall` probes in a row fail and healthy again after `rise` in a
//! row succeed; a peer never probed yet counts as healthy, so a new cluster starts with every PoP
//! in the answers. Each PoP keeps its own view: in steady state all views agree (the probes go
//! over the same paths the traffic does), and during a partition each side sees the other as
//! down, which is the right answer for the clients that side serves. The leader turns a peer's
//! fall into a committed `ExpirePop`, so the endpoint bindings of a dead PoP are cleared for
//! everyone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::future::join_all;
use tracing::{info, warn};
use warren_state::Command;

use crate::metrics;
use crate::node::Inner;
use crate::rpc::{Rpc, RpcReply};

/// `health:` from `pop.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthSettings {
    pub interval: Duration,
    pub fall: u32,
    pub rise: u32,
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings { interval: Duration::from_secs(1), fall: 3, rise: 2 }
    }
}

#[derive(Debug, Clone)]
struct PeerState {
    healthy: bool,
    oks: u32,
    fails: u32,
    last_applied: Option<u64>,
}

pub(crate) struct Health {
    settings: HealthSettings,
    peers: Mutex<HashMap<String, PeerState>>,
}

impl Health {
    pub(crate) fn new(settings: HealthSettings) -> Health {
        Health { settings, peers: Mutex::default() }
    }

    pub(crate) fn healthy(&self, pop: &str) -> bool {
        self.peers.lock().unwrap_or_else(PoisonError::into_inner).get(pop).is_none_or(|p| p.healthy)
    }

    pub(crate) fn last_applied(&self, pop: &str) -> Option<u64> {
        self.peers.lock().unwrap_or_else(PoisonError::into_inner).get(pop).and_then(|p| p.last_applied)
    }

    pub(crate) fn all(&self) -> BTreeMap<String, bool> {
        self.peers.lock().unwrap_or_else(PoisonError::into_inner).iter().map(|(k, v)| (k.clone(), v.healthy)).collect()
    }

    /// Records one probe; returns `Some(new health)` when it flipped.
    fn record(&self, pop: &str, ok: bool, last_applied: Option<u64>) -> Option<bool> {
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        let p =
            peers.entry(pop.to_owned()).or_insert(PeerState { healthy: true, oks: 0, fails: 0, last_applied: None });
        if ok {
            p.oks = p.oks.saturating_add(1);
            p.fails = 0;
            p.last_applied = last_applied.or(p.last_applied);
        } else {
            p.fails = p.fails.saturating_add(1);
            p.oks = 0;
        }
        let flip = if p.healthy && p.fails >= self.settings.fall {
            Some(false)
        } else if !p.healthy && p.oks >= self.settings.rise {
            Some(true)
        } else {
            None
        };
        if let Some(h) = flip {
            p.healthy = h;
        }
        ::metrics::gauge!(metrics::CLUSTER_PEER_HEALTHY, "peer" => pop.to_owned()).set(if p.healthy {
            1.0
        } else {
            0.0
        });
        flip
    }

    fn forget_except(&self, keep: &HashSet<String>) {
        self.peers.lock().unwrap_or_else(PoisonError::into_inner).retain(|k, _| keep.contains(k));
    }
}

/// Who to probe: every PoP the state knows and every Raft member, except this one.
fn targets(inner: &Inner) -> Vec<(String, String)> {
    let mut out: BTreeMap<String, String> =
        inner.shared.read(|s| s.pops().map(|p| (p.record.id.clone(), p.record.cluster_addr.clone())).collect());
    let m = inner.raft.metrics().borrow().membership_config.clone();
    for (_, node) in m.membership().nodes() {
        out.entry(node.pop.clone()).or_insert_with(|| node.addr.clone());
    }
    out.remove(&inner.me);
    out.into_iter().collect()
}

pub(crate) async fn probe_loop(inner: Arc<Inner>) {
    let interval = inner.health.settings.interval;
    let timeout = interval.clamp(Duration::from_millis(100), Duration::from_secs(2));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let expiring = Arc::new(Expiring::default());
    loop {
        ticker.tick().await;
        let targets = targets(&inner);
        inner.health.forget_except(&targets.iter().map(|(id, _)| id.clone()).collect());
        let probes = targets.iter().map(|(id, addr)| {
            let inner = inner.clone();
            async move {
                let rpc = Rpc::Ping { from: inner.me.clone() };
                let reply = inner.transport.call(addr, &rpc, timeout).await;
                let (ok, applied) = match reply {
                    Ok(RpcReply::Pong { pop, last_applied }) if pop == *id => (true, last_applied),
                    _ => (false, None),
                };
                match inner.health.record(id, ok, applied) {
                    Some(true) => info!(peer = %id, "peer is healthy again"),
                    Some(false) => warn!(peer = %id, "peer failed its health checks"),
                    None => {}
                }
            }
        });
        join_all(probes).await;
        expire_dead_bindings(&inner, &expiring);
    }
}

/// The leader's `ExpirePop` writes, by (PoP, incarnation).
#[derive(Default)]
struct Expiring {
    /// Committed: this leader does not expire those bindings again.
    done: Mutex<HashSet<(String, u64)>>,
    /// Under way: at most one write per PoP and incarnation at a time.
    in_flight: Mutex<HashSet<(String, u64)>>,
}

/// On the leader: clears the endpoint bindings of every PoP that is down, once per incarnation.
///
/// Each write runs on its own task: a leader cut off in a minority cannot commit them, and waiting
/// for them here (up to `WRITE_TIMEOUT` each) would stop its probes, so its view of its peers, and
/// its DNS answers, would go stale just when they matter.
fn expire_dead_bindings(inner: &Arc<Inner>, expiring: &Arc<Expiring>) {
    if inner.raft.metrics().borrow().current_leader != Some(inner.my_id) {
        return;
    }
    let candidates: Vec<(String, u64)> = inner.shared.read(|s| {
        let holding: HashSet<&str> = s.bindings().values().flat_map(|h| h.keys().map(String::as_str)).collect();
        s.pops()
            .filter(|p| p.record.id != inner.me && holding.contains(p.record.id.as_str()))
            .map(|p| (p.record.id.clone(), p.incarnation))
            .collect()
    });
    for key in candidates {
        if inner.health.healthy(&key.0)
            || expiring.done.lock().unwrap_or_else(PoisonError::into_inner).contains(&key)
            || !expiring.in_flight.lock().unwrap_or_else(PoisonError::into_inner).insert(key.clone())
        {
            continue;
        }
        let (inner, expiring) = (inner.clone(), expiring.clone());
        tokio::spawn(async move {
            let (id, incarnation) = key.clone();
            match inner.write(Command::ExpirePop { id: id.clone(), incarnation }).await {
                Ok(outcome) => {
                    info!(pop = %id, incarnation, ?outcome, "expired the endpoint bindings of a PoP that is down");
                    expiring.done.lock().unwrap_or_else(PoisonError::into_inner).insert(key.clone());
                }
                Err(e) => warn!(pop = %id, error = %e, "cannot expire the bindings of a PoP that is down"),
            }
            expiring.in_flight.lock().unwrap_or_else(PoisonError::into_inner).remove(&key);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fall_and_rise_count_consecutive_probes() {
        let h = Health::new(HealthSettings { interval: Duration::from_millis(10), fall: 3, rise: 2 });
        assert!(h.healthy("b"), "never probed counts as healthy");
        assert_eq!(h.record("b", false, None), None);
        assert_eq!(h.record("b", false, None), None);
        assert_eq!(h.record("b", true, Some(4)), None, "a success resets the failure count");
        assert_eq!(h.record("b", false, None), None);
        assert_eq!(h.record("b", false, None), None);
        assert_eq!(h.record("b", false, None), Some(false));
        assert!(!h.healthy("b"));
        assert_eq!(h.record("b", true, Some(9)), None);
        assert_eq!(h.record("b", true, Some(10)), Some(true));
        assert!(h.healthy("b"));
        assert_eq!(h.last_applied("b"), Some(10));
        h.forget_except(&HashSet::new());
        assert!(h.all().is_empty());
    }
}
