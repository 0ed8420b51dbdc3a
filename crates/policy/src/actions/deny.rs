//! `deny`: end the request with a status code (default 403); on_tcp_connect closes the
//! connection.

use schemars::JsonSchema;
use serde::Deserialize;

use super::FieldErrors;
use crate::eval::{Flow, RunCx};
use crate::outcome::Cause;

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTP status code, 400–599. Default 403.
    pub status_code: Option<u16>,
}

#[derive(Debug, Clone)]
pub struct Deny {
    pub status_code: u16,
}

impl Deny {
    pub(crate) fn compile(cfg: Config) -> Result<Self, FieldErrors> {
        let status_code = cfg.status_code.unwrap_or(403);
        if !(400..=599).contains(&status_code) {
            return Err(vec![("status_code".into(), format!("{status_code} is not an error status (400-599)"))]);
        }
        Ok(Deny { status_code })
    }

    pub(crate) fn run(&self, cx: &mut RunCx<'_>) -> Flow {
        cx.respond(self.status_code, Vec::new(), String::new(), Cause::Deny)
    }
}
