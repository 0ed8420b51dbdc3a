//! The GSLB world model: Warren's PoP choice against a synthetic planet.
//!
//! - **World** (`world.rs`): 43 PoPs at the cities of real cloud regions, 391 client cities with
//!   their metropolitan populations (`data/cities.csv`).
//! - **Latency** (`latency.rs`): `2 × great-circle km × route inflation / 200 km/ms + 10 ms`, the
//!   inflation drawn per (city, PoP) in 1.2–2.5 from the seed.
//! - **Policies** (`policy.rs`): Warren (the real `warren_gslb::choose`), nearest-only, anycast
//!   (BGP picks by a noisy path metric, withdraws dead PoPs after converging), DNS round robin,
//!   and an oracle (the lowest round trip) as the bound.
//! - **Scenarios**: everything up; all ten European PoPs down; Frankfurt alone down. A failure
//!   has two phases: *transient* (the failure happened, nobody has reacted: Warren's health
//!   checks and the DNS TTL, BGP's convergence) and *settled* (every policy that ever reacts
//!   has).
//! - **Quorum** (`quorum.rs`): the same latency model between PoPs, for the Raft voters: write
//!   latency by voter placement, and whether writes survive the region failure.
//! - **Outputs** (`report.rs`, `plot.rs`): CSVs and SVG charts, a pure function of the seed
//!   ([`model`]); [`run`] writes them.
//!
//! `docs/scale.md` discusses the numbers.

mod latency;
mod plot;
mod policy;
mod quorum;
mod report;
mod stats;
mod world;

use std::collections::BTreeMap;
use std::path::Path;

pub use latency::{LAST_MILE_MS, LatencyModel, Matrix, Place, ROUTE_INFLATION, rtt_ms};
pub use policy::{ANYCAST_CONVERGENCE_S, BGP_NOISE, Policy, Split, assign};
pub use quorum::{QuorumRow, VOTER_SETS, backbone_rtt_ms};
pub use stats::{Outcome, Summary};
pub use world::{City, POPS, Pop, Region, World};

use crate::SimError;

/// The seed of the committed results in `simulations/results/`.
pub const DEFAULT_SEED: u64 = 1;

/// PoP counts of the sweep: the first `k` PoPs of the rollout order in [`POPS`].
pub const SWEEP: [usize; 8] = [3, 5, 7, 10, 15, 20, 30, 43];

/// Which PoPs a scenario takes down.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    pub fails: fn(&Pop) -> bool,
}

pub const SCENARIOS: [Scenario; 3] = [
    Scenario { name: "normal", fails: |_| false },
    Scenario { name: "eu-down", fails: |p| p.region == Region::Europe },
    Scenario { name: "fra-down", fails: |p| p.id == "fra" },
];

/// When, relative to a failure, the clients are looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Nothing is down.
    Steady,
    /// Just after the failure: only the oracle knows.
    Transient,
    /// Every policy that reacts to failures has.
    Settled,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Steady => "steady",
            Phase::Transient => "transient",
            Phase::Settled => "settled",
        }
    }

    /// What `policy` believes is down in this phase, when `down` really is.
    fn known_down(self, policy: Policy, down: &[bool]) -> Vec<bool> {
        let knows = match self {
            Phase::Steady => true,
            Phase::Transient => policy == Policy::Oracle,
            Phase::Settled => policy.learns_failures(),
        };
        if knows { down.to_vec() } else { vec![false; down.len()] }
    }
}

/// One policy in one phase of one scenario.
#[derive(Debug, Clone)]
pub struct Run {
    pub scenario: &'static str,
    pub phase: Phase,
    pub policy: Policy,
    /// Which PoPs are really down, by index.
    pub down: Vec<bool>,
    pub splits: Vec<Split>,
    pub outcome: Outcome,
}

/// The whole-world numbers of one PoP count of the sweep.
#[derive(Debug, Clone)]
pub struct SweepRow {
    pub pops: usize,
    pub policy: Policy,
    pub summary: Summary,
    /// The PoP with the largest share of clients, and that share.
    pub busiest: (&'static str, f64),
}

/// Everything the model computed for one seed.
#[derive(Debug, Clone)]
pub struct Results {
    pub seed: u64,
    pub world: World,
    pub matrix: Matrix,
    pub runs: Vec<Run>,
    pub sweep: Vec<SweepRow>,
    /// Raft write latency for a few voter placements (`quorum.rs`).
    pub quorums: Vec<QuorumRow>,
}

impl Results {
    pub fn run(&self, scenario: &str, phase: Phase, policy: Policy) -> Option<&Run> {
        self.runs.iter().find(|r| r.scenario == scenario && r.phase == phase && r.policy == policy)
    }
}

/// Runs every scenario, phase and policy, and the PoP-count sweep.
pub fn simulate(seed: u64) -> Result<Results, SimError> {
    let world = World::full()?;
    let matrix = Matrix::new(&world, LatencyModel { seed });
    let mut runs = Vec::new();
    for scenario in SCENARIOS {
        let down: Vec<bool> = world.pops.iter().map(scenario.fails).collect();
        let phases: &[Phase] =
            if down.contains(&true) { &[Phase::Transient, Phase::Settled] } else { &[Phase::Steady] };
        for &phase in phases {
            for policy in Policy::ALL {
                let splits = assign(policy, &world, &matrix, &phase.known_down(policy, &down));
                let outcome = Outcome::new(&world, &matrix, &splits, &down, None);
                runs.push(Run { scenario: scenario.name, phase, policy, down: down.clone(), splits, outcome });
            }
        }
    }
    let mut sweep = Vec::new();
    for k in SWEEP {
        let small = world.first_pops(k);
        // The draws are keyed by names, so the first k PoPs keep their routes from the full world.
        let small_matrix = Matrix::new(&small, LatencyModel { seed });
        let up = vec![false; small.pops.len()];
        for policy in Policy::ALL {
            let splits = assign(policy, &small, &small_matrix, &up);
            let outcome = Outcome::new(&small, &small_matrix, &splits, &up, None);
            let shares = outcome.load_shares();
            let busiest = shares
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
                .map_or(("", 0.0), |(i, s)| (small.pops[i].id, *s));
            sweep.push(SweepRow { pops: k, policy, summary: outcome.summary(), busiest });
        }
    }
    let quorums = quorum::quorums(&world, LatencyModel { seed });
    Ok(Results { seed, world, matrix, runs, sweep, quorums })
}

/// Every output file of the model for `seed`: name → contents. A pure function of the seed.
pub fn model(seed: u64) -> Result<BTreeMap<&'static str, String>, SimError> {
    files(&simulate(seed)?)
}

fn files(results: &Results) -> Result<BTreeMap<&'static str, String>, SimError> {
    let mut files = report::csvs(results);
    files.extend(plot::charts(results)?);
    Ok(files)
}

/// Writes the model's files for `seed` into `out` (created if needed); returns a short text
/// summary for the terminal.
pub fn run(seed: u64, out: &Path) -> Result<String, SimError> {
    let results = simulate(seed)?;
    let files = files(&results)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SimError::Io { path, source }
    };
    if out.exists() && !out.is_dir() {
        return Err(SimError::OutNotDir(out.to_path_buf()));
    }
    std::fs::create_dir_all(out).map_err(io(out))?;
    for (name, contents) in &files {
        let path = out.join(name);
        std::fs::write(&path, contents).map_err(io(&path))?;
    }
    let mut text = report::summary(&results);
    text.push_str(&format!("\nwrote {} files to {}\n", files.len(), out.display()));
    Ok(text)
}
