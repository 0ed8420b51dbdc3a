//! `warren pop`: run or check a Point of Presence.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use warren_config::PopConfig;

/// Reads and validates `pop.yaml`; prints `file:line:column: field: reason` on the first error.
pub(crate) fn load(path: &Path) -> anyhow::Result<Result<PopConfig, warren_config::ConfigError>> {
    let src = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(PopConfig::parse(&src, &path.display().to_string()))
}

pub(crate) fn check(path: &Path) -> anyhow::Result<ExitCode> {
    match load(path)? {
        Ok(cfg) => {
            println!("{}: ok (pop {}, zone {})", path.display(), cfg.id, cfg.zone);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
