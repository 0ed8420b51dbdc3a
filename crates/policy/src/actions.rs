//! The action types, one file each under `actions/`; this file dispatches by `type`.
//!
//! Each action validates its `config` at load (serde with `deny_unknown_fields`, then semantic
//! checks that report every problem) and compiles its `${...}` templates and expressions.

pub mod add_headers;
pub mod basic_auth;
pub mod close_connection;
pub mod compress_response;
pub mod custom_response;
pub mod deny;
pub mod jwt_validation;
pub mod log;
pub mod rate_limit;
pub mod redirect;
pub mod remove_headers;
pub mod restrict_ips;
pub mod set_vars;
pub mod url_rewrite;

use serde::de::DeserializeOwned;

use crate::eval::{Flow, RunCx};
use crate::expr::Uses;
use crate::view::Phase;

/// `(field, message)` problems of one action's config; `field` is relative to `config`.
pub(crate) type FieldErrors = Vec<(String, String)>;

const ALL: &[Phase] = &[Phase::OnTcpConnect, Phase::OnHttpRequest, Phase::OnHttpResponse];
const HTTP: &[Phase] = &[Phase::OnHttpRequest, Phase::OnHttpResponse];
const REQUEST: &[Phase] = &[Phase::OnHttpRequest];
const RESPONSE: &[Phase] = &[Phase::OnHttpResponse];

/// Every action type and the phases it may appear in.
pub(crate) const TYPES: &[(&str, &[Phase])] = &[
    ("add-headers", HTTP),
    ("basic-auth", REQUEST),
    ("close-connection", ALL),
    ("compress-response", RESPONSE),
    ("custom-response", HTTP),
    ("deny", ALL),
    ("jwt-validation", REQUEST),
    ("log", ALL),
    ("rate-limit", REQUEST),
    ("redirect", HTTP),
    ("remove-headers", HTTP),
    ("restrict-ips", ALL),
    ("set-vars", ALL),
    ("url-rewrite", REQUEST),
];

pub(crate) fn header_name_ok(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Checks header names and compiles header-value templates (add-headers, custom-response,
/// redirect), recording every mistake in `errors` under the header's name.
pub(crate) fn compile_headers(
    headers: impl IntoIterator<Item = (String, String)>,
    errors: &mut FieldErrors,
) -> Vec<(String, crate::Template)> {
    let mut out = Vec::new();
    for (name, value) in headers {
        if !header_name_ok(&name) {
            errors.push((name.clone(), format!("invalid header name {name:?}")));
        }
        match crate::Template::compile(&value) {
            Ok(t) => out.push((name.to_ascii_lowercase(), t)),
            Err(e) => errors.push((name, e)),
        }
    }
    out
}

pub(crate) fn status_ok(code: u16) -> bool {
    (200..=599).contains(&code)
}

/// A compiled action.
#[derive(Debug, Clone)]
pub enum Action {
    AddHeaders(add_headers::AddHeaders),
    BasicAuth(basic_auth::BasicAuth),
    CloseConnection(close_connection::CloseConnection),
    CompressResponse(compress_response::CompressResponse),
    CustomResponse(custom_response::CustomResponse),
    Deny(deny::Deny),
    JwtValidation(Box<jwt_validation::JwtValidation>),
    Log(log::Log),
    RateLimit(rate_limit::RateLimit),
    Redirect(redirect::Redirect),
    RemoveHeaders(remove_headers::RemoveHeaders),
    RestrictIps(restrict_ips::RestrictIps),
    SetVars(set_vars::SetVars),
    UrlRewrite(url_rewrite::UrlRewrite),
}

fn parse<T: DeserializeOwned>(config: serde_json::Value) -> Result<T, FieldErrors> {
    serde_json::from_value(config).map_err(|e| {
        let msg = e.to_string();
        // serde names the offending field between backticks: point at it when we can.
        let field = msg.split('`').nth(1).filter(|_| msg.starts_with("unknown field")).unwrap_or("").to_owned();
        vec![(field, msg)]
    })
}

fn with<T: DeserializeOwned, A>(
    config: serde_json::Value,
    compile: impl FnOnce(T) -> Result<A, FieldErrors>,
    wrap: impl FnOnce(A) -> Action,
) -> Result<Action, FieldErrors> {
    compile(parse(config)?).map(wrap)
}

impl Action {
    /// Validates and compiles one action's `config` (`Null` when absent).
    pub(crate) fn compile(kind: &str, config: serde_json::Value) -> Result<Action, FieldErrors> {
        let optional = |c: serde_json::Value| if c.is_null() { serde_json::json!({}) } else { c };
        match kind {
            "add-headers" => with(config, add_headers::AddHeaders::compile, Action::AddHeaders),
            "basic-auth" => with(config, basic_auth::BasicAuth::compile, Action::BasicAuth),
            "close-connection" => {
                with(optional(config), close_connection::CloseConnection::compile, Action::CloseConnection)
            }
            "compress-response" => {
                with(optional(config), compress_response::CompressResponse::compile, Action::CompressResponse)
            }
            "custom-response" => with(config, custom_response::CustomResponse::compile, Action::CustomResponse),
            "deny" => with(optional(config), deny::Deny::compile, Action::Deny),
            "jwt-validation" => {
                with(config, jwt_validation::JwtValidation::compile, |j| Action::JwtValidation(Box::new(j)))
            }
            "log" => with(config, log::Log::compile, Action::Log),
            "rate-limit" => with(config, rate_limit::RateLimit::compile, Action::RateLimit),
            "redirect" => with(config, redirect::Redirect::compile, Action::Redirect),
            "remove-headers" => with(config, remove_headers::RemoveHeaders::compile, Action::RemoveHeaders),
            "restrict-ips" => with(config, restrict_ips::RestrictIps::compile, Action::RestrictIps),
            "set-vars" => with(config, set_vars::SetVars::compile, Action::SetVars),
            "url-rewrite" => with(config, url_rewrite::UrlRewrite::compile, Action::UrlRewrite),
            other => Err(vec![(String::new(), format!("unknown action type {other:?}"))]),
        }
    }

    /// Whether this action can stop or restrict the request (see `eval` for why it matters).
    pub fn is_guard(&self) -> bool {
        matches!(
            self,
            Action::BasicAuth(_)
                | Action::CloseConnection(_)
                | Action::CustomResponse(_)
                | Action::Deny(_)
                | Action::JwtValidation(_)
                | Action::RateLimit(_)
                | Action::RestrictIps(_)
        )
    }

    pub(crate) fn uses(&self, uses: &mut Uses) {
        match self {
            Action::AddHeaders(a) => a.uses(uses),
            Action::CustomResponse(a) => a.uses(uses),
            Action::Log(a) => a.uses(uses),
            Action::RateLimit(a) => a.uses(uses),
            Action::Redirect(a) => a.uses(uses),
            Action::SetVars(a) => a.uses(uses),
            Action::UrlRewrite(a) => a.uses(uses),
            _ => {}
        }
    }

    pub(crate) fn run(&self, cx: &mut RunCx<'_>) -> Flow {
        match self {
            Action::AddHeaders(a) => a.run(cx),
            Action::BasicAuth(a) => a.run(cx),
            Action::CloseConnection(a) => a.run(cx),
            Action::CompressResponse(a) => a.run(cx),
            Action::CustomResponse(a) => a.run(cx),
            Action::Deny(a) => a.run(cx),
            Action::JwtValidation(a) => a.run(cx),
            Action::Log(a) => a.run(cx),
            Action::RateLimit(a) => a.run(cx),
            Action::Redirect(a) => a.run(cx),
            Action::RemoveHeaders(a) => a.run(cx),
            Action::RestrictIps(a) => a.run(cx),
            Action::SetVars(a) => a.run(cx),
            Action::UrlRewrite(a) => a.run(cx),
        }
    }
}
