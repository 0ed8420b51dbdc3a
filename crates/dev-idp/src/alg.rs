//! The signing algorithms the provider offers.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// An asymmetric JWS algorithm the provider signs with. Only the two that real identity providers
/// overwhelmingly use: enough to exercise both key families (RSA and elliptic curve) in policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 over a 2048-bit key.
    Rs256,
    /// ECDSA over P-256 with SHA-256.
    Es256,
}

impl Alg {
    /// Both algorithms, in a fixed order.
    pub const ALL: [Alg; 2] = [Alg::Rs256, Alg::Es256];

    /// The JOSE name (`RS256`, `ES256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }

    /// The matching jsonwebtoken algorithm, for verifying what this provider mints.
    pub fn jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Alg::Rs256 => jsonwebtoken::Algorithm::RS256,
            Alg::Es256 => jsonwebtoken::Algorithm::ES256,
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Alg {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "RS256" => Ok(Alg::Rs256),
            "ES256" => Ok(Alg::Es256),
            _ => Err(Error::UnsupportedAlgorithm(s.to_owned())),
        }
    }
}
