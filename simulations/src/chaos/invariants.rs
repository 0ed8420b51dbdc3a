//! The properties every run must have, one per file. Each is a function of the recorded
//! [`History`] alone (plus the world and the bounds below), checked after the run.
//!
//! | invariant | file |
//! | --- | --- |
//! | no acknowledged write is lost | `acked_writes_survive.rs` |
//! | at most one leader per term | `one_leader_per_term.rs` |
//! | every PoP converges to the same state | `replicas_converge.rs` |
//! | a revoked token stops authenticating everywhere within a bound | `revocation_bound.rs` |
//! | DNS never hands out a PoP down longer than the health window | `dns_skips_down_pops.rs` |
//! | every request to a live endpoint succeeds once the network heals | `requests_succeed_after_heal.rs` |
//! | no task of any PoP panicked | `no_panics.rs` |

mod acked_writes_survive;
mod dns_skips_down_pops;
mod no_panics;
mod one_leader_per_term;
mod replicas_converge;
mod requests_succeed_after_heal;
mod revocation_bound;

use std::time::Duration;

use warren_cluster::HealthSettings;
use warren_raft::RaftTimeouts;

use super::history::History;
use super::world::World;

/// The time bounds the invariants hold the cluster to, in simulated milliseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    /// How long a PoP may stay in DNS answers after it went down (or became unreachable from the
    /// answering PoP), and how long a PoP must have run before its answers count.
    pub(crate) health_window_ms: u64,
    /// How long after its revocation was acknowledged a token may still be accepted by a PoP
    /// that was running and reached a majority of the voters all that time.
    pub(crate) revocation_ms: u64,
    /// How long after every fault was undone requests may still fail.
    pub(crate) settle_ms: u64,
}

impl Bounds {
    /// From the PoPs' health settings and Raft timings.
    ///
    /// Health: a peer is marked down after `fall` failed probes, one per `interval`, each given
    /// up to its timeout (the interval, 0.1–2 s); 2 s of slack cover the tick that starts a round
    /// and the PoP's own refresh.
    ///
    /// Revocation: a new leader, then replication. openraft 0.9 lets a follower of a lost leader
    /// stand for election only after the leader's lease (`election_max`) plus its own election
    /// timeout (up to `election_max`), plus twice `election_max` more if it ever saw a longer log
    /// than its own in an earlier election (openraft's `smaller_log_timeout`, a flag that stays
    /// set until the node's next own candidacy): up to 4 × `election_max`, 12 s with Warren's
    /// defaults. Two rounds lost to split votes (up to `election_max` each; openraft checks
    /// timers on a 375 ms tick, so candidates often collide) and 2 s of replication over the
    /// slow links follow. The first runs held PoPs to 15 s, which ignored the lease and the
    /// smaller-log delay; seed 11 of `--short` needed 17.8 s from its leader's crash to the next
    /// leader (a 12 s wait, then two split votes).
    pub(crate) fn new(health: HealthSettings, raft: &RaftTimeouts) -> Bounds {
        let timeout = health.interval.clamp(Duration::from_millis(100), Duration::from_secs(2));
        let window = u64::from(health.fall) * (health.interval + timeout).as_millis() as u64 + 2_000;
        let election = 4 * raft.election_max_ms + 2 * raft.election_max_ms;
        Bounds {
            health_window_ms: window,
            revocation_ms: election + 2_000,
            // The health window (peers seen healthy again: `rise` probes) and an election.
            settle_ms: window + 10_000,
        }
    }
}

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Violation {
    pub(crate) invariant: &'static str,
    pub(crate) detail: String,
}

pub(crate) struct Invariant {
    pub(crate) name: &'static str,
    pub(crate) check: fn(&History, &World, &Bounds) -> Vec<String>,
}

pub(crate) const ALL: [Invariant; 7] = [
    Invariant { name: "acknowledged writes survive", check: acked_writes_survive::check },
    Invariant { name: "at most one leader per term", check: one_leader_per_term::check },
    Invariant { name: "replicas converge", check: replicas_converge::check },
    Invariant { name: "revoked tokens stop working in time", check: revocation_bound::check },
    Invariant { name: "DNS skips PoPs that are down", check: dns_skips_down_pops::check },
    Invariant { name: "requests succeed after the heal", check: requests_succeed_after_heal::check },
    Invariant { name: "no task panicked", check: no_panics::check },
];

/// Every invariant's violations (at most `MAX_SHOWN` each, plus a count of the rest).
pub(crate) fn check_all(h: &History, w: &World, b: &Bounds) -> Vec<Violation> {
    const MAX_SHOWN: usize = 5;
    let mut out = Vec::new();
    for inv in &ALL {
        let found = (inv.check)(h, w, b);
        let more = found.len().saturating_sub(MAX_SHOWN);
        out.extend(found.into_iter().take(MAX_SHOWN).map(|detail| Violation { invariant: inv.name, detail }));
        if more > 0 {
            out.push(Violation { invariant: inv.name, detail: format!("… and {more} more") });
        }
    }
    out
}

/// `12.345 s`, for messages.
pub(crate) fn secs(ms: u64) -> String {
    format!("{}.{:03} s", ms / 1000, ms % 1000)
}

/// Hand-made histories for the invariants' tests: each invariant's file checks that a history
/// breaking it is reported, and that one keeping it is not.
#[cfg(test)]
mod fixtures {
    use std::collections::BTreeSet;

    use warren_state::{Command, Outcome, State, new_token};

    use super::Bounds;
    use crate::chaos::history::{FinalState, History, NetState, Token, WriteKind, WriteOp};
    use crate::chaos::world::World;

    /// Three PoPs, all up and connected from 0 on.
    pub(crate) fn start() -> (History, World, Bounds) {
        let world = World::new(1, 3);
        let mut h = History::new(world.pops.iter().map(|p| p.id.clone()).collect());
        h.net = vec![NetState { at_ms: 0, up: vec![true; 3], cut: BTreeSet::new() }];
        (h, world, Bounds::new(warren_cluster::HealthSettings::default(), &warren_raft::RaftTimeouts::default()))
    }

    /// Adds a token; returns its number.
    pub(crate) fn token(h: &mut History) -> usize {
        let n = h.tokens.len();
        let (id, secret) = new_token([n as u8 + 1; 40]);
        h.tokens.push(Token { id, secret });
        n
    }

    /// A write issued at `at_ms` through `pop`, answered 100 ms later with `done` (`None`: never).
    pub(crate) fn write(
        h: &mut History,
        at_ms: u64,
        pop: usize,
        kind: WriteKind,
        done: Option<Result<Outcome, String>>,
    ) {
        let op = h.writes.len() as u64 + 1;
        h.writes.insert(op, WriteOp { issued_ms: at_ms, pop, kind, done: done.map(|d| (at_ms + 100, d)) });
    }

    /// The acknowledgement a PoP gives a write of `kind`.
    pub(crate) fn acked(h: &History, kind: WriteKind) -> Option<Result<Outcome, String>> {
        Some(Ok(match kind {
            WriteKind::Create(n) => Outcome::TokenCreated { id: h.tokens[n].id.clone() },
            WriteKind::Revoke(n) => Outcome::TokenRevoked { id: h.tokens[n].id.clone() },
        }))
    }

    /// A replica holding tokens `created`, of which `revoked` are revoked.
    pub(crate) fn replica(h: &History, created: &[usize], revoked: &[usize]) -> State {
        let mut s = State::new();
        for &n in created {
            let t = &h.tokens[n];
            let cmd = Command::CreateToken {
                id: t.id.clone(),
                secret_hash: t.secret.hash(),
                description: String::new(),
                created_at_ms: 1,
            };
            s.apply(cmd, 1);
        }
        for &n in revoked {
            s.apply(Command::RevokeToken { id: h.tokens[n].id.clone() }, 2);
        }
        s
    }

    /// Every PoP ends at log position `applied` with `state`.
    pub(crate) fn finals(h: &mut History, applied: u64, state: &State) {
        h.finals = (0..h.names.len())
            .map(|pop| FinalState { pop, last_applied: Some(applied), state: Some(state.clone()) })
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::chaos::history::{DnsSample, NetState};

    fn history() -> (History, World) {
        let world = World::new(1, 3);
        let mut h = History::new(world.pops.iter().map(|p| p.id.clone()).collect());
        h.net = vec![
            NetState { at_ms: 0, up: vec![true; 3], cut: BTreeSet::new() },
            NetState { at_ms: 20_000, up: vec![true, true, false], cut: BTreeSet::new() },
        ];
        (h, world)
    }

    fn dns(at_ms: u64, asked: usize, answers: &[usize]) -> DnsSample {
        DnsSample { at_ms, asked, answers: answers.iter().copied().collect() }
    }

    #[test]
    fn dns_may_answer_a_dead_pop_only_within_the_health_window() {
        let (mut h, w) = history();
        let b = Bounds::new(HealthSettings::default(), &RaftTimeouts::default());
        h.dns = vec![dns(20_000 + b.health_window_ms - 1, 0, &[0, 2]), dns(20_000 + b.health_window_ms, 1, &[2])];
        let found = dns_skips_down_pops::check(&h, &w, &b);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with(&format!("{} handed out {}", w.pops[1].id, w.pops[2].id)), "{found:?}");
    }

    #[test]
    fn a_pop_just_started_is_not_held_to_its_health_view() {
        let (mut h, w) = history();
        h.net.push(NetState { at_ms: 25_000, up: vec![false, true, false], cut: BTreeSet::new() });
        h.net.push(NetState { at_ms: 26_000, up: vec![true, true, false], cut: BTreeSet::new() });
        h.dns = vec![dns(30_000, 0, &[2])];
        assert!(
            dns_skips_down_pops::check(&h, &w, &Bounds::new(HealthSettings::default(), &RaftTimeouts::default()))
                .is_empty()
        );
    }

    #[test]
    fn two_leaders_in_one_term_are_reported() {
        let (mut h, w) = history();
        use crate::chaos::history::RoleObs;
        h.roles = vec![
            RoleObs { at_ms: 1, pop: 0, term: 3, leader: true },
            RoleObs { at_ms: 2, pop: 0, term: 3, leader: true },
            RoleObs { at_ms: 3, pop: 1, term: 4, leader: true },
        ];
        let b = Bounds::new(HealthSettings::default(), &RaftTimeouts::default());
        assert!(one_leader_per_term::check(&h, &w, &b).is_empty());
        h.roles.push(RoleObs { at_ms: 4, pop: 2, term: 4, leader: true });
        assert_eq!(one_leader_per_term::check(&h, &w, &b).len(), 1);
    }
}
