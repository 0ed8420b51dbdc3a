//! Documentation that cannot go stale: ARCHITECTURE.md's crate table must match the workspace
//! (`cargo metadata`), and docs/errors.md must document exactly the codes `warren-core` defines.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use warren_core::ErrorCode;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn architecture_lists_exactly_the_workspace_crates() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--no-deps", "--offline", "--format-version", "1"])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let actual: BTreeSet<String> =
        meta["packages"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_owned()).collect();

    // Crate table rows look like: | `warren-core` | pure | ... |
    let documented: BTreeSet<String> = read("ARCHITECTURE.md")
        .lines()
        .filter_map(|l| l.strip_prefix("| `warren"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(name, _)| format!("warren{name}"))
        .collect();
    assert_eq!(documented, actual, "ARCHITECTURE.md crate table vs cargo metadata");
    assert!(actual.contains("warren-cli"), "{actual:?}");
}

#[test]
fn errors_md_documents_exactly_the_codes() {
    let doc = read("docs/errors.md");
    let documented: BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `WARREN_ERR_"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(name, _)| format!("WARREN_ERR_{name}"))
        .collect();
    let defined: BTreeSet<String> = ErrorCode::ALL.iter().map(|c| c.as_str().to_owned()).collect();
    assert_eq!(documented, defined, "docs/errors.md vs warren_core::ErrorCode");
    for code in ErrorCode::ALL {
        let row = doc.lines().find(|l| l.starts_with(&format!("| `{}`", code.as_str()))).unwrap();
        assert!(row.contains(&format!("| {} |", code.http_status())), "status of {code} in docs/errors.md: {row}");
    }
}

#[test]
fn every_yaml_block_of_policy_md_is_a_valid_policy() {
    let doc = read("docs/policy.md");
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in doc.lines().enumerate() {
        match &mut current {
            None if line.trim_start().starts_with("```yaml") => current = Some((i + 1, String::new())),
            Some((start, src)) if line.trim_start().starts_with("```") => {
                blocks.push((*start, std::mem::take(src)));
                current = None;
            }
            Some((_, src)) => {
                src.push_str(line);
                src.push('\n');
            }
            None => {}
        }
    }
    assert!(current.is_none(), "docs/policy.md: an unclosed ```yaml block");
    assert!(blocks.len() >= 20, "docs/policy.md has only {} yaml blocks", blocks.len());
    let mut failures = Vec::new();
    for (line, src) in &blocks {
        let name = format!("docs/policy.md (block at line {line})");
        match warren_policy::validate(src, &name) {
            Ok(policy) => {
                let rules: usize = [
                    warren_policy::Phase::OnTcpConnect,
                    warren_policy::Phase::OnHttpRequest,
                    warren_policy::Phase::OnHttpResponse,
                ]
                .iter()
                .map(|p| policy.rules(*p).len())
                .sum();
                if rules == 0 {
                    failures.push(format!("{name}: no rules"));
                }
            }
            Err(diags) => failures.extend(diags.iter().map(ToString::to_string)),
        }
    }
    assert!(failures.is_empty(), "invalid policies in docs/policy.md:\n{}", failures.join("\n"));
}

#[test]
fn the_agent_config_example_of_agent_md_is_valid() {
    let doc = read("docs/agent.md");
    let start = doc.find("```yaml\n").expect("a yaml block in docs/agent.md") + "```yaml\n".len();
    let len = doc[start..].find("```").expect("closed");
    let cfg =
        warren_config::AgentConfig::parse(&doc[start..start + len], "docs/agent.md").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.server_addrs.len(), 2);
    assert_eq!(cfg.endpoints.len(), 2);
    assert_eq!(cfg.endpoints[1].protocol, warren_config::EndpointProtocol::Tcp);
}
