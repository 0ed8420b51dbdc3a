//! Taking a compact JWS apart: three base64url segments, header and payload JSON objects.
//!
//! Done by hand rather than through jsonwebtoken so that each failure maps to its own stable
//! reason (`alg_none` must be told apart from a malformed token, an unknown algorithm name from a
//! bad signature) and so that nothing is parsed before the size bound is checked.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::error::JwtError;

/// A token split into its parts; the signature stays encoded (jsonwebtoken decodes it).
pub(crate) struct Segments<'t> {
    /// `header.payload`, the signed bytes.
    pub(crate) message: &'t str,
    pub(crate) signature: &'t str,
    pub(crate) header: Map<String, Value>,
    pub(crate) payload: Map<String, Value>,
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
}

fn malformed(reason: &'static str) -> JwtError {
    JwtError::Malformed { reason }
}

fn decode_object(segment: &str, what: &'static str) -> Result<Map<String, Value>, JwtError> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).map_err(|_| malformed(what))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(malformed(what)),
    }
}

/// Splits and decodes `token`. The caller has already checked its size.
pub(crate) fn split(token: &str) -> Result<Segments<'_>, JwtError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(malformed("a token has exactly three dot-separated segments"));
    };
    let header = decode_object(h, "header is not base64url-encoded JSON object")?;
    let alg_name = match header.get("alg") {
        Some(Value::String(alg)) => alg.as_str(),
        _ => return Err(malformed("header has no string alg")),
    };
    if alg_name.eq_ignore_ascii_case("none") {
        return Err(JwtError::AlgNone);
    }
    let alg = alg_name.parse::<Algorithm>().map_err(|_| JwtError::AlgNotAllowed { alg: alg_name.to_owned() })?;
    // RFC 7515 §4.1.11: a receiver must reject a token whose `crit` names extensions it does not
    // understand; this verifier understands none.
    if header.contains_key("crit") {
        return Err(malformed("critical header extensions are not supported"));
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(malformed("header kid is not a string")),
    };
    if s.is_empty() {
        return Err(malformed("signature segment is empty"));
    }
    let payload = decode_object(p, "payload is not base64url-encoded JSON object")?;
    Ok(Segments { message: &token[..h.len() + 1 + p.len()], signature: s, header, payload, alg, kid })
}
