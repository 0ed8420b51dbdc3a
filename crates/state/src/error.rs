//! Errors of the state machine's read side. Apply itself never fails: a command that cannot take
//! effect is a deterministic [`crate::Rejection`], recorded like any other outcome.

use thiserror::Error;

use crate::TokenId;

/// Why an agent's authtoken was refused. The two cases map to different public codes
/// (`WARREN_ERR_AUTHTOKEN_INVALID` and `WARREN_ERR_AUTHTOKEN_REVOKED`), so an operator can tell a
/// typo from a token they revoked.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    /// No token with this secret exists.
    #[error("unknown authtoken")]
    Unknown,
    /// The token existed and was revoked.
    #[error("authtoken {id} has been revoked")]
    Revoked { id: TokenId },
}

/// A token id that is not `tok_` followed by 16 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid token id {value:?}: expected tok_ and 16 lower-case hex digits")]
pub struct ParseTokenIdError {
    pub value: String,
}

/// A snapshot that cannot be a state this crate produced.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RestoreError {
    /// The snapshot was written by a newer (or unknown) format.
    #[error("unsupported snapshot format {found} (this build reads {supported})")]
    Format { found: u32, supported: u32 },
    /// Two tokens carry the same id.
    #[error("token id {id} appears twice in the snapshot")]
    DuplicateTokenId { id: TokenId },
    /// Two tokens carry the same secret hash.
    #[error("tokens {first} and {second} have the same secret hash")]
    DuplicateSecretHash { first: TokenId, second: TokenId },
}
