//! [`Effects`] for an offline run: JWTs verified against the request file's JWKS (never fetched),
//! rate limits counted in `warren-policy`'s limiter at the request file's time. Every call is
//! recorded so the report can say what each action decided.

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::Value;
use warren_jwt::{KeySet, VerifiedToken};
use warren_policy::{Effects, JwtFailure, JwtValidation, RateDecision, RateLimit, SlidingWindowLimiter};

use super::request::rfc3339;

/// Keys per offline rate limiter (the edge bounds its store the same way).
const LIMITER_KEYS: usize = 100_000;

/// What one effect call decided, keyed by the action's address (actions live in the policy for
/// the whole run, and each runs at most once per evaluation).
pub(super) enum EffectRecord {
    Jwt { action: usize, result: Result<String, String> },
    Rate { action: usize, bucket: String, decision: RateDecision },
}

pub(super) struct OfflineEffects {
    pub(super) keys: Option<(String, KeySet)>,
    pub(super) limiters: HashMap<String, SlidingWindowLimiter>,
    pub(super) trace: Vec<EffectRecord>,
}

pub(super) fn addr<T>(action: &T) -> usize {
    std::ptr::from_ref(action).addr()
}

pub(super) fn describe_token(v: &VerifiedToken) -> String {
    let claim = |name: &str| match v.payload.get(name) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
        None => None,
    };
    let mut text = format!("token verified ({:?}", v.alg);
    if let Some(kid) = &v.kid {
        let _ = write!(text, ", kid {kid}");
    }
    text.push(')');
    for name in ["sub", "iss", "aud"] {
        if let Some(value) = claim(name) {
            let _ = write!(text, " {name}={value}");
        }
    }
    if let Some(exp) = v.exp.and_then(|e| u64::try_from(e).ok()) {
        let _ = write!(text, " expires {}", rfc3339(exp * 1000));
    }
    text
}

impl Effects for OfflineEffects {
    fn verify_jwt(&mut self, action: &JwtValidation, token: &str, now_ms: u64) -> Result<VerifiedToken, JwtFailure> {
        let Some((_, keys)) = &self.keys else {
            let urls = action.jwks_urls().join(", ");
            self.trace.push(EffectRecord::Jwt {
                action: addr(action),
                result: Err(format!(
                    "token not verified: the request file has no jwks_file, so no keys are available offline \
                     (the PoP fetches {urls}); the edge answers 503 until it has keys"
                )),
            });
            return Err(JwtFailure::KeysUnavailable);
        };
        let result = action.verifier().verify(token, keys, now_ms / 1000);
        self.trace.push(EffectRecord::Jwt {
            action: addr(action),
            result: match &result {
                Ok(v) => Ok(describe_token(v)),
                Err(e) => Err(format!("token rejected: {} ({e})", e.reason())),
            },
        });
        result.map_err(JwtFailure::Rejected)
    }

    fn rate_limit(&mut self, action: &RateLimit, bucket_key: &str, now_ms: u64) -> RateDecision {
        let id = format!("{}\u{1f}{}\u{1f}{}", action.name, action.capacity, action.window_secs);
        let limiter = self
            .limiters
            .entry(id)
            .or_insert_with(|| SlidingWindowLimiter::new(action.capacity, action.window_secs, LIMITER_KEYS));
        let decision = limiter.check(bucket_key, now_ms);
        self.trace.push(EffectRecord::Rate { action: addr(action), bucket: bucket_key.to_owned(), decision });
        decision
    }
}
