//! `warren policy`: check a traffic policy file, print its JSON Schema, or evaluate it offline
//! against a request described in YAML (`policy test`).
//!
//! `policy test` runs the same evaluator as the edge (`warren_policy::evaluate`) with offline
//! `Effects`: JWTs are verified with `warren-jwt` against a JWKS file named in the request file
//! (never fetched), rate limits count in `warren-policy`'s sliding-window limiter at the request
//! file's time. The evaluator's `Outcome` says which rules matched, the transformations and the
//! terminal response; which action did what is reconstructed from it and from the effects' own
//! trace, so the report never claims more than the evaluator decided.

mod effects;
mod report;
mod request;
mod text;

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::json;
use warren_policy::{Phase, Policy};

use self::effects::OfflineEffects;
use self::report::{RunReport, run_once};
use self::request::{plan, request_url, rfc3339};
use self::text::render_text;
use crate::cli::PolicyCommand;

pub(crate) fn run(cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Validate { file } => validate(&file),
        PolicyCommand::Schema => {
            println!("{}", serde_json::to_string_pretty(&warren_policy::schema())?);
            Ok(ExitCode::SUCCESS)
        }
        PolicyCommand::Test { file, request, json } => test(&file, &request, json),
    }
}

/// Reads and validates a policy; on mistakes prints every one (stderr) and returns `None`.
fn load_policy(path: &Path) -> anyhow::Result<Option<Policy>> {
    let src = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    match warren_policy::validate(&src, &path.display().to_string()) {
        Ok(policy) => Ok(Some(policy)),
        Err(diagnostics) => {
            for d in diagnostics {
                eprintln!("{d}");
            }
            Ok(None)
        }
    }
}

const PHASES: [Phase; 3] = [Phase::OnTcpConnect, Phase::OnHttpRequest, Phase::OnHttpResponse];

fn validate(path: &Path) -> anyhow::Result<ExitCode> {
    let Some(policy) = load_policy(path)? else { return Ok(ExitCode::FAILURE) };
    let rules: usize = PHASES.iter().map(|p| policy.rules(*p).len()).sum();
    let phases = PHASES.iter().filter(|p| !policy.rules(**p).is_empty()).count();
    println!("{}: ok ({rules} rules in {phases} phases)", path.display());
    Ok(ExitCode::SUCCESS)
}

fn test(policy_path: &Path, request_path: &Path, as_json: bool) -> anyhow::Result<ExitCode> {
    let Some(policy) = load_policy(policy_path)? else { return Ok(ExitCode::FAILURE) };
    let plan = match plan(request_path)? {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let jwks_file = plan.keys.as_ref().map(|(f, _)| f.clone());
    let mut fx = OfflineEffects { keys: plan.keys, limiters: HashMap::new(), trace: Vec::new() };
    let runs: Vec<RunReport> =
        (1..=plan.repeat).map(|n| run_once(&policy, &plan.request, &mut fx, plan.now_ms, n)).collect();
    let req = &plan.request;
    if as_json {
        let doc = json!({
            "policy": policy_path.display().to_string(),
            "request": {
                "method": req.method,
                "url": request_url(req),
                "client": format!("{}", std::net::SocketAddr::new(req.client_ip, req.client_port)),
                "now": rfc3339(plan.now_ms),
                "jwks_file": jwks_file,
            },
            "runs": runs,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", render_text(policy_path, req, plan.now_ms, jwks_file.as_deref(), &runs));
    }
    Ok(ExitCode::SUCCESS)
}
