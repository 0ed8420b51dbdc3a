//! The one error a config file can produce: where, which field, and why.

use std::fmt;

/// A configuration mistake, printed as `file:line:column: field: reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: String,
    /// 1-based; 0 when the position is unknown (e.g. a required field that is missing).
    pub line: u64,
    pub column: u64,
    /// Dotted path of the field, e.g. `listen.admin`; `-` when it cannot be named.
    pub field: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}: {}", self.file, self.line.max(1), self.column.max(1), self.field, self.reason)
    }
}

impl std::error::Error for ConfigError {}
