//! What the same latency model says about the cluster's Raft quorum: where the voters are
//! decides how long a replicated write takes, and whether a region failure stops writes.
//!
//! Deliberately coarse: a write entering at any PoP is forwarded to the leader (one round trip),
//! and the leader commits once a majority of voters (itself included) has it (the round trip to
//! the follower completing that majority). Disk syncs, batching and queueing are left out; the
//! loopback benchmark (`bench/cluster.sh`) measures those. PoP-to-PoP paths have no last mile.

use warren_gslb::haversine_km;

use super::latency::{FIBRE_KM_PER_MS, LatencyModel, Place};
use super::world::{Pop, Region, World};

/// Voter sets compared: (name, PoP ids).
pub const VOTER_SETS: [(&str, &[&str]); 5] = [
    ("first-3", &["iad", "fra", "sin"]),
    ("first-5", &["iad", "fra", "sin", "sjc", "nrt"]),
    ("atlantic-5", &["iad", "yul", "ord", "lhr", "fra"]),
    ("na-5", &["iad", "cmh", "ord", "yyz", "yul"]),
    ("eu-5", &["fra", "ams", "lhr", "cdg", "zrh"]),
];

/// One voter set's numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct QuorumRow {
    pub name: &'static str,
    pub voters: Vec<&'static str>,
    /// The leader with the fastest commit, and that commit's round trip.
    pub best_leader: &'static str,
    pub commit_ms: f64,
    /// The slowest leader's commit round trip (elections do not pick the fastest).
    pub worst_commit_ms: f64,
    /// A write entering at each of the world's PoPs, forwarded to the best leader and committed:
    /// median and maximum over the PoPs.
    pub write_p50_ms: f64,
    pub write_max_ms: f64,
    /// Whether a majority of voters is outside Europe (so writes go on with every European PoP
    /// down).
    pub survives_eu_down: bool,
}

fn place(p: &Pop) -> Place<'static> {
    Place { name: p.id, lat: p.lat, lon: p.lon }
}

/// Round trip between two PoPs: the route-inflated fibre path, no last mile.
pub fn backbone_rtt_ms(model: LatencyModel, a: &Pop, b: &Pop) -> f64 {
    2.0 * haversine_km(a.lat, a.lon, b.lat, b.lon) * model.inflation(place(a), place(b)) / FIBRE_KM_PER_MS
}

/// The round trip after which `leader` has a majority of `voters`.
fn commit_ms(model: LatencyModel, leader: &Pop, voters: &[&Pop]) -> f64 {
    let mut rtts: Vec<f64> =
        voters.iter().filter(|v| v.id != leader.id).map(|v| backbone_rtt_ms(model, leader, v)).collect();
    rtts.sort_by(f64::total_cmp);
    // A majority of n is n/2 + 1 voters: the leader and the n/2 fastest followers.
    rtts.get(voters.len() / 2 - 1).copied().unwrap_or(0.0)
}

pub fn quorums(world: &World, model: LatencyModel) -> Vec<QuorumRow> {
    let find = |id: &str| world.pops.iter().find(|p| p.id == id);
    VOTER_SETS
        .iter()
        .filter_map(|&(name, ids)| {
            let voters: Vec<&Pop> = ids.iter().map(|id| find(id)).collect::<Option<_>>()?;
            let commits: Vec<(f64, &Pop)> = voters.iter().map(|l| (commit_ms(model, l, &voters), *l)).collect();
            let (commit, leader) = commits.iter().copied().min_by(|a, b| a.0.total_cmp(&b.0))?;
            let worst = commits.iter().map(|c| c.0).fold(0.0, f64::max);
            let mut writes: Vec<f64> = world.pops.iter().map(|p| backbone_rtt_ms(model, p, leader) + commit).collect();
            writes.sort_by(f64::total_cmp);
            let outside_europe = voters.iter().filter(|v| v.region != Region::Europe).count();
            Some(QuorumRow {
                name,
                voters: ids.to_vec(),
                best_leader: leader.id,
                commit_ms: commit,
                worst_commit_ms: worst,
                write_p50_ms: writes[(writes.len() - 1) / 2],
                write_max_ms: writes.last().copied().unwrap_or(0.0),
                survives_eu_down: outside_europe > voters.len() / 2,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_voter_set_is_known_and_a_majority_waits_for_the_right_follower() {
        let world = World::full().unwrap();
        let model = LatencyModel { seed: 1 };
        let rows = quorums(&world, model);
        assert_eq!(rows.len(), VOTER_SETS.len());
        let by = |name: &str| rows.iter().find(|r| r.name == name).unwrap();
        // One continent commits in a few milliseconds, three continents in tens of them.
        assert!(by("na-5").commit_ms < 20.0, "{:?}", by("na-5"));
        assert!(by("first-5").commit_ms > 50.0, "{:?}", by("first-5"));
        assert!(!by("eu-5").survives_eu_down && by("first-5").survives_eu_down && by("atlantic-5").survives_eu_down);
        for r in &rows {
            assert!(
                r.commit_ms <= r.worst_commit_ms && r.commit_ms <= r.write_p50_ms && r.write_p50_ms <= r.write_max_ms
            );
        }
        // Three voters: the nearest follower completes the majority.
        let pops: Vec<&Pop> =
            ["iad", "fra", "sin"].iter().map(|id| world.pops.iter().find(|p| p.id == *id).unwrap()).collect();
        let to_fra = backbone_rtt_ms(model, pops[0], pops[1]);
        assert_eq!(commit_ms(model, pops[0], &pops), to_fra);
        assert_eq!(backbone_rtt_ms(model, pops[0], pops[1]), backbone_rtt_ms(model, pops[1], pops[0]));
    }
}
