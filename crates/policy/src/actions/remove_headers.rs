//! `remove-headers`: remove headers from the request or response.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{FieldErrors, header_name_ok};
use crate::eval::{Flow, RunCx};
use crate::outcome::Step;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Header names to remove (case-insensitive).
    pub headers: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct RemoveHeaders {
    pub headers: Vec<String>,
}

impl RemoveHeaders {
    pub(crate) fn compile(cfg: Config) -> Result<Self, FieldErrors> {
        let mut errors: FieldErrors = Vec::new();
        if cfg.headers.is_empty() || cfg.headers.len() > 10 {
            errors.push(("headers".into(), "between 1 and 10 headers are required".into()));
        }
        for name in &cfg.headers {
            if !header_name_ok(name) {
                errors.push(("headers".into(), format!("invalid header name {name:?}")));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(RemoveHeaders { headers: cfg.headers.iter().map(|h| h.to_ascii_lowercase()).collect() })
    }

    pub(crate) fn run(&self, cx: &mut RunCx<'_>) -> Flow {
        cx.out.steps.push(Step::RemoveHeaders(self.headers.clone()));
        Flow::Continue
    }
}
