//! The `warren` binary's outside: commands, `--check`, exit codes, the agent config file.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_warren");

fn warren(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("WARREN_ADMIN_TOKEN").env_remove("WARREN_AUTHTOKEN");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("warren runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_lists_every_contract_command() {
    let out = warren(&["--help"], &[]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for cmd in ["pop", "http", "tcp", "start", "config", "admin", "policy", "demo", "dev-idp"] {
        assert!(help.lines().any(|l| l.trim_start().starts_with(&format!("{cmd} "))), "{cmd} missing from:\n{help}");
    }
    let admin = text(&warren(&["admin", "--help"], &[]).stdout);
    for sub in ["tokens", "cluster", "policy", "endpoints"] {
        assert!(admin.contains(sub), "admin {sub} missing:\n{admin}");
    }
    let tokens = text(&warren(&["admin", "tokens", "--help"], &[]).stdout);
    assert!(tokens.contains("create") && tokens.contains("revoke"), "{tokens}");
    let cluster = text(&warren(&["admin", "cluster", "--help"], &[]).stdout);
    for sub in ["status", "add-member", "remove-member"] {
        assert!(cluster.contains(sub), "{cluster}");
    }
    let policy = text(&warren(&["policy", "--help"], &[]).stdout);
    for sub in ["validate", "test", "schema"] {
        assert!(policy.contains(sub), "{policy}");
    }
    let config = text(&warren(&["config", "--help"], &[]).stdout);
    assert!(config.contains("add-authtoken"), "{config}");
}

const GOOD_POP: &str = "id: pop-test
region: test
location: { lat: 50.11, lon: 8.68 }
public_ipv4: 127.0.0.1
zone: edge.test
data_dir: ./data
listen:
  http: 127.0.0.1:0
  tunnel: 127.0.0.1:0
  cluster: 127.0.0.1:0
  admin: 127.0.0.1:0
";

#[test]
fn pop_check_accepts_a_good_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pop.yaml");
    std::fs::write(&path, GOOD_POP).unwrap();
    let out = warren(&["pop", "--config", path.to_str().unwrap(), "--check"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("ok (pop pop-test, zone edge.test)"));
}

#[test]
fn pop_check_points_at_the_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, GOOD_POP.replace("  admin: 127.0.0.1:0", "  admin: 127.0.0.1:http")).unwrap();
    let out = warren(&["pop", "--config", path.to_str().unwrap(), "--check"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let expected = format!("{}:11:10: listen.admin: invalid host:port", path.display());
    assert!(err.starts_with(&expected), "expected {expected:?}, got {err:?}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");

    std::fs::write(&path, format!("{GOOD_POP}colour: blue\n")).unwrap();
    let err = text(&warren(&["pop", "--config", path.to_str().unwrap(), "--check"], &[]).stderr);
    assert!(err.starts_with(&format!("{}:12:1: colour: unknown field", path.display())), "{err}");
}

#[test]
fn pop_check_on_a_missing_file_says_so() {
    let out = warren(&["pop", "--config", "/nonexistent/pop.yaml", "--check"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read /nonexistent/pop.yaml"), "{}", text(&out.stderr));
}

#[test]
fn bad_flags_exit_non_zero_with_a_reason() {
    let out = warren(&["pop", "--no-such-flag"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--no-such-flag"));
    let out = warren(&["--log-level", "==bad", "config", "check", "--config", "/nonexistent"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--log-level"), "{}", text(&out.stderr));
}

#[test]
fn add_authtoken_writes_a_private_file_and_keeps_comments() {
    let dir = tempfile::tempdir().unwrap();
    let xdg = dir.path().to_str().unwrap();
    let out = warren(&["config", "add-authtoken", "wrn_first"], &[("XDG_CONFIG_HOME", xdg)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let path = dir.path().join("warren/agent.yaml");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "version: 1\nagent:\n  authtoken: wrn_first\n");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!text(&out.stdout).contains("wrn_first"), "the token is not echoed");

    std::fs::write(&path, "# keep me\nagent:\n  authtoken: wrn_first\n  server_addrs: [127.0.0.1:4443]\n").unwrap();
    let out = warren(&["config", "add-authtoken", "wrn_second"], &[("XDG_CONFIG_HOME", xdg)]);
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "# keep me\nagent:\n  authtoken: wrn_second\n  server_addrs: [127.0.0.1:4443]\n"
    );
    let out = warren(&["config", "check"], &[("XDG_CONFIG_HOME", xdg)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn start_check_validates_the_agent_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.yaml");
    std::fs::write(&path, "agent:\n  authtoken: wrn_x\nendpoints:\n  - name: api\n    upstream: { url: 8080 }\n")
        .unwrap();
    let out = warren(&["start", "--config", path.to_str().unwrap(), "--check"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::write(&path, "agent:\n  authtoken: wrn_secret_value\n  server_addrs: [bad]\n").unwrap();
    let out = warren(&["start", "--config", path.to_str().unwrap(), "--check"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("agent.yaml:3:") && err.contains("agent.server_addrs"), "{err}");
    assert!(!err.contains("wrn_secret_value"), "secrets never printed: {err}");
}

#[test]
fn agent_refuses_addresses_and_targets_it_can_never_use() {
    let out = warren(&["http", "8080", "--server-addr", "127.0.0.1", "--authtoken", "wrn_x"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("\"127.0.0.1\" is not a PoP address"), "{}", text(&out.stderr));
    let out = warren(&["http", "99999", "--server-addr", "127.0.0.1:4443", "--authtoken", "wrn_x"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("port 99999 is not in 1..=65535"), "{}", text(&out.stderr));
}
