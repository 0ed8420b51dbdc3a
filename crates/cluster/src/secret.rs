//! The cluster secret: what makes a process a member.
//!
//! PoPs prove to each other that they hold the secret with an HMAC over the TLS session's
//! exported keying material (see `auth.rs`); the secret itself never travels. The file's text is
//! hashed into a fixed-size key first, so any length of secret gives a full-strength key and the
//! raw text is not kept in memory longer than the read.

use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::ClusterError;

/// Shortest accepted secret, in bytes after trimming: 128 bits of hex.
pub const MIN_SECRET_LEN: usize = 32;

/// A loaded cluster secret. `Debug` never shows it.
#[derive(Clone)]
pub struct ClusterSecret {
    key: [u8; 32],
}

impl std::fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterSecret(***)")
    }
}

impl ClusterSecret {
    /// Reads `cluster.secret_file` (surrounding whitespace ignored).
    pub fn from_file(path: &Path) -> Result<ClusterSecret, ClusterError> {
        let text = std::fs::read(path)
            .map_err(|e| ClusterError::Secret(format!("cannot read cluster.secret_file {}: {e}", path.display())))?;
        ClusterSecret::from_bytes(&text)
            .map_err(|e| ClusterError::Secret(format!("cluster.secret_file {}: {e}", path.display())))
    }

    /// A secret from its bytes; refuses short ones.
    pub fn from_bytes(raw: &[u8]) -> Result<ClusterSecret, String> {
        let trimmed = raw.trim_ascii();
        if trimmed.len() < MIN_SECRET_LEN {
            return Err(format!(
                "the secret is {} bytes; at least {MIN_SECRET_LEN} are required (e.g. `openssl rand -hex 32`)",
                trimmed.len()
            ));
        }
        let mut h = Sha256::new();
        h.update(b"warren-cluster-secret/v1\0");
        h.update(trimmed);
        Ok(ClusterSecret { key: h.finalize().into() })
    }

    /// HMAC-SHA256 of the parts, each length-prefixed so no two part lists collide.
    pub(crate) fn proof(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    /// Checks a proof in constant time.
    pub(crate) fn verify(&self, parts: &[&[u8]], proof: &[u8; 32]) -> bool {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        for p in parts {
            mac.update(&(p.len() as u64).to_be_bytes());
            mac.update(p);
        }
        mac.verify_slice(proof).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_secrets_are_refused_and_whitespace_ignored() {
        assert!(ClusterSecret::from_bytes(b"short").unwrap_err().contains("at least 32"));
        let a = ClusterSecret::from_bytes(b"0123456789abcdef0123456789abcdef\n").unwrap();
        let b = ClusterSecret::from_bytes(b"  0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(a.key, b.key);
        assert_eq!(format!("{a:?}"), "ClusterSecret(***)");
    }

    #[test]
    fn proofs_depend_on_key_and_every_part() {
        let a = ClusterSecret::from_bytes(&[b'a'; 40]).unwrap();
        let b = ClusterSecret::from_bytes(&[b'b'; 40]).unwrap();
        let p = a.proof(&[b"client", b"ekm", b"pop-a"]);
        assert!(a.verify(&[b"client", b"ekm", b"pop-a"], &p));
        assert!(!b.verify(&[b"client", b"ekm", b"pop-a"], &p));
        assert!(!a.verify(&[b"server", b"ekm", b"pop-a"], &p));
        // Moving a byte between parts changes the proof (parts are length-prefixed).
        assert!(!a.verify(&[b"client", b"ekmp", b"op-a"], &p));
    }
}
