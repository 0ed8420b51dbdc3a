//! DNS never hands out a PoP that has been down longer than the health window.
//!
//! "Down" as the answering PoP can know it: the PoP is not running, or the link between the two
//! is cut. The answering PoP must itself have run for a health window (a PoP that just started
//! counts its never-probed peers as healthy). Lossy and slow links are not "down": probes may
//! still get through.

use super::secs;
use crate::chaos::history::History;
use crate::chaos::world::World;

pub(super) fn check(h: &History, _w: &World, b: &super::Bounds) -> Vec<String> {
    let window = b.health_window_ms;
    let mut out = Vec::new();
    for s in &h.dns {
        let asked_up = h.since(s.at_ms, |net| net.up[s.asked]);
        if asked_up.is_none_or(|since| since + window > s.at_ms) {
            continue;
        }
        for &pop in s.answers.iter().filter(|p| **p != s.asked) {
            let down = h.since(s.at_ms, |net| !net.up[pop] || net.is_cut(s.asked, pop));
            if let Some(since) = down.filter(|since| since + window <= s.at_ms) {
                out.push(format!(
                    "{} handed out {} at {}, down (from {}) since {}",
                    h.name(s.asked),
                    h.name(pop),
                    secs(s.at_ms),
                    h.name(s.asked),
                    secs(since)
                ));
            }
        }
    }
    out
}
