//! Errors of this crate: load-time [`Diagnostic`]s (every mistake in a file, each with its
//! position) and run-time [`EvalError`]s (recorded in the outcome, never fatal to the process).

use std::fmt;

use thiserror::Error;

/// One mistake in a policy file, printed as `file:line:column: field: reason`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: u32,
    pub column: u32,
    /// Dotted path of the offending field, e.g. `on_http_request[0].actions[1].config.status_code`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}: {}", self.file, self.line, self.column, self.field, self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// A problem while evaluating a policy against one request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EvalError {
    /// A rule's expression failed (e.g. a missing map key) or was not a boolean.
    #[error("rule {rule:?}: expression {index}: {message}")]
    Expression { rule: String, index: usize, message: String },
    /// A `${...}` placeholder in an action field failed.
    #[error("rule {rule:?}: action {action}: interpolation: {message}")]
    Interpolation { rule: String, action: String, message: String },
}
