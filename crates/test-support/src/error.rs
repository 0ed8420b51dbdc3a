//! The one error type of this crate. Messages are written for a person reading a failed test:
//! they say what was awaited, for how long, and what the process printed last.

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// What can go wrong in a test harness helper.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A condition did not become true in time.
    #[error("timed out after {after:?} waiting for {what}{detail}")]
    Timeout { what: String, after: Duration, detail: String },
    /// A process closed its output (it exited) before printing what was awaited.
    #[error("{process} closed its output before {what}{detail}")]
    OutputClosed { process: String, what: String, detail: String },
    /// A program could not be started.
    #[error("cannot start {program:?}: {source}")]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Any other I/O failure, with what was being done.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A process ended in a way the caller did not expect.
    #[error("{process} exited with {status}")]
    Exit { process: String, status: ExitStatus },
    /// Certificate generation failed.
    #[error("cannot make a test certificate: {0}")]
    Certificate(#[from] rcgen::Error),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}
