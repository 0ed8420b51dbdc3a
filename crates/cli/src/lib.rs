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
mod signals;

use std::process::ExitCode;

use clap::Parser;

pub use cli::Cli;

/// Exit status for "this capability is not built yet" (distinct from 1, a failed run).
pub const EXIT_UNAVAILABLE: u8 = 2;

/// Runs the `warren` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // One crypto provider for every TLS user in the process (see DEPENDENCIES.md).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
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
