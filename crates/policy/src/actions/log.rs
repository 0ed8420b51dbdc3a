//! `log`: emit an event with `metadata` (string values take `${...}`); the edge writes it.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::FieldErrors;
use crate::eval::{Flow, RunCx};
use crate::expr::Uses;
use crate::interpolate::Template;
use crate::outcome::Step;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub metadata: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone)]
pub enum MetaValue {
    Text(Template),
    Json(serde_json::Value),
}

#[derive(Debug, Clone)]
pub struct Log {
    pub metadata: Vec<(String, MetaValue)>,
}

impl Log {
    pub(crate) fn compile(cfg: Config) -> Result<Self, FieldErrors> {
        let mut errors: FieldErrors = Vec::new();
        if cfg.metadata.is_empty() {
            errors.push(("metadata".into(), "at least one metadata entry is required".into()));
        }
        let mut metadata = Vec::new();
        for (k, v) in cfg.metadata {
            match v {
                serde_json::Value::String(s) => match Template::compile(&s) {
                    Ok(t) => metadata.push((k, MetaValue::Text(t))),
                    Err(e) => errors.push((k, e)),
                },
                other => metadata.push((k, MetaValue::Json(other))),
            }
        }
        if errors.is_empty() { Ok(Log { metadata }) } else { Err(errors) }
    }

    pub(crate) fn uses(&self, uses: &mut Uses) {
        for (_, v) in &self.metadata {
            if let MetaValue::Text(t) = v {
                uses.merge(&t.uses);
            }
        }
    }

    pub(crate) fn run(&self, cx: &mut RunCx<'_>) -> Flow {
        let mut out = serde_json::Map::new();
        for (k, v) in &self.metadata {
            let value = match v {
                MetaValue::Text(t) => match cx.render(t, "log") {
                    Some(s) => serde_json::Value::String(s),
                    None => return Flow::Continue,
                },
                MetaValue::Json(j) => j.clone(),
            };
            out.insert(k.clone(), value);
        }
        let metadata = serde_json::Value::Object(out);
        cx.set_action_result("log", serde_json::json!({ "metadata": metadata.clone() }));
        cx.out.steps.push(Step::Log { metadata });
        Flow::Continue
    }
}
