//! `redirect`: answer with a redirect to `to` (after an optional regex `from` rewrite of the
//! request URL); status 301, 302 (default), 303, 307 or 308.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::url_rewrite::{compile_regex, request_url};
use super::{FieldErrors, compile_headers};
use crate::eval::{Flow, RunCx};
use crate::expr::Uses;
use crate::interpolate::Template;
use crate::outcome::Cause;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub from: Option<String>,
    pub to: String,
    pub status_code: Option<u16>,
    pub headers: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone)]
pub struct Redirect {
    pub from: Option<regex::Regex>,
    pub to: Template,
    pub status_code: u16,
    pub headers: Vec<(String, Template)>,
}

impl Redirect {
    pub(crate) fn compile(cfg: Config) -> Result<Self, FieldErrors> {
        let mut errors: FieldErrors = Vec::new();
        let status_code = cfg.status_code.unwrap_or(302);
        if ![301, 302, 303, 307, 308].contains(&status_code) {
            errors.push((
                "status_code".into(),
                format!("{status_code} is not a redirect status (301, 302, 303, 307, 308)"),
            ));
        }
        let from = match cfg.from.as_deref().map(|f| compile_regex("from", f)) {
            Some(Err(e)) => {
                errors.push(e);
                None
            }
            Some(Ok(r)) => Some(r),
            None => None,
        };
        let to = Template::compile(&cfg.to).map_err(|e| errors.push(("to".into(), e))).ok();
        let headers = compile_headers(cfg.headers.unwrap_or_default(), &mut errors);
        match to {
            Some(to) if errors.is_empty() => Ok(Redirect { from, to, status_code, headers }),
            _ => Err(errors),
        }
    }

    pub(crate) fn uses(&self, uses: &mut Uses) {
        uses.merge(&self.to.uses);
        self.headers.iter().for_each(|(_, t)| uses.merge(&t.uses));
    }

    pub(crate) fn run(&self, cx: &mut RunCx<'_>) -> Flow {
        let url = request_url(cx);
        if let Some(from) = &self.from
            && !from.is_match(&url)
        {
            return Flow::Continue;
        }
        let Some(to) = cx.render(&self.to, "redirect") else { return Flow::Continue };
        let location = match &self.from {
            Some(from) => from.replace(&url, to.as_str()).into_owned(),
            None => to,
        };
        let mut headers = vec![("location".to_string(), location)];
        for (name, t) in &self.headers {
            headers.push((name.clone(), cx.render(t, "redirect").unwrap_or_default()));
        }
        cx.respond(self.status_code, headers, String::new(), Cause::Redirect)
    }
}
