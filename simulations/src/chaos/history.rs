//! What a run observed: the trace (one line per event, in the order things happened) and the
//! structured history the invariants read.
//!
//! Hosts and the driver both append here. Everything runs on one thread in an order fixed by the
//! seed, so the trace of a run is a function of its seed; it holds only simulated times, and
//! maps are `BTreeMap`s, so nothing in it depends on the process (addresses, hash seeds, wall
//! clock).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use warren_state::{Outcome, TokenId, TokenSecret};

/// A write a client asked a PoP to make.
#[derive(Debug, Clone)]
pub(crate) struct WriteOp {
    pub(crate) issued_ms: u64,
    pub(crate) pop: usize,
    pub(crate) kind: WriteKind,
    /// When the PoP answered, and what: `Ok` is an acknowledged write.
    pub(crate) done: Option<(u64, Result<Outcome, String>)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteKind {
    /// Creates token number `n` of [`History::tokens`].
    Create(usize),
    /// Revokes token number `n`.
    Revoke(usize),
}

impl History {
    /// A write for the trace: `create tok_…` or `revoke tok_…`.
    pub(crate) fn describe(&self, kind: WriteKind) -> String {
        match kind {
            WriteKind::Create(n) => format!("create {}", self.tokens[n].id),
            WriteKind::Revoke(n) => format!("revoke {}", self.tokens[n].id),
        }
    }
}

/// A token a client created, with its secret (which the auth samples present).
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) id: TokenId,
    pub(crate) secret: TokenSecret,
}

/// A request a client sent to an endpoint through a PoP.
#[derive(Debug, Clone)]
pub(crate) struct RequestOp {
    pub(crate) issued_ms: u64,
    /// The PoP the client's DNS answer pointed to.
    pub(crate) entry: usize,
    pub(crate) endpoint: usize,
    /// `Ok(how)`: "local" (the entry PoP holds a tunnel) or "forwarded"; `Err(why)`.
    pub(crate) done: Option<(u64, Result<&'static str, String>)>,
}

/// What a PoP's Raft node said its role was, whenever it changed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoleObs {
    pub(crate) at_ms: u64,
    pub(crate) pop: usize,
    pub(crate) term: u64,
    pub(crate) leader: bool,
}

/// The PoPs one PoP's DNS handed out, to every client location, at one moment.
#[derive(Debug, Clone)]
pub(crate) struct DnsSample {
    pub(crate) at_ms: u64,
    pub(crate) asked: usize,
    pub(crate) answers: BTreeSet<usize>,
}

/// How the clients' DNS queries ended.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DnsStats {
    pub(crate) asked: u64,
    /// Answered with a PoP's address.
    pub(crate) answered: u64,
    /// Answered without one (NXDOMAIN: an endpoint not yet bound in the replica asked).
    pub(crate) empty: u64,
    /// No reply within the clients' timeout.
    pub(crate) lost: u64,
}

/// Whether one PoP accepted one token at one moment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AuthSample {
    pub(crate) at_ms: u64,
    pub(crate) pop: usize,
    pub(crate) token: usize,
    pub(crate) accepted: bool,
}

/// Which PoPs run and which links are cut, from `at_ms` on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetState {
    pub(crate) at_ms: u64,
    pub(crate) up: Vec<bool>,
    /// Cut links, `(a, b)` with `a < b`.
    pub(crate) cut: BTreeSet<(usize, usize)>,
}

impl NetState {
    pub(crate) fn is_cut(&self, a: usize, b: usize) -> bool {
        self.cut.contains(&(a.min(b), a.max(b)))
    }

    /// Whether `pop` runs and reaches (through uncut links between running PoPs) a majority of
    /// `voters`, itself included if it votes.
    pub(crate) fn in_majority(&self, pop: usize, voters: &[usize]) -> bool {
        if !self.up[pop] {
            return false;
        }
        let mut seen = BTreeSet::from([pop]);
        let mut todo = vec![pop];
        while let Some(a) = todo.pop() {
            for b in 0..self.up.len() {
                if self.up[b] && !self.is_cut(a, b) && seen.insert(b) {
                    todo.push(b);
                }
            }
        }
        voters.iter().filter(|v| seen.contains(v)).count() > voters.len() / 2
    }
}

/// The phases of a run, in simulated milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Phases {
    /// Every fault is undone here.
    pub(crate) healed_at: u64,
}

/// A PoP's replica at the end of the run.
#[derive(Debug, Clone)]
pub(crate) struct FinalState {
    pub(crate) pop: usize,
    pub(crate) last_applied: Option<u64>,
    pub(crate) state: Option<warren_state::State>,
}

#[derive(Debug, Default)]
pub(crate) struct History {
    /// (simulated ms, line), in the order they were recorded.
    trace: Vec<(u64, String)>,
    pub(crate) names: Vec<String>,
    pub(crate) tokens: Vec<Token>,
    pub(crate) writes: BTreeMap<u64, WriteOp>,
    pub(crate) requests: BTreeMap<u64, RequestOp>,
    pub(crate) roles: Vec<RoleObs>,
    pub(crate) dns: Vec<DnsSample>,
    pub(crate) dns_stats: DnsStats,
    pub(crate) auth: Vec<AuthSample>,
    pub(crate) net: Vec<NetState>,
    pub(crate) phases: Phases,
    pub(crate) finals: Vec<FinalState>,
    /// Panics of any task, as the panic hook saw them.
    pub(crate) panics: Vec<String>,
}

impl History {
    pub(crate) fn new(names: Vec<String>) -> History {
        History { names, ..History::default() }
    }

    /// Appends a line to the trace: the simulated time, who, what.
    pub(crate) fn trace(&mut self, at_ms: u64, who: &str, what: impl std::fmt::Display) {
        self.trace.push((at_ms, format!("{:>6}.{:03} {who:<6} {what}", at_ms / 1000, at_ms % 1000)));
    }

    /// The trace, one line per event, in time order; the lines of one simulated millisecond are
    /// sorted. Why sorted: tokio's `watch` channel (the applied index a write waits for, Raft's
    /// metrics) wakes its waiters in an order drawn from tokio's own generator, which only an
    /// unstable tokio build can seed, so two tasks woken by one change may run in either order
    /// within the tick. Everything they then do at later times is still compared in full.
    pub(crate) fn trace_text(&self) -> String {
        let mut lines: Vec<&(u64, String)> = self.trace.iter().collect();
        lines.sort();
        let mut out = String::new();
        for (_, line) in lines {
            let _ = writeln!(out, "{line}");
        }
        out
    }

    pub(crate) fn name(&self, pop: usize) -> &str {
        &self.names[pop]
    }

    /// Since when `holds` has been true without a break, as of `at_ms`; `None` if it is false
    /// then. The network only changes at the recorded moments, so that is where to look.
    pub(crate) fn since(&self, at_ms: u64, holds: impl Fn(&NetState) -> bool) -> Option<u64> {
        let upto = self.net.iter().rposition(|s| s.at_ms <= at_ms)?;
        if !holds(&self.net[upto]) {
            return None;
        }
        let mut start = self.net[upto].at_ms;
        for s in self.net[..upto].iter().rev() {
            if !holds(s) {
                break;
            }
            start = s.at_ms;
        }
        Some(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(at_ms: u64, up: [bool; 3], cut: &[(usize, usize)]) -> NetState {
        NetState { at_ms, up: up.to_vec(), cut: cut.iter().copied().collect() }
    }

    #[test]
    fn since_finds_the_start_of_the_unbroken_stretch() {
        let mut h = History::new(vec!["a".into(), "b".into(), "c".into()]);
        h.net = vec![
            net(0, [true; 3], &[]),
            net(10, [true, false, true], &[]),
            net(20, [true, false, true], &[(0, 2)]),
            net(30, [true; 3], &[]),
        ];
        assert_eq!(h.since(25, |s| !s.up[1]), Some(10));
        assert_eq!(h.since(35, |s| !s.up[1]), None);
        assert_eq!(h.since(35, |s| s.up[0]), Some(0));
        assert!(h.net[2].is_cut(2, 0));
        let voters = [0, 1, 2];
        assert!(!h.net[2].in_majority(0, &voters), "a alone with b down and c cut off");
        assert!(h.net[1].in_majority(0, &voters));
    }
}
