//! Validated names: PoP ids, zones and endpoint host names.
//!
//! These arrive from config files, agents and DNS queries, i.e. from outside; holding one of
//! these types means the string was checked once, at the border.

use std::fmt;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("must be 1 to {max} characters, got {actual}")]
    Length { max: usize, actual: usize },
    #[error("may contain only {allowed}, found {found:?}")]
    BadChar { allowed: &'static str, found: char },
    #[error("label {label:?} must be 1 to 63 characters and not start or end with '-'")]
    BadLabel { label: String },
    #[error("{name:?} is not under the zone {zone:?}")]
    OutsideZone { name: String, zone: String },
    #[error(
        "{name:?} must be a single label under {zone:?} (like api.{zone}): the *.{zone} certificate covers one level"
    )]
    NotOneLabel { name: String, zone: String },
}

/// A PoP's unique id in the cluster: `[a-z0-9-]{1,32}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct PopId(String);

impl PopId {
    pub const MAX_LEN: usize = 32;

    pub fn parse(s: &str) -> Result<PopId, NameError> {
        if s.is_empty() || s.len() > Self::MAX_LEN {
            return Err(NameError::Length { max: Self::MAX_LEN, actual: s.len() });
        }
        if let Some(found) = s.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
            return Err(NameError::BadChar { allowed: "a-z, 0-9 and '-'", found });
        }
        Ok(PopId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PopId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks one DNS label (RFC 1123 host name rules), already lower-cased.
fn check_label(label: &str) -> Result<(), NameError> {
    if label.is_empty() || label.len() > 63 || label.starts_with('-') || label.ends_with('-') {
        return Err(NameError::BadLabel { label: label.to_owned() });
    }
    if let Some(found) = label.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
        return Err(NameError::BadChar { allowed: "a-z, 0-9, '-' and '.'", found });
    }
    Ok(())
}

/// Lower-cases a host name, drops one trailing dot and checks every label.
fn normalize_host(s: &str) -> Result<String, NameError> {
    let lower = s.trim_end_matches('.').to_ascii_lowercase();
    if lower.is_empty() || lower.len() > 253 {
        return Err(NameError::Length { max: 253, actual: lower.len() });
    }
    for label in lower.split('.') {
        check_label(label)?;
    }
    Ok(lower)
}

/// The DNS zone the edge serves, e.g. `edge.example.com`: lower case, no trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Zone(String);

impl Zone {
    pub fn parse(s: &str) -> Result<Zone, NameError> {
        normalize_host(s).map(Zone)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `host` (already lower case, no port) is the zone apex or a name under it.
    pub fn contains(&self, host: &str) -> bool {
        host == self.0
            || (host.len() > self.0.len() + 1
                && host.ends_with(&self.0)
                && host.as_bytes()[host.len() - self.0.len() - 1] == b'.')
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The host name of an endpoint, always strictly under the edge's zone: `NAME.ZONE`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct EndpointName(String);

impl EndpointName {
    /// Validates `host` as a name under `zone`.
    pub fn parse(host: &str, zone: &Zone) -> Result<EndpointName, NameError> {
        let host = normalize_host(host)?;
        if host == zone.0 || !zone.contains(&host) {
            return Err(NameError::OutsideZone { name: host, zone: zone.0.clone() });
        }
        // One label under the zone: the PoP's certificate is a wildcard for `*.ZONE`, which
        // covers exactly one label, so deeper names could never be served over HTTPS.
        if host[..host.len() - zone.0.len() - 1].contains('.') {
            return Err(NameError::NotOneLabel { name: host, zone: zone.0.clone() });
        }
        Ok(EndpointName(host))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EndpointName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pop_ids() {
        assert!(PopId::parse("pop-fra").is_ok());
        assert_eq!(PopId::parse(""), Err(NameError::Length { max: 32, actual: 0 }));
        assert!(matches!(PopId::parse("Pop"), Err(NameError::BadChar { found: 'P', .. })));
        assert!(PopId::parse(&"a".repeat(33)).is_err());
    }

    #[test]
    fn zones_and_endpoints() {
        let zone = Zone::parse("Edge.Example.COM.").unwrap();
        assert_eq!(zone.as_str(), "edge.example.com");
        assert_eq!(EndpointName::parse("API.edge.example.com", &zone).unwrap().as_str(), "api.edge.example.com");
        assert!(EndpointName::parse("edge.example.com", &zone).is_err());
        assert!(EndpointName::parse("apiedge.example.com", &zone).is_err());
        assert!(EndpointName::parse("x.example.com", &zone).is_err());
        assert!(EndpointName::parse("-a.edge.example.com", &zone).is_err());
        assert!(EndpointName::parse("a_b.edge.example.com", &zone).is_err());
        assert!(matches!(EndpointName::parse("a.b.edge.example.com", &zone), Err(NameError::NotOneLabel { .. })));
    }

    proptest! {
        #[test]
        fn zone_contains_matches_suffix_rule(label in "[a-z0-9]{1,10}", other in "[a-z0-9]{1,10}") {
            let zone = Zone::parse("edge.test").unwrap();
            let inside = format!("{label}.edge.test");
            let glued = format!("{other}edge.test");
            prop_assert!(zone.contains(&inside));
            prop_assert!(!zone.contains(&glued));
        }
    }
}
