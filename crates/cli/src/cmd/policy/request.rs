//! The request file of `warren policy test` (`REQ.yaml`): strict parsing with positions, the
//! checks serde cannot make (URL, method, `repeat`...), and the resulting [`OfflineRequest`],
//! which is the [`RequestView`] the evaluator reads.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use warren_config::ConfigError;
use warren_jwt::KeySet;
use warren_policy::RequestView;

/// Upper bound of `repeat`: enough to show any rate limit, small enough to print.
const MAX_REPEAT: u32 = 10_000;

/// `REQ.yaml` as written. Strict: unknown fields, duplicate keys and tags are errors.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RequestFile {
    method: Option<String>,
    url: String,
    #[serde(default)]
    headers: Headers,
    body: Option<String>,
    client_ip: Option<IpAddr>,
    client_port: Option<u16>,
    server_region: Option<String>,
    tls_sni: Option<String>,
    now: Option<Timestamp>,
    token: Option<String>,
    jwks_file: Option<PathBuf>,
    response: Option<ResponseFile>,
    repeat: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ResponseFile {
    status_code: u16,
    #[serde(default)]
    headers: Headers,
}

/// Header name to one value or a list of values, in the order written.
#[derive(Debug, Default)]
pub(super) struct Headers(Vec<(String, String)>);

/// Unix milliseconds, written as RFC 3339 or as unix seconds.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timestamp(u64);

/// A header value: a scalar written without quotes (`x-count: 5`) is still text.
pub(super) struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a header value")
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// One value or a list of values.
pub(super) struct Values(Vec<String>);

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Values;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a header value or a list of values")
            }
            fn visit_str<E>(self, v: &str) -> Result<Values, E> {
                Ok(Values(vec![v.to_owned()]))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Values, E> {
                Ok(Values(vec![v.to_string()]))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Values, E> {
                Ok(Values(vec![v.to_string()]))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Values, E> {
                Ok(Values(vec![v.to_string()]))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Values, E> {
                Ok(Values(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Values, A::Error> {
                let mut out = Vec::new();
                while let Some(Scalar(s)) = seq.next_element()? {
                    out.push(s);
                }
                Ok(Values(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Headers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of header name to value or list of values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Headers, A::Error> {
                let mut out = Vec::new();
                while let Some((name, Values(values))) = map.next_entry::<String, Values>()? {
                    let ok = !name.is_empty()
                        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                    if !ok {
                        return Err(de::Error::custom(format!("invalid header name {name:?}")));
                    }
                    out.extend(values.into_iter().map(|v| (name.clone(), v)));
                }
                Ok(Headers(out))
            }
            fn visit_unit<E>(self) -> Result<Headers, E> {
                Ok(Headers::default())
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 time (2030-01-02T03:04:05Z) or unix seconds")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
                v.checked_mul(1000).map(Timestamp).ok_or_else(|| E::custom("time out of range"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
                let v = u64::try_from(v).map_err(|_| E::custom("time before 1970"))?;
                self.visit_u64(v)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                if let Ok(secs) = v.trim().parse::<u64>() {
                    return self.visit_u64(secs);
                }
                parse_rfc3339(v.trim()).map(Timestamp).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub(super) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)` to unix milliseconds.
pub(super) fn parse_rfc3339(s: &str) -> Result<u64, String> {
    let bad = || format!("{s:?} is not an RFC 3339 time like 2030-01-02T03:04:05Z, nor unix seconds");
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|t| t.parse::<i64>().ok()).ok_or_else(bad);
    let (y, mo, d, h, mi, sec) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    if b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return Err(bad());
    }
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let ms: String = frac[..digits].chars().chain("000".chars()).take(3).collect();
        millis = ms.parse().map_err(|_| bad())?;
        rest = &frac[digits..];
    }
    let offset_secs = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return Err(bad()),
            };
            let oh: i64 = rest[1..3].parse().map_err(|_| bad())?;
            let om: i64 = rest[4..6].parse().map_err(|_| bad())?;
            sign * (oh * 3600 + om * 60)
        }
        _ => return Err(bad()),
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset_secs;
    u64::try_from(secs * 1000 + millis).map_err(|_| "time before 1970".to_owned())
}

/// Unix milliseconds as RFC 3339 UTC.
pub(super) fn rfc3339(ms: u64) -> String {
    // chrono is already in the graph (cel's timestamps); one formatter everywhere.
    chrono::DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX))
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Where `key` (a top-level key, or `parent.key`) is written, to point semantic errors at it.
pub(super) fn locate(src: &str, field: &str) -> (u64, u64) {
    let (parent, key) = match field.split_once('.') {
        Some((p, k)) => (Some(p), k),
        None => (None, field),
    };
    let mut lines = src.lines().enumerate();
    if let Some(parent) = parent {
        let prefix = format!("{parent}:");
        if lines.by_ref().find(|(_, l)| l.starts_with(&prefix)).is_none() {
            return (0, 0);
        }
        // A flow mapping on the parent's own line is not searched; the parent line is enough.
    }
    for (i, line) in lines {
        let trimmed = line.trim_start();
        if parent.is_none() && trimmed.len() != line.len() {
            continue;
        }
        if let Some(after) = trimmed.strip_prefix(key).and_then(|r| r.strip_prefix(':')) {
            let value_col = line.len() - after.trim_start().len() + 1;
            return (i as u64 + 1, value_col as u64);
        }
    }
    (0, 0)
}

/// The request to evaluate, validated.
#[derive(Debug)]
pub(super) struct OfflineRequest {
    pub(super) method: String,
    pub(super) scheme: String,
    pub(super) host: String,
    pub(super) path: String,
    pub(super) query: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Option<String>,
    pub(super) client_ip: IpAddr,
    pub(super) client_port: u16,
    pub(super) server_region: String,
    pub(super) tls_sni: Option<String>,
    pub(super) endpoint_url: String,
    pub(super) response: Option<(u16, Vec<(String, String)>)>,
}

/// Everything `policy test` was asked to do.
pub(super) struct TestPlan {
    pub(super) request: OfflineRequest,
    pub(super) now_ms: u64,
    pub(super) repeat: u32,
    pub(super) keys: Option<(String, KeySet)>,
}

/// Splits `scheme://authority/path?query#fragment`.
pub(super) fn parse_url(url: &str) -> Result<(String, String, String, String), String> {
    let (scheme, rest) =
        url.split_once("://").ok_or_else(|| format!("{url:?} is not a full URL like https://api.example.com/path"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!("scheme {scheme:?} is not http or https"));
    }
    let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(end);
    if host.is_empty() || host.contains(char::is_whitespace) || tail.contains(char::is_whitespace) {
        return Err(format!("{url:?} has no host or contains spaces"));
    }
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    let path = if path.is_empty() { "/" } else { path };
    Ok((scheme, host.to_owned(), path.to_owned(), query.to_owned()))
}

pub(super) fn plan(path: &Path) -> anyhow::Result<Result<TestPlan, ConfigError>> {
    let src = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let file = path.display().to_string();
    let f: RequestFile = match warren_config::from_yaml(&src, &file) {
        Ok(f) => f,
        Err(e) => return Ok(Err(e)),
    };
    let err = |field: &str, reason: String| {
        let (line, column) = locate(&src, field);
        Ok(Err(ConfigError { file: file.clone(), line, column, field: field.to_owned(), reason }))
    };
    let (scheme, host, req_path, query) = match parse_url(&f.url) {
        Ok(parts) => parts,
        Err(reason) => return err("url", reason),
    };
    let method = f.method.unwrap_or_else(|| "GET".into());
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
        return err("method", format!("{method:?} is not an HTTP method"));
    }
    let repeat = f.repeat.unwrap_or(1);
    if !(1..=MAX_REPEAT).contains(&repeat) {
        return err("repeat", format!("must be between 1 and {MAX_REPEAT}"));
    }
    let mut headers = f.headers.0;
    if let Some(token) = f.token {
        if headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("authorization")) {
            return err("token", "token sets the Authorization header, which headers also sets: keep one".into());
        }
        headers.push(("Authorization".into(), format!("Bearer {}", token.trim())));
    }
    let response = match f.response {
        Some(r) if !(100..=599).contains(&r.status_code) => {
            return err("response.status_code", format!("{} is not an HTTP status (100-599)", r.status_code));
        }
        Some(r) => Some((r.status_code, r.headers.0)),
        None => None,
    };
    let keys = match f.jwks_file {
        Some(jwks) => {
            let jwks = if jwks.is_relative() { path.parent().unwrap_or(Path::new(".")).join(jwks) } else { jwks };
            let doc = match std::fs::read(&jwks) {
                Ok(doc) => doc,
                Err(e) => return err("jwks_file", format!("cannot read {}: {e}", jwks.display())),
            };
            match KeySet::from_jwks_json(&doc) {
                Ok(keys) => Some((jwks.display().to_string(), keys)),
                Err(e) => return err("jwks_file", format!("{}: {e}", jwks.display())),
            }
        }
        None => None,
    };
    let now_ms = match f.now {
        Some(Timestamp(ms)) => ms,
        None => {
            SystemTime::now().duration_since(UNIX_EPOCH).context("the system clock is before 1970")?.as_millis() as u64
        }
    };
    let tls_sni = f.tls_sni.or_else(|| (scheme == "https").then(|| host_without_port(&host).to_owned()));
    let request = OfflineRequest {
        endpoint_url: format!("{scheme}://{}", host_without_port(&host)),
        method,
        scheme,
        host,
        path: req_path,
        query,
        headers,
        body: f.body,
        client_ip: f.client_ip.unwrap_or(IpAddr::from([203, 0, 113, 1])),
        client_port: f.client_port.unwrap_or(50_000),
        server_region: f.server_region.unwrap_or_else(|| "local".into()),
        tls_sni,
        response,
    };
    Ok(Ok(TestPlan { request, now_ms, repeat, keys }))
}

pub(super) fn host_without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split_once(']').map_or(host, |(h, _)| h);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

pub(super) fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = raw.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(b)) => {
                out.push(b);
                i += 2;
            }
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl RequestView for OfflineRequest {
    fn method(&self) -> &str {
        &self.method
    }
    fn scheme(&self) -> &str {
        &self.scheme
    }
    fn host(&self) -> &str {
        &self.host
    }
    fn path(&self) -> &str {
        &self.path
    }
    fn raw_query(&self) -> &str {
        &self.query
    }
    fn for_each_header(&self, f: &mut dyn FnMut(&str, &str)) {
        self.headers.iter().for_each(|(k, v)| f(k, v));
    }
    fn body_field(&self, name: &str) -> Option<String> {
        let body = self.body.as_deref()?.trim();
        if body.starts_with('{') {
            return match serde_json::from_str::<Value>(body).ok()?.get(name)? {
                Value::String(s) => Some(s.clone()),
                other => Some(other.to_string()),
            };
        }
        body.split('&')
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| percent_decode(k) == name)
            .map(|(_, v)| percent_decode(v))
    }
    fn client_ip(&self) -> IpAddr {
        self.client_ip
    }
    fn client_port(&self) -> u16 {
        self.client_port
    }
    fn server_region(&self) -> &str {
        &self.server_region
    }
    fn tls_sni(&self) -> Option<&str> {
        self.tls_sni.as_deref()
    }
    fn endpoint_url(&self) -> &str {
        &self.endpoint_url
    }
    fn response_status(&self) -> Option<u16> {
        self.response.as_ref().map(|(s, _)| *s)
    }
    fn for_each_response_header(&self, f: &mut dyn FnMut(&str, &str)) {
        if let Some((_, headers)) = &self.response {
            headers.iter().for_each(|(k, v)| f(k, v));
        }
    }
}

pub(super) fn request_url(req: &OfflineRequest) -> String {
    if req.query.is_empty() {
        format!("{}://{}{}", req.scheme, req.host, req.path)
    } else {
        format!("{}://{}{}?{}", req.scheme, req.host, req.path, req.query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips() {
        for s in ["1970-01-01T00:00:00.000Z", "2030-01-02T03:04:05.678Z", "2024-02-29T23:59:59.000Z"] {
            assert_eq!(rfc3339(parse_rfc3339(s).unwrap()), s);
        }
        assert_eq!(parse_rfc3339("2030-01-02T05:04:05+02:00").unwrap(), parse_rfc3339("2030-01-02T03:04:05Z").unwrap());
        assert!(parse_rfc3339("2030-13-02T03:04:05Z").is_err());
        assert!(parse_rfc3339("yesterday").is_err());
    }

    #[test]
    fn urls_split() {
        let (scheme, host, path, query) = parse_url("HTTPS://api.example.com:8443?a=1#frag").unwrap();
        assert_eq!(
            (scheme.as_str(), host.as_str(), path.as_str(), query.as_str()),
            ("https", "api.example.com:8443", "/", "a=1")
        );
        assert!(parse_url("/just/a/path").is_err());
        assert!(parse_url("ftp://x/").is_err());
    }

    #[test]
    fn locate_points_at_values() {
        let src = "url: https://x/\nrepeat: 0\nresponse:\n  status_code: 9\n";
        assert_eq!(locate(src, "repeat"), (2, 9));
        assert_eq!(locate(src, "response.status_code"), (4, 16));
        assert_eq!(locate(src, "token"), (0, 0));
    }
}
