//! The human-readable rendering of a `policy test` report.

use std::fmt::Write as _;
use std::path::Path;

use super::report::RunReport;
use super::request::{OfflineRequest, request_url, rfc3339};

pub(super) fn render_text(
    policy: &Path,
    req: &OfflineRequest,
    now_ms: u64,
    jwks: Option<&str>,
    runs: &[RunReport],
) -> String {
    let mut s = String::new();
    let client = std::net::SocketAddr::new(req.client_ip, req.client_port);
    let _ = writeln!(s, "policy {}", policy.display());
    let _ = writeln!(s, "request {} {} from {client} at {}", req.method, request_url(req), rfc3339(now_ms));
    if let Some(jwks) = jwks {
        let _ = writeln!(s, "JWT keys from {jwks}");
    }
    for run in runs {
        if runs.len() > 1 {
            let _ = writeln!(s, "\n== request {} of {}", run.request, runs.len());
        }
        for phase in &run.phases {
            let _ = writeln!(s, "\n{}:", phase.phase);
            if phase.rules.is_empty() {
                let _ = writeln!(s, "  (no rules)");
            }
            for rule in &phase.rules {
                let _ = writeln!(s, "  rule {:?}: {}", rule.name, rule.status);
                for a in &rule.actions {
                    let effect = if a.effect.is_empty() { String::new() } else { format!(": {}", a.effect) };
                    let status = if a.status == "ran" { String::new() } else { format!(" [{}]", a.status) };
                    let _ = writeln!(s, "    {}{status}{effect}", a.kind);
                }
            }
            for e in &phase.errors {
                let _ = writeln!(s, "  error: {e}");
            }
            for (k, v) in &phase.vars {
                let _ = writeln!(s, "  vars.{k} = {v}");
            }
        }
        let o = &run.outcome;
        let _ = writeln!(s);
        match o.result {
            "forwarded" => {
                if let Some(up) = &o.upstream_request {
                    let _ = writeln!(s, "result: forwarded {} {}", up.method, up.url);
                    if up.changes.is_empty() {
                        let _ = writeln!(s, "  request headers unchanged");
                    }
                    for c in &up.changes {
                        let _ = writeln!(s, "  {c}");
                    }
                }
                if let Some(r) = &o.response {
                    let _ = writeln!(s, "response: {} passed to the client", r.status_code);
                    for c in &r.changes {
                        let _ = writeln!(s, "  {c}");
                    }
                    if let Some(algs) = &r.compress {
                        let _ = writeln!(s, "  compressed with the client's choice of {}", algs.join(", "));
                    }
                }
            }
            result => {
                let phase = o.phase.unwrap_or("");
                let cause = o.cause.as_deref().unwrap_or("");
                match o.status_code {
                    Some(code) => {
                        let _ = writeln!(s, "result: {result} {code} in {phase} ({cause})");
                    }
                    None => {
                        let _ = writeln!(s, "result: connection closed in {phase} ({cause})");
                    }
                }
                for (k, v) in o.headers.iter().flatten() {
                    let _ = writeln!(s, "  {k}: {v}");
                }
                match o.body.as_deref() {
                    Some("") if !(cause.starts_with("custom-response") || cause.starts_with("redirect")) => {
                        let _ = writeln!(s, "  (empty body: the edge sends its error page with the stable code)");
                    }
                    Some("") => {
                        let _ = writeln!(s, "  (empty body)");
                    }
                    Some(body) => {
                        let _ = writeln!(s, "  body: {body}");
                    }
                    None => {}
                }
            }
        }
    }
    if runs.len() > 1 {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for run in runs {
            let key = match run.outcome.status_code {
                Some(code) => format!("{} {code}", run.outcome.result),
                None => run.outcome.result.to_owned(),
            };
            match counts.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += 1,
                None => counts.push((key, 1)),
            }
        }
        let summary: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let _ = writeln!(s, "\nsummary: {}", summary.join(", "));
    }
    s
}
