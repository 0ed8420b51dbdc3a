//! Command dispatch: one module per command family.

mod agent_file;
mod pop;

use std::process::ExitCode;

use crate::EXIT_UNAVAILABLE;
use crate::cli::{Command, ConfigCommand};

pub(crate) fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Pop(args) if args.check => pop::check(&args.config),
        Command::Pop(_) => {
            unavailable("pop", "running a PoP (edge proxy, tunnel listener, admin API) — the data-path issue")
        }
        Command::Start(args) if args.check => agent_file::check(Some(&args.config)),
        Command::Start(_) | Command::Http(_) | Command::Tcp(_) => {
            unavailable("agent", "QUIC tunnels from the agent to a PoP — the data-path issue")
        }
        Command::Config(ConfigCommand::AddAuthtoken { token, config }) => {
            agent_file::add_authtoken(config.as_deref(), &token)
        }
        Command::Config(ConfigCommand::Check { config }) => agent_file::check(config.as_deref()),
        Command::Admin(_) => unavailable("admin", "the admin API of a running PoP — the data-path issue"),
        Command::Policy(_) => unavailable("policy", "traffic policy parsing and evaluation — the traffic-policy issue"),
        Command::Demo(_) => unavailable("demo", "the complete local world — the demo issue"),
        Command::DevIdp(_) => unavailable("dev-idp", "the local identity provider command — the demo issue"),
    }
}

/// Says plainly that a capability is missing, and exits 2.
fn unavailable(command: &str, capability: &str) -> anyhow::Result<ExitCode> {
    eprintln!("warren {command}: not available in this build: missing capability: {capability}");
    Ok(ExitCode::from(EXIT_UNAVAILABLE))
}
