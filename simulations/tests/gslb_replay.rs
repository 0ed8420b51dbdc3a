//! One invariant: the GSLB world model is a function of its seed. Two runs in one process give
//! byte-identical files, and another seed gives other numbers.

use warren_sim::gslb::model;

#[test]
fn the_same_seed_gives_byte_identical_files() {
    let first = model(1).unwrap();
    let second = model(1).unwrap();
    assert_eq!(first.keys().collect::<Vec<_>>(), second.keys().collect::<Vec<_>>());
    for (name, contents) in &first {
        assert!(!contents.is_empty(), "{name} is empty");
        assert!(*contents == second[name], "{name} differs between two runs of seed 1");
    }
    let names: Vec<&str> = first.keys().copied().collect();
    for expected in ["gslb-latency.csv", "gslb-load.csv", "gslb-cdf.csv", "gslb-latency-cdf.svg", "gslb-failure.svg"] {
        assert!(names.contains(&expected), "{names:?}");
    }
}

#[test]
fn another_seed_gives_other_latencies_on_the_same_world() {
    let one = model(1).unwrap();
    let two = model(2).unwrap();
    assert_ne!(one["gslb-latency.csv"], two["gslb-latency.csv"]);
    assert_eq!(one["gslb-pops.csv"], two["gslb-pops.csv"]);
}

#[test]
fn the_committed_results_are_what_the_default_seed_gives() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    for (name, contents) in model(warren_sim::gslb::DEFAULT_SEED).unwrap() {
        let committed = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        assert!(
            committed == contents,
            "simulations/results/{name} is stale: run `cargo run -p warren-sim --release -- gslb` and commit it"
        );
    }
}
