//! Shared helpers for the integration tests: real keys (generated with openssl into `keys/`),
//! a JWKS built from their public halves, and a signer.

#![allow(dead_code)]

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use warren_jwt::KeySet;

pub const NOW: u64 = 1_800_000_000;
pub const ISS: &str = "https://idp.example.com/";
pub const AUD: &str = "urn:warren:api";

pub struct TestKey {
    pub kid: &'static str,
    pub alg: Algorithm,
    pub pem: &'static [u8],
}

pub const RSA1: TestKey = TestKey { kid: "rsa-1", alg: Algorithm::RS256, pem: include_bytes!("keys/rsa1.pem") };
pub const RSA2: TestKey = TestKey { kid: "rsa-2", alg: Algorithm::RS256, pem: include_bytes!("keys/rsa2.pem") };
pub const EC256: TestKey = TestKey { kid: "ec-256", alg: Algorithm::ES256, pem: include_bytes!("keys/ec256.pem") };
pub const EC384: TestKey = TestKey { kid: "ec-384", alg: Algorithm::ES384, pem: include_bytes!("keys/ec384.pem") };
pub const RSA1_PUBLIC_PEM: &[u8] = include_bytes!("keys/rsa1.pub.pem");

impl TestKey {
    pub fn encoding(&self) -> EncodingKey {
        match self.alg {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(self.pem).unwrap(),
            _ => EncodingKey::from_rsa_pem(self.pem).unwrap(),
        }
    }

    /// The public JWK, with `kid` and without `alg` (most IdPs set it; the verifier must not
    /// depend on it).
    pub fn jwk(&self) -> Value {
        let jwk = Jwk::from_encoding_key(&self.encoding(), self.alg).unwrap();
        let mut v = serde_json::to_value(jwk).unwrap();
        let obj = v.as_object_mut().unwrap();
        obj.insert("kid".into(), json!(self.kid));
        obj.remove("alg");
        v
    }

    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(self.alg, Some(self.kid), claims)
    }

    pub fn sign_as(&self, alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.encoding()).unwrap()
    }
}

pub fn jwks(keys: &[&TestKey]) -> KeySet {
    let doc = json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() });
    KeySet::from_jwks_json(doc.to_string().as_bytes()).unwrap()
}

pub fn claims() -> Value {
    json!({ "iss": ISS, "aud": AUD, "sub": "user-1", "exp": NOW + 600, "iat": NOW - 10 })
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
