//! `warren-sim`: runs Warren's simulations. See the `warren_sim` library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "warren-sim", about = "Seeded, replayable simulations of Warren at world scale")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The GSLB world model: Warren's PoP choice vs round robin, nearest-only, anycast and an
    /// oracle on 43 PoPs and 391 cities, normal and with a region down; CSVs and SVG charts.
    Gslb {
        /// Seeds every random draw; the same seed gives byte-identical files.
        #[arg(long, default_value_t = warren_sim::gslb::DEFAULT_SEED)]
        seed: u64,
        /// Where the files go (created if missing).
        #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
        out: PathBuf,
    },
    /// The chaos simulation: N PoPs running Warren's real cluster, DNS and tunnel code, with
    /// agents and clients, over a simulated network (turmoil) through crashes, partitions, lossy
    /// and slow links, then a recovery; checks the invariants. Exits 1 with the replay command
    /// if one is broken, 2 on bad arguments or a trace that cannot be written.
    Chaos {
        /// Seeds everything; the same seed gives the same trace.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of PoPs (3 to 43).
        #[arg(long, default_value_t = warren_sim::chaos::DEFAULT_POPS,
              value_parser = pops_in_range)]
        pops: usize,
        /// About three simulated minutes instead of eleven (what CI runs).
        #[arg(long)]
        short: bool,
        /// Where the trace goes (default: the system's temporary directory).
        #[arg(long)]
        trace: Option<PathBuf>,
    },
}

/// `--pops`: a number in the range the world model holds (a usage error otherwise, exit 2).
fn pops_in_range(s: &str) -> Result<usize, String> {
    use warren_sim::chaos::{MAX_POPS, MIN_POPS};
    let n: usize = s.parse().map_err(|e| format!("{s:?} is not a number of PoPs: {e}"))?;
    if (MIN_POPS..=MAX_POPS).contains(&n) { Ok(n) } else { Err(format!("{MIN_POPS} to {MAX_POPS} PoPs, not {n}")) }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Gslb { seed, out } => match warren_sim::gslb::run(seed, &out) {
            Ok(summary) => {
                print!("{summary}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("warren-sim gslb: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Chaos { seed, pops, short, trace } => warren_sim::chaos::cli(seed, pops, short, trace),
    }
}
