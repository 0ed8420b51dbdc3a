//! The chaos simulation is a function of its seed: two runs of one seed in one process give
//! byte-identical traces, and another seed gives another run.

use warren_sim::chaos::{ChaosConfig, Timings, run};

fn tiny(seed: u64) -> ChaosConfig {
    ChaosConfig { seed, pops: 3, timings: Timings::TINY }
}

#[test]
fn one_seed_gives_the_same_trace_byte_for_byte() {
    let first = run(&tiny(7)).unwrap();
    let second = run(&tiny(7)).unwrap();
    assert!(first.trace.contains("driver fault:"), "the run had no fault:\n{}", first.trace);
    assert!(first.trace.contains("leader"), "no leader was ever seen:\n{}", first.trace);
    assert!(first.trace.contains(" online"), "no agent ever registered its endpoint:\n{}", first.trace);
    if first.trace != second.trace {
        let diff = first.trace.lines().zip(second.trace.lines()).position(|(a, b)| a != b);
        let dir = std::env::temp_dir();
        let _ = std::fs::write(dir.join("chaos-replay-first.trace"), &first.trace);
        let _ = std::fs::write(dir.join("chaos-replay-second.trace"), &second.trace);
        panic!(
            "two runs of seed 7 differ (first differing line {diff:?}): {} vs {}",
            first.trace_sha256, second.trace_sha256
        );
    }
    assert_eq!(first.trace_sha256, second.trace_sha256);
    assert_eq!(first.violations, second.violations);
}

#[test]
fn another_seed_gives_another_run() {
    let a = run(&tiny(7)).unwrap();
    let b = run(&tiny(8)).unwrap();
    assert_ne!(a.trace_sha256, b.trace_sha256);
}
