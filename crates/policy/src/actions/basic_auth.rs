//! `basic-auth`: require HTTP Basic credentials from a list of `user:password`. Passwords are
//! kept only as SHA-256 digests after load and compared in constant time.

use base64::Engine as _;
use schemars::JsonSchema;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::FieldErrors;
use crate::eval::{Flow, RunCx};
use crate::outcome::Cause;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `username:password` pairs; passwords of 8 to 128 characters.
    pub credentials: Vec<String>,
    /// Realm shown by browsers. Default `ngrok`.
    pub realm: Option<String>,
    pub enforce: Option<bool>,
}

#[derive(Clone)]
pub struct BasicAuth {
    pub realm: String,
    pub enforce: bool,
    credentials: Vec<(String, [u8; 32])>,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth").field("realm", &self.realm).field("users", &self.credentials.len()).finish()
    }
}

fn digest(s: &str) -> [u8; 32] {
    Sha256::digest(s.as_bytes()).into()
}

fn equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl BasicAuth {
    pub(crate) fn compile(cfg: Config) -> Result<Self, FieldErrors> {
        let mut errors: FieldErrors = Vec::new();
        let mut credentials = Vec::new();
        if cfg.credentials.is_empty() {
            errors.push(("credentials".into(), "at least one credential is required".into()));
        }
        for (i, c) in cfg.credentials.iter().enumerate() {
            match c.split_once(':') {
                Some((user, pass)) if !user.is_empty() && (8..=128).contains(&pass.chars().count()) => {
                    credentials.push((user.to_owned(), digest(pass)));
                }
                // Never echo the credential itself.
                _ => errors.push((
                    "credentials".into(),
                    format!("credential #{i} must be user:password with a password of 8 to 128 characters"),
                )),
            }
        }
        let realm = cfg.realm.unwrap_or_else(|| "ngrok".into());
        if realm.contains('"') || realm.chars().any(char::is_control) {
            errors.push(("realm".into(), "realm must not contain quotes or control characters".into()));
        }
        if errors.is_empty() {
            Ok(BasicAuth { realm, enforce: cfg.enforce.unwrap_or(true), credentials })
        } else {
            Err(errors)
        }
    }

    /// The username if the Authorization header carries valid credentials.
    fn check(&self, cx: &RunCx<'_>) -> (bool, Option<String>) {
        let mut header = None;
        cx.view.for_each_header(&mut |n, v| {
            if header.is_none() && n.eq_ignore_ascii_case("authorization") {
                header = Some(v.to_owned());
            }
        });
        let Some(encoded) =
            header.as_deref().and_then(|h| h.strip_prefix("Basic ").or_else(|| h.strip_prefix("basic ")))
        else {
            return (false, None);
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else { return (true, None) };
        let Ok(text) = String::from_utf8(decoded) else { return (true, None) };
        let Some((user, pass)) = text.split_once(':') else { return (true, None) };
        let pass = digest(pass);
        let mut ok = false;
        for (u, p) in &self.credentials {
            ok |= u == user && equal(p, &pass);
        }
        (true, ok.then(|| user.to_owned()))
    }

    pub(crate) fn run(&self, cx: &mut RunCx<'_>) -> Flow {
        let (presented, user) = self.check(cx);
        cx.set_action_result(
            "basic_auth",
            serde_json::json!({ "credentials": {
                "presented": presented,
                "username": user.clone().unwrap_or_default(),
                "authorized": user.is_some(),
            }}),
        );
        if user.is_some() || !self.enforce {
            return Flow::Continue;
        }
        let challenge = format!("Basic realm=\"{}\"", self.realm);
        cx.respond(401, vec![("www-authenticate".into(), challenge)], String::new(), Cause::BasicAuth)
    }
}
