//! Agent authtokens: ids, secrets, and the hash the cluster stores instead of the secret.
//!
//! A token is an id (`tok_` + 16 hex digits, safe to show and log) and a secret (`wrn_` +
//! base64url of 32 random bytes, shown once at creation). The cluster stores only SHA-256 of the
//! secret. A fast hash is right here, unlike for passwords: the secret has 256 bits of entropy, so
//! nobody can guess it faster because hashing is cheap, and a slow KDF would only make every agent
//! connection cost CPU. Anyone reading a snapshot or the Raft log learns hashes, which do not
//! authenticate anyone.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ParseTokenIdError;

const ID_PREFIX: &str = "tok_";
const SECRET_PREFIX: &str = "wrn_";
const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;

/// Makes a new token from `random` (8 bytes for the id, then 32 for the secret). The caller
/// supplies the randomness, from a cryptographic generator, so that this crate stays pure.
pub fn new_token(random: [u8; ID_BYTES + SECRET_BYTES]) -> (TokenId, TokenSecret) {
    let (id, secret) = random.split_at(ID_BYTES);
    let id = TokenId(format!("{ID_PREFIX}{}", hex::encode(id)));
    let secret = TokenSecret(format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(secret)));
    (id, secret)
}

/// Compares two byte strings in time that depends only on their lengths, not on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // black_box keeps the optimiser from turning the fold into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

/// A token's public id, e.g. `tok_0123456789abcdef`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenId(String);

impl TokenId {
    /// Accepts exactly `tok_` and 16 lower-case hex digits.
    pub fn parse(s: &str) -> Result<TokenId, ParseTokenIdError> {
        let ok = s.strip_prefix(ID_PREFIX).is_some_and(|hex| {
            hex.len() == 2 * ID_BYTES && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if ok { Ok(TokenId(s.to_owned())) } else { Err(ParseTokenIdError { value: s.to_owned() }) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TokenId {
    type Error = ParseTokenIdError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        TokenId::parse(&s)
    }
}

impl From<TokenId> for String {
    fn from(id: TokenId) -> String {
        id.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenId({})", self.0)
    }
}

/// A token's secret, as handed to the agent. It never prints: `Debug` and `Display` are masked,
/// and [`TokenSecret::expose`] is the one way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecret(String);

impl TokenSecret {
    /// Wraps a secret presented by an agent (not checked: an ill-formed secret simply matches no
    /// token).
    pub fn new(s: impl Into<String>) -> TokenSecret {
        TokenSecret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash the cluster stores for this secret.
    pub fn hash(&self) -> SecretHash {
        SecretHash::of(&self.0)
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(***)")
    }
}

impl fmt::Display for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// SHA-256 of a token secret (of its full `wrn_…` text). Serialised as hex; `Debug` shows only a
/// short prefix, enough to tell two apart in a test failure and useless to anyone else.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    pub fn of(secret: &str) -> SecretHash {
        SecretHash(Sha256::digest(secret.as_bytes()).into())
    }

    pub fn from_bytes(bytes: [u8; 32]) -> SecretHash {
        SecretHash(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretHash({}…)", hex::encode(&self.0[..2]))
    }
}

impl TryFrom<String> for SecretHash {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&s, &mut bytes).map_err(|e| format!("secret hash: {e}"))?;
        Ok(SecretHash(bytes))
    }
}

impl From<SecretHash> for String {
    fn from(h: SecretHash) -> String {
        hex::encode(h.0)
    }
}

/// What anyone may see of a token: never its secret, never its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: TokenId,
    pub description: String,
    pub created_at_ms: u64,
    pub revoked: bool,
    pub revoked_at_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_token_shapes() {
        let mut random = [0u8; 40];
        for (i, b) in random.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(7);
        }
        let (id, secret) = new_token(random);
        assert_eq!(id.as_str(), "tok_00070e151c232a31");
        assert!(TokenId::parse(id.as_str()).is_ok());
        let body = secret.expose().strip_prefix("wrn_").unwrap();
        assert_eq!(body.len(), 43, "32 bytes in unpadded base64");
        assert!(!body.contains('=') && !body.contains('+') && !body.contains('/'));
        assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap(), &random[8..]);
    }

    #[test]
    fn token_id_parsing() {
        for bad in
            ["", "tok_", "tok_0123456789abcde", "tok_0123456789abcdef0", "tok_0123456789ABCDEF", "x_0123456789abcdef"]
        {
            assert!(TokenId::parse(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<TokenId>("\"tok_zz\"").is_err());
    }

    #[test]
    fn secret_never_prints() {
        let (_, secret) = new_token([9; 40]);
        let printed = format!("{secret} {secret:?} {:?}", secret.hash());
        assert!(!printed.contains(secret.expose()), "{printed}");
        assert!(!printed.contains(&secret.expose()[4..12]), "{printed}");
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn hash_round_trips_as_hex() {
        let h = SecretHash::of("wrn_x");
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json.len(), 66);
        assert_eq!(serde_json::from_str::<SecretHash>(&json).unwrap(), h);
        assert!(serde_json::from_str::<SecretHash>("\"abcd\"").is_err());
    }
}
