//! Elections drawn afresh every round, and a follower that does not wait twice as long as it
//! should once its leader is gone.
//!
//! Two behaviours of openraft 0.9 show up only across a planet with faults, and the chaos
//! simulation found both:
//!
//! - **Split votes that repeat.** openraft draws a node's election timeout once, when the node
//!   starts, and checks it on a tick of 1.5 heartbeat intervals (375 ms with Warren's defaults).
//!   Voters whose timeouts fall on the same tick stand at the same moment, each votes for itself,
//!   and since the next round comes after the same timeouts again, they split the vote round after
//!   round (full run, seed 5: three voters of five in reach of each other, no leader for 16 s,
//!   eight terms in a row).
//! - **A sticky "someone has a longer log".** A voter that once lost an election to a longer log
//!   adds `smaller_log_timeout` (twice `election_timeout_max`) to its election timeout, and only
//!   forgets that when it stands itself. After a few elections every follower carries it, so when
//!   the leader dies none stands for lease + timeout + 6 s: 10.5–12 s with the defaults (full run,
//!   seed 7: the leader crashed, no election for the 8.4 s it was down, and a PoP that had fallen
//!   behind kept accepting a revoked token all that time).
//!
//! - **A follower that knows no leader waits as long too.** A follower that granted its vote to a
//!   candidate which then lost, or that was pulled into a higher term by a returning PoP's vote
//!   request, has no leader in its term and waits for the same flagged timer (full run, seed 4:
//!   four of five PoPs up, the leader crashed, 8 s between two election rounds and 17 s without a
//!   leader).
//!
//! So this task watches the node's role. A voter that stays a candidate in one term, a follower
//! that knows no leader in its term, or a follower whose leader this PoP's own health probes see
//! down (`health.rs`: `fall` failed probes), stands after a delay drawn afresh for that term (see
//! [`delay`]), if it is still in that situation then. The moments at which candidates stand no longer repeat, and a dead leader is replaced in
//! probe time plus the lease plus an election timeout (about 7.5–9 s) at worst, whatever openraft's
//! flag says. A follower whose leader answers probes waits for openraft's timer
//! (and the leader's lease) as usual, so a live leader is not disturbed by this task.
//!
//! And only nodes that can win stand: one whose probes do not reach a majority of the voters
//! (itself included) is left to openraft's timer, and so is one whose log is shorter than what a
//! voter it probes has already applied (it was cut off, or down, while the others went on), which
//! that timer holds back. Standing more often, it could not win, but every round
//! would raise the term, and a higher term makes a new leader step down (openraft 0.9 has no
//! pre-vote): the simulation saw exactly that when every candidate did it.

use std::sync::Arc;
use std::time::Duration;

use openraft::{RaftMetrics, ServerState};
use tokio::time::Instant;
use warren_raft::{NodeId, PopNode, RaftTimeouts};

use crate::node::Inner;

/// Why this node might stand on its own, and in which term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Situation {
    /// Still a candidate in this term.
    Candidate(u64),
    /// A follower that knows no leader in this term.
    LeaderUnknown(u64),
    /// A follower in this term whose leader this PoP's probes see down.
    LeaderDown(u64),
}

pub(crate) async fn rerandomize(inner: Arc<Inner>, timeouts: RaftTimeouts) {
    let mut rx = inner.raft.metrics();
    // Health changes are not in openraft's metrics: look again at every heartbeat too.
    let mut tick = tokio::time::interval(Duration::from_millis(timeouts.heartbeat_ms.max(50)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The situation being watched, and when to stand if it has not changed by then.
    let mut watched: Option<(Situation, Instant)> = None;
    loop {
        let now = situation(&inner, &rx.borrow_and_update());
        match (now, watched) {
            (None, _) => watched = None,
            (Some(s), Some((w, _))) if s == w => {}
            (Some(s), _) => watched = Some((s, Instant::now() + Duration::from_millis(delay(s, &timeouts)))),
        }
        // `biased`: tokio picks an unbiased `select!` branch at random, which a simulation could
        // not replay.
        let changed = match watched {
            Some((s, at)) => tokio::select! {
                biased;
                changed = rx.changed() => changed,
                _ = tick.tick() => Ok(()),
                () = tokio::time::sleep_until(at) => {
                    let still = {
                        let m = rx.borrow();
                        situation(&inner, &m) == Some(s) && reaches_majority(&inner, &m) && !behind(&inner, &m)
                    };
                    if still {
                        tracing::debug!(situation = ?s, "standing for election at a fresh random moment");
                        let _ = inner.raft.trigger().elect().await;
                    }
                    watched = None;
                    Ok(())
                }
            },
            None => tokio::select! {
                biased;
                changed = rx.changed() => changed,
                _ = tick.tick() => Ok(()),
            },
        };
        if changed.is_err() {
            return;
        }
    }
}

/// How long a situation must last before this node stands, drawn afresh each time.
///
/// A candidate: between half the minimum election timeout and the maximum. A follower without a
/// leader: an election timeout (minimum to maximum), as openraft draws it when its flag is clear;
/// within that time a candidate that is winning has told it (one round trip). A follower whose leader
/// is down: the leader's lease plus an election timeout, counted from when the probes gave up on
/// the leader, which is later than openraft's own timer fires when its flag is clear (lease plus
/// election timeout from the last heartbeat). So this only stands in for openraft when the flag
/// holds it back, and a follower whose probes fail on a lossy path while the leader is alive does
/// not unseat it any sooner than openraft itself would.
fn delay(s: Situation, t: &RaftTimeouts) -> u64 {
    match s {
        Situation::Candidate(_) => warren_raft::random_in(t.election_min_ms / 2, t.election_max_ms),
        Situation::LeaderUnknown(_) => warren_raft::random_in(t.election_min_ms, t.election_max_ms),
        Situation::LeaderDown(_) => t.election_max_ms + warren_raft::random_in(t.election_min_ms, t.election_max_ms),
    }
}

fn situation(inner: &Inner, m: &RaftMetrics<NodeId, PopNode>) -> Option<Situation> {
    let membership = m.membership_config.membership();
    if !membership.voter_ids().any(|id| id == inner.my_id) {
        return None;
    }
    match m.state {
        ServerState::Candidate => Some(Situation::Candidate(m.current_term)),
        ServerState::Follower => match m.current_leader.filter(|id| *id != inner.my_id) {
            None => Some(Situation::LeaderUnknown(m.current_term)),
            Some(leader) => {
                let pop = &membership.get_node(&leader)?.pop;
                (!inner.health.healthy(pop)).then_some(Situation::LeaderDown(m.current_term))
            }
        },
        _ => None,
    }
}

/// Whether this PoP's probes see a majority of the voters up, itself included: short of that a
/// vote cannot be won, and standing would only raise the term (which unseats the next leader when
/// this PoP is back in reach; openraft 0.9 has no pre-vote).
fn reaches_majority(inner: &Inner, m: &RaftMetrics<NodeId, PopNode>) -> bool {
    let membership = m.membership_config.membership();
    let voters: Vec<NodeId> = membership.voter_ids().collect();
    let up = voters
        .iter()
        .filter(|id| **id == inner.my_id || membership.get_node(id).is_some_and(|node| inner.health.healthy(&node.pop)))
        .count();
    up * 2 > voters.len()
}

/// Whether a voter this PoP probes has applied more of the log than this PoP even holds.
fn behind(inner: &Inner, m: &RaftMetrics<NodeId, PopNode>) -> bool {
    let mine = m.last_log_index.unwrap_or(0);
    let membership = m.membership_config.membership();
    membership
        .voter_ids()
        .filter(|id| *id != inner.my_id)
        .filter_map(|id| membership.get_node(&id))
        .filter_map(|node| inner.health.last_applied(&node.pop))
        .any(|applied| applied > mine)
}
