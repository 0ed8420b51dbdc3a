//! A revoked token stops authenticating everywhere within a bound: once a revocation is
//! acknowledged, a PoP that has been running and in reach of a majority of the voters for the
//! whole bound refuses the token.
//!
//! A PoP cut off from the majority keeps answering from its replica (reads are local by design:
//! agents keep connecting through a partition), so it may accept a revoked token until it is back
//! in reach; the bound then runs from that moment, and from its restart for a restarted PoP.

use std::collections::BTreeSet;

use super::secs;
use crate::chaos::history::{History, WriteKind};
use crate::chaos::world::World;

pub(super) fn check(h: &History, w: &World, b: &super::Bounds) -> Vec<String> {
    let voters = w.voters();
    let mut out = Vec::new();
    let mut reported = BTreeSet::new();
    for (op, write) in &h.writes {
        let (WriteKind::Revoke(token), Some((acked, Ok(_)))) = (write.kind, &write.done) else { continue };
        for s in h.auth.iter().filter(|s| s.token == token && s.accepted && s.at_ms >= acked + b.revocation_ms) {
            let reachable_since = h.since(s.at_ms, |net| net.in_majority(s.pop, &voters));
            let Some(since) = reachable_since.filter(|since| since + b.revocation_ms <= s.at_ms) else { continue };
            if reported.insert((s.pop, token)) {
                // The bound runs from the later of the acknowledgement and the moment the PoP was
                // (back) up and in reach of a majority: say which, so the miss is not overstated.
                let from = if since > *acked {
                    format!("; up and in reach of a majority since {}, {} before", secs(since), secs(s.at_ms - since))
                } else {
                    String::new()
                };
                out.push(format!(
                    "{} still accepted {} at {}, {} after its revocation (write #{op}) was acknowledged at {}{from}",
                    h.name(s.pop),
                    h.tokens[token].id,
                    secs(s.at_ms),
                    secs(s.at_ms - acked),
                    secs(*acked)
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::check;
    use crate::chaos::history::WriteKind::{Create, Revoke};
    use crate::chaos::history::{AuthSample, NetState};
    use crate::chaos::invariants::fixtures::{acked, start, token, write};

    /// A token created at 1 s, its revocation acknowledged at 10.1 s.
    fn revoked() -> (crate::chaos::history::History, crate::chaos::world::World, super::super::Bounds, u64) {
        let (mut h, w, b) = start();
        let n = token(&mut h);
        let ack = acked(&h, Create(n));
        write(&mut h, 1_000, 0, Create(n), ack);
        let ack = acked(&h, Revoke(n));
        write(&mut h, 10_000, 0, Revoke(n), ack);
        (h, w, b, 10_100)
    }

    fn accepted(at_ms: u64, pop: usize) -> AuthSample {
        AuthSample { at_ms, pop, token: 0, accepted: true }
    }

    #[test]
    fn a_pop_in_reach_still_accepting_after_the_bound_is_reported_once() {
        let (mut h, w, b, acked_at) = revoked();
        h.auth = vec![accepted(acked_at + b.revocation_ms - 1, 1)];
        assert!(check(&h, &w, &b).is_empty(), "within the bound");
        h.auth.push(accepted(acked_at + b.revocation_ms, 1));
        h.auth.push(accepted(acked_at + b.revocation_ms + 500, 1));
        let found = check(&h, &w, &b);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with(&format!("{} still accepted", h.names[1])), "{found:?}");
    }

    #[test]
    fn a_pop_cut_off_from_the_majority_gets_the_bound_from_its_return() {
        let (mut h, w, b, acked_at) = revoked();
        // PoP 2 cut off from both others from 5 s to 30 s.
        let cut: BTreeSet<(usize, usize)> = [(0, 2), (1, 2)].into();
        h.net.push(NetState { at_ms: 5_000, up: vec![true; 3], cut });
        h.net.push(NetState { at_ms: 30_000, up: vec![true; 3], cut: BTreeSet::new() });
        h.auth = vec![accepted(29_000, 2), accepted(30_000 + b.revocation_ms - 1, 2)];
        assert!(check(&h, &w, &b).is_empty(), "cut off, then within the bound of its return");
        h.auth.push(accepted(30_000 + b.revocation_ms, 2));
        assert_eq!(check(&h, &w, &b).len(), 1);
        assert!(acked_at < 30_000);
    }

    #[test]
    fn refusals_and_unacknowledged_revocations_do_not_count() {
        let (mut h, w, b, acked_at) = revoked();
        h.auth = vec![AuthSample { at_ms: acked_at + b.revocation_ms + 1, pop: 1, token: 0, accepted: false }];
        assert!(check(&h, &w, &b).is_empty());
        if let Some(wr) = h.writes.values_mut().find(|wr| wr.kind == Revoke(0)) {
            wr.done = Some((acked_at, Err("no quorum".into())));
        }
        h.auth.push(accepted(acked_at + b.revocation_ms + 1, 1));
        assert!(check(&h, &w, &b).is_empty());
    }
}
