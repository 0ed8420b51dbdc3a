//! Every PoP converges to the same state: once the faults are undone and the clients have
//! stopped, every PoP runs, has applied the same log position, and holds an equal replica.

use crate::chaos::history::History;
use crate::chaos::world::World;

pub(super) fn check(h: &History, _w: &World, _b: &super::Bounds) -> Vec<String> {
    let mut out = Vec::new();
    let Some(first) = h.finals.first() else { return vec!["no final states were recorded".into()] };
    for f in &h.finals {
        match &f.state {
            None => out.push(format!("{} is not running at the end", h.name(f.pop))),
            Some(state) => {
                if f.last_applied != first.last_applied {
                    out.push(format!(
                        "{} applied up to {:?}, {} up to {:?}",
                        h.name(f.pop),
                        f.last_applied,
                        h.name(first.pop),
                        first.last_applied
                    ));
                } else if first.state.as_ref().is_some_and(|s| s != state) {
                    out.push(format!(
                        "{} and {} applied the same log position {:?} but hold different states",
                        h.name(f.pop),
                        h.name(first.pop),
                        f.last_applied
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::check;
    use crate::chaos::invariants::fixtures::{finals, replica, start, token};

    #[test]
    fn equal_replicas_at_one_position_converged() {
        let (mut h, w, b) = start();
        let n = token(&mut h);
        let state = replica(&h, &[n], &[]);
        finals(&mut h, 12, &state);
        assert!(check(&h, &w, &b).is_empty());
    }

    #[test]
    fn a_replica_behind_is_reported() {
        let (mut h, w, b) = start();
        let n = token(&mut h);
        let state = replica(&h, &[n], &[]);
        finals(&mut h, 12, &state);
        h.finals[1].last_applied = Some(11);
        let found = check(&h, &w, &b);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("applied up to Some(11)"), "{found:?}");
    }

    #[test]
    fn different_states_at_one_position_are_reported() {
        let (mut h, w, b) = start();
        let n = token(&mut h);
        let state = replica(&h, &[n], &[]);
        finals(&mut h, 12, &state);
        h.finals[2].state = Some(replica(&h, &[n], &[n]));
        let found = check(&h, &w, &b);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("hold different states"), "{found:?}");
    }

    #[test]
    fn a_pop_down_at_the_end_or_no_final_state_at_all_is_reported() {
        let (mut h, w, b) = start();
        assert_eq!(check(&h, &w, &b), ["no final states were recorded"]);
        let state = replica(&h, &[], &[]);
        finals(&mut h, 12, &state);
        h.finals[0].state = None;
        let found = check(&h, &w, &b);
        assert!(found.iter().any(|f| f.ends_with("is not running at the end")), "{found:?}");
    }
}
