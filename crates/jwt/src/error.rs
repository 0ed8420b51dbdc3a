//! Errors of this crate. Every token rejection carries a stable, machine-readable reason code
//! (see [`JwtError::reason`]) that the edge puts into 401 bodies and logs; the codes never change
//! spelling once shipped.

use thiserror::Error;

/// Why a token was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum JwtError {
    /// The token is longer than the configured bound; nothing of it was parsed.
    #[error("token is {actual} bytes, more than the limit of {limit}")]
    TooLarge { limit: usize, actual: usize },
    /// Not three base64url segments of JSON, or an unsupported header.
    #[error("malformed token: {reason}")]
    Malformed { reason: &'static str },
    /// `alg: none` (in any letter case): an unsigned token is never accepted.
    #[error("unsigned tokens (alg none) are not accepted")]
    AlgNone,
    /// The header's algorithm is unknown or not in the allow list.
    #[error("algorithm {alg} is not allowed")]
    AlgNotAllowed { alg: String },
    /// The algorithm does not fit the key the `kid` names (e.g. an HS256 token against an RSA
    /// key: the classic algorithm-confusion attack).
    #[error("algorithm {alg} does not match key {kid}")]
    KeyAlgMismatch { kid: String, alg: String },
    /// The key set has no key with this `kid` (or, without a `kid`, no key for the algorithm).
    /// Distinct so the caller can refetch the JWKS (rate-limited) and retry once.
    #[error("no key with kid {kid:?}")]
    UnknownKid { kid: Option<String> },
    /// The signature does not verify with any candidate key.
    #[error("signature does not verify")]
    BadSignature,
    /// A registered claim has the wrong JSON type (e.g. `exp` as a string, `aud` as a number).
    #[error("claim {claim} has the wrong type")]
    BadClaimType { claim: &'static str },
    /// A required claim is absent.
    #[error("required claim {claim} is missing")]
    MissingClaim { claim: &'static str },
    /// `exp` (plus leeway) is not after `now`.
    #[error("token expired at {exp} (now {now})")]
    Expired { exp: i64, now: u64 },
    /// `nbf` is later than `now` plus leeway.
    #[error("token not valid before {nbf} (now {now})")]
    NotYetValid { nbf: i64, now: u64 },
    /// `iss` is missing or not exactly one of the allowed issuers.
    #[error("issuer is not allowed")]
    BadIssuer,
    /// No value of `aud` is exactly one of the allowed audiences.
    #[error("audience is not allowed")]
    BadAudience,
}

impl JwtError {
    /// The stable reason code for 401 bodies and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            JwtError::TooLarge { .. } => "too_large",
            JwtError::Malformed { .. } => "malformed",
            JwtError::AlgNone => "alg_none",
            JwtError::AlgNotAllowed { .. } | JwtError::KeyAlgMismatch { .. } => "alg_not_allowed",
            JwtError::UnknownKid { .. } => "unknown_kid",
            JwtError::BadSignature => "bad_signature",
            JwtError::BadClaimType { .. } => "bad_claim_type",
            JwtError::MissingClaim { .. } => "missing_claim",
            JwtError::Expired { .. } => "expired",
            JwtError::NotYetValid { .. } => "not_yet_valid",
            JwtError::BadIssuer => "bad_issuer",
            JwtError::BadAudience => "bad_audience",
        }
    }

    /// Whether refetching the key set might turn this rejection into an acceptance.
    pub fn wants_key_refetch(&self) -> bool {
        matches!(self, JwtError::UnknownKid { .. })
    }
}

/// Why a JWKS document could not be used at all. Individual bad keys are skipped and counted in
/// [`crate::KeySetStats`] instead, so one odd key does not take the whole set down.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeySetError {
    #[error("JWKS document is {actual} bytes, more than the limit of {limit}")]
    TooLarge { limit: usize, actual: usize },
    #[error("JWKS document is not valid JSON: {0}")]
    Json(String),
    #[error("JWKS document has no \"keys\" array")]
    NoKeysArray,
    #[error("JWKS document has {actual} keys, more than the limit of {limit}")]
    TooManyKeys { limit: usize, actual: usize },
}

/// A verifier configuration that can never be safe.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("at least one algorithm must be allowed")]
    NoAlgorithms,
    #[error(
        "symmetric algorithm {0:?} is not supported: JWKS keys are public, an HMAC key made from \
         one would let anybody sign"
    )]
    SymmetricAlgorithm(jsonwebtoken::Algorithm),
    #[error("max_token_bytes must be between 1 and {max}")]
    BadTokenBound { max: usize },
}
