//! Key generation with aws-lc-rs (the workspace's one crypto provider: no `ring`).
//!
//! Each [`SigningKey`] keeps what the rest of the crate needs and nothing more: the jsonwebtoken
//! `EncodingKey` to sign with, the public half as a JWK for the JWKS document, and the public key
//! as X.509 SubjectPublicKeyInfo DER (the bytes an algorithm-confusion attacker would HMAC with).

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

use crate::{Alg, Error};

/// One asymmetric key pair the provider can sign with.
pub(crate) struct SigningKey {
    kid: String,
    alg: Alg,
    encoding: EncodingKey,
    jwk: Value,
    public_spki_der: Vec<u8>,
}

impl SigningKey {
    /// Makes a fresh key for `alg` with a random key id, and signs a probe token with it so a key
    /// jsonwebtoken cannot use is caught here, once, rather than at every mint.
    pub(crate) fn generate(alg: Alg) -> Result<Self, Error> {
        let kid = random_kid(alg)?;
        let key = match alg {
            Alg::Rs256 => Self::generate_rsa(kid)?,
            Alg::Es256 => Self::generate_ec(kid)?,
        };
        let mut header = Header::new(alg.jsonwebtoken());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, &json!({"probe": true}), &key.encoding)
            .map_err(|source| Error::Sign { alg: alg.as_str(), source })?;
        Ok(key)
    }

    fn generate_rsa(kid: String) -> Result<Self, Error> {
        let fail = |what: &str| Error::KeyGeneration { alg: "RS256", reason: what.to_owned() };
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| fail("RSA-2048 keygen"))?;
        let pkcs8 = pair.as_der().map_err(|_| fail("PKCS#8 export"))?;
        // jsonwebtoken's RSA signer wants PKCS#1; its PEM loader unwraps PKCS#8 for us.
        let pem = pem_encode("PRIVATE KEY", pkcs8.as_ref());
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|e| fail(&format!("jsonwebtoken rejected the key: {e}")))?;
        let components = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let public_spki_der = pair.public_key().as_der().map_err(|_| fail("SPKI export"))?.as_ref().to_vec();
        let jwk = json!({
            "kty": "RSA",
            "kid": kid,
            "alg": "RS256",
            "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(strip_leading_zeros(&components.n)),
            "e": URL_SAFE_NO_PAD.encode(strip_leading_zeros(&components.e)),
        });
        Ok(Self { kid, alg: Alg::Rs256, encoding, jwk, public_spki_der })
    }

    fn generate_ec(kid: String) -> Result<Self, Error> {
        let fail = |what: &str| Error::KeyGeneration { alg: "ES256", reason: what.to_owned() };
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| fail("P-256 keygen"))?;
        let pkcs8 = pair.to_pkcs8v1().map_err(|_| fail("PKCS#8 export"))?;
        let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
        // An uncompressed point: 0x04 || x (32 bytes) || y (32 bytes).
        let point = pair.public_key().as_ref();
        if point.len() != 65 || point[0] != 4 {
            return Err(fail("unexpected public point encoding"));
        }
        let (x, y) = point[1..].split_at(32);
        let public_spki_der = pair.public_key().as_der().map_err(|_| fail("SPKI export"))?.as_ref().to_vec();
        let jwk = json!({
            "kty": "EC",
            "kid": kid,
            "alg": "ES256",
            "use": "sig",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
        });
        Ok(Self { kid, alg: Alg::Es256, encoding, jwk, public_spki_der })
    }

    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    pub(crate) fn alg(&self) -> Alg {
        self.alg
    }

    pub(crate) fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }

    /// The public key as a JWK (RFC 7517): `kid`, `kty`, `alg`, `use`, and `n`/`e` or `crv`/`x`/`y`.
    pub(crate) fn jwk(&self) -> &Value {
        &self.jwk
    }

    pub(crate) fn public_spki_der(&self) -> &[u8] {
        &self.public_spki_der
    }

    /// The public key as `-----BEGIN PUBLIC KEY-----` PEM, exactly as a careless verifier would
    /// load it from disk.
    pub(crate) fn public_key_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.public_spki_der)
    }
}

/// A key id unique enough for a test run: the algorithm plus 48 random bits.
pub(crate) fn random_kid(alg: Alg) -> Result<String, Error> {
    let mut bytes = [0u8; 6];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| Error::KeyGeneration { alg: alg.as_str(), reason: "random kid".to_owned() })?;
    Ok(format!("{}-{}", alg.as_str().to_ascii_lowercase(), URL_SAFE_NO_PAD.encode(bytes)))
}

/// RFC 7468 PEM with 64-column lines.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// JWK integers are unsigned big-endian without leading zero octets (RFC 7518 section 6.3.1).
fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len().saturating_sub(1));
    &bytes[first..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_jwk_has_2048_bit_modulus_and_standard_exponent() {
        let key = SigningKey::generate(Alg::Rs256).unwrap();
        let n = URL_SAFE_NO_PAD.decode(key.jwk()["n"].as_str().unwrap()).unwrap();
        assert_eq!(n.len(), 256);
        assert_eq!(key.jwk()["e"], "AQAB");
        assert!(key.kid().starts_with("rs256-"));
        assert!(key.public_key_pem().starts_with("-----BEGIN PUBLIC KEY-----\n"));
    }

    #[test]
    fn ec_jwk_has_p256_coordinates() {
        let key = SigningKey::generate(Alg::Es256).unwrap();
        assert_eq!(key.jwk()["crv"], "P-256");
        let x = URL_SAFE_NO_PAD.decode(key.jwk()["x"].as_str().unwrap()).unwrap();
        let y = URL_SAFE_NO_PAD.decode(key.jwk()["y"].as_str().unwrap()).unwrap();
        assert_eq!((x.len(), y.len()), (32, 32));
        assert_ne!(SigningKey::generate(Alg::Es256).unwrap().kid(), key.kid());
    }

    #[test]
    fn pem_lines_are_64_columns() {
        let pem = pem_encode("X", &[7u8; 100]);
        let body: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        assert_eq!(body[0].len(), 64);
        assert_eq!(STANDARD.decode(body.concat()).unwrap(), vec![7u8; 100]);
    }
}
