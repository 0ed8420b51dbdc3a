use std::path::PathBuf;

/// What can stop a simulation run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A line of an embedded data table is malformed (a bug in the table, caught by the tests).
    #[error("{table}:{line}: {reason}")]
    Data { table: &'static str, line: usize, reason: String },
    /// A chart could not be drawn.
    #[error("plot {name}: {reason}")]
    Plot { name: &'static str, reason: String },
    /// `--out` names something that is not a directory.
    #[error("{0}: --out must be a directory (it is created if missing)")]
    OutNotDir(PathBuf),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
