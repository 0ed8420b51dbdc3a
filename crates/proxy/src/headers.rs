//! Header hygiene at the two borders of the tunnel.
//!
//! Hop-by-hop headers describe one connection, not the message (RFC 9110 §7.6.1): the client's
//! connection to the edge and the agent's connection to the backend are different connections,
//! so those headers are dropped on both sides and each hyper connection writes its own.
//! Exceptions: `TE: trailers` (gRPC backends require it, and it is what makes trailers flow)
//! and, for protocol upgrades only, `Upgrade` with `Connection: upgrade`.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use warren_wire::HeaderList;

use crate::ProxyError;

/// Headers that always describe a single connection.
const HOP_BY_HOP: &[&str] =
    &["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "http2-settings"];

/// Forwarding headers the edge owns: whatever the client sent under these names is dropped, so
/// a client-sent value never displaces (or precedes) the real client address.
const FORWARDING: &[&str] =
    &["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port", "forwarded"];

/// Removes hop-by-hop headers in place. With `upgrade`, keeps `Upgrade` and sends
/// `Connection: upgrade`, as an HTTP/1.1 upgrade needs both on the next hop too.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    // Headers named by `Connection` are hop-by-hop as well (RFC 9110 §7.6.1).
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    let wants_trailers = headers
        .get_all(header::TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("trailers")));
    let upgrade_value = headers.get(header::UPGRADE).cloned();
    for name in named {
        if !name.as_str().starts_with(':') {
            headers.remove(name);
        }
    }
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
    let proxy: Vec<HeaderName> = headers.keys().filter(|n| n.as_str().starts_with("proxy-")).cloned().collect();
    for name in proxy {
        headers.remove(name);
    }
    if wants_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    if let (true, Some(value)) = (upgrade, upgrade_value) {
        headers.insert(header::UPGRADE, value);
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

/// Whether a request asks for an HTTP/1.1 protocol upgrade (WebSocket and the like).
pub(crate) fn wants_upgrade(headers: &HeaderMap) -> bool {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    connection_upgrade && headers.contains_key(header::UPGRADE)
}

/// Replaces the client's forwarding headers with the ones the edge knows to be true.
pub(crate) fn set_forwarded(headers: &mut HeaderMap, client: IpAddr, proto: &str, host: &str) {
    for name in FORWARDING {
        headers.remove(*name);
    }
    // An IP address's text form is always a valid header value.
    if let Ok(v) = HeaderValue::from_str(&client.to_string()) {
        headers.insert("x-forwarded-for", v);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static(if proto == "https" { "https" } else { "http" }));
    if let Ok(v) = HeaderValue::from_str(host) {
        headers.insert("x-forwarded-host", v);
    }
}

/// The headers as the wire carries them.
pub(crate) fn to_list(headers: &HeaderMap) -> HeaderList {
    headers.iter().map(|(n, v)| (n.as_str().to_owned(), v.as_bytes().to_vec())).collect()
}

/// Headers from the wire, refusing names or values that are not valid HTTP. `side` names the
/// head they came in, which decides who is blamed.
pub(crate) fn from_list(list: HeaderList, side: &'static str) -> Result<HeaderMap, ProxyError> {
    let mut map = HeaderMap::with_capacity(list.len());
    for (name, value) in list {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| ProxyError::InvalidHead {
            side,
            what: "header name",
            value: name.clone(),
        })?;
        let value = HeaderValue::from_bytes(&value).map_err(|_| ProxyError::InvalidHead {
            side,
            what: "header value",
            value: String::from_utf8_lossy(&value).into_owned(),
        })?;
        map.append(name, value);
    }
    Ok(map)
}

/// The exact body length a head announces, if it announces one.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    let mut values = headers.get_all(header::CONTENT_LENGTH).iter();
    let first = values.next()?.to_str().ok()?.trim().parse().ok()?;
    // Conflicting lengths: trust none (hyper refuses such messages on its side anyway).
    values.all(|v| v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()) == Some(first)).then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (n, v) in pairs {
            m.append(*n, HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn hop_by_hop_headers_go_and_end_to_end_ones_stay() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("proxy-authorization", "Basic x"),
            ("transfer-encoding", "chunked"),
            ("te", "gzip, trailers;q=1"),
            ("upgrade", "websocket"),
            ("content-type", "text/plain"),
            ("trailer", "grpc-status"),
        ]);
        strip_hop_by_hop(&mut h, false);
        let mut names: Vec<&str> = h.keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["content-type", "te", "trailer"]);
        assert_eq!(h["te"], "trailers");
    }

    #[test]
    fn upgrades_keep_upgrade_and_connection() {
        let mut h = map(&[("connection", "Upgrade"), ("upgrade", "websocket"), ("te", "gzip")]);
        assert!(wants_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["connection"], "upgrade");
        assert!(!h.contains_key("te"));
        assert!(!wants_upgrade(&map(&[("upgrade", "websocket")])));
    }

    #[test]
    fn forged_forwarding_headers_are_replaced() {
        let mut h =
            map(&[("x-forwarded-for", "6.6.6.6"), ("forwarded", "for=6.6.6.6"), ("x-forwarded-proto", "https")]);
        set_forwarded(&mut h, "192.0.2.7".parse().unwrap(), "http", "api.edge.test:8080");
        assert_eq!(h.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(h["x-forwarded-for"], "192.0.2.7");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "api.edge.test:8080");
        assert!(!h.contains_key("forwarded"));
    }

    #[test]
    fn lists_round_trip_and_bad_names_are_refused() {
        let h = map(&[("a", "1"), ("a", "2"), ("b", "3")]);
        assert_eq!(from_list(to_list(&h), "request").unwrap(), h);
        let bad = vec![("bad name".to_owned(), b"v".to_vec())];
        assert!(matches!(from_list(bad, "request"), Err(ProxyError::InvalidHead { .. })));
        let bad = vec![("ok".to_owned(), b"a\nb".to_vec())];
        assert!(from_list(bad, "response").is_err());
    }

    #[test]
    fn content_length_is_exact_or_absent() {
        assert_eq!(content_length(&map(&[("content-length", "42")])), Some(42));
        assert_eq!(content_length(&map(&[("content-length", "42"), ("content-length", "42")])), Some(42));
        assert_eq!(content_length(&map(&[("content-length", "42"), ("content-length", "43")])), None);
        assert_eq!(content_length(&map(&[("content-length", "x")])), None);
        assert_eq!(content_length(&HeaderMap::new()), None);
    }
}
