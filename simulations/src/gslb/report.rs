//! The model's CSV files and the terminal summary. Every number is printed with a fixed
//! precision, so a file changes only when a value does.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::stats::Outcome;
use super::world::Region;
use super::{Phase, Policy, Results, Run};

/// Round trips of the CDF file: 0 to 400 ms in steps of 5.
const CDF_STEP_MS: usize = 5;
const CDF_MAX_MS: usize = 400;

/// A round trip with 0.1 ms precision; empty when nobody was served.
fn ms(v: f64) -> String {
    if v.is_finite() { format!("{v:.1}") } else { String::new() }
}

/// A share with 4 decimals; a tiny negative rounding error prints as 0, not "-0.0000".
fn share(v: f64) -> String {
    let s = format!("{v:.4}");
    if s == "-0.0000" { "0.0000".to_owned() } else { s }
}

/// Every CSV: file name → contents.
pub fn csvs(r: &Results) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("gslb-pops.csv", pops(r)),
        ("gslb-latency.csv", latency(r)),
        ("gslb-regions.csv", regions(r)),
        ("gslb-load.csv", load(r)),
        ("gslb-cdf.csv", cdf(r)),
        ("gslb-sweep.csv", sweep(r)),
        ("gslb-quorum.csv", quorum(r)),
    ])
}

fn pops(r: &Results) -> String {
    let mut out = String::from("rollout,pop,city,region,lat,lon\n");
    for (i, p) in r.world.pops.iter().enumerate() {
        let _ = writeln!(out, "{},{},{},{},{:.2},{:.2}", i + 1, p.id, p.city, p.region.code(), p.lat, p.lon);
    }
    out
}

/// `reacts_after_s`, on transient rows only: seconds until the policy has moved its clients.
fn reaction(run: &Run) -> String {
    match (run.phase, run.policy.reaction_s()) {
        (Phase::Transient, Some(s)) => s.to_string(),
        (Phase::Transient, None) => "never".into(),
        _ => String::new(),
    }
}

fn latency(r: &Results) -> String {
    let mut out = String::from("seed,scenario,phase,policy,p50_ms,p90_ms,p99_ms,mean_ms,dead_share,reacts_after_s\n");
    for run in &r.runs {
        let s = run.outcome.summary();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{}",
            r.seed,
            run.scenario,
            run.phase.name(),
            run.policy.name(),
            ms(s.p50),
            ms(s.p90),
            ms(s.p99),
            ms(s.mean),
            share(s.dead_share),
            reaction(run)
        );
    }
    out
}

fn regions(r: &Results) -> String {
    let mut out = String::from("scenario,phase,policy,client_region,people,p50_ms,p90_ms,p99_ms,dead_share\n");
    for run in &r.runs {
        for region in Region::ALL {
            let o = Outcome::new(&r.world, &r.matrix, &run.splits, &run.down, Some(region));
            let people: u64 = r.world.cities.iter().filter(|c| c.region == region).map(|c| c.population).sum();
            let s = o.summary();
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{}",
                run.scenario,
                run.phase.name(),
                run.policy.name(),
                region.code(),
                people,
                ms(s.p50),
                ms(s.p90),
                ms(s.p99),
                share(s.dead_share)
            );
        }
    }
    out
}

fn load(r: &Results) -> String {
    let mut out = String::from("scenario,phase,policy,pop,region,down,share\n");
    for run in &r.runs {
        for ((p, s), down) in r.world.pops.iter().zip(run.outcome.load_shares()).zip(&run.down) {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{}",
                run.scenario,
                run.phase.name(),
                run.policy.name(),
                p.id,
                p.region.code(),
                down,
                share(s)
            );
        }
    }
    out
}

fn cdf(r: &Results) -> String {
    let mut out = String::from("scenario,phase,policy,rtt_ms,share\n");
    for run in &r.runs {
        for rtt in (0..=CDF_MAX_MS).step_by(CDF_STEP_MS) {
            let _ = writeln!(
                out,
                "{},{},{},{},{}",
                run.scenario,
                run.phase.name(),
                run.policy.name(),
                rtt,
                share(run.outcome.cdf(rtt as f64))
            );
        }
    }
    out
}

fn sweep(r: &Results) -> String {
    let mut out = String::from("seed,pops,policy,p50_ms,p90_ms,p99_ms,mean_ms,busiest_pop,busiest_share\n");
    for row in &r.sweep {
        let s = row.summary;
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{}",
            r.seed,
            row.pops,
            row.policy.name(),
            ms(s.p50),
            ms(s.p90),
            ms(s.p99),
            ms(s.mean),
            row.busiest.0,
            share(row.busiest.1)
        );
    }
    out
}

fn quorum(r: &Results) -> String {
    let mut out = String::from(
        "seed,voter_set,voters,best_leader,commit_ms,worst_leader_commit_ms,write_p50_ms,write_max_ms,survives_eu_down\n",
    );
    for q in &r.quorums {
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{}",
            r.seed,
            q.name,
            q.voters.join(" "),
            q.best_leader,
            ms(q.commit_ms),
            ms(q.worst_commit_ms),
            ms(q.write_p50_ms),
            ms(q.write_max_ms),
            q.survives_eu_down
        );
    }
    out
}

/// A few lines for the terminal: p50/p99 and the dead share per policy, normal and EU down.
pub fn summary(r: &Results) -> String {
    let mut out = format!(
        "GSLB world model, seed {}: {} PoPs, {} cities, {:.2} billion people\n\n",
        r.seed,
        r.world.pops.len(),
        r.world.cities.len(),
        r.world.total_population() as f64 / 1e9
    );
    let _ = writeln!(out, "{:<26} {:<12} {:>8} {:>8} {:>8}", "scenario/phase", "policy", "p50 ms", "p99 ms", "dead");
    for (scenario, phase) in [("normal", Phase::Steady), ("eu-down", Phase::Transient), ("eu-down", Phase::Settled)] {
        for policy in Policy::ALL {
            let Some(run) = r.run(scenario, phase, policy) else { continue };
            let s = run.outcome.summary();
            let _ = writeln!(
                out,
                "{:<26} {:<12} {:>8} {:>8} {:>7.1}%",
                format!("{scenario}/{}", phase.name()),
                policy.name(),
                ms(s.p50),
                ms(s.p99),
                s.dead_share * 100.0
            );
        }
    }
    out
}
