//! The PoP's GSLB zone: what `warren-dns` answers from, built from this PoP's replica of the
//! cluster state and its own view of peer health.
//!
//! Why a prepared snapshot: the DNS server asks for the zone once per query, tens of thousands
//! of times a second, while the inputs (applied Raft entries, probe results) change a few times
//! a second at most. A small task polls both every [`REFRESH`] and rebuilds the snapshot only
//! when one changed; queries take an `Arc` clone.
//!
//! Health is this PoP's probe view (`warren-cluster`'s health module). Every PoP probes every
//! other with the same `health` settings, so views agree within one probe interval; a partitioned
//! PoP answers from what it can see, which is the only honest answer it has.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, info};
use warren_cluster::ClusterNode;
use warren_config::PopConfig;
use warren_dns::{DnsConfig, DnsHandle, DnsServer, PopCandidate, StaticView, ZoneSnapshot};
use warren_geo::GeoDb;
use warren_state::State;

use crate::PopError;

/// How often the inputs are compared; bounds how late a health change reaches the answers.
const REFRESH: Duration = Duration::from_millis(100);

/// Starts the DNS server on `listen.dns`, when configured.
pub(crate) async fn start(
    cfg: &PopConfig,
    node: Arc<ClusterNode>,
    geo: Arc<GeoDb>,
) -> Result<Option<DnsHandle>, PopError> {
    let Some(addr) = cfg.listen.dns else { return Ok(None) };
    warren_dns::metrics::describe();
    let view = Arc::new(StaticView::new(ZoneSnapshot::default()));
    let zone = cfg.zone.as_str().to_ascii_lowercase();
    refresh(&view, &node, &zone);
    tokio::spawn(refresh_loop(view.clone(), Arc::downgrade(&node), zone));
    let dns_cfg = DnsConfig::new(cfg.zone.clone(), cfg.id.to_string(), cfg.dns_ttl);
    let handle = DnsServer::start(addr, dns_cfg, view, geo).await.map_err(|e| PopError::Dns(format!("{addr}: {e}")))?;
    Ok(Some(handle))
}

/// What a snapshot was built from; a new snapshot is built when it changes.
#[derive(PartialEq)]
struct Inputs {
    applied: Option<u64>,
    health: BTreeMap<String, bool>,
}

fn inputs(node: &ClusterNode) -> Inputs {
    Inputs { applied: node.shared().last_applied(), health: node.health() }
}

async fn refresh_loop(view: Arc<StaticView>, node: std::sync::Weak<ClusterNode>, zone: String) {
    let mut last = None;
    loop {
        tokio::time::sleep(REFRESH).await;
        let Some(node) = node.upgrade() else { return };
        let now = inputs(&node);
        if last.as_ref() != Some(&now) {
            if let Some(prev) = &last
                && prev.health != now.health
            {
                info!(health = ?now.health, "GSLB: peer health changed");
            }
            refresh(&view, &node, &zone);
            last = Some(now);
        }
    }
}

fn refresh(view: &StaticView, node: &ClusterNode, zone: &str) {
    let version = node.shared().last_applied().unwrap_or(0);
    let snapshot = node.shared().read(|state| snapshot(state, version, zone, |pop| node.healthy(pop)));
    debug!(version = snapshot.version, pops = snapshot.pops.len(), endpoints = snapshot.endpoints.len(), "GSLB zone");
    view.set(snapshot);
}

/// The zone's contents from the replicated state: every announced PoP, and every endpoint
/// name under `zone` with the PoPs holding a tunnel for it (reserved names without an agent
/// exist too, with no holder). `version` (the last applied log index) becomes the SOA serial.
pub(crate) fn snapshot(state: &State, version: u64, zone: &str, healthy: impl Fn(&str) -> bool) -> ZoneSnapshot {
    let pops = state
        .pops()
        .map(|e| {
            let r = &e.record;
            let mut c = PopCandidate::new(r.id.clone(), r.lat, r.lon);
            c.ipv4 = r.public_ipv4;
            c.ipv6 = r.public_ipv6;
            c.healthy = healthy(&r.id);
            c.draining = r.draining;
            c.weight = r.weight;
            c
        })
        .collect();
    let mut endpoints: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (url, holders) in state.bindings() {
        if let Some(label) = label_of(url, zone) {
            endpoints.entry(label).or_default().extend(holders.keys().cloned());
        }
    }
    for r in state.reservations() {
        if let Some(label) = label_of(&r.url, zone) {
            endpoints.entry(label).or_default();
        }
    }
    for holders in endpoints.values_mut() {
        holders.sort();
        holders.dedup();
    }
    ZoneSnapshot { version, pops, endpoints }
}

/// `api` for `https://api.ZONE` (or `http://`); `None` for TCP endpoints (`tcp://ZONE:PORT`
/// is the apex, which always answers) and names outside the zone.
fn label_of(url: &str, zone: &str) -> Option<String> {
    let host = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let host = host.split(['/', ':']).next()?.to_ascii_lowercase();
    let label = host.strip_suffix(zone)?.strip_suffix('.')?;
    (!label.is_empty()).then(|| label.to_owned())
}

#[cfg(test)]
mod tests {
    use super::label_of;

    #[test]
    fn endpoint_labels_come_from_https_and_http_urls_under_the_zone() {
        assert_eq!(label_of("https://api.edge.test", "edge.test").as_deref(), Some("api"));
        assert_eq!(label_of("http://Api.Edge.Test:8080/x", "edge.test").as_deref(), Some("api"));
        assert_eq!(label_of("https://a.b.edge.test", "edge.test").as_deref(), Some("a.b"));
        assert_eq!(label_of("https://api.notedge.test", "edge.test"), None);
        assert_eq!(label_of("https://edge.test", "edge.test"), None);
        assert_eq!(label_of("tcp://edge.test:20001", "edge.test"), None);
    }
}
