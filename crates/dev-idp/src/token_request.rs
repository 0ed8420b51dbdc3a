//! The body of `POST /token`: JSON or an HTML-style form, turned into a [`TokenSpec`].

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::form::parse_pairs;
use crate::{Alg, Error, TokenSpec};

/// Longest lifetime the endpoint hands out: a dev provider should not mint near-permanent tokens.
const MAX_TTL_SECS: u64 = 7 * 24 * 3600;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    sub: Option<String>,
    aud: Option<Audience>,
    ttl_secs: Option<u64>,
    alg: Option<String>,
    claims: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// What the endpoint will sign, and the lifetime to report as `expires_in`.
#[derive(Debug)]
pub(crate) struct ParsedTokenRequest {
    pub(crate) spec: TokenSpec,
    pub(crate) ttl_secs: u64,
}

/// Parses a JSON body (any content type but a form) or a form body. An empty body is a request
/// with every default.
pub(crate) fn parse(
    content_type: Option<&str>,
    body: &[u8],
    default_ttl: Duration,
    default_audience: Option<&str>,
) -> Result<ParsedTokenRequest, Error> {
    let is_form = content_type.is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        TokenRequest::default()
    } else if is_form {
        parse_form(body)?
    } else {
        serde_json::from_slice(body)
            .map_err(|e| Error::BadRequest(format!("body is not a valid token request: {e}")))?
    };

    let alg = match request.alg.as_deref() {
        Some(name) => name.parse::<Alg>()?,
        None => Alg::Rs256,
    };
    let ttl_secs = request.ttl_secs.unwrap_or(default_ttl.as_secs());
    if ttl_secs == 0 || ttl_secs > MAX_TTL_SECS {
        return Err(Error::BadRequest(format!("ttl_secs must be between 1 and {MAX_TTL_SECS}, got {ttl_secs}")));
    }
    let mut spec = TokenSpec::new(alg).ttl(Duration::from_secs(ttl_secs));
    if let Some(sub) = request.sub {
        spec = spec.sub(sub);
    }
    spec.aud = match request.aud {
        Some(Audience::One(aud)) => vec![aud],
        Some(Audience::Many(auds)) => auds,
        None => default_audience.map(|a| vec![a.to_owned()]).unwrap_or_default(),
    };
    spec.claims = request.claims.unwrap_or_default();
    Ok(ParsedTokenRequest { spec, ttl_secs })
}

fn parse_form(body: &[u8]) -> Result<TokenRequest, Error> {
    let text = std::str::from_utf8(body).map_err(|_| Error::BadRequest("form body is not UTF-8".to_owned()))?;
    let mut request = TokenRequest::default();
    let mut auds = Vec::new();
    for (name, value) in parse_pairs(text.trim()) {
        match name.as_str() {
            "sub" => request.sub = Some(value),
            "aud" => auds.push(value),
            "ttl_secs" => {
                let ttl =
                    value.parse().map_err(|_| Error::BadRequest(format!("ttl_secs is not a number: {value:?}")))?;
                request.ttl_secs = Some(ttl);
            }
            "alg" => request.alg = Some(value),
            "claims" => {
                let claims = serde_json::from_str(&value)
                    .map_err(|e| Error::BadRequest(format!("claims must be a JSON object: {e}")))?;
                request.claims = Some(claims);
            }
            other => return Err(Error::BadRequest(format!("unknown form field {other:?}"))),
        }
    }
    if !auds.is_empty() {
        request.aud = Some(Audience::Many(auds));
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(300);

    #[test]
    fn json_with_audience_list_and_claims() {
        let body = br#"{"sub":"bob","aud":["a","b"],"ttl_secs":60,"alg":"ES256","claims":{"role":"admin"}}"#;
        let parsed = parse(Some("application/json"), body, TTL, None).unwrap();
        assert_eq!(parsed.ttl_secs, 60);
        assert_eq!(parsed.spec.alg, Alg::Es256);
        assert_eq!(parsed.spec.sub.as_deref(), Some("bob"));
        assert_eq!(parsed.spec.aud, vec!["a", "b"]);
        assert_eq!(parsed.spec.claims["role"], "admin");
    }

    #[test]
    fn form_and_defaults() {
        let body = b"sub=carol&aud=api&claims=%7B%22x%22%3A1%7D";
        let parsed = parse(Some("application/x-www-form-urlencoded"), body, TTL, Some("dflt")).unwrap();
        assert_eq!(parsed.spec.aud, vec!["api"]);
        assert_eq!(parsed.spec.claims["x"], 1);
        assert_eq!(parsed.ttl_secs, 300);

        let empty = parse(None, b"", TTL, Some("dflt")).unwrap();
        assert_eq!(empty.spec.aud, vec!["dflt"]);
        assert_eq!(empty.spec.alg, Alg::Rs256);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(parse(None, br#"{"subject":"x"}"#, TTL, None).is_err());
        assert!(parse(None, br#"{"alg":"HS256"}"#, TTL, None).is_err());
        assert!(parse(None, br#"{"ttl_secs":0}"#, TTL, None).is_err());
        assert!(parse(Some("application/x-www-form-urlencoded"), b"nope=1", TTL, None).is_err());
    }
}
