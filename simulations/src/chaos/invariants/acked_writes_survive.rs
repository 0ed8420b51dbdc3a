//! No acknowledged write is lost: every token whose creation a PoP acknowledged exists in every
//! final replica, and every acknowledged revocation is in every final replica too — whatever
//! crashed, restarted, or was cut off in between.

use warren_state::{Outcome, Rejection};

use super::secs;
use crate::chaos::history::{History, WriteKind};
use crate::chaos::world::World;

pub(super) fn check(h: &History, _w: &World, _b: &super::Bounds) -> Vec<String> {
    let mut out = Vec::new();
    for (op, write) in &h.writes {
        let Some((at, Ok(outcome))) = &write.done else { continue };
        let (token, want_revoked) = match (write.kind, outcome) {
            (WriteKind::Create(n), Outcome::TokenCreated { .. })
            | (WriteKind::Create(n), Outcome::Rejected(Rejection::TokenIdExists { .. })) => (n, false),
            (WriteKind::Revoke(n), Outcome::TokenRevoked { .. }) => (n, true),
            (kind, other) => {
                out.push(format!("write #{op} ({kind:?}) was acknowledged at {} with {other:?}", secs(*at)));
                continue;
            }
        };
        let id = &h.tokens[token].id;
        for f in &h.finals {
            let Some(state) = &f.state else { continue };
            match state.token(id) {
                None => out.push(format!(
                    "write #{op} (create {id}, sent at {}) acknowledged at {} by {} is missing on {}",
                    secs(write.issued_ms),
                    secs(*at),
                    h.name(write.pop),
                    h.name(f.pop)
                )),
                Some(info) if want_revoked && !info.revoked => out.push(format!(
                    "write #{op} (revoke {id}, sent at {}) acknowledged at {} by {} is not applied on {}",
                    secs(write.issued_ms),
                    secs(*at),
                    h.name(write.pop),
                    h.name(f.pop)
                )),
                Some(_) => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::check;
    use crate::chaos::history::WriteKind::{Create, Revoke};
    use crate::chaos::invariants::fixtures::{acked, finals, replica, start, token, write};

    #[test]
    fn an_acknowledged_creation_missing_on_a_replica_is_reported() {
        let (mut h, w, b) = start();
        let (kept, lost, refused) = (token(&mut h), token(&mut h), token(&mut h));
        for n in [kept, lost] {
            let ack = acked(&h, Create(n));
            write(&mut h, 1_000, 0, Create(n), ack);
        }
        write(&mut h, 2_000, 1, Create(refused), Some(Err("no quorum".into())));
        let all = replica(&h, &[kept, lost], &[]);
        finals(&mut h, 9, &all);
        assert!(check(&h, &w, &b).is_empty(), "every acknowledged token is everywhere");

        let without_lost = replica(&h, &[kept], &[]);
        h.finals[2].state = Some(without_lost);
        let found = check(&h, &w, &b);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains(&h.tokens[lost].id.to_string()) && found[0].ends_with(&h.names[2]), "{found:?}");
    }

    #[test]
    fn an_acknowledged_revocation_not_applied_on_a_replica_is_reported() {
        let (mut h, w, b) = start();
        let n = token(&mut h);
        let ack = acked(&h, Create(n));
        write(&mut h, 1_000, 0, Create(n), ack);
        let ack = acked(&h, Revoke(n));
        write(&mut h, 3_000, 2, Revoke(n), ack);
        let revoked = replica(&h, &[n], &[n]);
        finals(&mut h, 9, &revoked);
        assert!(check(&h, &w, &b).is_empty());

        h.finals[0].state = Some(replica(&h, &[n], &[]));
        let found = check(&h, &w, &b);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("revoke") && found[0].contains("is not applied on"), "{found:?}");
    }

    #[test]
    fn an_acknowledgement_with_the_wrong_outcome_is_reported() {
        let (mut h, w, b) = start();
        let n = token(&mut h);
        let wrong = acked(&h, Revoke(n));
        write(&mut h, 1_000, 0, Create(n), wrong);
        let state = replica(&h, &[n], &[]);
        finals(&mut h, 9, &state);
        assert_eq!(check(&h, &w, &b).len(), 1);
    }
}
