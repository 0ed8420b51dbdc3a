//! ngrok's helper functions for expressions: `getReqHeader`, `hasReqHeader`, `getQueryParam`,
//! `inCidrRange`, `inCidrRanges`.
//!
//! CEL functions are registered once per context and cannot borrow the request, so the request
//! helpers read the `req` variable from the evaluation context; [`reads`] tells the compiler
//! which request fields they need so those get built.

use std::net::IpAddr;
use std::sync::Arc;

use cel::objects::{Key, Map};
use cel::{Context, ExecutionError, FunctionContext, Value};
use ipnet::IpNet;

/// The `(variable, field)` pairs a helper function reads.
pub(crate) fn reads(function: &str) -> &'static [(&'static str, &'static str)] {
    match function {
        "getReqHeader" | "hasReqHeader" => &[("req", "headers")],
        "getQueryParam" => &[("req", "url")],
        _ => &[],
    }
}

/// Adds the helpers to a fresh root context.
pub(crate) fn register(ctx: &mut Context<'_, '_>) {
    // Names are not standard overloads, so registration cannot conflict.
    let _ = ctx.add_function("getReqHeader", get_req_header);
    let _ = ctx.add_function("hasReqHeader", has_req_header);
    let _ = ctx.add_function("getQueryParam", get_query_param);
    let _ = ctx.add_function("inCidrRange", in_cidr_range);
    let _ = ctx.add_function("inCidrRanges", in_cidr_ranges);
}

fn field<'m>(map: &'m Map, name: &str) -> Option<&'m Value> {
    map.map.get(&Key::String(Arc::new(name.to_owned())))
}

/// `req.<path...>` as a map, from the context.
fn req_map(ftx: &FunctionContext, path: &[&str]) -> Result<Option<Map>, ExecutionError> {
    let Some(req) = ftx.ptx.get_variable("req") else {
        return Err(ftx.error("request variables are not available in this phase"));
    };
    let mut value = Value::try_from(req.as_ref())?;
    for step in path {
        value = match &value {
            Value::Map(m) => match field(m, step) {
                Some(v) => v.clone(),
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
    }
    match value {
        Value::Map(m) => Ok(Some(m)),
        _ => Ok(None),
    }
}

fn lookup_list(map: Option<Map>, key: &str) -> Value {
    map.and_then(|m| field(&m, key).cloned()).unwrap_or_else(|| Value::List(Arc::new(Vec::new())))
}

/// `getReqHeader(name)`: every value of the header (case-insensitive), `[]` when absent.
fn get_req_header(ftx: &FunctionContext, name: Arc<String>) -> Result<Value, ExecutionError> {
    let headers = req_map(ftx, &["headers"])?;
    Ok(lookup_list(headers, &name.to_ascii_lowercase()))
}

/// `hasReqHeader(name)`: whether the header is present (case-insensitive).
fn has_req_header(ftx: &FunctionContext, name: Arc<String>) -> Result<bool, ExecutionError> {
    let headers = req_map(ftx, &["headers"])?;
    Ok(headers.is_some_and(|m| field(&m, &name.to_ascii_lowercase()).is_some()))
}

/// `getQueryParam(name)`: every value of the query parameter (case-sensitive), `[]` when absent.
fn get_query_param(ftx: &FunctionContext, name: Arc<String>) -> Result<Value, ExecutionError> {
    let params = req_map(ftx, &["url", "query_params"])?;
    Ok(lookup_list(params, &name))
}

pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// A CIDR, or a bare address meaning a single host.
pub(crate) fn parse_net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>().ok().or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

pub(crate) fn contains(net: &IpNet, ip: IpAddr) -> bool {
    net.contains(&ip)
}

fn in_cidr_range(ftx: &FunctionContext, ip: Arc<String>, cidr: Arc<String>) -> Result<bool, ExecutionError> {
    let ip = parse_ip(&ip).ok_or_else(|| ftx.error(format!("invalid IP address {ip:?}")))?;
    let net = parse_net(&cidr).ok_or_else(|| ftx.error(format!("invalid CIDR {cidr:?}")))?;
    Ok(contains(&net, ip))
}

fn in_cidr_ranges(ftx: &FunctionContext, ip: Arc<String>, cidrs: Value) -> Result<bool, ExecutionError> {
    let ip = parse_ip(&ip).ok_or_else(|| ftx.error(format!("invalid IP address {ip:?}")))?;
    let Value::List(items) = cidrs else {
        return Err(ftx.error("second argument must be a list of CIDR strings"));
    };
    let mut hit = false;
    // Every entry is validated (not only up to the first hit) so a typo never hides.
    for item in items.iter() {
        let Value::String(s) = item else {
            return Err(ftx.error("second argument must be a list of CIDR strings"));
        };
        let net = parse_net(s).ok_or_else(|| ftx.error(format!("invalid CIDR {s:?}")))?;
        hit |= contains(&net, ip);
    }
    Ok(hit)
}
