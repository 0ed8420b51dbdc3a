//! Real `warren` processes (or any program) under a test: spawned with kill-on-drop, their output
//! captured line by line and echoed to the test's stderr with a prefix, so a failing test shows
//! what each process said.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::Error;

/// How many trailing lines an error message quotes.
const TAIL_LINES: usize = 30;

/// Which output stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        })
    }
}

/// One captured line, without its line ending.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub stream: Stream,
    pub text: String,
}

/// Output shared between the reader tasks and the test.
#[derive(Default)]
struct Captured {
    lines: Mutex<Vec<Line>>,
    /// Streams that reached EOF (0, 1 or 2).
    closed: Mutex<u8>,
}

impl Captured {
    fn lines(&self) -> std::sync::MutexGuard<'_, Vec<Line>> {
        // Readers only push whole lines, so a poisoned buffer is still consistent.
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn all_closed(&self) -> bool {
        *self.closed.lock().unwrap_or_else(PoisonError::into_inner) >= 2
    }

    fn tail(&self) -> String {
        let lines = self.lines();
        let start = lines.len().saturating_sub(TAIL_LINES);
        let mut out = format!("; last {} lines of output:", lines.len() - start);
        for line in &lines[start..] {
            out.push_str(&format!("\n  [{}] {}", line.stream, line.text));
        }
        out
    }
}

/// Builds a [`WarrenProcess`]: program, arguments, environment, working directory.
#[derive(Debug)]
pub struct ProcessBuilder {
    program: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, Option<OsString>)>,
    current_dir: Option<PathBuf>,
    name: Option<String>,
}

impl ProcessBuilder {
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.envs.push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.envs.push((key.as_ref().to_owned(), None));
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.current_dir = Some(dir.as_ref().to_owned());
        self
    }

    /// The prefix of echoed lines and the name in error messages (default: the file name).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Starts the process with stdin closed and stdout/stderr captured.
    pub fn spawn(self) -> Result<WarrenProcess, Error> {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        for (key, value) in &self.envs {
            match value {
                Some(value) => cmd.env(key, value),
                None => cmd.env_remove(key),
            };
        }
        if let Some(dir) = &self.current_dir {
            cmd.current_dir(dir);
        }
        let mut child = cmd.spawn().map_err(|source| Error::Spawn { program: self.program.clone(), source })?;
        let pid = child.id().ok_or_else(|| Error::Io {
            context: format!("{:?} exited before its pid was read", self.program),
            source: std::io::Error::other("no pid"),
        })?;
        let name = self.name.unwrap_or_else(|| {
            let file = self.program.file_name().map(|f| f.to_string_lossy().into_owned());
            format!("{}:{pid}", file.unwrap_or_else(|| "process".to_owned()))
        });
        let captured = Arc::new(Captured::default());
        let (changed, _) = watch::channel(0u64);
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(spawn_reader(out, Stream::Stdout, &name, &captured, &changed));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(spawn_reader(err, Stream::Stderr, &name, &captured, &changed));
        }
        Ok(WarrenProcess { name, child, pid, captured, changed, readers })
    }
}

fn spawn_reader(
    stream: impl AsyncRead + Unpin + Send + 'static,
    which: Stream,
    name: &str,
    captured: &Arc<Captured>,
    changed: &watch::Sender<u64>,
) -> JoinHandle<()> {
    let prefix = format!("[{name} {which}]");
    let captured = Arc::clone(captured);
    let changed = changed.clone();
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&buf);
                    let text = text.trim_end_matches(['\n', '\r']).to_owned();
                    eprintln!("{prefix} {text}");
                    captured.lines().push(Line { stream: which, text });
                    changed.send_modify(|n| *n += 1);
                }
            }
        }
        *captured.closed.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        changed.send_modify(|n| *n += 1);
    })
}

/// A running child process whose output is captured. Killed (SIGKILL) when dropped.
pub struct WarrenProcess {
    name: String,
    child: Child,
    pid: u32,
    captured: Arc<Captured>,
    changed: watch::Sender<u64>,
    readers: Vec<JoinHandle<()>>,
}

impl fmt::Debug for WarrenProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WarrenProcess").field("name", &self.name).field("pid", &self.pid).finish()
    }
}

impl WarrenProcess {
    /// A builder for `program` (tests pass `env!("CARGO_BIN_EXE_warren")`).
    pub fn builder(program: impl AsRef<Path>) -> ProcessBuilder {
        ProcessBuilder {
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            envs: Vec::new(),
            current_dir: None,
            name: None,
        }
    }

    /// Starts `program` with `args` and extra environment variables.
    pub fn spawn<I, S, E, K, V>(program: impl AsRef<Path>, args: I, envs: E) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
        E: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        envs.into_iter().fold(Self::builder(program).args(args), |b, (k, v)| b.env(k, v)).spawn()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Every captured line so far, stdout and stderr interleaved in arrival order.
    pub fn lines(&self) -> Vec<String> {
        self.captured.lines().iter().map(|l| l.text.clone()).collect()
    }

    /// Every captured line with the stream it came from.
    pub fn tagged_lines(&self) -> Vec<Line> {
        self.captured.lines().clone()
    }

    pub fn stdout_lines(&self) -> Vec<String> {
        self.lines_of(Stream::Stdout)
    }

    pub fn stderr_lines(&self) -> Vec<String> {
        self.lines_of(Stream::Stderr)
    }

    fn lines_of(&self, stream: Stream) -> Vec<String> {
        self.captured.lines().iter().filter(|l| l.stream == stream).map(|l| l.text.clone()).collect()
    }

    /// Waits for a line (on either stream, already printed or to come) matching `pred`.
    pub async fn wait_for_line(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> Result<String, Error> {
        self.wait_line(None, pred, "a matching line", timeout).await
    }

    /// Like [`WarrenProcess::wait_for_line`], on stdout only.
    pub async fn wait_for_stdout_line(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> Result<String, Error> {
        self.wait_line(Some(Stream::Stdout), pred, "a matching stdout line", timeout).await
    }

    async fn wait_line(
        &self,
        stream: Option<Stream>,
        pred: impl Fn(&str) -> bool,
        what: &str,
        timeout: Duration,
    ) -> Result<String, Error> {
        let deadline = Instant::now() + timeout;
        // Subscribe before looking, so a line arriving in between still wakes us.
        let mut changed = self.changed.subscribe();
        loop {
            let found = self
                .captured
                .lines()
                .iter()
                .find(|l| stream.is_none_or(|s| s == l.stream) && pred(&l.text))
                .map(|l| l.text.clone());
            if let Some(line) = found {
                return Ok(line);
            }
            if self.captured.all_closed() {
                return Err(Error::OutputClosed {
                    process: self.name.clone(),
                    what: what.to_owned(),
                    detail: self.captured.tail(),
                });
            }
            match tokio::time::timeout_at(deadline, changed.changed()).await {
                Ok(Ok(())) => {}
                // The sender lives in `self`, so it cannot be gone while we borrow it.
                Ok(Err(_)) | Err(_) => {
                    return Err(Error::Timeout {
                        what: format!("{what} from {}", self.name),
                        after: timeout,
                        detail: self.captured.tail(),
                    });
                }
            }
        }
    }

    /// Waits for the stdout line `listening name=NAME addr=IP:PORT` that `warren pop` prints for
    /// each bound listener, and returns the address.
    pub async fn listener_addr(&self, name: &str, timeout: Duration) -> Result<SocketAddr, Error> {
        let line = self
            .wait_line(
                Some(Stream::Stdout),
                |line| parse_listening_line(line).is_some_and(|(n, _)| n == name),
                &format!("`listening name={name} addr=...`"),
                timeout,
            )
            .await?;
        parse_listening_line(&line).map(|(_, addr)| addr).ok_or_else(|| Error::Io {
            context: format!("cannot parse listener line {line:?}"),
            source: std::io::Error::other("unparsable listening line"),
        })
    }

    /// The exit status if the process has already exited.
    pub fn try_status(&mut self) -> Result<Option<ExitStatus>, Error> {
        self.child.try_wait().map_err(Error::io(format!("cannot poll {}", self.name)))
    }

    /// Waits for the process to exit by itself.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, Error> {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => {
                // Everything the process wrote is read before this returns (the pipes reach EOF
                // once it is gone; a child it left behind holding them is given a moment only).
                for reader in std::mem::take(&mut self.readers) {
                    let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
                }
                status.map_err(Error::io(format!("cannot wait for {}", self.name)))
            }
            Err(_) => Err(Error::Timeout {
                what: format!("{} to exit", self.name),
                after: timeout,
                detail: self.captured.tail(),
            }),
        }
    }

    /// SIGKILL, then reaps the process.
    pub async fn kill(&mut self) -> Result<ExitStatus, Error> {
        self.child.kill().await.map_err(Error::io(format!("cannot kill {}", self.name)))?;
        self.wait_exit(Duration::from_secs(10)).await
    }

    /// SIGTERM (through the `kill` command: no unsafe, no libc), then waits up to `timeout` for a
    /// clean exit. On timeout the process is left running (and killed on drop).
    pub async fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus, Error> {
        self.signal("TERM").await?;
        self.wait_exit(timeout).await
    }

    /// SIGINT, as Ctrl-C would send, then waits up to `timeout`.
    pub async fn interrupt(&mut self, timeout: Duration) -> Result<ExitStatus, Error> {
        self.signal("INT").await?;
        self.wait_exit(timeout).await
    }

    async fn signal(&mut self, signal: &str) -> Result<(), Error> {
        if let Some(status) = self.try_status()? {
            return Err(Error::Exit { process: self.name.clone(), status });
        }
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid.to_string())
            .status()
            .await
            .map_err(Error::io("cannot run `kill`"))?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::Io {
                context: format!("`kill -{signal} {}` failed with {status}", self.pid),
                source: std::io::Error::other("kill failed"),
            })
        }
    }
}

impl Drop for WarrenProcess {
    fn drop(&mut self) {
        // kill_on_drop sends SIGKILL; also try to reap now so the pid does not linger as a zombie.
        let _ = self.child.start_kill();
        let _ = self.child.try_wait();
        for reader in &self.readers {
            reader.abort();
        }
    }
}

/// Parses `listening name=NAME addr=IP:PORT` (trailing `key=value` fields are allowed).
pub fn parse_listening_line(line: &str) -> Option<(&str, SocketAddr)> {
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
    fn parses_listening_lines() {
        let (name, addr) = parse_listening_line("listening name=http addr=127.0.0.1:4321").unwrap();
        assert_eq!((name, addr), ("http", "127.0.0.1:4321".parse().unwrap()));
        let (name, addr) = parse_listening_line("listening name=dns addr=[::1]:53 proto=udp").unwrap();
        assert_eq!((name, addr.port()), ("dns", 53));
        assert!(parse_listening_line("listening addr=127.0.0.1:1 name=x").is_none());
        assert!(parse_listening_line("INFO listening name=x addr=127.0.0.1:1").is_none());
        assert!(parse_listening_line("listening name=x addr=nope").is_none());
    }
}
