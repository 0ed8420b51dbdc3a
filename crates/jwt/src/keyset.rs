//! A JWKS document parsed once into verification keys.
//!
//! jsonwebtoken would re-decode a JWK's base64 components on every verification if handed the
//! JWK itself; parsing here, once per fetch, keeps the per-request work to the signature check.
//! Only public signature keys are kept: RSA and EC P-256/P-384. Symmetric (`oct`) keys, OKP keys,
//! encryption keys (`use: enc`) and unknown types are skipped and counted, never trusted.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use crate::error::KeySetError;

/// Largest JWKS document accepted (identity providers publish a few KiB).
pub(crate) const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Most keys accepted in one document: bounds the work of a `kid`-less token.
pub(crate) const MAX_KEYS: usize = 64;

const RSA_ALGS: &[Algorithm] =
    &[Algorithm::RS256, Algorithm::RS384, Algorithm::RS512, Algorithm::PS256, Algorithm::PS384, Algorithm::PS512];

/// What kind of public key a JWK holds; decides which algorithms may use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Rsa,
    EcP256,
    EcP384,
}

impl KeyKind {
    fn fits(self, alg: Algorithm) -> bool {
        match self {
            KeyKind::Rsa => RSA_ALGS.contains(&alg),
            KeyKind::EcP256 => alg == Algorithm::ES256,
            KeyKind::EcP384 => alg == Algorithm::ES384,
        }
    }
}

/// One usable verification key.
#[derive(Clone)]
pub(crate) struct Key {
    pub(crate) kid: Option<String>,
    kind: KeyKind,
    /// The JWK's own `alg`, when it pins one.
    alg: Option<Algorithm>,
    pub(crate) decoding: DecodingKey,
}

impl Key {
    /// Whether a token signed with `alg` may be checked with this key. This is the guard against
    /// algorithm confusion: an HS* token never fits (no symmetric keys are ever loaded), an ES256
    /// token never fits an RSA key, and a JWK that pins `alg` accepts only that one.
    pub(crate) fn fits(&self, alg: Algorithm) -> bool {
        self.kind.fits(alg) && self.alg.is_none_or(|pinned| pinned == alg)
    }
}

/// How a JWKS document was taken apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeySetStats {
    /// Keys loaded and usable.
    pub loaded: usize,
    /// Keys of a type or use this crate does not verify with (oct, OKP, enc, unknown kty/alg).
    pub skipped_unsupported: usize,
    /// Keys of a supported type whose parameters were broken (bad base64, wrong curve size...).
    pub skipped_invalid: usize,
}

/// Verification keys from one JWKS document.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<Key>,
    by_kid: HashMap<String, usize>,
    stats: KeySetStats,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet").field("kids", &self.kids().collect::<Vec<_>>()).field("stats", &self.stats).finish()
    }
}

enum Parsed {
    Key(Box<Key>),
    Unsupported,
    Invalid,
}

impl KeySet {
    /// Parses a JWKS document (`{"keys": [...]}`). Unusable keys are skipped and counted; the
    /// document as a whole fails only when it is not a JWKS at all or is unreasonably large.
    pub fn from_jwks_json(doc: &[u8]) -> Result<KeySet, KeySetError> {
        if doc.len() > MAX_JWKS_BYTES {
            return Err(KeySetError::TooLarge { limit: MAX_JWKS_BYTES, actual: doc.len() });
        }
        let value: Value = serde_json::from_slice(doc).map_err(|e| KeySetError::Json(e.to_string()))?;
        let Some(keys) = value.get("keys").and_then(Value::as_array) else {
            return Err(KeySetError::NoKeysArray);
        };
        if keys.len() > MAX_KEYS {
            return Err(KeySetError::TooManyKeys { limit: MAX_KEYS, actual: keys.len() });
        }
        let mut set = KeySet::default();
        for jwk in keys {
            match parse_key(jwk) {
                Parsed::Key(key) => set.push(*key),
                Parsed::Unsupported => set.stats.skipped_unsupported += 1,
                Parsed::Invalid => set.stats.skipped_invalid += 1,
            }
        }
        Ok(set)
    }

    fn push(&mut self, key: Key) {
        if let Some(kid) = &key.kid {
            // First key wins on a duplicate kid: a later one cannot shadow it.
            if self.by_kid.contains_key(kid) {
                self.stats.skipped_invalid += 1;
                return;
            }
            self.by_kid.insert(kid.clone(), self.keys.len());
        }
        self.keys.push(key);
        self.stats.loaded += 1;
    }

    /// How the document was taken apart.
    pub fn stats(&self) -> KeySetStats {
        self.stats
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is usable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The `kid`s of the usable keys.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().filter_map(|k| k.kid.as_deref())
    }

    /// Whether a key with this `kid` is present.
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }

    pub(crate) fn by_kid(&self, kid: &str) -> Option<&Key> {
        self.by_kid.get(kid).map(|&i| &self.keys[i])
    }

    pub(crate) fn keys(&self) -> &[Key] {
        &self.keys
    }
}

fn parse_key(jwk: &Value) -> Parsed {
    let Some(obj) = jwk.as_object() else {
        return Parsed::Invalid;
    };
    let str_field = |name: &str| obj.get(name).and_then(Value::as_str);
    if str_field("use").is_some_and(|u| u != "sig") {
        return Parsed::Unsupported;
    }
    let kid = match obj.get("kid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Parsed::Invalid,
    };
    let alg = match str_field("alg") {
        None => None,
        Some(name) => match name.parse::<Algorithm>() {
            Ok(alg) => Some(alg),
            Err(_) => return Parsed::Unsupported,
        },
    };
    let (kind, decoding) = match str_field("kty") {
        Some("RSA") => {
            let (Some(n), Some(e)) = (str_field("n"), str_field("e")) else {
                return Parsed::Invalid;
            };
            // Refuse toy moduli: below 2048 bits RSA signatures are forgeable in practice.
            match URL_SAFE_NO_PAD.decode(n) {
                Ok(bytes) if significant_len(&bytes) >= 256 => {}
                _ => return Parsed::Invalid,
            }
            match DecodingKey::from_rsa_components(n, e) {
                Ok(key) => (KeyKind::Rsa, key),
                Err(_) => return Parsed::Invalid,
            }
        }
        Some("EC") => {
            let (kind, size) = match str_field("crv") {
                Some("P-256") => (KeyKind::EcP256, 32),
                Some("P-384") => (KeyKind::EcP384, 48),
                _ => return Parsed::Unsupported,
            };
            let (Some(x), Some(y)) = (str_field("x"), str_field("y")) else {
                return Parsed::Invalid;
            };
            let sized = |c: &str| URL_SAFE_NO_PAD.decode(c).is_ok_and(|b| b.len() == size);
            if !sized(x) || !sized(y) {
                return Parsed::Invalid;
            }
            match DecodingKey::from_ec_components(x, y) {
                Ok(key) => (kind, key),
                Err(_) => return Parsed::Invalid,
            }
        }
        _ => return Parsed::Unsupported,
    };
    if let Some(alg) = alg
        && !kind.fits(alg)
    {
        return Parsed::Invalid;
    }
    Parsed::Key(Box::new(Key { kid, kind, alg, decoding }))
}

fn significant_len(bytes: &[u8]) -> usize {
    bytes.len() - bytes.iter().take_while(|b| **b == 0).count()
}
