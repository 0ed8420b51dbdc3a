//! No task of any PoP panicked. A panic in a spawned task does not stop a tokio runtime (nor the
//! simulation): the task just ends, and its node may limp on without it. The simulation counts
//! panics with a panic hook so that none goes unnoticed.

use crate::chaos::history::History;
use crate::chaos::world::World;

pub(super) fn check(h: &History, _w: &World, _b: &super::Bounds) -> Vec<String> {
    h.panics.clone()
}

#[cfg(test)]
mod tests {
    use super::check;
    use crate::chaos::invariants::fixtures::start;

    #[test]
    fn every_panic_is_reported() {
        let (mut h, w, b) = start();
        assert!(check(&h, &w, &b).is_empty());
        h.panics = vec!["panic at crates/cluster/src/node.rs:1: boom".into()];
        assert_eq!(check(&h, &w, &b), h.panics);
    }
}
