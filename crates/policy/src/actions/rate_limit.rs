//! `rate-limit`: count requests per bucket (the values of the `bucket_key` expressions) and answer
//! 429 with `Retry-After` over `capacity` per `rate`. The counting itself is the caller's
//! ([`crate::Effects::rate_limit`]); [`crate::SlidingWindowLimiter`] is a ready pure store.

use schemars::JsonSchema;
use serde::Deserialize;

use super::FieldErrors;
use crate::eval::{Flow, RunCx};
use crate::expr::{CompiledExpr, Uses};
use crate::interpolate::to_text;
use crate::outcome::Cause;

/// The bucket for requests whose key expression failed (fail closed: they share one bucket).
pub const FAILED_KEY_BUCKET: &str = "\u{0}failed-bucket-key";

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub name: String,
    pub enforce: Option<bool>,
    /// Only `sliding_window`.
    pub algorithm: String,
    /// 1 to 2,000,000,000 requests per `rate`.
    pub capacity: u64,
    /// Window: a multiple of 10 s between 60s and 24h, e.g. `60s`, `10m`, `1h`.
    pub rate: String,
    /// CEL expressions whose values form the bucket key.
    pub bucket_key: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct RateLimit {
    pub name: String,
    pub enforce: bool,
    pub capacity: u64,
    pub window_secs: u64,
    pub bucket_key: Vec<CompiledExpr>,
}

/// Parses `90s`, `10m`, `1h` into seconds.
pub(crate) fn parse_duration(s: &str) -> Option<u64> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok()?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return None,
    };
    n.checked_mul(mult)
}

impl RateLimit {
    pub(crate) fn compile(cfg: Config) -> Result<Self, FieldErrors> {
        let mut errors: FieldErrors = Vec::new();
        if cfg.name.is_empty() || cfg.name.len() >= 1024 {
            errors.push(("name".into(), "name must be 1 to 1023 characters".into()));
        }
        if cfg.algorithm != "sliding_window" {
            errors
                .push(("algorithm".into(), format!("unsupported algorithm {:?} (only sliding_window)", cfg.algorithm)));
        }
        if !(1..=2_000_000_000).contains(&cfg.capacity) {
            errors.push(("capacity".into(), "capacity must be between 1 and 2000000000".into()));
        }
        let window_secs = match parse_duration(&cfg.rate) {
            Some(w) if (60..=86_400).contains(&w) && w % 10 == 0 => w,
            _ => {
                errors.push((
                    "rate".into(),
                    format!("{:?} is not a duration that is a multiple of 10s between 60s and 24h", cfg.rate),
                ));
                0
            }
        };
        let mut bucket_key = Vec::new();
        for src in cfg.bucket_key.unwrap_or_default() {
            match CompiledExpr::compile(&src) {
                Ok(e) => bucket_key.push(e),
                Err(e) => errors.push(("bucket_key".into(), e)),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(RateLimit {
            name: cfg.name,
            enforce: cfg.enforce.unwrap_or(true),
            capacity: cfg.capacity,
            window_secs,
            bucket_key,
        })
    }

    pub(crate) fn uses(&self, uses: &mut Uses) {
        self.bucket_key.iter().for_each(|e| uses.merge(&e.uses));
    }

    pub(crate) fn run(&self, cx: &mut RunCx<'_>) -> Flow {
        let mut parts = Vec::new();
        let mut failed = false;
        for (index, e) in self.bucket_key.iter().enumerate() {
            match e.eval(&cx.ctx) {
                Ok(v) => parts.push(to_text(&v)),
                Err(message) => {
                    cx.out.errors.push(crate::EvalError::Expression {
                        rule: cx.rule.clone(),
                        index,
                        message: format!("rate-limit bucket_key: {message}"),
                    });
                    failed = true;
                }
            }
        }
        let key = if failed { FAILED_KEY_BUCKET.to_owned() } else { parts.join("\u{1f}") };
        let decision = cx.effects.rate_limit(self, &key, cx.now_ms);
        cx.set_action_result("rate_limit", serde_json::json!({ "bucket_key": key, "limited": !decision.allowed }));
        if decision.allowed || !self.enforce {
            return Flow::Continue;
        }
        let retry = decision.retry_after_secs.max(1);
        cx.respond(
            429,
            vec![("retry-after".into(), retry.to_string())],
            String::new(),
            Cause::RateLimited { retry_after_secs: retry },
        )
    }
}
