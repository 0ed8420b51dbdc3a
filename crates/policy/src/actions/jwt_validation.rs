//! `jwt-validation`: require valid JWTs, found where `http.tokens` says, signed by a key of the
//! `jws.keys.sources.additional_jkus` key sets, from an allowed issuer (and audience). Results
//! land in `actions.ngrok.jwt_validation.tokens[i].{header,payload}`; failures answer 401 with
//! `WWW-Authenticate: Bearer` (503 when no key set could ever be fetched).

use schemars::JsonSchema;
use serde::Deserialize;
use warren_jwt::{Algorithm, Verifier, VerifierConfig};

use super::FieldErrors;
use crate::effects::JwtFailure;
use crate::eval::{Flow, RunCx};
use crate::outcome::Cause;
use crate::view::query_pairs;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValueEntry {
    pub value: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowList {
    pub allow_list: Vec<ValueEntry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenMethod {
    Header,
    Body,
    Query,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Informational token type, e.g. `jwt`, `access_token`, `at+jwt`.
    #[serde(rename = "type")]
    pub kind: String,
    pub method: TokenMethod,
    pub name: String,
    pub prefix: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub tokens: Vec<TokenConfig>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    pub additional_jkus: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    pub sources: Sources,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwsConfig {
    pub allowed_algorithms: Vec<String>,
    pub keys: Keys,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub issuer: AllowList,
    pub audience: Option<AllowList>,
    pub http: HttpConfig,
    pub jws: JwsConfig,
}

/// A compiled jwt-validation action.
#[derive(Debug, Clone)]
pub struct JwtValidation {
    verifier: Verifier,
    jwks_urls: Vec<String>,
    pub tokens: Vec<TokenConfig>,
}

impl JwtValidation {
    pub(crate) fn compile(cfg: Config) -> Result<Self, FieldErrors> {
        let mut errors: FieldErrors = Vec::new();
        let issuers: Vec<String> = cfg.issuer.allow_list.into_iter().map(|v| v.value).collect();
        if issuers.is_empty() || issuers.iter().any(String::is_empty) {
            errors.push(("allow_list".into(), "issuer.allow_list needs at least one non-empty value".into()));
        }
        let audiences: Vec<String> =
            cfg.audience.map(|a| a.allow_list.into_iter().map(|v| v.value).collect()).unwrap_or_default();
        if audiences.iter().any(String::is_empty) {
            errors.push(("audience".into(), "audience values must not be empty".into()));
        }
        if cfg.http.tokens.is_empty() {
            errors.push(("tokens".into(), "at least one token location is required".into()));
        }
        for t in &cfg.http.tokens {
            if t.name.is_empty() {
                errors.push(("name".into(), "token name must not be empty".into()));
            }
        }
        let mut algorithms = Vec::new();
        for name in &cfg.jws.allowed_algorithms {
            match name.parse::<Algorithm>() {
                _ if name.eq_ignore_ascii_case("none") => {
                    errors.push(("allowed_algorithms".into(), "alg none is never allowed".into()))
                }
                Ok(Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) => errors.push((
                    "allowed_algorithms".into(),
                    format!("{name} is symmetric; only RS*, PS* and ES256/ES384 verify against a JWKS"),
                )),
                Ok(Algorithm::EdDSA) | Err(_) => {
                    errors.push(("allowed_algorithms".into(), format!("unsupported algorithm {name:?}")))
                }
                Ok(alg) => algorithms.push(alg),
            }
        }
        if cfg.jws.allowed_algorithms.is_empty() {
            errors.push(("allowed_algorithms".into(), "at least one algorithm is required".into()));
        }
        let jwks_urls = cfg.jws.keys.sources.additional_jkus;
        if jwks_urls.is_empty() {
            errors.push(("additional_jkus".into(), "at least one JWKS URL is required".into()));
        }
        for url in &jwks_urls {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                errors.push(("additional_jkus".into(), format!("{url:?} is not an http(s) URL")));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let verifier = Verifier::new(VerifierConfig {
            allowed_algorithms: algorithms,
            issuers,
            audiences,
            ..VerifierConfig::default()
        })
        .map_err(|e| vec![("allowed_algorithms".to_string(), e.to_string())])?;
        Ok(JwtValidation { verifier, jwks_urls, tokens: cfg.http.tokens })
    }

    /// The verifier built from this action's issuer, audience and algorithms.
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The JWKS URLs whose keys this action trusts.
    pub fn jwks_urls(&self) -> &[String] {
        &self.jwks_urls
    }

    fn extract(&self, cx: &RunCx<'_>, t: &TokenConfig) -> Option<String> {
        let raw = match t.method {
            TokenMethod::Header => {
                let mut found = None;
                cx.view.for_each_header(&mut |n, v| {
                    if found.is_none() && n.eq_ignore_ascii_case(&t.name) {
                        found = Some(v.to_owned());
                    }
                });
                found
            }
            TokenMethod::Query => {
                query_pairs(cx.view.raw_query()).into_iter().find(|(k, _)| *k == t.name).map(|(_, v)| v)
            }
            TokenMethod::Body => cx.view.body_field(&t.name),
        }?;
        match &t.prefix {
            Some(prefix) => raw.strip_prefix(prefix.as_str()).map(|s| s.trim().to_owned()),
            None => Some(raw.trim().to_owned()),
        }
    }

    fn fail(
        &self,
        cx: &mut RunCx<'_>,
        code: &str,
        message: String,
        tokens: Vec<serde_json::Value>,
        keys_unavailable: bool,
    ) -> Flow {
        cx.set_action_result(
            "jwt_validation",
            serde_json::json!({ "tokens": tokens, "error": { "code": code, "message": message } }),
        );
        if keys_unavailable {
            return cx.respond(503, Vec::new(), String::new(), Cause::JwtKeysUnavailable);
        }
        // RFC 6750 §3.1: a request without credentials gets a bare challenge, no error code.
        let challenge = if code == "missing_token" {
            "Bearer".to_owned()
        } else {
            format!("Bearer error=\"invalid_token\", error_description=\"{code}\"")
        };
        cx.respond(
            401,
            vec![("www-authenticate".into(), challenge)],
            String::new(),
            Cause::JwtInvalid { reason: code.to_owned() },
        )
    }

    pub(crate) fn run(&self, cx: &mut RunCx<'_>) -> Flow {
        let mut results = Vec::new();
        // Every configured token must be present and valid.
        for t in &self.tokens {
            let Some(token) = self.extract(cx, t) else {
                return self.fail(
                    cx,
                    "missing_token",
                    format!("no token in {:?} {}", t.method, t.name),
                    results,
                    false,
                );
            };
            match cx.effects.verify_jwt(self, &token, cx.now_ms) {
                Ok(v) => results.push(serde_json::json!({ "type": t.kind, "header": v.header, "payload": v.payload })),
                Err(JwtFailure::Rejected(e)) => return self.fail(cx, e.reason(), e.to_string(), results, false),
                Err(JwtFailure::KeysUnavailable) => {
                    return self.fail(cx, "keys_unavailable", "no JWKS could be fetched".into(), results, true);
                }
            }
        }
        cx.set_action_result("jwt_validation", serde_json::json!({ "tokens": results }));
        Flow::Continue
    }
}
