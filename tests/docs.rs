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
