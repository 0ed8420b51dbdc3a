//! The zone's contents from the cluster's replicated state.
//!
//! Every PoP builds its [`ZoneSnapshot`] from its replica of `warren-state`, and so does the chaos
//! simulation's (`simulations/`); one function keeps the two from drifting apart.

use std::collections::BTreeMap;

use warren_state::State;

use crate::{PopCandidate, ZoneSnapshot};

impl ZoneSnapshot {
    /// Every announced PoP (healthy as `healthy` says), and every endpoint name under `zone` with
    /// the PoPs holding a tunnel for it (reserved names without an agent exist too, with no
    /// holder). `version` (the last applied log index) becomes the SOA serial.
    pub fn from_state(state: &State, version: u64, zone: &str, healthy: impl Fn(&str) -> bool) -> ZoneSnapshot {
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
