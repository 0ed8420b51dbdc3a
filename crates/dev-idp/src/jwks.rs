//! The provider's key set: which keys are published, and which one signs for each algorithm.
//!
//! Rotation keeps the previous keys published so tokens already handed out keep verifying, the
//! way real providers overlap keys; retiring drops them, which is what makes "old token rejected
//! after the verifier refetches" testable.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::keys::SigningKey;
use crate::{Alg, Error};

/// Published keys, oldest first. For each algorithm the newest key is the signing key.
pub(crate) struct KeySet {
    keys: Vec<Arc<SigningKey>>,
}

impl KeySet {
    /// One fresh key per algorithm.
    pub(crate) fn generate() -> Result<Self, Error> {
        let keys = Alg::ALL.iter().map(|&alg| SigningKey::generate(alg).map(Arc::new)).collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    /// The key that signs new `alg` tokens.
    pub(crate) fn current(&self, alg: Alg) -> Arc<SigningKey> {
        // Invariant: `generate` creates one key per algorithm and `rotate` only ever adds a key
        // before it retires others, so every algorithm always has a newest key.
        self.keys
            .iter()
            .rev()
            .find(|k| k.alg() == alg)
            .cloned()
            .expect("the key set always holds a key for every algorithm")
    }

    /// Publishes `key` as the new signing key for its algorithm; with `retire`, unpublishes every
    /// older key of that algorithm. Returns the kids that were retired.
    pub(crate) fn install(&mut self, key: SigningKey, retire: bool) -> Vec<String> {
        let alg = key.alg();
        let mut retired = Vec::new();
        if retire {
            self.keys.retain(|k| {
                let keep = k.alg() != alg;
                if !keep {
                    retired.push(k.kid().to_owned());
                }
                keep
            });
        }
        self.keys.push(Arc::new(key));
        retired
    }

    /// Every published kid, oldest first.
    pub(crate) fn kids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.kid().to_owned()).collect()
    }

    /// The RFC 7517 JWK Set document, newest keys first (what most verifiers try first).
    pub(crate) fn document(&self) -> Value {
        let keys: Vec<Value> = self.keys.iter().rev().map(|k| k.jwk().clone()).collect();
        json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotate_keeps_then_retires_old_keys() {
        let mut set = KeySet::generate().unwrap();
        let old = set.current(Alg::Es256).kid().to_owned();
        let retired = set.install(SigningKey::generate(Alg::Es256).unwrap(), false);
        assert!(retired.is_empty());
        let new = set.current(Alg::Es256).kid().to_owned();
        assert_ne!(old, new);
        assert_eq!(set.kids().len(), 3);
        assert_eq!(set.document()["keys"][0]["kid"], new.as_str());

        let retired = set.install(SigningKey::generate(Alg::Es256).unwrap(), true);
        assert_eq!(retired, vec![old, new]);
        assert_eq!(set.kids().len(), 2);
        // The RSA key was untouched.
        assert!(set.kids().iter().any(|k| k.starts_with("rs256-")));
    }
}
