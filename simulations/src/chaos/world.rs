//! The simulated deployment: which PoPs, where, how far apart, which endpoints they hold, and
//! where the clients are.
//!
//! The PoPs are the first `n` of the GSLB model's rollout order ([`crate::gslb::POPS`]: Ashburn,
//! Frankfurt, Singapore, San Jose, Tokyo, …), and the links between them get that model's
//! backbone latency: great-circle distance at 200 km/ms in fibre, inflated by a route factor drawn
//! per pair from the seed ([`crate::gslb::backbone_rtt_ms`]). Half the round trip is each
//! direction's delay (fixed: see `driver.rs` on jitter).
//!
//! Each endpoint has one agent, a turmoil host of its own in the city of one of the endpoint's
//! PoPs (the first drawn): its link to a PoP is that PoP's backbone link from the city, plus the
//! agent's uplink ([`AGENT_ACCESS_MS`]); the driver gives every agent–PoP link that delay.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

use crate::gslb::{LatencyModel, POPS, backbone_rtt_ms};

/// The zone the endpoints live in.
pub(crate) const ZONE: &str = "edge.sim";
/// Endpoints served by the simulated agents (one agent each).
pub(crate) const ENDPOINTS: usize = 3;
/// One-way delay between an agent and the backbone (its data centre's uplink).
pub(crate) const AGENT_ACCESS_MS: u64 = 2;

/// One PoP of the simulation.
#[derive(Debug, Clone)]
pub(crate) struct SimPop {
    /// The PoP id, also its turmoil host name.
    pub(crate) id: String,
    pub(crate) lat: f64,
    pub(crate) lon: f64,
    /// What DNS hands out for it (documentation range; nothing connects to it).
    pub(crate) public_ipv4: Ipv4Addr,
}

/// An endpoint and the PoPs its agent holds tunnels to.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// `https://api0.edge.sim`
    pub(crate) url: String,
    /// `api0.edge.sim`
    pub(crate) host: String,
    /// Indexes into [`World::pops`].
    pub(crate) holders: Vec<usize>,
    /// The turmoil host of the endpoint's agent (`agent0`).
    pub(crate) agent: String,
    /// One-way delay from the agent to each PoP, in milliseconds.
    pub(crate) agent_one_way_ms: Vec<u64>,
}

/// A client location: a city of the GSLB model.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) name: &'static str,
    pub(crate) lat: f64,
    pub(crate) lon: f64,
    /// The city's network (`198.18.<n>.0/24`, the benchmarking range): the PoPs' geolocation
    /// places it at the city, and the clients' DNS queries carry it as their EDNS Client Subnet.
    pub(crate) net: Ipv4Net,
}

/// The `n`-th client city's network.
fn client_net(n: usize) -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::new(198, 18 + (n / 256) as u8, (n % 256) as u8, 0), 24).unwrap_or_default()
}

#[derive(Debug, Clone)]
pub(crate) struct World {
    pub(crate) pops: Vec<SimPop>,
    /// `[a][b]` one-way delay in milliseconds.
    pub(crate) one_way_ms: Vec<Vec<u64>>,
    pub(crate) endpoints: Vec<Endpoint>,
    pub(crate) clients: Vec<Client>,
}

/// Most PoPs a simulation can have: the cities the GSLB model knows.
pub(crate) const MAX_POPS: usize = POPS.len();

impl World {
    pub(crate) fn new(seed: u64, n: usize) -> World {
        let chosen = &POPS[..n.min(MAX_POPS)];
        let pops: Vec<SimPop> = chosen
            .iter()
            .enumerate()
            .map(|(i, p)| SimPop {
                id: p.id.to_owned(),
                lat: p.lat,
                lon: p.lon,
                public_ipv4: Ipv4Addr::new(203, 0, 113, 1 + i as u8),
            })
            .collect();
        let model = LatencyModel { seed };
        let one_way_ms: Vec<Vec<u64>> = chosen
            .iter()
            .map(|a| chosen.iter().map(|b| ((backbone_rtt_ms(model, a, b) / 2.0).round() as u64).max(1)).collect())
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x656e_6470_6f69_6e74);
        let endpoints = (0..ENDPOINTS)
            .map(|k| {
                let first = (rng.next_u64() % pops.len() as u64) as usize;
                let mut holders = vec![first];
                // Every other endpoint has agents on two PoPs.
                if k % 2 == 1 && pops.len() > 1 {
                    holders.push((first + 1 + (rng.next_u64() % (pops.len() as u64 - 1)) as usize) % pops.len());
                    holders.sort_unstable();
                }
                // The agent sits in the city of the first PoP drawn.
                let agent_one_way_ms = one_way_ms[first]
                    .iter()
                    .enumerate()
                    .map(|(p, ms)| if p == first { 0 } else { *ms } + AGENT_ACCESS_MS)
                    .collect();
                Endpoint {
                    url: format!("https://api{k}.{ZONE}"),
                    host: format!("api{k}.{ZONE}"),
                    holders,
                    agent: format!("agent{k}"),
                    agent_one_way_ms,
                }
            })
            .collect();
        // Clients at every PoP's door (the hardest case for "never a dead PoP") and a few cities
        // in between.
        let mut clients: Vec<Client> = chosen
            .iter()
            .enumerate()
            .map(|(i, p)| Client { name: p.id, lat: p.lat, lon: p.lon, net: client_net(i) })
            .collect();
        for p in POPS.iter().skip(n).step_by(7).take(4) {
            let net = client_net(clients.len());
            clients.push(Client { name: p.id, lat: p.lat, lon: p.lon, net });
        }
        World { pops, one_way_ms, endpoints, clients }
    }

    /// The voters, as `ClusterNode` bootstraps them: the bootstrap PoP (the first) and the
    /// other PoPs in id order, up to `MAX_VOTERS`; later PoPs join as learners.
    pub(crate) fn voters(&self) -> Vec<usize> {
        let mut others: Vec<usize> = (1..self.pops.len()).collect();
        others.sort_by(|a, b| self.pops[*a].id.cmp(&self.pops[*b].id));
        let mut voters = vec![0];
        voters.extend(others.into_iter().take(warren_cluster::MAX_VOTERS - 1));
        voters.sort_unstable();
        voters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_world_is_a_function_of_the_seed() {
        let a = World::new(3, 5);
        let b = World::new(3, 5);
        assert_eq!(a.one_way_ms, b.one_way_ms);
        assert_eq!(a.pops.iter().map(|p| &p.id).collect::<Vec<_>>(), ["iad", "fra", "sin", "sjc", "nrt"]);
        // Ashburn–Singapore is ~15 600 km: at least 39 ms one way even on a straight fibre.
        assert!(a.one_way_ms[0][2] >= 39, "{:?}", a.one_way_ms);
        assert!(a.endpoints.iter().all(|e| !e.holders.is_empty() && e.holders.iter().all(|h| *h < 5)));
        for e in &a.endpoints {
            assert_eq!(e.agent_one_way_ms.len(), 5);
            let door = e.holders.iter().filter(|h| e.agent_one_way_ms[**h] == AGENT_ACCESS_MS).count();
            assert_eq!(door, 1, "the agent is at the door of one of its PoPs: {e:?}");
        }
    }
}
