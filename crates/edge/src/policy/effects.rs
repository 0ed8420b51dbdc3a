//! The stateful half of policy actions at the edge: JWT keys and verdicts, rate-limit windows.

use std::sync::Arc;

use warren_jwt::{JwksStatus, JwtError, VerifiedToken};
use warren_policy::{Effects, JwtFailure, JwtValidation, RateDecision, RateLimit};

use super::entry::PolicyEntry;
use super::jwks::JwksStore;

pub(crate) struct EdgeEffects<'a> {
    pub(crate) entry: &'a PolicyEntry,
    pub(crate) jwks: &'a JwksStore,
    /// A JWKS URL and kid a token named but we lacked: the caller may refetch and rerun.
    pub(crate) unknown_kid: Option<(String, Option<String>)>,
}

impl Effects for EdgeEffects<'_> {
    fn verify_jwt(&mut self, action: &JwtValidation, token: &str, now_ms: u64) -> Result<VerifiedToken, JwtFailure> {
        let now = now_ms / 1000;
        // Cache key: the action (its issuer/audience rules) and the token.
        let key = format!("{:p}|{token}", action as *const JwtValidation);
        if let Some(v) = self.entry.verified().get(&key, now) {
            return Ok((*v).clone());
        }
        let mut last: Option<JwtError> = None;
        let mut any_keys = false;
        for url in action.jwks_urls() {
            let JwksStatus::Keys { keys, .. } = self.jwks.status(url) else { continue };
            any_keys = true;
            match action.verifier().verify(token, &keys, now) {
                Ok(v) => {
                    self.entry.verified().insert(&key, Arc::new(v.clone()), now);
                    return Ok(v);
                }
                Err(e) => {
                    if e.wants_key_refetch() && self.unknown_kid.is_none() {
                        let kid = token_kid(token);
                        self.unknown_kid = Some((url.clone(), kid));
                    }
                    last = Some(e);
                }
            }
        }
        match (any_keys, last) {
            (false, _) => Err(JwtFailure::KeysUnavailable),
            (true, Some(e)) => Err(JwtFailure::Rejected(e)),
            (true, None) => Err(JwtFailure::KeysUnavailable),
        }
    }

    fn rate_limit(&mut self, action: &RateLimit, bucket_key: &str, now_ms: u64) -> RateDecision {
        self.entry.with_limiter(action, |l| l.check(bucket_key, now_ms))
    }
}

/// The `kid` of a token's header, read without trusting anything else in it.
fn token_kid(token: &str) -> Option<String> {
    use base64::Engine;
    let header = token.split('.').next()?;
    if header.len() > 4096 {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("kid")?.as_str().map(str::to_owned)
}
