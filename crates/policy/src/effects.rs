//! Actions that need state or I/O are decisions the caller executes: the evaluator calls these
//! methods and continues with the answer. The edge implements them over its JWKS cache and its
//! rate-limit store; tests implement them in memory.

use warren_jwt::{JwtError, VerifiedToken};

use crate::actions::jwt_validation::JwtValidation;
use crate::actions::rate_limit::RateLimit;

/// Why a token could not be validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtFailure {
    /// The verifier rejected the token.
    Rejected(JwtError),
    /// None of the action's JWKS has ever been fetched: the edge answers 503.
    KeysUnavailable,
}

/// A rate limiter's verdict for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    /// Seconds until a request in this bucket may succeed (for `Retry-After`).
    pub retry_after_secs: u64,
}

/// The stateful half of the evaluator, supplied by the caller.
pub trait Effects {
    /// Verifies `token` for `action` (its [`JwtValidation::verifier`] against the keys of its
    /// [`JwtValidation::jwks_urls`]). Time in unix milliseconds.
    fn verify_jwt(&mut self, action: &JwtValidation, token: &str, now_ms: u64) -> Result<VerifiedToken, JwtFailure>;

    /// Counts one request in `bucket_key` of `action`'s limiter.
    fn rate_limit(&mut self, action: &RateLimit, bucket_key: &str, now_ms: u64) -> RateDecision;
}
