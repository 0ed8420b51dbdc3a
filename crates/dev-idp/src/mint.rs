//! Describing and signing tokens, good and deliberately bad.
//!
//! Tests of a JWT verifier need tokens that are wrong in exactly one way: expired, not yet valid,
//! wrong audience, unknown `kid`, signed by a stranger, `alg: none`, or HS256 keyed with the RSA
//! public key (the classic algorithm-confusion attack). [`TokenSpec`] describes the claims; the
//! functions here sign them in each of those ways.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};

use crate::keys::SigningKey;
use crate::{Alg, Error};

/// The default lifetime of a minted token.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);

/// A point in time for `iat`, `nbf` or `exp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Time {
    /// Seconds relative to the moment of minting (negative: in the past).
    FromNow(i64),
    /// Absolute seconds since the Unix epoch.
    At(i64),
}

impl Time {
    /// `secs` seconds after minting.
    pub fn in_secs(secs: i64) -> Self {
        Time::FromNow(secs)
    }

    /// `secs` seconds before minting.
    pub fn ago(secs: i64) -> Self {
        Time::FromNow(-secs)
    }

    fn resolve(self, now: i64) -> i64 {
        match self {
            Time::FromNow(offset) => now.saturating_add(offset),
            Time::At(at) => at,
        }
    }
}

/// What goes in the `kid` header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Kid {
    /// The id of the key that signs (the normal case).
    #[default]
    Signing,
    /// Any string, whether or not a key has it.
    Custom(String),
    /// No `kid` header at all.
    Omitted,
}

/// The claims and header of a token to mint. Build it with the methods, or set the fields.
///
/// Defaults: RS256, `sub` = `dev-user`, `iss` = the provider's issuer, no `aud`, `iat` = now,
/// no `nbf`, `exp` = now + 5 minutes, `kid` = the signing key's.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenSpec {
    pub alg: Alg,
    pub sub: Option<String>,
    /// `None`: the provider's issuer.
    pub iss: Option<String>,
    /// Empty: no `aud` claim; one: a string; several: an array.
    pub aud: Vec<String>,
    pub iat: Option<Time>,
    pub nbf: Option<Time>,
    pub exp: Option<Time>,
    /// Added last, so they can also override the registered claims above.
    pub claims: Map<String, Value>,
    pub kid: Kid,
}

impl Default for TokenSpec {
    fn default() -> Self {
        Self {
            alg: Alg::Rs256,
            sub: Some("dev-user".to_owned()),
            iss: None,
            aud: Vec::new(),
            iat: Some(Time::FromNow(0)),
            nbf: None,
            exp: Some(Time::FromNow(DEFAULT_TTL.as_secs() as i64)),
            claims: Map::new(),
            kid: Kid::Signing,
        }
    }
}

impl TokenSpec {
    /// The defaults, signed with `alg`.
    pub fn new(alg: Alg) -> Self {
        Self { alg, ..Self::default() }
    }

    pub fn rs256() -> Self {
        Self::new(Alg::Rs256)
    }

    pub fn es256() -> Self {
        Self::new(Alg::Es256)
    }

    pub fn alg(mut self, alg: Alg) -> Self {
        self.alg = alg;
        self
    }

    #[allow(clippy::should_implement_trait, reason = "named after the JWT `sub` claim")]
    pub fn sub(mut self, sub: impl Into<String>) -> Self {
        self.sub = Some(sub.into());
        self
    }

    pub fn no_sub(mut self) -> Self {
        self.sub = None;
        self
    }

    pub fn iss(mut self, iss: impl Into<String>) -> Self {
        self.iss = Some(iss.into());
        self
    }

    /// Adds one audience.
    pub fn aud(mut self, aud: impl Into<String>) -> Self {
        self.aud.push(aud.into());
        self
    }

    /// Replaces the audiences.
    pub fn audiences<I, S>(mut self, auds: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.aud = auds.into_iter().map(Into::into).collect();
        self
    }

    pub fn iat(mut self, at: Time) -> Self {
        self.iat = Some(at);
        self
    }

    pub fn nbf(mut self, at: Time) -> Self {
        self.nbf = Some(at);
        self
    }

    pub fn exp(mut self, at: Time) -> Self {
        self.exp = Some(at);
        self
    }

    /// `exp` = now + `ttl`.
    pub fn ttl(self, ttl: Duration) -> Self {
        self.exp(Time::FromNow(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)))
    }

    pub fn no_exp(mut self) -> Self {
        self.exp = None;
        self
    }

    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    pub fn kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Kid::Custom(kid.into());
        self
    }

    pub fn no_kid(mut self) -> Self {
        self.kid = Kid::Omitted;
        self
    }

    /// The JSON claims object, with times resolved against `now` (Unix seconds).
    pub fn claims_json(&self, default_issuer: &str, now: i64) -> Value {
        let mut out = Map::new();
        out.insert("iss".into(), json!(self.iss.as_deref().unwrap_or(default_issuer)));
        if let Some(sub) = &self.sub {
            out.insert("sub".into(), json!(sub));
        }
        match self.aud.as_slice() {
            [] => {}
            [one] => {
                out.insert("aud".into(), json!(one));
            }
            many => {
                out.insert("aud".into(), json!(many));
            }
        }
        for (name, time) in [("iat", self.iat), ("nbf", self.nbf), ("exp", self.exp)] {
            if let Some(time) = time {
                out.insert(name.into(), json!(time.resolve(now)));
            }
        }
        for (name, value) in &self.claims {
            out.insert(name.clone(), value.clone());
        }
        Value::Object(out)
    }

    fn kid_header(&self, signing_kid: &str) -> Option<String> {
        match &self.kid {
            Kid::Signing => Some(signing_kid.to_owned()),
            Kid::Custom(kid) => Some(kid.clone()),
            Kid::Omitted => None,
        }
    }
}

/// Seconds since the Unix epoch, from the system clock (this is an I/O crate: it may read it).
pub(crate) fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// Signs `spec` with `key` (its algorithm wins over `spec.alg`).
pub(crate) fn sign(key: &SigningKey, spec: &TokenSpec, issuer: &str) -> Result<String, Error> {
    let mut header = Header::new(key.alg().jsonwebtoken());
    header.kid = spec.kid_header(key.kid());
    let claims = spec.claims_json(issuer, unix_now());
    jsonwebtoken::encode(&header, &claims, key.encoding())
        .map_err(|source| Error::Sign { alg: key.alg().as_str(), source })
}

/// `{"alg":"none"}` and an empty signature: `header.claims.`
pub(crate) fn alg_none(spec: &TokenSpec, issuer: &str) -> String {
    let mut header = Map::new();
    header.insert("alg".into(), json!("none"));
    header.insert("typ".into(), json!("JWT"));
    if let Kid::Custom(kid) = &spec.kid {
        header.insert("kid".into(), json!(kid));
    }
    let claims = spec.claims_json(issuer, unix_now());
    format!("{}.{}.", b64_json(&Value::Object(header)), b64_json(&claims))
}

/// HS256 whose HMAC secret is `secret` (the victim's public key bytes), with the victim's kid.
pub(crate) fn hs256_with_secret(
    spec: &TokenSpec,
    issuer: &str,
    secret: &[u8],
    victim_kid: &str,
) -> Result<String, Error> {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = spec.kid_header(victim_kid);
    let claims = spec.claims_json(issuer, unix_now());
    let sign_err = |source| Error::Sign { alg: "HS256", source };
    let key = EncodingKey::from_secret(secret).map_err(sign_err)?;
    jsonwebtoken::encode(&header, &claims, &key).map_err(sign_err)
}

fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_resolve_times_and_audiences() {
        let spec = TokenSpec::es256()
            .sub("alice")
            .aud("api")
            .nbf(Time::ago(10))
            .exp(Time::At(2_000_000_000))
            .claim("scope", "read");
        let claims = spec.claims_json("http://idp", 1_000);
        assert_eq!(claims["iss"], "http://idp");
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["aud"], "api");
        assert_eq!(claims["iat"], 1_000);
        assert_eq!(claims["nbf"], 990);
        assert_eq!(claims["exp"], 2_000_000_000i64);
        assert_eq!(claims["scope"], "read");

        let many = TokenSpec::rs256().audiences(["a", "b"]).no_exp().claims_json("i", 0);
        assert_eq!(many["aud"], json!(["a", "b"]));
        assert!(many.get("exp").is_none());
    }

    #[test]
    fn alg_none_has_empty_signature() {
        let token = alg_none(&TokenSpec::default(), "http://idp");
        assert!(token.ends_with('.'));
        assert_eq!(token.split('.').count(), 3);
        let header = jsonwebtoken::decode_header(&token);
        // jsonwebtoken has no `none` algorithm, so it cannot even parse the header: that is the point.
        assert!(header.is_err());
    }
}
