//! Evaluating one phase of a policy against one request.
//!
//! Rules run in order; a rule runs when all its expressions are `true`; its actions run in order
//! until one ends the request. Failure semantics (fail closed), precisely:
//! - an expression that errors at run time (missing map key, wrong type, bad CIDR...) or yields a
//!   non-boolean counts as **not true**, and the error is recorded in [`Outcome::errors`];
//! - but if the rule is a *guard* (it holds deny, custom-response, restrict-ips, jwt-validation,
//!   basic-auth, rate-limit or close-connection), the error **ends the request** with 403
//!   (`Cause::ExpressionError`; on_tcp_connect: the connection is closed). So a deny rule written
//!   as `!inCidrRange(conn.client_ip, '10.0.0.0/8')` that cannot be evaluated denies, and a
//!   jwt-validation guarded by `req.url.path.startsWith('/api')` never lets a request through
//!   unvalidated because its condition failed;
//! - rules that only transform (add/remove-headers, url-rewrite, redirect, log, set-vars,
//!   compress-response) are skipped on error;
//! - a `${...}` placeholder that fails skips its (non-terminal) action; in a terminal action the
//!   whole field it is in renders as empty text and the response is still sent;
//! - a rate-limit `bucket_key` that fails puts the request into one shared bucket for failed keys.

use std::sync::Arc;

use cel::Context;
use serde_json::{Map, Value};

use crate::effects::Effects;
use crate::error::EvalError;
use crate::expr::ENV;
use crate::functions;
use crate::interpolate::Template;
use crate::outcome::{Cause, Outcome, Response, Terminal};
use crate::policy::CompiledPolicy;
use crate::view::{self, Phase, RequestView};

/// Whether the next action runs.
pub(crate) enum Flow {
    Continue,
    Stop,
}

/// Everything an action may read or change while it runs.
pub(crate) struct RunCx<'a> {
    pub(crate) ctx: Context<'static, 'static>,
    pub(crate) view: &'a dyn RequestView,
    pub(crate) effects: &'a mut dyn Effects,
    pub(crate) phase: Phase,
    pub(crate) now_ms: u64,
    pub(crate) out: Outcome,
    pub(crate) rule: String,
}

impl RunCx<'_> {
    /// Renders a template; on failure records the error and returns `None`.
    pub(crate) fn render(&mut self, t: &Template, action: &str) -> Option<String> {
        match t.render(&self.ctx) {
            Ok(s) => Some(s),
            Err(message) => {
                self.out.errors.push(EvalError::Interpolation {
                    rule: self.rule.clone(),
                    action: action.to_owned(),
                    message,
                });
                None
            }
        }
    }

    /// Sets `actions.ngrok.<action>` to `result` and refreshes the CEL variable.
    pub(crate) fn set_action_result(&mut self, action: &str, result: Value) {
        if !self.out.actions.is_object() {
            self.out.actions = Value::Object(Map::new());
        }
        if let Some(root) = self.out.actions.as_object_mut() {
            let ngrok = root.entry("ngrok").or_insert_with(|| Value::Object(Map::new()));
            if let Some(ngrok) = ngrok.as_object_mut() {
                ngrok.insert(action.to_owned(), result);
            }
        }
        if let Ok(v) = cel::to_value(&self.out.actions) {
            self.ctx.add_variable_from_value("actions", v);
        }
    }

    pub(crate) fn set_var(&mut self, name: &str, value: Value) {
        self.out.vars.insert(name.to_owned(), value);
        if let Ok(v) = cel::to_value(&self.out.vars) {
            self.ctx.add_variable_from_value("vars", v);
        }
    }

    /// Ends the request with a response (or closes the connection in on_tcp_connect).
    pub(crate) fn respond(
        &mut self,
        status_code: u16,
        headers: Vec<(String, String)>,
        body: String,
        cause: Cause,
    ) -> Flow {
        self.out.terminal = Some(if self.phase == Phase::OnTcpConnect {
            Terminal::CloseConnection { cause }
        } else {
            Terminal::Respond { response: Response { status_code, headers, body }, cause }
        });
        Flow::Stop
    }
}

/// Evaluates `phase` of `policy` for one request at `now_ms` (unix milliseconds).
pub fn evaluate(
    policy: &CompiledPolicy,
    phase: Phase,
    view: &dyn RequestView,
    effects: &mut dyn Effects,
    now_ms: u64,
) -> Outcome {
    evaluate_with_vars(policy, phase, view, effects, now_ms, Map::new())
}

/// Like [`evaluate`], continuing with `vars` set by an earlier phase (set-vars in
/// on_http_request are visible in on_http_response).
pub fn evaluate_with_vars(
    policy: &CompiledPolicy,
    phase: Phase,
    view: &dyn RequestView,
    effects: &mut dyn Effects,
    now_ms: u64,
    vars: Map<String, Value>,
) -> Outcome {
    let mut ctx = Context::with_env(Arc::clone(&ENV));
    functions::register(&mut ctx);
    view::add_request_vars(&mut ctx, policy.uses(phase), view, phase, now_ms);
    let mut cx = RunCx {
        ctx,
        view,
        effects,
        phase,
        now_ms,
        out: Outcome { vars: Map::new(), actions: Value::Object(Map::new()), ..Outcome::default() },
        rule: String::new(),
    };
    // Always present so `vars.x` is a missing-key error rather than an unknown variable.
    for (k, v) in vars {
        cx.out.vars.insert(k, v);
    }
    if let Ok(v) = cel::to_value(&cx.out.vars) {
        cx.ctx.add_variable_from_value("vars", v);
    }
    if let Ok(v) = cel::to_value(&cx.out.actions) {
        cx.ctx.add_variable_from_value("actions", v);
    }

    for rule in policy.rules(phase) {
        cx.rule = rule.name.clone();
        let mut matched = true;
        let mut failed = false;
        for (index, expr) in rule.expressions.iter().enumerate() {
            let verdict = match expr.eval(&cx.ctx) {
                Ok(cel::Value::Bool(b)) => Ok(b),
                Ok(other) => Err(format!("expression is not a boolean: {other:?}")),
                Err(e) => Err(e),
            };
            match verdict {
                Ok(true) => {}
                Ok(false) => {
                    matched = false;
                    break;
                }
                Err(message) => {
                    cx.out.errors.push(EvalError::Expression { rule: rule.name.clone(), index, message });
                    matched = false;
                    failed = true;
                    break;
                }
            }
        }
        if failed && rule.is_guard() {
            cx.respond(403, Vec::new(), String::new(), Cause::ExpressionError);
            return cx.out;
        }
        if !matched {
            continue;
        }
        cx.out.matched_rules.push(rule.name.clone());
        for action in &rule.actions {
            if let Flow::Stop = action.run(&mut cx) {
                return cx.out;
            }
        }
    }
    cx.out
}
