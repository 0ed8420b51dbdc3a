//! WarrenProcess and run_warren against small shell scripts standing in for `warren`.

use std::time::Duration;

use warren_test_support::idp::{DevIdp, DevIdpOptions};
use warren_test_support::{Error, TestDir, WarrenProcess, run_warren, run_warren_with, wait_until_sync};

const SH: &str = "/bin/sh";
const T: Duration = Duration::from_secs(10);

/// Alive means the kernel still runs it: absent or a zombie (`Z`) counts as gone.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next());
            !matches!(state, Some('Z' | 'X') | None)
        }
        Err(_) => false,
    }
}

#[tokio::test]
async fn listener_addr_parses_and_drop_kills() {
    let proc = WarrenProcess::spawn(
        SH,
        ["-c", "echo starting >&2; echo listening name=http addr=127.0.0.1:4321; exec sleep 30"],
        [("WARREN_TEST", "1")],
    )
    .unwrap();
    let addr = proc.listener_addr("http", T).await.unwrap();
    assert_eq!(addr, "127.0.0.1:4321".parse().unwrap());
    proc.wait_for_line(|l| l == "starting", T).await.unwrap();
    assert_eq!(proc.stdout_lines(), ["listening name=http addr=127.0.0.1:4321"]);
    assert_eq!(proc.stderr_lines(), ["starting"]);
    assert_eq!(proc.lines().len(), 2);

    let pid = proc.pid();
    assert!(alive(pid));
    drop(proc);
    wait_until_sync(T, || !alive(pid)).await.unwrap();
}

#[tokio::test]
async fn waiting_reports_timeouts_and_early_exit() {
    let proc = WarrenProcess::builder(SH)
        .args(["-c", "echo one; echo \"$GREETING\"; exec sleep 30"])
        .env("GREETING", "hello from env")
        .name("pop-test")
        .spawn()
        .unwrap();
    assert_eq!(proc.wait_for_line(|l| l.contains("from env"), T).await.unwrap(), "hello from env");
    let err = proc.wait_for_line(|l| l == "never", Duration::from_millis(200)).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Timeout { .. }), "{msg}");
    assert!(msg.contains("pop-test") && msg.contains("[stdout] one"), "{msg}");

    let mut quitter = WarrenProcess::spawn(SH, ["-c", "echo one; exit 3"], [("A", "B")]).unwrap();
    let err = quitter.wait_for_line(|l| l == "two", T).await.unwrap_err();
    assert!(matches!(err, Error::OutputClosed { .. }), "{err}");
    assert_eq!(quitter.wait_exit(T).await.unwrap().code(), Some(3));
    assert!(quitter.listener_addr("http", Duration::from_millis(100)).await.is_err());
}

#[tokio::test]
async fn terminate_sends_sigterm_and_kill_sends_sigkill() {
    let dir = TestDir::new().unwrap();
    let script =
        dir.write("graceful.sh", "trap 'echo got-term; exit 7' TERM\necho ready\nwhile true; do sleep 0.05; done\n");
    let mut proc = WarrenProcess::builder(SH).arg(&script).current_dir(dir.path()).spawn().unwrap();
    proc.wait_for_line(|l| l == "ready", T).await.unwrap();
    let status = proc.terminate(T).await.unwrap();
    assert_eq!(status.code(), Some(7));
    proc.wait_for_line(|l| l == "got-term", T).await.unwrap();

    let mut stubborn =
        WarrenProcess::spawn(SH, ["-c", "trap '' TERM; echo ready; exec sleep 30"], [("X", "Y")]).unwrap();
    stubborn.wait_for_line(|l| l == "ready", T).await.unwrap();
    let status = stubborn.kill().await.unwrap();
    assert_eq!(status.code(), None, "killed by a signal");
    assert!(!alive(stubborn.pid()));
}

#[tokio::test]
async fn run_warren_collects_output() {
    let out = run_warren(SH, ["-c", "echo out; echo err >&2; exit 2"]).await.unwrap();
    assert_eq!(out.code(), Some(2));
    assert!(!out.success());
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");

    let out = run_warren_with(SH, ["-c", "echo \"$V\""], [("V", "set")], T).await.unwrap();
    assert!(out.success());
    assert_eq!(out.stdout, "set\n");

    let err = run_warren_with(SH, ["-c", "exec sleep 30"], [("V", "x")], Duration::from_millis(200)).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");

    let err = run_warren("/nonexistent/warren", ["--help"]).await.unwrap_err();
    assert!(matches!(err, Error::Spawn { .. }), "{err}");
}

#[tokio::test]
async fn test_dir_writes_nested_files() {
    let dir = TestDir::new().unwrap();
    let path = dir.write("conf/pop.yaml", "id: pop-a\n");
    assert!(path.starts_with(dir.path()));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "id: pop-a\n");
    let kept = dir.path().to_owned();
    drop(dir);
    assert!(!kept.exists());
}

#[tokio::test]
async fn idp_is_reexported() {
    let idp = DevIdp::start("127.0.0.1:0".parse().unwrap(), DevIdpOptions::default()).await.unwrap();
    let resp = reqwest::get(idp.jwks_url()).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(idp.jwks_fetches(), 1);
}
