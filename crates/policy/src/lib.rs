//! Warren's traffic policy, in the shape of ngrok's Traffic Policy.
//!
//! A policy file has three phases (`on_tcp_connect`, `on_http_request`, `on_http_response`),
//! each a list of rules `{name, expressions: [CEL...], actions: [{type, config}]}`. This crate
//! parses and validates such files with positions for every mistake ([`validate`]), compiles
//! each CEL expression once, and evaluates a phase against a request ([`evaluate`]) into an
//! [`Outcome`]: transformations to apply, at most one terminal response, and any run-time
//! errors. It is **pure**: no I/O and no clock; the time is an argument, and the stateful
//! actions (jwt-validation's keys, rate-limit's counters) are asked of the caller through
//! [`Effects`].
//!
//! Where to start: `parse.rs` (loading), `eval.rs` (run-time semantics, including fail-closed
//! rules), `expr.rs` (CEL compile and lazy variables), `actions/` (one file per action type).
//! It must not depend on tokio, hyper or any I/O crate.

mod actions;
mod effects;
mod error;
mod eval;
mod expr;
mod functions;
mod interpolate;
mod node;
mod outcome;
mod parse;
mod policy;
mod rate_limiter;
mod schema;
mod view;

pub use actions::Action;
pub use actions::jwt_validation::{JwtValidation, TokenConfig, TokenMethod};
pub use actions::rate_limit::{FAILED_KEY_BUCKET, RateLimit};
pub use effects::{Effects, JwtFailure, RateDecision};
pub use error::{Diagnostic, EvalError};
pub use eval::{evaluate, evaluate_with_vars};
pub use expr::{CompiledExpr, MAX_EXPRESSION_BYTES};
pub use interpolate::Template;
pub use node::Pos;
pub use outcome::{Cause, Outcome, Response, Step, Terminal};
pub use parse::{MAX_POLICY_BYTES, validate};
pub use policy::{CompiledPolicy, Policy, Rule};
pub use rate_limiter::SlidingWindowLimiter;
pub use schema::schema;
pub use view::{Geo, Phase, RequestView};
