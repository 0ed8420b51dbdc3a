//! `restrict-ips`: allow the connection only if `conn.client_ip` is in at least one `allow` CIDR
//! (when any are given) and in no `deny` CIDR. Only the layer-4 source address counts, never
//! X-Forwarded-For. `enforce: false` records the verdict and continues.

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::Deserialize;

use super::FieldErrors;
use crate::eval::{Flow, RunCx};
use crate::functions::parse_net;
use crate::outcome::Cause;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub enforce: Option<bool>,
    pub allow: Option<Vec<String>>,
    pub deny: Option<Vec<String>>,
    /// ngrok IP policy ids: not supported by Warren (rejected at load).
    pub ip_policies: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct RestrictIps {
    pub enforce: bool,
    pub allow: Vec<IpNet>,
    pub deny: Vec<IpNet>,
}

fn nets(field: &str, list: Option<Vec<String>>, errors: &mut FieldErrors) -> Vec<IpNet> {
    let mut out = Vec::new();
    for s in list.unwrap_or_default() {
        match parse_net(&s) {
            Some(net) => out.push(net.trunc()),
            None => errors.push((field.to_owned(), format!("invalid CIDR {s:?}"))),
        }
    }
    out
}

impl RestrictIps {
    pub(crate) fn compile(cfg: Config) -> Result<Self, FieldErrors> {
        let mut errors = Vec::new();
        if cfg.ip_policies.is_some_and(|p| !p.is_empty()) {
            errors.push((
                "ip_policies".into(),
                "ngrok IP policy references are not supported; list CIDRs in allow/deny".into(),
            ));
        }
        let allow = nets("allow", cfg.allow, &mut errors);
        let deny = nets("deny", cfg.deny, &mut errors);
        if allow.is_empty() && deny.is_empty() && errors.is_empty() {
            errors.push(("allow".into(), "at least one allow or deny CIDR is required".into()));
        }
        if errors.is_empty() {
            Ok(RestrictIps { enforce: cfg.enforce.unwrap_or(true), allow, deny })
        } else {
            Err(errors)
        }
    }

    /// Whether `ip` may pass.
    pub fn permits(&self, ip: std::net::IpAddr) -> bool {
        let ip = ip.to_canonical();
        (self.allow.is_empty() || self.allow.iter().any(|n| n.contains(&ip)))
            && !self.deny.iter().any(|n| n.contains(&ip))
    }

    pub(crate) fn run(&self, cx: &mut RunCx<'_>) -> Flow {
        if self.permits(cx.view.client_ip()) || !self.enforce {
            return Flow::Continue;
        }
        cx.respond(403, Vec::new(), String::new(), Cause::RestrictIps)
    }
}
