//! Command dispatch: one module per command family.

mod admin;
mod agent;
mod agent_file;
mod demo;
mod dev_idp;
mod policy;
mod pop;

use std::process::ExitCode;

use crate::cli::{Command, ConfigCommand};

pub(crate) fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Pop(args) if args.check => pop::check(&args.config),
        Command::Pop(args) => pop::run(&args.config),
        Command::Start(args) => agent::run_start(args),
        Command::Http(args) => agent::run_single(args, warren_agent::Protocol::Http),
        Command::Tcp(args) => agent::run_single(args, warren_agent::Protocol::Tcp),
        Command::Config(ConfigCommand::AddAuthtoken { token, config }) => {
            agent_file::add_authtoken(config.as_deref(), &token)
        }
        Command::Config(ConfigCommand::Check { config }) => agent_file::check(config.as_deref()),
        Command::Admin(args) => admin::run(args),
        Command::Policy(cmd) => policy::run(cmd),
        Command::Demo(args) => demo::run(args),
        Command::DevIdp(args) => dev_idp::run(args),
    }
}
