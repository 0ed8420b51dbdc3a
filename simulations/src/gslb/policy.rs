//! The ways of sending a client to a PoP that the model compares.
//!
//! Each policy turns what it *knows* about PoP failures into a split of every city's clients over
//! PoPs; whether those PoPs are really up is the statistics' business (`stats.rs`). That gap is
//! the point: a policy that does not know (yet) sends clients to dead PoPs.

use std::net::Ipv4Addr;

use warren_gslb::{Family, Params, PopCandidate, Request, choose};

use super::latency::{LAST_MILE_MS, Matrix};
use super::world::World;

/// How much BGP's choice ignores latency: each (city, PoP) route's metric is its path length
/// times a factor drawn uniformly in this range (AS-path length, local preference and peering
/// deals, none of which measure delay).
pub const BGP_NOISE: (f64, f64) = (1.0, 3.0);

/// A routing policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Policy {
    /// Warren's GSLB: `warren_gslb::choose` with the cluster's health, default weights and
    /// parameters, the client located exactly (EDNS Client Subnet and a good geo database).
    Warren,
    /// The PoP nearest by great-circle distance, dead or alive.
    Nearest,
    /// Anycast: one address announced from every PoP, BGP picks the route with the smallest
    /// metric (a noisy function of the path); a dead PoP's routes are withdrawn once BGP has
    /// converged.
    Anycast,
    /// DNS round robin: every PoP's address in turn, so every PoP gets an equal share of every
    /// city's clients; no health checks.
    RoundRobin,
    /// The lowest round trip among the live PoPs: a bound no DNS or BGP policy reaches (it knows
    /// every path's inflation).
    Oracle,
}

impl Policy {
    pub const ALL: [Policy; 5] = [Policy::Warren, Policy::Anycast, Policy::Nearest, Policy::RoundRobin, Policy::Oracle];

    pub fn name(self) -> &'static str {
        match self {
            Policy::Warren => "warren",
            Policy::Nearest => "nearest",
            Policy::Anycast => "anycast",
            Policy::RoundRobin => "round-robin",
            Policy::Oracle => "oracle",
        }
    }

    /// Whether the policy ever stops sending clients to a failed PoP.
    pub fn learns_failures(self) -> bool {
        matches!(self, Policy::Warren | Policy::Anycast | Policy::Oracle)
    }

    /// Seconds after a failure until the policy has moved its clients, with Warren's defaults:
    /// health `interval` 1 s × `fall` 3, then the DNS TTL of 30 s for cached answers; anycast:
    /// [`ANYCAST_CONVERGENCE_S`]. `None`: never.
    pub fn reaction_s(self) -> Option<u32> {
        match self {
            Policy::Warren => Some(3 + 30),
            Policy::Anycast => Some(ANYCAST_CONVERGENCE_S),
            Policy::Oracle => Some(0),
            Policy::Nearest | Policy::RoundRobin => None,
        }
    }
}

/// How long BGP takes to withdraw a dead PoP's routes everywhere. Withdrawals converge in
/// seconds to minutes (path exploration, 30 s advertisement intervals); one minute is the
/// model's middle value, and only labels the transient phase: its statistics do not depend on it.
pub const ANYCAST_CONVERGENCE_S: u32 = 60;

/// The share of one city's clients sent to each PoP: (PoP index, fraction), fractions sum to 1.
pub type Split = Vec<(usize, f64)>;

/// Where `policy` sends each city's clients, knowing that the PoPs with `known_down[i]` are down.
pub fn assign(policy: Policy, world: &World, matrix: &Matrix, known_down: &[bool]) -> Vec<Split> {
    let n = world.pops.len();
    let live = |i: &usize| !known_down[*i];
    let argmin = |cost: &dyn Fn(usize) -> f64, eligible: &dyn Fn(&usize) -> bool| -> Split {
        // Ties go to the lower index: deterministic.
        let best = (0..n).filter(eligible).min_by(|&a, &b| cost(a).total_cmp(&cost(b)).then(a.cmp(&b)));
        best.map(|i| vec![(i, 1.0)]).unwrap_or_default()
    };
    match policy {
        Policy::Warren => warren(world, known_down),
        Policy::Nearest => (0..world.cities.len()).map(|c| argmin(&|p| matrix.km[c][p], &|_| true)).collect(),
        // The route's length (its round trip less the last mile) times BGP's indifference to it.
        Policy::Anycast => (0..world.cities.len())
            .map(|c| argmin(&|p| (matrix.rtt[c][p] - LAST_MILE_MS) * matrix.bgp_noise[c][p], &live))
            .collect(),
        Policy::RoundRobin => {
            let share = 1.0 / n as f64;
            world.cities.iter().map(|_| (0..n).map(|p| (p, share)).collect()).collect()
        }
        Policy::Oracle => (0..world.cities.len()).map(|c| argmin(&|p| matrix.rtt[c][p], &live)).collect(),
    }
}

/// The real ranking code, as `warren-dns` calls it for a located client and the zone apex (no
/// tunnel preference: agents connect to every PoP).
fn warren(world: &World, known_down: &[bool]) -> Vec<Split> {
    let candidates: Vec<PopCandidate> = world
        .pops
        .iter()
        .zip(known_down)
        .enumerate()
        .map(|(i, (p, &down))| {
            let mut c = PopCandidate::new(p.id, p.lat, p.lon);
            // Documentation addresses; only their presence matters (an `A` answer).
            c.ipv4 = Some(Ipv4Addr::new(198, 51, 100, u8::try_from(i + 1).unwrap_or(u8::MAX)));
            c.healthy = !down;
            c
        })
        .collect();
    let params = Params::default();
    world
        .cities
        .iter()
        .map(|city| {
            let req = Request { client: Some((city.lat, city.lon)), self_id: "", tunnel_pops: None };
            choose(&candidates, &req, Family::V4, &params)
                .and_then(|choice| candidates.iter().position(|c| c.id == choice.pop.id))
                .map(|i| vec![(i, 1.0)])
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::latency::LatencyModel;
    use super::super::world::Region;
    use super::*;

    fn setup() -> (World, Matrix) {
        let world = World::full().unwrap();
        let matrix = Matrix::new(&world, LatencyModel { seed: 1 });
        (world, matrix)
    }

    fn city(world: &World, name: &str) -> usize {
        world.cities.iter().position(|c| c.name == name).unwrap()
    }

    fn pop_of(world: &World, split: &Split) -> &'static str {
        assert_eq!(split.len(), 1, "{split:?}");
        world.pops[split[0].0].id
    }

    #[test]
    fn nearest_sends_paris_to_paris_and_leaves_it_there_when_it_is_down() {
        let (world, matrix) = setup();
        let up = vec![false; world.pops.len()];
        let got = assign(Policy::Nearest, &world, &matrix, &up);
        assert_eq!(pop_of(&world, &got[city(&world, "Paris")]), "cdg");
        assert_eq!(pop_of(&world, &got[city(&world, "Frankfurt")]), "fra");
        assert_eq!(pop_of(&world, &got[city(&world, "Cologne")]), "fra");
        assert_eq!(pop_of(&world, &got[city(&world, "Lagos")]), "mad");
        // Health-unaware: the same answer with every European PoP known down.
        let eu_down: Vec<bool> = world.pops.iter().map(|p| p.region == Region::Europe).collect();
        assert_eq!(assign(Policy::Nearest, &world, &matrix, &eu_down), got);
    }

    #[test]
    fn warren_with_every_pop_healthy_is_nearest_and_never_uses_a_failed_pop() {
        let (world, matrix) = setup();
        let up = vec![false; world.pops.len()];
        assert_eq!(assign(Policy::Warren, &world, &matrix, &up), assign(Policy::Nearest, &world, &matrix, &up));
        for failed in [
            world.pops.iter().map(|p| p.region == Region::Europe).collect::<Vec<bool>>(),
            world.pops.iter().map(|p| p.id == "cdg" || p.id == "fra").collect(),
            world.pops.iter().map(|p| p.region != Region::Oceania).collect(),
        ] {
            let got = assign(Policy::Warren, &world, &matrix, &failed);
            assert_eq!(got.len(), world.cities.len());
            for (c, split) in got.iter().enumerate() {
                let [(p, share)] = split[..] else { panic!("{split:?}") };
                assert!(!failed[p], "{} sent to failed {}", world.cities[c].name, world.pops[p].id);
                assert_eq!(share, 1.0);
            }
        }
        let cdg_fra_down: Vec<bool> = world.pops.iter().map(|p| p.id == "cdg" || p.id == "fra").collect();
        let got = assign(Policy::Warren, &world, &matrix, &cdg_fra_down);
        assert_eq!(pop_of(&world, &got[city(&world, "Paris")]), "lhr");
        assert_eq!(pop_of(&world, &got[city(&world, "Frankfurt")]), "zrh");
    }

    #[test]
    fn round_robin_spreads_every_city_evenly_over_every_pop() {
        let (world, matrix) = setup();
        let n = world.pops.len();
        let all_down = vec![true; n];
        for split in assign(Policy::RoundRobin, &world, &matrix, &all_down) {
            assert_eq!(split.len(), n);
            assert!(split.iter().enumerate().all(|(i, &(p, share))| p == i && share == 1.0 / n as f64));
        }
    }

    #[test]
    fn anycast_and_oracle_avoid_known_failures_and_oracle_is_never_slower() {
        let (world, matrix) = setup();
        let eu_down: Vec<bool> = world.pops.iter().map(|p| p.region == Region::Europe).collect();
        for policy in [Policy::Anycast, Policy::Oracle] {
            for split in assign(policy, &world, &matrix, &eu_down) {
                assert!(split.len() == 1 && !eu_down[split[0].0], "{policy:?} {split:?}");
            }
        }
        let none = vec![false; world.pops.len()];
        let oracle = assign(Policy::Oracle, &world, &matrix, &none);
        for policy in [Policy::Warren, Policy::Anycast, Policy::Nearest] {
            for (c, split) in assign(policy, &world, &matrix, &none).iter().enumerate() {
                assert!(matrix.rtt[c][oracle[c][0].0] <= matrix.rtt[c][split[0].0]);
            }
        }
        // BGP's noise moves some clients off their nearest PoP, and the seed decides which.
        let nearest = assign(Policy::Nearest, &world, &matrix, &none);
        let anycast = assign(Policy::Anycast, &world, &matrix, &none);
        let moved = nearest.iter().zip(&anycast).filter(|(a, b)| a != b).count();
        assert!(moved > 20 && moved < world.cities.len() / 2, "{moved}");
        let other_seed = Matrix::new(&world, LatencyModel { seed: 2 });
        assert_ne!(assign(Policy::Anycast, &world, &other_seed, &none), anycast);
    }
}
