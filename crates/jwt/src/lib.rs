//! Warren's JSON Web Token verification.
//!
//! This crate answers one question — "is this bearer token valid against this key set at this
//! instant?" — and keeps the bookkeeping a JWKS consumer needs (when to refetch keys, which
//! tokens were already verified). It is **pure**: no I/O, no clock, no async runtime. The time is
//! always an argument (`now_unix`, seconds since the Unix epoch) and fetching a JWKS document is
//! the caller's job; the caller feeds the bytes to [`KeySet::from_jwks_json`] and the outcome to
//! [`JwksCacheState::finish_fetch`].
//!
//! Where to start reading:
//! - [`KeySet`] (`keyset.rs`): a JWKS document parsed once into verification keys.
//! - [`Verifier`] (`verifier.rs`): the checks, in the order they run, and why.
//! - [`JwksCacheState`] (`jwks_cache.rs`): refresh scheduling, rate-limited refetch on unknown
//!   `kid`, stale-on-error, single flight.
//! - [`VerifiedCache`] (`verified_cache.rs`): a bounded memo of already-verified tokens.
//!
//! It must not depend on tokio, hyper or any I/O crate; the edge (`warren-edge`) wires it up.

mod claims;
mod error;
mod jwks_cache;
mod keyset;
mod segments;
mod verified_cache;
mod verifier;

pub use error::{ConfigError, JwtError, KeySetError};
pub use jsonwebtoken::Algorithm;
pub use jwks_cache::{FetchDecision, FetchReason, FetchTicket, JwksCacheConfig, JwksCacheState, JwksStatus};
pub use keyset::{KeySet, KeySetStats};
pub use verified_cache::VerifiedCache;
pub use verifier::{DEFAULT_LEEWAY_SECS, MAX_TOKEN_BYTES, VerifiedToken, Verifier, VerifierConfig};
