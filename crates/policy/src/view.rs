//! What the evaluator may ask about a request: the [`RequestView`] trait the edge implements,
//! and the conversion of exactly the parts an expression reads into CEL variables.
//!
//! Nothing is copied out of the request unless a compiled expression of the phase references it
//! (see `expr::Uses`), so a policy that only checks `req.method` never parses cookies or builds
//! the header map.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use cel::objects::{Key, Map};
use cel::{Context, Program, Value};

use crate::expr::{ENV, Uses};

/// Geolocation of the client, when the edge knows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Geo {
    pub country_code: String,
    pub country: String,
    pub subdivision: String,
    pub city: String,
    pub postal_code: String,
    pub latitude: f64,
    pub longitude: f64,
}

/// The request (and, in `on_http_response`, the response) as the evaluator sees it. HTTP parts
/// have empty defaults so a TCP connection can implement only the connection parts.
pub trait RequestView {
    fn method(&self) -> &str {
        ""
    }
    /// `http` or `https`.
    fn scheme(&self) -> &str {
        ""
    }
    /// The Host (authority) the client asked for, with port if it gave one.
    fn host(&self) -> &str {
        ""
    }
    /// The path, percent-encoded as received.
    fn path(&self) -> &str {
        ""
    }
    /// The query string without `?`, as received.
    fn raw_query(&self) -> &str {
        ""
    }
    /// Calls `f(name, value)` for every request header, in order, repeated names repeated.
    fn for_each_header(&self, _f: &mut dyn FnMut(&str, &str)) {}
    /// A field of a form-encoded or JSON body, for jwt-validation's `method: body`.
    fn body_field(&self, _name: &str) -> Option<String> {
        None
    }
    fn client_ip(&self) -> IpAddr;
    fn client_port(&self) -> u16;
    /// The PoP region serving the connection.
    fn server_region(&self) -> &str {
        ""
    }
    fn tls_sni(&self) -> Option<&str> {
        None
    }
    fn geo(&self) -> Option<Geo> {
        None
    }
    /// The public URL of the endpoint, e.g. `https://api.edge.example.com`.
    fn endpoint_url(&self) -> &str;
    /// The upstream response status (only in `on_http_response`).
    fn response_status(&self) -> Option<u16> {
        None
    }
    /// Calls `f(name, value)` for every response header (only in `on_http_response`).
    fn for_each_response_header(&self, _f: &mut dyn FnMut(&str, &str)) {}
}

fn s(v: &str) -> Value {
    Value::String(Arc::new(v.to_owned()))
}

fn map(entries: Vec<(&str, Value)>) -> Value {
    let m: HashMap<Key, Value> = entries.into_iter().map(|(k, v)| (Key::String(Arc::new(k.to_owned())), v)).collect();
    Value::Map(Map { map: Arc::new(m) })
}

fn list_map(pairs: Vec<(String, Value)>) -> Value {
    let mut m: HashMap<Key, Vec<Value>> = HashMap::new();
    for (k, v) in pairs {
        m.entry(Key::String(Arc::new(k))).or_default().push(v);
    }
    let m = m.into_iter().map(|(k, v)| (k, Value::List(Arc::new(v)))).collect();
    Value::Map(Map { map: Arc::new(m) })
}

/// Something that calls its argument once per header.
type EachHeader<'a> = &'a dyn Fn(&mut dyn FnMut(&str, &str));

pub(crate) fn headers_value(each: EachHeader<'_>) -> Value {
    let mut pairs = Vec::new();
    each(&mut |name, value| pairs.push((name.to_ascii_lowercase(), s(value))));
    list_map(pairs)
}

/// Percent-decodes a query component (`+` is a space).
pub(crate) fn decode_component(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn query_pairs(raw: &str) -> Vec<(String, String)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode_component(k), decode_component(v))
        })
        .collect()
}

fn cookies(view: &dyn RequestView) -> Value {
    let mut pairs = Vec::new();
    view.for_each_header(&mut |name, value| {
        if name.eq_ignore_ascii_case("cookie") {
            for part in value.split(';') {
                let part = part.trim();
                if let Some((k, v)) = part.split_once('=') {
                    let cookie = map(vec![("name", s(k.trim())), ("value", s(v.trim()))]);
                    pairs.push((k.trim().to_owned(), cookie));
                }
            }
        }
    });
    list_map(pairs)
}

fn url(view: &dyn RequestView) -> Value {
    let query = view.raw_query();
    let raw = if query.is_empty() {
        format!("{}://{}{}", view.scheme(), view.host(), view.path())
    } else {
        format!("{}://{}{}?{}", view.scheme(), view.host(), view.path(), query)
    };
    let params = query_pairs(query).into_iter().map(|(k, v)| (k, s(&v))).collect();
    map(vec![
        ("raw", s(&raw)),
        ("scheme", s(view.scheme())),
        ("host", s(host_without_port(view.host()))),
        ("authority", s(view.host())),
        ("path", s(view.path())),
        ("query", s(query)),
        ("raw_query", s(query)),
        ("query_params", list_map(params)),
    ])
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.split_once(']').map_or(host, |(h, _)| &h[1..]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

fn req(view: &dyn RequestView, uses: &Uses) -> Value {
    let mut fields = Vec::new();
    let want = |f: &str| uses.wants("req", f);
    if want("method") {
        fields.push(("method", s(view.method())));
    }
    if want("url") {
        fields.push(("url", url(view)));
    }
    if want("host") {
        fields.push(("host", s(view.host())));
    }
    if want("headers") {
        fields.push(("headers", headers_value(&|f| view.for_each_header(f))));
    }
    if want("cookies") {
        fields.push(("cookies", cookies(view)));
    }
    if want("user_agent") {
        let mut ua = String::new();
        view.for_each_header(&mut |n, v| {
            if ua.is_empty() && n.eq_ignore_ascii_case("user-agent") {
                ua = v.to_owned();
            }
        });
        fields.push(("user_agent", map(vec![("raw", s(&ua))])));
    }
    map(fields)
}

fn conn(view: &dyn RequestView, uses: &Uses) -> Value {
    let mut fields = vec![
        ("client_ip", s(&view.client_ip().to_canonical().to_string())),
        ("client_port", Value::Int(i64::from(view.client_port()))),
        ("server_region", s(view.server_region())),
        ("tls", map(vec![("sni", s(view.tls_sni().unwrap_or("")))])),
    ];
    if uses.wants("conn", "geo") {
        let g = view.geo().unwrap_or_default();
        fields.push((
            "geo",
            map(vec![
                ("country_code", s(&g.country_code)),
                ("country", s(&g.country)),
                ("subdivision", s(&g.subdivision)),
                ("city", s(&g.city)),
                ("postal_code", s(&g.postal_code)),
                ("latitude", s(&g.latitude.to_string())),
                ("longitude", s(&g.longitude.to_string())),
            ]),
        ));
    }
    map(fields)
}

fn res(view: &dyn RequestView) -> Value {
    map(vec![
        ("status_code", Value::Int(i64::from(view.response_status().unwrap_or(0)))),
        ("headers", headers_value(&|f| view.for_each_response_header(f))),
    ])
}

/// Formats unix milliseconds as RFC 3339 (UTC) — civil-from-days, so no date crate is needed.
pub(crate) fn rfc3339(now_ms: u64) -> String {
    // chrono is already in the graph (cel's timestamps); one formatter everywhere.
    chrono::DateTime::from_timestamp_millis(i64::try_from(now_ms).unwrap_or(i64::MAX))
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

static TIMESTAMP: LazyLock<Option<Program>> = LazyLock::new(|| ENV.compile("timestamp(t)").ok());

fn timestamp(now_ms: u64) -> Value {
    let mut ctx = Context::with_env(Arc::clone(&ENV));
    ctx.add_variable_from_value("t", rfc3339(now_ms));
    // The program is a constant; if it could not run, `time.now` stays a string.
    TIMESTAMP.as_ref().and_then(|p| p.execute(&ctx).ok()).unwrap_or_else(|| s(&rfc3339(now_ms)))
}

/// Which phase is evaluated: decides which variables exist at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    OnTcpConnect,
    OnHttpRequest,
    OnHttpResponse,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::OnTcpConnect => "on_tcp_connect",
            Phase::OnHttpRequest => "on_http_request",
            Phase::OnHttpResponse => "on_http_response",
        }
    }

    /// Whether `var` exists in this phase.
    pub(crate) fn has(self, var: &str) -> bool {
        match var {
            "req" => self != Phase::OnTcpConnect,
            "res" => self == Phase::OnHttpResponse,
            _ => true,
        }
    }
}

/// Puts the request-derived variables `uses` needs into `ctx`.
pub(crate) fn add_request_vars(
    ctx: &mut Context<'_, '_>,
    uses: &Uses,
    view: &dyn RequestView,
    phase: Phase,
    now_ms: u64,
) {
    if uses.uses("req") && phase.has("req") {
        ctx.add_variable_from_value("req", req(view, uses));
    }
    if uses.uses("res") && phase.has("res") {
        ctx.add_variable_from_value("res", res(view));
    }
    if uses.uses("conn") {
        ctx.add_variable_from_value("conn", conn(view, uses));
    }
    if uses.uses("endpoint") {
        ctx.add_variable_from_value("endpoint", map(vec![("url", s(view.endpoint_url()))]));
    }
    if uses.uses("time") {
        ctx.add_variable_from_value("time", map(vec![("now", timestamp(now_ms))]));
    }
}
