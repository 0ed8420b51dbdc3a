//! Running the phases for one request as the edge would, and explaining the outcome rule by rule
//! and action by action. The evaluator's [`Outcome`] holds the matched rules, the steps in order
//! and the terminal response; which action produced what is reconstructed from it, from the
//! actions' public config, and from the effects' trace.

use serde::Serialize;
use serde_json::{Map, Value};
use warren_policy::{
    Action, Cause, EvalError, FAILED_KEY_BUCKET, JwtValidation, Outcome, Phase, Policy, RateDecision, RateLimit, Rule,
    Step, Terminal,
};

use super::effects::{EffectRecord, OfflineEffects, addr};
use super::request::{OfflineRequest, request_url};

#[derive(Debug, Serialize)]
pub(super) struct ActionReport {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    /// `ran`, `skipped`, `stopped the request` or `not reached`.
    pub(super) status: &'static str,
    pub(super) effect: String,
}

#[derive(Debug, Serialize)]
pub(super) struct RuleReport {
    pub(super) name: String,
    /// `matched`, `not matched`, `expression error` or `not reached`.
    pub(super) status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) actions: Vec<ActionReport>,
}

#[derive(Debug, Serialize)]
pub(super) struct PhaseReport {
    pub(super) phase: &'static str,
    pub(super) rules: Vec<RuleReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) errors: Vec<String>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub(super) vars: Map<String, Value>,
}

#[derive(Debug, Serialize)]
pub(super) struct Forwarded {
    pub(super) method: String,
    pub(super) url: String,
    /// Header changes in order: `+ name: value` added, `- name` removed.
    pub(super) changes: Vec<String>,
    pub(super) headers: Vec<(String, String)>,
}

#[derive(Debug, Serialize)]
pub(super) struct UpstreamResponse {
    pub(super) status_code: u16,
    pub(super) changes: Vec<String>,
    pub(super) headers: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) compress: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
pub(super) struct Final {
    /// `forwarded`, `responded` or `closed`.
    pub(super) result: &'static str,
    /// The phase that ended the request, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) phase: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) cause: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) status_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) headers: Option<Vec<(String, String)>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) upstream_request: Option<Forwarded>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) response: Option<UpstreamResponse>,
}

#[derive(Debug, Serialize)]
pub(super) struct RunReport {
    pub(super) request: u32,
    pub(super) phases: Vec<PhaseReport>,
    pub(super) outcome: Final,
}

pub(super) fn kind(action: &Action) -> &'static str {
    match action {
        Action::AddHeaders(_) => "add-headers",
        Action::BasicAuth(_) => "basic-auth",
        Action::CloseConnection(_) => "close-connection",
        Action::CompressResponse(_) => "compress-response",
        Action::CustomResponse(_) => "custom-response",
        Action::Deny(_) => "deny",
        Action::JwtValidation(_) => "jwt-validation",
        Action::Log(_) => "log",
        Action::RateLimit(_) => "rate-limit",
        Action::Redirect(_) => "redirect",
        Action::RemoveHeaders(_) => "remove-headers",
        Action::RestrictIps(_) => "restrict-ips",
        Action::SetVars(_) => "set-vars",
        Action::UrlRewrite(_) => "url-rewrite",
    }
}

pub(super) fn cause_text(cause: &Cause) -> String {
    match cause {
        Cause::Deny => "deny".into(),
        Cause::CustomResponse => "custom-response".into(),
        Cause::Redirect => "redirect".into(),
        Cause::RestrictIps => "restrict-ips".into(),
        Cause::BasicAuth => "basic-auth".into(),
        Cause::JwtInvalid { reason } => format!("jwt-validation: {reason}"),
        Cause::JwtKeysUnavailable => "jwt-validation: keys_unavailable".into(),
        Cause::RateLimited { retry_after_secs } => format!("rate-limit: retry after {retry_after_secs}s"),
        Cause::CloseConnection => "close-connection".into(),
        Cause::ExpressionError => "fail closed: a guard rule's expression failed".into(),
    }
}

pub(super) fn bucket_text(bucket: &str) -> String {
    if bucket == FAILED_KEY_BUCKET {
        "the shared bucket for failed keys".into()
    } else if bucket.is_empty() {
        "the single bucket".into()
    } else {
        format!("bucket {:?}", bucket.split('\u{1f}').collect::<Vec<_>>().join(", "))
    }
}

/// Explains one phase's outcome rule by rule and action by action.
pub(super) struct Explainer<'a> {
    out: &'a Outcome,
    trace: &'a [EffectRecord],
    req: &'a OfflineRequest,
    steps: std::iter::Peekable<std::slice::Iter<'a, Step>>,
}

impl Explainer<'_> {
    fn jwt_records(&self, a: &JwtValidation) -> Vec<&Result<String, String>> {
        self.trace
            .iter()
            .filter_map(|r| match r {
                EffectRecord::Jwt { action, result } if *action == addr(a) => Some(result),
                _ => None,
            })
            .collect()
    }

    fn rate_record(&self, a: &RateLimit) -> Option<(&str, RateDecision)> {
        self.trace.iter().find_map(|r| match r {
            EffectRecord::Rate { action, bucket, decision } if *action == addr(a) => Some((bucket.as_str(), *decision)),
            _ => None,
        })
    }

    fn ngrok_result(&self, name: &str) -> &Value {
        &self.out.actions["ngrok"][name]
    }

    /// Whether `action` is the one that produced the terminal `cause`.
    fn stopped_here(&self, action: &Action, cause: &Cause) -> bool {
        match (action, cause) {
            (Action::Deny(_), Cause::Deny)
            | (Action::CustomResponse(_), Cause::CustomResponse)
            | (Action::CloseConnection(_), Cause::CloseConnection) => true,
            (Action::Redirect(r), Cause::Redirect) => {
                r.from.as_ref().is_none_or(|f| f.is_match(&request_url(self.req)))
            }
            (Action::RestrictIps(r), Cause::RestrictIps) => r.enforce && !r.permits(self.req.client_ip),
            (Action::BasicAuth(b), Cause::BasicAuth) => b.enforce,
            (Action::JwtValidation(j), Cause::JwtInvalid { .. } | Cause::JwtKeysUnavailable) => {
                let records = self.jwt_records(j);
                records.len() < j.tokens.len() || records.iter().any(|r| r.is_err())
            }
            (Action::RateLimit(r), Cause::RateLimited { .. }) => self.rate_record(r).is_some_and(|(_, d)| !d.allowed),
            _ => false,
        }
    }

    fn take_step(&mut self, want: impl Fn(&Step) -> bool) -> Option<&Step> {
        if self.steps.peek().is_some_and(|s| want(s)) { self.steps.next() } else { None }
    }

    /// What an action that ran did (status, effect).
    fn ran(&mut self, action: &Action, stopped: bool) -> (&'static str, String) {
        let skipped = "skipped: a ${...} placeholder failed (see errors)";
        match action {
            Action::AddHeaders(a) => {
                let names: Vec<&str> = a.headers.iter().map(|(n, _)| n.as_str()).collect();
                match self.take_step(
                    |s| matches!(s, Step::AddHeaders(h) if h.iter().map(|(n, _)| n.as_str()).eq(names.iter().copied())),
                ) {
                    Some(Step::AddHeaders(h)) => (
                        "ran",
                        h.iter().map(|(n, v)| format!("add {n}: {}", redact(n, v))).collect::<Vec<_>>().join("; "),
                    ),
                    _ => ("skipped", skipped.into()),
                }
            }
            Action::RemoveHeaders(a) => {
                self.take_step(|s| matches!(s, Step::RemoveHeaders(_)));
                ("ran", format!("remove {}", a.headers.join(", ")))
            }
            Action::UrlRewrite(a) => {
                if !a.from.is_match(&request_url(self.req)) {
                    return ("ran", "no change: `from` does not match the URL".into());
                }
                match self.take_step(|s| matches!(s, Step::UrlRewrite { .. })) {
                    Some(Step::UrlRewrite { url }) => ("ran", format!("rewrite the URL to {url}")),
                    _ => ("skipped", skipped.into()),
                }
            }
            Action::Log(_) => match self.take_step(|s| matches!(s, Step::Log { .. })) {
                Some(Step::Log { metadata }) => ("ran", format!("log {metadata}")),
                _ => ("skipped", skipped.into()),
            },
            Action::CompressResponse(_) => match self.take_step(|s| matches!(s, Step::CompressResponse { .. })) {
                Some(Step::CompressResponse { algorithms }) => {
                    ("ran", format!("compress the response with the client's choice of {}", algorithms.join(", ")))
                }
                _ => ("ran", "compress the response".into()),
            },
            Action::SetVars(a) => {
                let set: Vec<String> = a
                    .vars
                    .iter()
                    .filter_map(|(name, _)| self.out.vars.get(name).map(|v| format!("vars.{name} = {v}")))
                    .collect();
                ("ran", if set.is_empty() { skipped.into() } else { format!("set {}", set.join(", ")) })
            }
            Action::JwtValidation(j) => {
                let mut parts: Vec<String> =
                    self.jwt_records(j).into_iter().map(|r| r.clone().unwrap_or_else(|e| e)).collect();
                let error = &self.ngrok_result("jwt_validation")["error"];
                if stopped && error["code"] == "missing_token" {
                    parts.push(format!("token missing: {}", error["message"].as_str().unwrap_or("")));
                }
                (if stopped { "stopped the request" } else { "ran" }, parts.join("; "))
            }
            Action::RateLimit(r) => {
                let limit = format!("{} per {}s", r.capacity, r.window_secs);
                let Some((bucket, d)) = self.rate_record(r) else { return ("ran", "not counted".into()) };
                let bucket = bucket_text(bucket);
                match (d.allowed, stopped) {
                    (true, _) => ("ran", format!("allowed: {bucket} is within {limit}")),
                    (false, true) => (
                        "stopped the request",
                        format!("limited: {bucket} is over {limit}; retry after {}s", d.retry_after_secs.max(1)),
                    ),
                    (false, false) => ("ran", format!("over {limit} in {bucket}, not enforced (enforce: false)")),
                }
            }
            Action::RestrictIps(r) => {
                let ip = self.req.client_ip;
                match (r.permits(ip), stopped) {
                    (true, _) => ("ran", format!("client IP {ip} is allowed")),
                    (false, true) => ("stopped the request", format!("client IP {ip} is not allowed")),
                    (false, false) => ("ran", format!("client IP {ip} is not allowed, not enforced (enforce: false)")),
                }
            }
            Action::BasicAuth(_) => {
                let c = &self.ngrok_result("basic_auth")["credentials"];
                let text = if c["authorized"] == true {
                    format!("authorized as {}", c["username"].as_str().unwrap_or(""))
                } else if c["presented"] == true {
                    "wrong credentials".into()
                } else {
                    "no credentials".into()
                };
                (if stopped { "stopped the request" } else { "ran" }, text)
            }
            Action::Redirect(_) if !stopped => ("ran", "no redirect: `from` does not match the URL".into()),
            Action::Deny(_) | Action::CustomResponse(_) | Action::Redirect(_) | Action::CloseConnection(_) => {
                let text = match &self.out.terminal {
                    Some(Terminal::Respond { response, .. }) => format!("respond {}", response.status_code),
                    _ => "close the connection".into(),
                };
                ("stopped the request", text)
            }
        }
    }

    fn phase(mut self, rules: &[Rule], phase: Phase) -> PhaseReport {
        let out = self.out;
        let cause = out.terminal.as_ref().map(Terminal::cause);
        let mut matched = out.matched_rules.iter().peekable();
        let mut stopped = false;
        let mut reports = Vec::new();
        for rule in rules {
            if stopped {
                reports.push(RuleReport { name: rule.name.clone(), status: "not reached", actions: Vec::new() });
                continue;
            }
            if matched.peek().is_some_and(|m| **m == rule.name) {
                matched.next();
                let last = matched.peek().is_none();
                let mut actions = Vec::new();
                for action in rule.actions() {
                    if stopped {
                        actions.push(ActionReport { kind: kind(action), status: "not reached", effect: String::new() });
                        continue;
                    }
                    let here =
                        last && cause.is_some_and(|c| *c != Cause::ExpressionError && self.stopped_here(action, c));
                    let (status, effect) = self.ran(action, here);
                    stopped |= here;
                    actions.push(ActionReport { kind: kind(action), status, effect });
                }
                reports.push(RuleReport { name: rule.name.clone(), status: "matched", actions });
                continue;
            }
            let failed = out.errors.iter().any(|e| {
                matches!(e, EvalError::Expression { rule: r, message, .. }
                    if *r == rule.name && !message.starts_with("rate-limit bucket_key"))
            });
            let mut status = if failed { "expression error" } else { "not matched" };
            if failed && rule.is_guard() && cause == Some(&Cause::ExpressionError) {
                status = "expression error: a guard rule, so the request is stopped (fail closed)";
                stopped = true;
            }
            reports.push(RuleReport { name: rule.name.clone(), status, actions: Vec::new() });
        }
        PhaseReport {
            phase: phase.name(),
            rules: reports,
            errors: out.errors.iter().map(ToString::to_string).collect(),
            vars: out.vars.clone(),
        }
    }
}

/// Credentials are never printed: the report may end up in a ticket or a CI log.
pub(super) fn redact(name: &str, value: &str) -> String {
    if !(name.eq_ignore_ascii_case("authorization") || name.eq_ignore_ascii_case("proxy-authorization")) {
        return value.to_owned();
    }
    match value.split_once(' ') {
        Some((scheme, secret)) => format!("{scheme} [redacted, {} characters]", secret.trim().len()),
        None => format!("[redacted, {} characters]", value.len()),
    }
}

pub(super) fn redacted(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers.iter().map(|(n, v)| (n.clone(), redact(n, v))).collect()
}

/// Applies header steps to `headers`, recording each change.
pub(super) fn apply_headers(steps: &[Step], headers: &mut Vec<(String, String)>, changes: &mut Vec<String>) {
    for step in steps {
        match step {
            Step::AddHeaders(added) => {
                for (n, v) in added {
                    changes.push(format!("+ {n}: {}", redact(n, v)));
                    headers.push((n.clone(), v.clone()));
                }
            }
            Step::RemoveHeaders(names) => {
                for n in names {
                    if headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(n)) {
                        changes.push(format!("- {n}"));
                    }
                    headers.retain(|(h, _)| !h.eq_ignore_ascii_case(n));
                }
            }
            _ => {}
        }
    }
}

pub(super) fn ended(phase: Phase, terminal: &Terminal) -> Final {
    let base = Final {
        result: "closed",
        phase: Some(phase.name()),
        cause: Some(cause_text(terminal.cause())),
        status_code: None,
        headers: None,
        body: None,
        upstream_request: None,
        response: None,
    };
    match terminal {
        Terminal::CloseConnection { .. } => base,
        Terminal::Respond { response, .. } => Final {
            result: "responded",
            status_code: Some(response.status_code),
            headers: Some(response.headers.clone()),
            body: Some(response.body.clone()),
            ..base
        },
    }
}

/// Evaluates every phase for one request, as the edge would.
pub(super) fn run_once(
    policy: &Policy,
    req: &OfflineRequest,
    fx: &mut OfflineEffects,
    now_ms: u64,
    n: u32,
) -> RunReport {
    let mut phases = Vec::new();
    let mut evaluate = |phase: Phase, vars: Map<String, Value>, fx: &mut OfflineEffects| {
        fx.trace.clear();
        let out = warren_policy::evaluate_with_vars(policy, phase, req, fx, now_ms, vars);
        let explainer = Explainer { out: &out, trace: &fx.trace, req, steps: out.steps.iter().peekable() };
        phases.push(explainer.phase(policy.rules(phase), phase));
        out
    };
    let report = |phases, outcome| RunReport { request: n, phases, outcome };

    if !policy.rules(Phase::OnTcpConnect).is_empty() {
        let out = evaluate(Phase::OnTcpConnect, Map::new(), fx);
        if let Some(t) = &out.terminal {
            let outcome = ended(Phase::OnTcpConnect, t);
            return report(phases, outcome);
        }
    }
    let out = evaluate(Phase::OnHttpRequest, Map::new(), fx);
    if let Some(t) = &out.terminal {
        let outcome = ended(Phase::OnHttpRequest, t);
        return report(phases, outcome);
    }
    let mut url = request_url(req);
    for step in &out.steps {
        if let Step::UrlRewrite { url: to } = step {
            url.clone_from(to);
        }
    }
    let mut headers = req.headers.clone();
    let mut changes = Vec::new();
    apply_headers(&out.steps, &mut headers, &mut changes);
    let upstream = Forwarded { method: req.method.clone(), url, changes, headers: redacted(&headers) };

    let mut outcome = Final {
        result: "forwarded",
        phase: None,
        cause: None,
        status_code: None,
        headers: None,
        body: None,
        upstream_request: Some(upstream),
        response: None,
    };
    if let Some((status_code, res_headers)) = &req.response {
        let res = evaluate(Phase::OnHttpResponse, out.vars, fx);
        if let Some(t) = &res.terminal {
            let upstream = outcome.upstream_request.take();
            outcome = Final { upstream_request: upstream, ..ended(Phase::OnHttpResponse, t) };
        } else {
            let mut headers = res_headers.clone();
            let mut changes = Vec::new();
            apply_headers(&res.steps, &mut headers, &mut changes);
            let compress = res.steps.iter().find_map(|s| match s {
                Step::CompressResponse { algorithms } => Some(algorithms.clone()),
                _ => None,
            });
            outcome.response =
                Some(UpstreamResponse { status_code: *status_code, changes, headers: redacted(&headers), compress });
        }
    }
    report(phases, outcome)
}
