//! Checking the registered claims against the policy at a given time.
//!
//! jsonwebtoken's own claim validation reads the system clock, so it is switched off entirely and
//! done here with the time passed in. Types are checked before values so that `"exp": "tomorrow"`
//! is reported as `bad_claim_type`, not silently treated as absent.

use serde_json::{Map, Value};

use crate::error::JwtError;
use crate::verifier::VerifierConfig;

/// A NumericDate claim (RFC 7519 §2): a JSON number, possibly fractional.
fn numeric(payload: &Map<String, Value>, claim: &'static str) -> Result<Option<f64>, JwtError> {
    match payload.get(claim) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(JwtError::BadClaimType { claim }),
        Some(_) => Err(JwtError::BadClaimType { claim }),
    }
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
fn audiences(payload: &Map<String, Value>) -> Result<Option<Vec<&str>>, JwtError> {
    const CLAIM: &str = "aud";
    match payload.get(CLAIM) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.as_str()])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().ok_or(JwtError::BadClaimType { claim: CLAIM }))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(JwtError::BadClaimType { claim: CLAIM }),
    }
}

fn string<'p>(payload: &'p Map<String, Value>, claim: &'static str) -> Result<Option<&'p str>, JwtError> {
    match payload.get(claim) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JwtError::BadClaimType { claim }),
    }
}

/// Checks types, then time, then issuer and audience. Returns `exp` when present.
pub(crate) fn check(payload: &Map<String, Value>, config: &VerifierConfig, now: u64) -> Result<Option<i64>, JwtError> {
    let exp = numeric(payload, "exp")?;
    let nbf = numeric(payload, "nbf")?;
    numeric(payload, "iat")?;
    let iss = string(payload, "iss")?;
    string(payload, "sub")?;
    let aud = audiences(payload)?;

    let leeway = config.leeway_secs as f64;
    let now_f = now as f64;
    match exp {
        None if config.require_exp => return Err(JwtError::MissingClaim { claim: "exp" }),
        Some(exp) if now_f >= exp + leeway => {
            return Err(JwtError::Expired { exp: exp as i64, now });
        }
        _ => {}
    }
    if config.validate_nbf
        && let Some(nbf) = nbf
        && now_f + leeway < nbf
    {
        return Err(JwtError::NotYetValid { nbf: nbf as i64, now });
    }
    if !config.issuers.is_empty() {
        match iss {
            Some(iss) if config.issuers.iter().any(|allowed| allowed == iss) => {}
            _ => return Err(JwtError::BadIssuer),
        }
    }
    // With no audience list a token's `aud` is not checked (jsonwebtoken would reject it).
    if !config.audiences.is_empty() {
        let ok = aud.is_some_and(|auds| auds.iter().any(|a| config.audiences.iter().any(|allowed| allowed == a)));
        if !ok {
            return Err(JwtError::BadAudience);
        }
    }
    Ok(exp.map(|e| e as i64))
}
