//! The `warren` command line: one binary for PoPs, agents, operators and demos.
//!
//! This crate is the top of the graph and the only place that uses `anyhow`, reads files,
//! environment variables and flags, and sets up logging; the libraries below take validated
//! values. `cli.rs` declares every command of CONTRACT.md; `cmd/` has one file per command
//! family. A command whose capability has not landed yet exits with status 2 and names the
//! missing capability instead of pretending.

mod cli;
mod cmd;
mod logging;

use std::process::ExitCode;

use clap::Parser;

pub use cli::Cli;

/// Exit status for "this capability is not built yet" (distinct from 1, a failed run).
pub const EXIT_UNAVAILABLE: u8 = 2;

/// Runs the `warren` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = logging::init(cli.log_format, &cli.log_level) {
        eprintln!("warren: {e:#}");
        return ExitCode::FAILURE;
    }
    match cmd::run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            // One line: the chain of contexts, outermost first.
            eprintln!("warren: {e:#}");
            ExitCode::FAILURE
        }
    }
}
