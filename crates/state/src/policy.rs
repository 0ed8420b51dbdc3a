//! The operator's global traffic policy, as the cluster stores it.
//!
//! The state machine keeps the text, not a compiled policy: compiling needs `warren-policy` (CEL),
//! which the state machine has no business depending on, and every PoP compiles the text itself
//! when the version changes. Validation happens before the command is proposed.

use serde::{Deserialize, Serialize};

/// The current global policy: its YAML text and a version that grows by one on every set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GlobalPolicy {
    /// The policy file's text, as uploaded.
    pub text: String,
    /// 1 for the first policy ever set, then +1 for each set.
    pub version: u64,
    /// When the set command was proposed (Unix milliseconds, from the command's log entry).
    pub updated_at_ms: u64,
}
