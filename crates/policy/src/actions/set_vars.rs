//! `set-vars`: set `vars.<name>` for later rules and phases; string values take `${...}`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::FieldErrors;
use super::log::MetaValue;
use crate::eval::{Flow, RunCx};
use crate::expr::Uses;
use crate::interpolate::Template;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A list of single-entry maps `name: value`.
    pub vars: Vec<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Clone)]
pub struct SetVars {
    pub vars: Vec<(String, MetaValue)>,
}

fn name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl SetVars {
    pub(crate) fn compile(cfg: Config) -> Result<Self, FieldErrors> {
        let mut errors: FieldErrors = Vec::new();
        let mut vars = Vec::new();
        if cfg.vars.is_empty() {
            errors.push(("vars".into(), "at least one variable is required".into()));
        }
        for entry in cfg.vars {
            for (name, v) in entry {
                if !name_ok(&name) {
                    errors.push((name.clone(), format!("invalid variable name {name:?}")));
                }
                match v {
                    serde_json::Value::String(s) => match Template::compile(&s) {
                        Ok(t) => vars.push((name, MetaValue::Text(t))),
                        Err(e) => errors.push((name, e)),
                    },
                    other => vars.push((name, MetaValue::Json(other))),
                }
            }
        }
        if errors.is_empty() { Ok(SetVars { vars }) } else { Err(errors) }
    }

    pub(crate) fn uses(&self, uses: &mut Uses) {
        for (_, v) in &self.vars {
            if let MetaValue::Text(t) = v {
                uses.merge(&t.uses);
            }
        }
    }

    pub(crate) fn run(&self, cx: &mut RunCx<'_>) -> Flow {
        for (name, v) in &self.vars {
            let value = match v {
                MetaValue::Text(t) => match cx.render(t, "set-vars") {
                    Some(s) => serde_json::Value::String(s),
                    None => continue,
                },
                MetaValue::Json(j) => j.clone(),
            };
            cx.set_var(name, value);
        }
        Flow::Continue
    }
}
