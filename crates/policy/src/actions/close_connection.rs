//! `close-connection`: drop the connection without a response.

use schemars::JsonSchema;
use serde::Deserialize;

use super::FieldErrors;
use crate::eval::{Flow, RunCx};
use crate::outcome::{Cause, Terminal};

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {}

#[derive(Debug, Clone)]
pub struct CloseConnection;

impl CloseConnection {
    pub(crate) fn compile(_cfg: Config) -> Result<Self, FieldErrors> {
        Ok(CloseConnection)
    }

    pub(crate) fn run(&self, cx: &mut RunCx<'_>) -> Flow {
        cx.out.terminal = Some(Terminal::CloseConnection { cause: Cause::CloseConnection });
        Flow::Stop
    }
}
