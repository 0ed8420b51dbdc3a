//! The chaos phase's plan: which faults, when, for how long — a function of the seed.
//!
//! Every plan holds each kind of fault at least once, in an order drawn from the seed (so even
//! the short run crashes a PoP, crashes the leader, splits the cluster, cuts the leader off in a
//! minority, and makes a link lossy and another slow), then more faults drawn at random until the
//! phase ends. A new fault starts every 8–16 s and lasts 3–30 s, so faults overlap. Faults that
//! target "the leader" are resolved when they start, from what the PoPs say then.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The PoP's process dies (unsynced writes lost) and is restarted when the fault ends.
    Crash { pop: usize },
    /// Whichever PoP leads when the fault starts crashes.
    CrashLeader,
    /// `minority` is cut off from every other PoP.
    Partition { minority: Vec<usize> },
    /// The leader, with `with` PoPs beside it (still a minority), is cut off from the rest.
    IsolateLeader { with: usize },
    /// Each datagram between `a` and `b` is lost with this probability, in percent.
    Lossy { a: usize, b: usize, percent: u32 },
    /// The link between `a` and `b` gets four times slower plus `extra_ms` each way.
    Slow { a: usize, b: usize, extra_ms: u64 },
}

impl Fault {
    /// The fault for the trace, with the PoPs by name (`name` maps an index to its id).
    pub(crate) fn describe(&self, name: impl Fn(usize) -> String) -> String {
        match self {
            Fault::Crash { pop } => format!("crash {}", name(*pop)),
            Fault::CrashLeader => "crash the leader".to_owned(),
            Fault::Partition { minority } => {
                let names: Vec<String> = minority.iter().map(|p| name(*p)).collect();
                format!("partition {} from the rest", names.join(", "))
            }
            Fault::IsolateLeader { with: 0 } => "cut the leader off alone".to_owned(),
            Fault::IsolateLeader { with } => format!("cut the leader and {with} more off"),
            Fault::Lossy { a, b, percent } => format!("lose {percent}% between {} and {}", name(*a), name(*b)),
            Fault::Slow { a, b, extra_ms } => format!("slow {}–{} (x4 + {extra_ms} ms)", name(*a), name(*b)),
        }
    }
}

/// A fault and its time span, in simulated milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Planned {
    pub(crate) at_ms: u64,
    pub(crate) for_ms: u64,
    pub(crate) fault: Fault,
}

fn below(rng: &mut ChaCha8Rng, n: u64) -> u64 {
    rng.next_u64() % n.max(1)
}

fn between(rng: &mut ChaCha8Rng, lo: u64, hi: u64) -> u64 {
    lo + below(rng, hi - lo + 1)
}

/// Two different PoPs.
fn link(rng: &mut ChaCha8Rng, n: usize) -> (usize, usize) {
    let a = below(rng, n as u64) as usize;
    let b = (a + 1 + below(rng, n as u64 - 1) as usize) % n;
    (a.min(b), a.max(b))
}

/// One fault of kind `kind` (0..6) with its parameters drawn, and how long it lasts.
fn draw(rng: &mut ChaCha8Rng, n: usize, kind: u64) -> (Fault, u64) {
    let most_cut = (n - 1) / 2;
    match kind {
        0 => (Fault::Crash { pop: below(rng, n as u64) as usize }, between(rng, 3_000, 20_000)),
        1 => (Fault::CrashLeader, between(rng, 3_000, 15_000)),
        2 => {
            let size = between(rng, 1, most_cut as u64) as usize;
            let mut pool: Vec<usize> = (0..n).collect();
            let mut minority = Vec::new();
            for _ in 0..size {
                minority.push(pool.remove(below(rng, pool.len() as u64) as usize));
            }
            minority.sort_unstable();
            (Fault::Partition { minority }, between(rng, 5_000, 20_000))
        }
        3 => (Fault::IsolateLeader { with: below(rng, most_cut as u64) as usize }, between(rng, 5_000, 20_000)),
        4 => {
            let (a, b) = link(rng, n);
            (Fault::Lossy { a, b, percent: between(rng, 10, 40) as u32 }, between(rng, 10_000, 30_000))
        }
        _ => {
            let (a, b) = link(rng, n);
            (Fault::Slow { a, b, extra_ms: between(rng, 100, 400) }, between(rng, 10_000, 30_000))
        }
    }
}

/// The faults of a chaos phase from `from_ms` to `until_ms` among `n` PoPs (n ≥ 3); every fault
/// ends by `until_ms`.
pub(crate) fn plan(seed: u64, n: usize, from_ms: u64, until_ms: u64) -> Vec<Planned> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6368_616f_7321);
    let mut kinds: Vec<u64> = (0..6).collect();
    for i in (1..kinds.len()).rev() {
        kinds.swap(i, below(&mut rng, i as u64 + 1) as usize);
    }
    let mut out = Vec::new();
    let mut at = from_ms;
    while at + 3_000 <= until_ms {
        let kind = if out.len() < kinds.len() { kinds[out.len()] } else { below(&mut rng, 6) };
        let (fault, for_ms) = draw(&mut rng, n, kind);
        out.push(Planned { at_ms: at, for_ms: for_ms.min(until_ms - at), fault });
        at += between(&mut rng, 8_000, 16_000);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_has_every_kind_and_ends_in_time() {
        let p = plan(1, 5, 15_000, 135_000);
        assert_eq!(p, plan(1, 5, 15_000, 135_000));
        assert_ne!(p, plan(2, 5, 15_000, 135_000));
        let kinds: std::collections::BTreeSet<&str> = p
            .iter()
            .map(|f| match f.fault {
                Fault::Crash { .. } => "crash",
                Fault::CrashLeader => "crash-leader",
                Fault::Partition { .. } => "partition",
                Fault::IsolateLeader { .. } => "isolate-leader",
                Fault::Lossy { .. } => "lossy",
                Fault::Slow { .. } => "slow",
            })
            .collect();
        assert_eq!(kinds.len(), 6, "{p:?}");
        for f in &p {
            assert!(f.at_ms + f.for_ms <= 135_000);
            if let Fault::Partition { minority } = &f.fault {
                assert!(!minority.is_empty() && minority.len() <= 2);
            }
        }
    }
}
