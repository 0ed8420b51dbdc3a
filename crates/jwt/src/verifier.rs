//! Verifying one token against a key set at a given time.
//!
//! The order of the checks matters and is fixed: size bound (before any parsing), shape, `alg`
//! (`none` and algorithms outside the allow list are refused before any key is looked at), key
//! selection by `kid` with the key-type/algorithm match that defeats algorithm confusion, the
//! signature, and only then the claims — so an attacker learns nothing about claim checks from an
//! unsigned or forged token.

use jsonwebtoken::Algorithm;
use serde_json::Value;

use crate::claims;
use crate::error::{ConfigError, JwtError};
use crate::keyset::{Key, KeySet};
use crate::segments;

/// Default clock-skew allowance for `exp` and `nbf`, in seconds. jsonwebtoken's default is 60 s;
/// 30 s covers NTP-synchronised hosts while halving how long a just-expired token stays usable.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;
/// Default bound on a token's length (16 KiB), checked before any parsing. Real access tokens are
/// 1–4 KiB; anything larger is abuse or a mistake.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Hard ceiling for [`VerifierConfig::max_token_bytes`].
const MAX_TOKEN_BYTES_CEILING: usize = 1024 * 1024;

/// What a token must satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierConfig {
    /// Algorithms accepted in the header. Asymmetric only: HS* is refused at construction.
    pub allowed_algorithms: Vec<Algorithm>,
    /// Exact-match issuer allow list; empty means `iss` is not checked.
    pub issuers: Vec<String>,
    /// Exact-match audience allow list; empty means `aud` is not checked (a token with `aud`
    /// still passes).
    pub audiences: Vec<String>,
    /// Clock-skew allowance for `exp` and `nbf`, seconds.
    pub leeway_secs: u64,
    /// Whether a token without `exp` is rejected (`missing_claim`).
    pub require_exp: bool,
    /// Whether `nbf` is enforced when present.
    pub validate_nbf: bool,
    /// Tokens longer than this are rejected unparsed (`too_large`).
    pub max_token_bytes: usize,
}

impl Default for VerifierConfig {
    fn default() -> Self {
        VerifierConfig {
            allowed_algorithms: vec![
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512,
                Algorithm::ES256,
                Algorithm::ES384,
            ],
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway_secs: DEFAULT_LEEWAY_SECS,
            require_exp: true,
            validate_nbf: true,
            max_token_bytes: MAX_TOKEN_BYTES,
        }
    }
}

/// A token that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    /// The decoded JOSE header (a JSON object).
    pub header: Value,
    /// The decoded claims (a JSON object).
    pub payload: Value,
    pub alg: Algorithm,
    /// The `kid` of the key that verified it, if the token named one.
    pub kid: Option<String>,
    /// `exp`, when present: how long a cached verdict may be reused.
    pub exp: Option<i64>,
}

/// Verifies tokens under one [`VerifierConfig`].
#[derive(Debug, Clone)]
pub struct Verifier {
    config: VerifierConfig,
}

impl Verifier {
    /// Checks the configuration can be safe: at least one algorithm, none symmetric (a JWKS key
    /// is public, so an HMAC "secret" derived from it is known to everybody).
    pub fn new(config: VerifierConfig) -> Result<Verifier, ConfigError> {
        if config.allowed_algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithms);
        }
        if let Some(alg) = config
            .allowed_algorithms
            .iter()
            .find(|a| matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
        {
            return Err(ConfigError::SymmetricAlgorithm(*alg));
        }
        if config.max_token_bytes == 0 || config.max_token_bytes > MAX_TOKEN_BYTES_CEILING {
            return Err(ConfigError::BadTokenBound { max: MAX_TOKEN_BYTES_CEILING });
        }
        Ok(Verifier { config })
    }

    pub fn config(&self) -> &VerifierConfig {
        &self.config
    }

    /// Verifies `token` with `keys` at `now_unix` (seconds since the epoch).
    pub fn verify(&self, token: &str, keys: &KeySet, now_unix: u64) -> Result<VerifiedToken, JwtError> {
        if token.len() > self.config.max_token_bytes {
            return Err(JwtError::TooLarge { limit: self.config.max_token_bytes, actual: token.len() });
        }
        let seg = segments::split(token)?;
        if !self.config.allowed_algorithms.contains(&seg.alg) {
            return Err(JwtError::AlgNotAllowed { alg: format!("{:?}", seg.alg) });
        }
        let candidates: Vec<&Key> = match &seg.kid {
            Some(kid) => {
                let key = keys.by_kid(kid).ok_or(JwtError::UnknownKid { kid: Some(kid.clone()) })?;
                if !key.fits(seg.alg) {
                    return Err(JwtError::KeyAlgMismatch { kid: kid.clone(), alg: format!("{:?}", seg.alg) });
                }
                vec![key]
            }
            None => {
                let fitting: Vec<&Key> = keys.keys().iter().filter(|k| k.fits(seg.alg)).collect();
                if fitting.is_empty() {
                    return Err(JwtError::UnknownKid { kid: None });
                }
                fitting
            }
        };
        let verified = candidates.iter().any(|key| {
            matches!(
                jsonwebtoken::crypto::verify(seg.signature, seg.message.as_bytes(), &key.decoding, seg.alg),
                Ok(true)
            )
        });
        if !verified {
            return Err(JwtError::BadSignature);
        }
        let exp = claims::check(&seg.payload, &self.config, now_unix)?;
        Ok(VerifiedToken {
            header: Value::Object(seg.header),
            payload: Value::Object(seg.payload),
            alg: seg.alg,
            kid: seg.kid,
            exp,
        })
    }
}
