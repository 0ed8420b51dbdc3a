//! `compress-response`: ask the edge to compress the response with the client's preferred
//! algorithm among `algorithms` (default all supported).

use schemars::JsonSchema;
use serde::Deserialize;

use super::FieldErrors;
use crate::eval::{Flow, RunCx};
use crate::outcome::Step;

const SUPPORTED: &[&str] = &["gzip", "br", "deflate", "compress"];

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Any of gzip, br, deflate, compress.
    pub algorithms: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct CompressResponse {
    pub algorithms: Vec<String>,
}

impl CompressResponse {
    pub(crate) fn compile(cfg: Config) -> Result<Self, FieldErrors> {
        let algorithms = cfg.algorithms.unwrap_or_else(|| SUPPORTED.iter().map(|s| s.to_string()).collect());
        let errors: FieldErrors = algorithms
            .iter()
            .filter(|a| !SUPPORTED.contains(&a.as_str()))
            .map(|a| {
                ("algorithms".to_string(), format!("unsupported algorithm {a:?} (supported: {})", SUPPORTED.join(", ")))
            })
            .collect();
        if errors.is_empty() { Ok(CompressResponse { algorithms }) } else { Err(errors) }
    }

    pub(crate) fn run(&self, cx: &mut RunCx<'_>) -> Flow {
        cx.out.steps.push(Step::CompressResponse { algorithms: self.algorithms.clone() });
        Flow::Continue
    }
}
