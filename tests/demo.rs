//! `warren demo`, the README's first command, run for real: three PoPs, an identity provider, a
//! sample API and an agent on loopback. `--once` shows the DNS answer, the 401 and the 200 and
//! exits 0; without it the demo prints commands that work when pasted, and Ctrl-C (SIGINT)
//! stops every process it started and removes its folder.

use std::path::PathBuf;
use std::time::Duration;

use warren_test_support::{WarrenProcess, run_warren_with};

const BIN: &str = env!("CARGO_BIN_EXE_warren");
/// The demo's own budget is 30 s per step; a debug build on a busy machine gets some slack.
const READY: Duration = Duration::from_secs(120);
/// The PoPs drain for up to 10 s on SIGTERM, the demo kills them after 12.
const STOP: Duration = Duration::from_secs(40);

/// The line of `lines` containing every one of `needles`.
fn line_with<'a>(lines: &'a [String], needles: &[&str]) -> &'a str {
    lines
        .iter()
        .find(|l| needles.iter().all(|n| l.contains(n)))
        .unwrap_or_else(|| panic!("no line with {needles:?} in:\n{}", lines.join("\n")))
}

/// The folder the demo printed (`files: DIR`).
fn files_dir(lines: &[String]) -> PathBuf {
    PathBuf::from(line_with(lines, &["files: "]).trim_start_matches("files: ").trim())
}

/// The process ids the demo printed (`pid N` at the end of each PoP's and the agent's line).
fn printed_pids(lines: &[String]) -> Vec<u32> {
    lines.iter().filter_map(|l| l.rsplit_once(", pid ")).filter_map(|(_, pid)| pid.trim().parse().ok()).collect()
}

/// The ids of the processes whose parent is `parent`, from /proc.
fn children_of(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        // `pid (comm) state ppid ...`; comm may hold spaces, so split after its closing paren.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some((_, rest)) = stat.rsplit_once(") ") else { continue };
        if rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent) {
            found.push(pid);
        }
    }
    found
}

/// Whether `pid` is still a live `warren` process (not gone, not a zombie, not a reused id).
fn alive_warren(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let zombie = stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z'));
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    !zombie && String::from_utf8_lossy(&cmdline).contains("warren")
}

/// SIGKILLs the demo's children if a test fails half-way, so no PoP outlives the test.
struct Reaper(Vec<u32>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for pid in self.0.iter().filter(|p| alive_warren(**p)) {
            let _ = std::process::Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
        }
    }
}

/// Starts `warren demo` (no `--once`) and waits for its paste-ready commands.
async fn running_demo() -> (WarrenProcess, Reaper) {
    let demo = WarrenProcess::builder(BIN).arg("demo").name("demo").spawn().unwrap();
    let mut reaper = Reaper(Vec::new());
    let waited = demo.wait_for_stdout_line(|l| l.starts_with("Ctrl-C stops every process"), READY).await;
    reaper.0 = children_of(demo.pid());
    waited.unwrap();
    (demo, reaper)
}

#[tokio::test(flavor = "multi_thread")]
async fn once_shows_the_dns_answer_a_401_and_a_200_then_exits_0() {
    let out = run_warren_with(BIN, ["demo", "--once"], std::iter::empty::<(&str, &str)>(), READY).await.unwrap();
    let lines: Vec<String> = out.stdout.lines().map(str::to_owned).collect();
    assert!(out.success(), "exit {:?}\n{}\n{}", out.code(), out.stdout, out.stderr);

    // DNS: this machine (placed in Paris) is sent to Frankfurt, clients elsewhere to theirs.
    line_with(&lines, &["DNS ", "api.edge.test A?", "= pop-fra (Frankfurt)"]);
    line_with(&lines, &["DNS, elsewhere", "New York", "= pop-iad"]);
    line_with(&lines, &["DNS, elsewhere", "Tokyo", "= pop-sin"]);
    // The policy refuses a call without a token, with its code and the Bearer challenge.
    line_with(&lines, &["without a token", "401 WARREN_ERR_JWT_MISSING", "WWW-Authenticate: Bearer"]);
    // A token from the identity provider gets the API's answer, through the tunnel...
    line_with(&lines, &["with a token", "via pop-fra: 200", "hello from the sample API"]);
    // ...and through the PoP without a tunnel, forwarded over the cluster.
    line_with(&lines, &["forwarded", "via pop-sin", ": 200"]);
    let timing = line_with(&lines, &["first accepted call", "s after start"]);
    let secs: f64 = timing.split_whitespace().nth(3).unwrap().trim_end_matches('s').parse().unwrap();
    assert!(secs < 60.0, "{timing}");

    // Nothing is left behind.
    line_with(&lines, &["stopped", "each exited cleanly"]);
    let dir = files_dir(&lines);
    assert!(!dir.exists(), "{} was not removed", dir.display());
    for pid in printed_pids(&lines) {
        assert!(!alive_warren(pid), "pid {pid} outlived the demo");
    }
    assert_eq!(printed_pids(&lines).len(), 4, "three PoPs and an agent:\n{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_every_process_and_removes_the_folder() {
    let (mut demo, reaper) = running_demo().await;
    let lines = demo.stdout_lines();
    let dir = files_dir(&lines);
    assert!(dir.join("pop-fra/pop.yaml").is_file());
    let mut pids = printed_pids(&lines);
    pids.sort_unstable();
    let mut children = reaper.0.clone();
    children.sort_unstable();
    assert_eq!(pids, children, "the printed pids are the demo's children");
    assert_eq!(pids.len(), 4, "three PoPs and an agent");
    assert!(pids.iter().all(|p| alive_warren(*p)));

    let status = demo.interrupt(STOP).await.unwrap();
    let lines = demo.stdout_lines();
    assert!(status.success(), "{status}\n{}", demo.lines().join("\n"));
    line_with(&lines, &["stopped", "agent", "pop-fra", "pop-iad", "pop-sin"]);
    line_with(&lines, &["removed", &dir.display().to_string()]);
    for pid in &pids {
        assert!(!alive_warren(*pid), "pid {pid} outlived the demo");
    }
    assert!(!dir.exists(), "{} was not removed", dir.display());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_printed_commands_work_when_pasted() {
    let (mut demo, _reaper) = running_demo().await;
    let lines = demo.stdout_lines();
    let sh = |script: String| async move {
        let out = tokio::process::Command::new("sh").arg("-c").arg(&script).output().await.unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{script}\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        stdout
    };
    let pasted = |prefix: &str| -> Vec<String> {
        lines.iter().filter(|l| l.starts_with(&format!("  {prefix}"))).map(|l| l.trim().to_owned()).collect()
    };

    // The first curl: a token valid for an hour, through the PoP DNS picks.
    let curls = pasted("curl ");
    let first = &curls[0];
    assert!(first.contains("Authorization: Bearer ey"), "{first}");
    let body = sh(first.clone()).await;
    assert!(body.contains("hello from the sample API"), "{body}");
    let code = sh(format!("{first} -sS -o /dev/null -w '%{{http_code}}'")).await;
    assert_eq!(code, "200");

    // A fresh token from the identity provider, then a call through the PoP without a tunnel.
    let token = &pasted("TOKEN=")[0];
    let forwarded = curls.iter().find(|c| c.contains("$TOKEN")).unwrap();
    let code = sh(format!("{token}\n{forwarded} -sS -o /dev/null -w '%{{http_code}}'")).await;
    assert_eq!(code, "200", "{forwarded}");

    // Without a token: 401 and the error code.
    let anonymous = curls.iter().find(|c| c.starts_with("curl -i ")).unwrap();
    let head = sh(anonymous.clone()).await;
    assert!(head.starts_with("HTTP/2 401"), "{head}");
    assert!(head.contains("WARREN_ERR_JWT_MISSING"), "{head}");

    // dig: Frankfurt for this machine, Virginia for New York.
    let digs = pasted("dig ");
    let near = sh(format!("{} +short", digs[0])).await;
    assert_eq!(near.trim(), "127.0.0.11", "{}", digs[0]);
    let far = sh(format!("{} +short", digs[1])).await;
    assert_eq!(far.trim(), "127.0.0.12", "{}", digs[1]);

    // The admin commands: three voters with a leader, the endpoint on two PoPs.
    let admin: Vec<String> =
        lines.iter().filter(|l| l.contains(" admin --url ")).map(|l| l.trim().to_owned()).collect();
    let status: serde_json::Value = serde_json::from_str(&sh(admin[0].clone()).await).unwrap();
    assert!(status["leader"].is_string(), "{status}");
    assert_eq!(status["members"].as_array().unwrap().len(), 3, "{status}");
    let endpoints: serde_json::Value = serde_json::from_str(&sh(admin[1].clone()).await).unwrap();
    assert_eq!(endpoints[0]["url"], "https://api.edge.test", "{endpoints}");

    let status = demo.interrupt(STOP).await.unwrap();
    assert!(status.success(), "{status}");
    line_with(&demo.stdout_lines(), &["sample API", "answered", "requests through the edge"]);
}
