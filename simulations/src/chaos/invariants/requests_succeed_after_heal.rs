//! Every request to a live endpoint succeeds once the network heals: after every fault is undone
//! (every PoP restarted, every link whole) and the cluster had time to notice, each request —
//! DNS at a random PoP, then the answered PoP's forward path to an agent of the endpoint —
//! completes with its payload intact.
//!
//! Every endpoint is live then: every PoP runs, and each agent dials the PoPs of its endpoint
//! again within its reconnect delay (at most 2 s) plus a QUIC handshake once they are back, well
//! inside the settle time.

use super::secs;
use crate::chaos::history::History;
use crate::chaos::world::World;

pub(super) fn check(h: &History, w: &World, b: &super::Bounds) -> Vec<String> {
    let from = h.phases.healed_at + b.settle_ms;
    h.requests
        .iter()
        .filter(|(_, r)| r.issued_ms >= from)
        .filter_map(|(op, r)| {
            let host = &w.endpoints[r.endpoint].host;
            match &r.done {
                Some((_, Ok(_))) => None,
                Some((at, Err(e))) => Some(format!(
                    "request #{op} for {host} via {} at {} failed at {}: {e}",
                    h.name(r.entry),
                    secs(r.issued_ms),
                    secs(*at)
                )),
                None => Some(format!(
                    "request #{op} for {host} via {} at {} never ended",
                    h.name(r.entry),
                    secs(r.issued_ms)
                )),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::check;
    use crate::chaos::history::{Phases, RequestOp};
    use crate::chaos::invariants::fixtures::start;

    fn request(issued_ms: u64, done: Option<(u64, Result<&'static str, String>)>) -> RequestOp {
        RequestOp { issued_ms, entry: 1, endpoint: 0, done }
    }

    #[test]
    fn a_failed_or_unanswered_request_after_the_heal_is_reported() {
        let (mut h, w, b) = start();
        h.phases = Phases { healed_at: 100_000 };
        let settled = 100_000 + b.settle_ms;
        h.requests.insert(1, request(50_000, Some((51_000, Err("cut off".into())))));
        h.requests.insert(2, request(settled - 1, Some((settled, Err("still settling".into())))));
        h.requests.insert(3, request(settled, Some((settled + 200, Ok("forwarded")))));
        assert!(check(&h, &w, &b).is_empty(), "failures before the cluster settled are allowed");
        h.requests
            .insert(4, request(settled + 1_000, Some((settled + 1_300, Err("WARREN_ERR_ENDPOINT_OFFLINE".into())))));
        h.requests.insert(5, request(settled + 2_000, None));
        let found = check(&h, &w, &b);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].contains("request #4") && found[0].contains("ENDPOINT_OFFLINE"), "{found:?}");
        assert!(found[1].contains("request #5") && found[1].ends_with("never ended"), "{found:?}");
    }
}
