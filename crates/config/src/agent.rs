//! `agent.yaml`: the agent's own file (`$XDG_CONFIG_HOME/warren/agent.yaml`), shaped like
//! ngrok's agent config v3 so a user moving over recognises it:
//!
//! ```yaml
//! version: 1
//! agent:
//!   authtoken: wrn_...
//!   server_addrs: [pop1.example.com:4443]
//!   ca_file: ./ca.pem            # optional: trust a private CA for the tunnel
//! endpoints:
//!   - name: api
//!     url: https://api.edge.example.com   # optional: a random name otherwise
//!     upstream: { url: 8080 }             # 8080, host:8080 or http(s)://host:port, tcp://host:port
//!     traffic_policy_file: ./policy.yaml
//!     pooling_enabled: false
//! ```

use std::path::PathBuf;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::{ConfigError, Secret, from_yaml};

/// `agent.yaml` exactly as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentFile {
    #[serde(default)]
    version: Option<Spanned<u32>>,
    #[serde(default)]
    agent: Option<AgentSection>,
    #[serde(default)]
    endpoints: Vec<EndpointFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentSection {
    #[serde(default)]
    authtoken: Option<Secret>,
    #[serde(default)]
    server_addrs: Vec<Spanned<String>>,
    #[serde(default)]
    ca_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointFile {
    name: Spanned<String>,
    #[serde(default)]
    url: Option<Spanned<String>>,
    upstream: UpstreamFile,
    #[serde(default)]
    traffic_policy_file: Option<PathBuf>,
    #[serde(default)]
    pooling_enabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpstreamFile {
    url: Spanned<UpstreamUrl>,
}

/// `8080` is a YAML integer; accept it as well as strings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum UpstreamUrl {
    Port(u16),
    Text(String),
}

/// The validated agent configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentConfig {
    pub authtoken: Option<Secret>,
    pub server_addrs: Vec<String>,
    pub ca_file: Option<PathBuf>,
    pub endpoints: Vec<AgentEndpoint>,
}

/// What kind of traffic an endpoint carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointProtocol {
    Http,
    Tcp,
}

/// One endpoint the agent serves.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentEndpoint {
    pub name: String,
    /// The public URL asked for; `None` lets the PoP pick a random name.
    pub url: Option<String>,
    pub protocol: EndpointProtocol,
    /// Where the backend is: `host:port`.
    pub upstream_addr: String,
    /// Whether the backend itself speaks TLS (`https://` upstream).
    pub upstream_tls: bool,
    pub traffic_policy_file: Option<PathBuf>,
    pub pooling_enabled: bool,
}

impl AgentConfig {
    /// Parses and validates the text of an agent file named `file`.
    pub fn parse(src: &str, file: &str) -> Result<AgentConfig, ConfigError> {
        let raw: AgentFile = from_yaml(src, file)?;
        let err = |at: (u64, u64), field: &str, reason: String| ConfigError {
            file: file.to_owned(),
            line: at.0,
            column: at.1,
            field: field.to_owned(),
            reason,
        };
        let pos = |l: &serde_saphyr::Location| (l.line(), l.column());
        if let Some(v) = &raw.version
            && v.value != 1
        {
            return Err(err(
                pos(&v.referenced),
                "version",
                format!("unsupported version {}, this agent reads version 1", v.value),
            ));
        }
        let section = raw.agent.unwrap_or(AgentSection { authtoken: None, server_addrs: Vec::new(), ca_file: None });
        for a in &section.server_addrs {
            if !crate::pop::is_host_port(&a.value) {
                return Err(err(pos(&a.referenced), "agent.server_addrs", format!("invalid host:port {:?}", a.value)));
            }
        }
        let mut endpoints = Vec::new();
        for (i, e) in raw.endpoints.into_iter().enumerate() {
            if e.name.value.is_empty() || endpoints.iter().any(|x: &AgentEndpoint| x.name == e.name.value) {
                return Err(err(
                    pos(&e.name.referenced),
                    &format!("endpoints[{i}].name"),
                    format!("names must be non-empty and unique, got {:?}", e.name.value),
                ));
            }
            let text = match &e.upstream.url.value {
                UpstreamUrl::Port(p) => p.to_string(),
                UpstreamUrl::Text(t) => t.clone(),
            };
            let up = parse_target(&text)
                .map_err(|r| err(pos(&e.upstream.url.referenced), &format!("endpoints[{i}].upstream.url"), r))?;
            let protocol = match &e.url {
                Some(u) => {
                    url_protocol(&u.value).map_err(|r| err(pos(&u.referenced), &format!("endpoints[{i}].url"), r))?
                }
                None if up.scheme == "tcp" => EndpointProtocol::Tcp,
                None => EndpointProtocol::Http,
            };
            endpoints.push(AgentEndpoint {
                name: e.name.value,
                url: e.url.map(|u| u.value),
                protocol,
                upstream_addr: up.addr,
                upstream_tls: up.scheme == "https",
                traffic_policy_file: e.traffic_policy_file,
                pooling_enabled: e.pooling_enabled,
            });
        }
        Ok(AgentConfig {
            authtoken: section.authtoken,
            server_addrs: section.server_addrs.into_iter().map(|s| s.value).collect(),
            ca_file: section.ca_file,
            endpoints,
        })
    }
}

/// A backend target as users type it on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `http`, `https` or `tcp`.
    pub scheme: &'static str,
    /// `host:port`.
    pub addr: String,
}

/// Parses `8080`, `host:8080`, `http://host:port`, `https://host:port` or `tcp://host:port`.
pub fn parse_target(s: &str) -> Result<Target, String> {
    let (scheme, rest) = match s.split_once("://") {
        Some(("http", r)) => ("http", r),
        Some(("https", r)) => ("https", r),
        Some(("tcp", r)) => ("tcp", r),
        Some((other, _)) => return Err(format!("unsupported scheme {other:?} (use http, https or tcp)")),
        None => ("http", s),
    };
    let rest = rest.trim_end_matches('/');
    let addr = if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
        let port: u16 =
            rest.parse().ok().filter(|p| *p > 0).ok_or_else(|| format!("port {rest} is not in 1..=65535"))?;
        format!("localhost:{port}")
    } else if rest.contains(':') {
        rest.to_owned()
    } else {
        // A bare host: the scheme's default port.
        format!("{rest}:{}", if scheme == "https" { 443 } else { 80 })
    };
    if !crate::pop::is_host_port(&addr) {
        return Err(format!("expected PORT, HOST:PORT or SCHEME://HOST:PORT, got {s:?}"));
    }
    Ok(Target { scheme, addr })
}

fn url_protocol(url: &str) -> Result<EndpointProtocol, String> {
    match url.split_once("://") {
        Some(("http" | "https", host)) if !host.is_empty() => Ok(EndpointProtocol::Http),
        Some(("tcp", host)) if !host.is_empty() => Ok(EndpointProtocol::Tcp),
        _ => Err(format!("expected https://NAME.ZONE, http://NAME.ZONE or tcp://ZONE:PORT, got {url:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_file() {
        let src = "version: 1\nagent:\n  authtoken: wrn_abc\n  server_addrs: [127.0.0.1:4443, pop.example.com:4443]\nendpoints:\n  - name: api\n    url: https://api.edge.test\n    upstream: { url: 8080 }\n    traffic_policy_file: p.yaml\n  - name: db\n    upstream: { url: \"tcp://10.1.1.1:5432\" }\n    pooling_enabled: true\n";
        let c = AgentConfig::parse(src, "agent.yaml").unwrap();
        assert_eq!(c.authtoken.as_ref().unwrap().expose(), "wrn_abc");
        assert_eq!(c.server_addrs.len(), 2);
        assert_eq!(c.endpoints[0].upstream_addr, "localhost:8080");
        assert_eq!(c.endpoints[0].protocol, EndpointProtocol::Http);
        assert_eq!(c.endpoints[1].protocol, EndpointProtocol::Tcp);
        assert!(c.endpoints[1].pooling_enabled);
        assert!(!format!("{c:?}").contains("wrn_abc"), "secrets never print");
    }

    #[test]
    fn errors_point_at_lines() {
        let src = "agent:\n  server_addrs: [nope]\n";
        let e = AgentConfig::parse(src, "a.yaml").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (2, "agent.server_addrs"), "{e}");
        let src = "endpoints:\n  - name: a\n    upstream: { url: \"ftp://x:1\" }\n";
        let e = AgentConfig::parse(src, "a.yaml").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (3, "endpoints[0].upstream.url"), "{e}");
        let src = "version: 3\n";
        assert_eq!(AgentConfig::parse(src, "a.yaml").unwrap_err().field, "version");
        let src = "agent:\n  authtoken: x\n  authtoken: y\n";
        assert_eq!(AgentConfig::parse(src, "a.yaml").unwrap_err().line, 3);
    }

    #[test]
    fn targets() {
        assert_eq!(parse_target("8080").unwrap(), Target { scheme: "http", addr: "localhost:8080".into() });
        assert_eq!(parse_target("10.0.0.2:81").unwrap().addr, "10.0.0.2:81");
        assert_eq!(
            parse_target("https://api.internal").unwrap(),
            Target { scheme: "https", addr: "api.internal:443".into() }
        );
        assert_eq!(parse_target("tcp://db:5432").unwrap().scheme, "tcp");
        assert!(parse_target("ftp://x:1").is_err());
        assert!(parse_target("a b").is_err());
        assert!(parse_target("99999").is_err());
        assert!(parse_target("0").is_err());
    }
}
