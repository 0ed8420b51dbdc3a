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
use warren_dns::{DnsConfig, DnsHandle, DnsServer, StaticView, ZoneSnapshot};
use warren_geo::GeoDb;

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
    let snapshot = node.shared().read(|state| ZoneSnapshot::from_state(state, version, zone, |pop| node.healthy(pop)));
    debug!(version = snapshot.version, pops = snapshot.pops.len(), endpoints = snapshot.endpoints.len(), "GSLB zone");
    view.set(snapshot);
}
