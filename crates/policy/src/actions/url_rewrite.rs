//! `url-rewrite`: rewrite the request URL (`scheme://host/path?query`) with a regular expression;
//! `to` takes `$1`-style capture references and `${...}` interpolation (rendered first).

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
    /// Regular expression matched against the full request URL.
    pub from: String,
    /// Replacement; `$1` refers to capture groups.
    pub to: String,
}

#[derive(Debug, Clone)]
pub struct UrlRewrite {
    pub from: regex::Regex,
    pub to: Template,
}

pub(crate) fn compile_regex(field: &str, src: &str) -> Result<regex::Regex, (String, String)> {
    regex::RegexBuilder::new(src)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| (field.to_owned(), format!("invalid regular expression: {e}")))
}

pub(crate) fn request_url(cx: &RunCx<'_>) -> String {
    let v = cx.view;
    if v.raw_query().is_empty() {
        format!("{}://{}{}", v.scheme(), v.host(), v.path())
    } else {
        format!("{}://{}{}?{}", v.scheme(), v.host(), v.path(), v.raw_query())
    }
}

impl UrlRewrite {
    pub(crate) fn compile(cfg: Config) -> Result<Self, FieldErrors> {
        let from = compile_regex("from", &cfg.from);
        let to = Template::compile(&cfg.to).map_err(|e| ("to".to_string(), e));
        match (from, to) {
            (Ok(from), Ok(to)) => Ok(UrlRewrite { from, to }),
            (from, to) => Err(from.err().into_iter().chain(to.err()).collect()),
        }
    }

    pub(crate) fn uses(&self, uses: &mut Uses) {
        uses.merge(&self.to.uses);
    }

    pub(crate) fn run(&self, cx: &mut RunCx<'_>) -> Flow {
        let url = request_url(cx);
        if !self.from.is_match(&url) {
            return Flow::Continue;
        }
        let Some(to) = cx.render(&self.to, "url-rewrite") else { return Flow::Continue };
        let url = self.from.replace(&url, to.as_str()).into_owned();
        cx.out.steps.push(Step::UrlRewrite { url });
        Flow::Continue
    }
}
