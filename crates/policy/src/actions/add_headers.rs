//! `add-headers`: add headers to the request (on_http_request) or response (on_http_response).
//! Values take `${...}` interpolation. ngrok allows 1 to 10 headers.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{FieldErrors, compile_headers};
use crate::eval::{Flow, RunCx};
use crate::expr::Uses;
use crate::interpolate::Template;
use crate::outcome::Step;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Header name to value; values may use `${...}`.
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct AddHeaders {
    pub headers: Vec<(String, Template)>,
}

impl AddHeaders {
    pub(crate) fn compile(cfg: Config) -> Result<Self, FieldErrors> {
        let mut errors = Vec::new();
        if cfg.headers.is_empty() || cfg.headers.len() > 10 {
            errors.push(("headers".into(), "between 1 and 10 headers are required".into()));
        }
        let headers = compile_headers(cfg.headers, &mut errors);
        if errors.is_empty() { Ok(AddHeaders { headers }) } else { Err(errors) }
    }

    pub(crate) fn uses(&self, uses: &mut Uses) {
        self.headers.iter().for_each(|(_, t)| uses.merge(&t.uses));
    }

    pub(crate) fn run(&self, cx: &mut RunCx<'_>) -> Flow {
        let mut rendered = Vec::new();
        for (name, t) in &self.headers {
            match cx.render(t, "add-headers") {
                Some(v) => rendered.push((name.clone(), v)),
                None => return Flow::Continue,
            }
        }
        let added: serde_json::Map<_, _> =
            rendered.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
        cx.set_action_result("add_headers", serde_json::json!({ "headers_added": added }));
        cx.out.steps.push(Step::AddHeaders(rendered));
        Flow::Continue
    }
}
