//! The agent's config file: `warren config add-authtoken`, `warren config check`,
//! `warren start --check`.
//!
//! `add-authtoken` edits the file as text rather than re-serialising it, so the user's
//! comments and layout survive (ngrok's agent does the same).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use warren_config::AgentConfig;

/// `$XDG_CONFIG_HOME/warren/agent.yaml`, else `$HOME/.config/warren/agent.yaml`.
pub(crate) fn default_path() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(x) => PathBuf::from(x),
        None => {
            PathBuf::from(std::env::var_os("HOME").context("neither XDG_CONFIG_HOME nor HOME is set")?).join(".config")
        }
    };
    Ok(base.join("warren").join("agent.yaml"))
}

/// Loads the agent file; a missing default file is an empty config.
pub(crate) fn load(explicit: Option<&Path>) -> anyhow::Result<(PathBuf, Option<AgentConfig>)> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => default_path()?,
    };
    let src = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => return Ok((path, None)),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let cfg = AgentConfig::parse(&src, &path.display().to_string())?;
    Ok((path, Some(cfg)))
}

pub(crate) fn check(explicit: Option<&Path>) -> anyhow::Result<ExitCode> {
    match load(explicit) {
        Ok((path, Some(cfg))) => {
            println!("{}: ok ({} endpoint(s))", path.display(), cfg.endpoints.len());
            Ok(ExitCode::SUCCESS)
        }
        Ok((path, None)) => bail!("{} does not exist", path.display()),
        Err(e) => match e.downcast_ref::<warren_config::ConfigError>() {
            Some(ce) => {
                eprintln!("{ce}");
                Ok(ExitCode::FAILURE)
            }
            None => Err(e),
        },
    }
}

pub(crate) fn add_authtoken(explicit: Option<&Path>, token: &str) -> anyhow::Result<ExitCode> {
    if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\'') {
        bail!("the authtoken must be one word without quotes or spaces");
    }
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => default_path()?,
    };
    let old = match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let new = set_authtoken(old.as_deref(), token);
    // Never write a file we could not read back.
    AgentConfig::parse(&new, &path.display().to_string())
        .with_context(|| format!("{} is not a valid agent config; fix it first", path.display()))?;
    write_private(&path, &new)?;
    println!("Authtoken saved to {}", path.display());
    Ok(ExitCode::SUCCESS)
}

/// Sets `agent.authtoken` in the YAML text, keeping everything else as written.
fn set_authtoken(old: Option<&str>, token: &str) -> String {
    let Some(old) = old.filter(|s| !s.trim().is_empty()) else {
        return format!("version: 1\nagent:\n  authtoken: {token}\n");
    };
    let mut lines: Vec<String> = old.lines().map(str::to_owned).collect();
    let agent = lines.iter().position(|l| l.trim_end() == "agent:");
    match agent {
        Some(a) => {
            let section_end = lines[a + 1..]
                .iter()
                .position(|l| !l.is_empty() && !l.starts_with([' ', '#']))
                .map_or(lines.len(), |i| a + 1 + i);
            let existing = (a + 1..section_end).find(|&i| lines[i].trim_start().starts_with("authtoken:"));
            match existing {
                Some(i) => {
                    let indent = &lines[i][..lines[i].len() - lines[i].trim_start().len()];
                    lines[i] = format!("{indent}authtoken: {token}");
                }
                None => lines.insert(a + 1, format!("  authtoken: {token}")),
            }
        }
        None => {
            lines.push("agent:".to_owned());
            lines.push(format!("  authtoken: {token}"));
        }
    }
    lines.join("\n") + "\n"
}

/// Writes via a temporary file and rename, readable by the owner only (it holds a secret).
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(".agent.yaml.{}.tmp", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(contents.as_bytes())
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::set_authtoken;

    #[test]
    fn creates_a_new_file() {
        assert_eq!(set_authtoken(None, "t1"), "version: 1\nagent:\n  authtoken: t1\n");
    }

    #[test]
    fn replaces_keeping_comments() {
        let old = "# mine\nversion: 1\nagent:\n  # the token\n  authtoken: old\n  server_addrs: [a:1]\nendpoints: []\n";
        let new = set_authtoken(Some(old), "t2");
        assert_eq!(
            new,
            "# mine\nversion: 1\nagent:\n  # the token\n  authtoken: t2\n  server_addrs: [a:1]\nendpoints: []\n"
        );
    }

    #[test]
    fn inserts_into_an_agent_section_or_appends_one() {
        assert_eq!(
            set_authtoken(Some("agent:\n  server_addrs: [a:1]\n"), "t"),
            "agent:\n  authtoken: t\n  server_addrs: [a:1]\n"
        );
        assert_eq!(set_authtoken(Some("version: 1\n"), "t"), "version: 1\nagent:\n  authtoken: t\n");
    }
}
