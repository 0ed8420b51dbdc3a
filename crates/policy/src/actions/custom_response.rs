//! `custom-response`: answer the request from the edge with a status, body and headers; body and
//! header values take `${...}`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{FieldErrors, compile_headers, status_ok};
use crate::eval::{Flow, RunCx};
use crate::expr::Uses;
use crate::interpolate::Template;
use crate::outcome::Cause;

/// Largest literal body accepted.
const MAX_BODY: usize = 10_000;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub status_code: u16,
    pub body: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone)]
pub struct CustomResponse {
    pub status_code: u16,
    pub body: Template,
    pub headers: Vec<(String, Template)>,
}

impl CustomResponse {
    pub(crate) fn compile(cfg: Config) -> Result<Self, FieldErrors> {
        let mut errors: FieldErrors = Vec::new();
        if !status_ok(cfg.status_code) {
            errors.push(("status_code".into(), format!("{} is not a valid status (200-599)", cfg.status_code)));
        }
        let body_src = cfg.body.unwrap_or_default();
        if body_src.len() > MAX_BODY {
            errors.push(("body".into(), format!("body is longer than {MAX_BODY} bytes")));
        }
        let body = Template::compile(&body_src).map_err(|e| errors.push(("body".into(), e))).ok();
        let headers = compile_headers(cfg.headers.unwrap_or_default(), &mut errors);
        match body {
            Some(body) if errors.is_empty() => Ok(CustomResponse { status_code: cfg.status_code, body, headers }),
            _ => Err(errors),
        }
    }

    pub(crate) fn uses(&self, uses: &mut Uses) {
        uses.merge(&self.body.uses);
        self.headers.iter().for_each(|(_, t)| uses.merge(&t.uses));
    }

    pub(crate) fn run(&self, cx: &mut RunCx<'_>) -> Flow {
        // Terminal: a failed placeholder renders empty, the response is still sent.
        let body = cx.render(&self.body, "custom-response").unwrap_or_default();
        let mut headers = Vec::new();
        for (name, t) in &self.headers {
            headers.push((name.clone(), cx.render(t, "custom-response").unwrap_or_default()));
        }
        cx.respond(self.status_code, headers, body, Cause::CustomResponse)
    }
}
