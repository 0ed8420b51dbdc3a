//! One-shot CLI runs (`warren policy validate`, `warren pop --check`, ...): run to completion
//! with a timeout and hand back status, stdout and stderr as text.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::Command;

use crate::Error;

/// The result of [`run_warren`]: exit status and the whole output as text.
#[derive(Clone, Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// The exit code (`None` if killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn success(&self) -> bool {
        self.status.success()
    }
}

/// The default limit for one-shot CLI runs.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs a CLI command to completion (stdin closed) with [`RUN_TIMEOUT`].
pub async fn run_warren<I, S>(program: impl AsRef<Path>, args: I) -> Result<Output, Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_warren_with(program, args, std::iter::empty::<(&str, &str)>(), RUN_TIMEOUT).await
}

/// Runs a CLI command to completion with extra environment and a timeout (killed when it expires).
pub async fn run_warren_with<I, S, E, K, V>(
    program: impl AsRef<Path>,
    args: I,
    envs: E,
    timeout: Duration,
) -> Result<Output, Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
    E: IntoIterator<Item = (K, V)>,
    K: AsRef<OsStr>,
    V: AsRef<OsStr>,
{
    let program = program.as_ref();
    let mut cmd = Command::new(program);
    cmd.args(args).envs(envs).stdin(Stdio::null()).kill_on_drop(true);
    let output = match tokio::time::timeout(timeout, cmd.output()).await {
        Ok(output) => output.map_err(|source| Error::Spawn { program: program.to_owned(), source })?,
        Err(_) => {
            return Err(Error::Timeout {
                what: format!("{} to finish", program.display()),
                after: timeout,
                detail: String::new(),
            });
        }
    };
    Ok(Output {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}
