//! At most one leader per term: no two PoPs ever report being the Raft leader of the same term
//! (Raft's election safety, over Warren's transport and storage, through crashes that lose
//! unsynced writes).
//!
//! This is standard Raft's rule, which openraft keeps only with its `single-term-leader` feature
//! (Warren enables it): without it a leader's identity is (term, node id), and a candidate with a
//! greater node id may win a term another PoP already leads. The first runs of this simulation
//! found exactly that (seed 6 of `--short`: two leaders in term 9).

use std::collections::{BTreeMap, BTreeSet};

use super::secs;
use crate::chaos::history::History;
use crate::chaos::world::World;

pub(super) fn check(h: &History, _w: &World, _b: &super::Bounds) -> Vec<String> {
    let mut leaders: BTreeMap<u64, BTreeMap<usize, u64>> = BTreeMap::new();
    for r in h.roles.iter().filter(|r| r.leader) {
        leaders.entry(r.term).or_default().entry(r.pop).or_insert(r.at_ms);
    }
    leaders
        .into_iter()
        .filter(|(_, pops)| pops.len() > 1)
        .map(|(term, pops)| {
            let who: BTreeSet<String> = pops.iter().map(|(p, at)| format!("{} at {}", h.name(*p), secs(*at))).collect();
            format!("term {term} had {} leaders: {who:?}", pops.len())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::check;
    use crate::chaos::history::RoleObs;
    use crate::chaos::invariants::fixtures::start;

    fn leader(at_ms: u64, pop: usize, term: u64) -> RoleObs {
        RoleObs { at_ms, pop, term, leader: true }
    }

    #[test]
    fn two_leaders_in_one_term_are_reported_once_per_term() {
        let (mut h, w, b) = start();
        // One PoP seen leading one term twice, another leading the next: fine.
        h.roles = vec![leader(1, 0, 3), leader(2, 0, 3), leader(3, 1, 4)];
        assert!(check(&h, &w, &b).is_empty());
        h.roles.push(leader(4, 2, 4));
        h.roles.push(leader(5, 0, 4));
        let found = check(&h, &w, &b);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("term 4 had 3 leaders"), "{found:?}");
    }

    #[test]
    fn followers_do_not_count() {
        let (mut h, w, b) = start();
        h.roles = vec![leader(1, 0, 3), RoleObs { at_ms: 2, pop: 1, term: 3, leader: false }];
        assert!(check(&h, &w, &b).is_empty());
    }
}
