//! The demo's child processes (`warren pop`, `warren http`): the same binary, started in their
//! own process group (so a Ctrl-C at the terminal reaches the demo only, which then stops them in
//! order), with everything they print appended to a log file and their stdout lines kept for the
//! lines the demo waits for (`listening name=…`, `endpoint online`).

use std::ffi::OsString;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, anyhow};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::watch;

/// Environment a user's shell may hold that would change what a child does.
const CLEARED_ENV: [&str; 6] = [
    "WARREN_AUTHTOKEN",
    "WARREN_SERVER_ADDR",
    "WARREN_ADMIN_TOKEN",
    "WARREN_ADMIN_URL",
    "WARREN_TRANSPORT",
    "WARREN_LOG_FORMAT",
];

#[derive(Default)]
struct Output {
    stdout: Mutex<Vec<String>>,
    /// The last line of either stream, for error messages.
    last: Mutex<String>,
    /// Streams at EOF (2: the process has exited or closed both).
    closed: Mutex<u8>,
}

impl Output {
    fn stdout(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        // Readers only push whole lines: a poisoned list is still consistent.
        self.stdout.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn closed(&self) -> bool {
        *self.closed.lock().unwrap_or_else(PoisonError::into_inner) >= 2
    }

    fn last(&self) -> String {
        self.last.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// One running child. Killed (SIGKILL) if dropped without [`Child::stop`].
pub(crate) struct Child {
    pub(crate) name: String,
    child: tokio::process::Child,
    pid: Option<u32>,
    output: Arc<Output>,
    changed: watch::Sender<u64>,
    log: PathBuf,
}

impl Child {
    /// Starts `exe ARGS` with its output going to `log`.
    pub(crate) fn spawn(
        exe: &Path,
        name: &str,
        args: Vec<OsString>,
        envs: &[(&str, OsString)],
        log: PathBuf,
    ) -> anyhow::Result<Child> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        let mut cmd = Command::new(exe);
        cmd.args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .env("WARREN_LOG_LEVEL", "info");
        for key in CLEARED_ENV {
            cmd.env_remove(key);
        }
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().with_context(|| format!("cannot start {name} ({})", exe.display()))?;
        let pid = child.id();
        let output = Arc::new(Output::default());
        let (changed, _) = watch::channel(0u64);
        let file = Arc::new(Mutex::new(file));
        if let Some(out) = child.stdout.take() {
            tokio::spawn(read_lines(out, true, Arc::clone(&output), Arc::clone(&file), changed.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(read_lines(err, false, Arc::clone(&output), file, changed.clone()));
        }
        Ok(Child { name: name.to_owned(), child, pid, output, changed, log })
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.pid
    }

    pub(crate) fn log(&self) -> &Path {
        &self.log
    }

    /// Waits for a stdout line matching `pred` (already printed or to come); fails with one line
    /// naming the process and its last words if it exits first or `timeout` passes.
    pub(crate) async fn wait_line(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut changed = self.changed.subscribe();
        loop {
            if let Some(line) = self.output.stdout().iter().find(|l| pred(l)) {
                return Ok(line.clone());
            }
            if self.output.closed() {
                return Err(self.failure(&format!("exited before printing {what}")));
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => {
                    return Err(self.failure(&format!("did not print {what} within {}s", timeout.as_secs())));
                }
            }
        }
    }

    /// The address of `listening name=NAME addr=IP:PORT`, which `warren pop` prints per listener.
    pub(crate) async fn listener(&self, name: &str, timeout: Duration) -> anyhow::Result<SocketAddr> {
        let what = format!("`listening name={name}`");
        let line = self.wait_line(&what, timeout, |l| listening(l).is_some_and(|(n, _)| n == name)).await?;
        listening(&line).map(|(_, a)| a).ok_or_else(|| anyhow!("{}: cannot parse {line:?}", self.name))
    }

    /// `Some(code)` once the process has exited.
    pub(crate) fn exited(&mut self) -> Option<Option<i32>> {
        self.child.try_wait().ok().flatten().map(|s| s.code())
    }

    /// Asks the process to stop (SIGTERM: PoPs drain, agents say goodbye), without waiting.
    pub(crate) fn terminate(&mut self) {
        if self.exited().is_some() {
            return;
        }
        let sent = self.pid.is_some_and(|pid| {
            // `kill` keeps this crate free of unsafe code and of a libc dependency.
            std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        if !sent {
            let _ = self.child.start_kill();
        }
    }

    /// Waits until the process exits; after `grace`, kills it. Returns `true` if it exited by
    /// itself.
    pub(crate) async fn wait_stopped(&mut self, grace: Duration) -> bool {
        if tokio::time::timeout(grace, self.child.wait()).await.is_ok() {
            return true;
        }
        let _ = self.child.kill().await;
        false
    }

    fn failure(&self, what: &str) -> anyhow::Error {
        let last = self.output.last();
        let last = if last.is_empty() { String::new() } else { format!("; its last line: {last}") };
        anyhow!("{} {what} (log: {}){last}", self.name, self.log.display())
    }
}

async fn read_lines(
    stream: impl AsyncRead + Unpin,
    is_stdout: bool,
    output: Arc<Output>,
    file: Arc<Mutex<std::fs::File>>,
    changed: watch::Sender<u64>,
) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                {
                    let mut f = file.lock().unwrap_or_else(PoisonError::into_inner);
                    // A full disk must not stop the demo; the lines are also kept in memory.
                    let _ = f.write_all(&buf);
                }
                let text = String::from_utf8_lossy(&buf).trim_end_matches(['\r', '\n']).to_owned();
                *output.last.lock().unwrap_or_else(PoisonError::into_inner) = text.clone();
                if is_stdout {
                    output.stdout().push(text);
                }
                changed.send_modify(|n| *n += 1);
            }
        }
    }
    *output.closed.lock().unwrap_or_else(PoisonError::into_inner) += 1;
    changed.send_modify(|n| *n += 1);
}

/// Parses `listening name=NAME addr=IP:PORT`.
fn listening(line: &str) -> Option<(&str, SocketAddr)> {
    let mut words = line.split_whitespace();
    if words.next()? != "listening" {
        return None;
    }
    let name = words.next()?.strip_prefix("name=")?;
    let addr = words.next()?.strip_prefix("addr=")?.parse().ok()?;
    Some((name, addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_lines() {
        assert_eq!(listening("listening name=dns addr=127.0.0.11:53"), Some(("dns", "127.0.0.11:53".parse().unwrap())));
        assert_eq!(listening("listening name=x addr=nope"), None);
        assert_eq!(listening("INFO listening name=x addr=127.0.0.1:1"), None);
    }
}
