//! JWKS parsing: supported keys load once, everything else is skipped and counted.

mod support;

use serde_json::json;
use support::*;
use warren_jwt::{KeySet, KeySetError, KeySetStats};

#[test]
fn loads_rsa_and_ec_and_skips_the_rest() {
    let mut bad_ec = EC256.jwk();
    bad_ec["kid"] = json!("short");
    bad_ec["x"] = json!(b64(&[1, 2, 3]));
    let mut pinned_wrong = RSA2.jwk();
    pinned_wrong["alg"] = json!("ES256");
    let mut enc = RSA2.jwk();
    enc["kid"] = json!("enc");
    enc["use"] = json!("enc");
    let doc = json!({ "keys": [
        RSA1.jwk(), EC256.jwk(), EC384.jwk(),
        { "kty": "oct", "kid": "hmac", "k": "c2VjcmV0" },
        { "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" },
        { "kty": "EC", "crv": "P-521", "x": "AA", "y": "AA" },
        { "kty": "RSA", "kid": "small", "n": b64(&[0xC5; 64]), "e": "AQAB" },
        { "kty": "RSA", "kid": "no-n", "e": "AQAB" },
        bad_ec, pinned_wrong, enc, 17
    ]});
    let set = KeySet::from_jwks_json(doc.to_string().as_bytes()).unwrap();
    assert_eq!(set.stats(), KeySetStats { loaded: 3, skipped_unsupported: 4, skipped_invalid: 5 });
    assert_eq!(set.kids().collect::<Vec<_>>(), ["rsa-1", "ec-256", "ec-384"]);
    assert!(set.contains_kid("ec-384") && !set.contains_kid("hmac"));
}

#[test]
fn duplicate_kid_keeps_the_first() {
    let mut imposter = RSA2.jwk();
    imposter["kid"] = json!("rsa-1");
    let doc = json!({ "keys": [RSA1.jwk(), imposter] });
    let set = KeySet::from_jwks_json(doc.to_string().as_bytes()).unwrap();
    assert_eq!(set.len(), 1);
    let verifier = warren_jwt::Verifier::new(Default::default()).unwrap();
    verifier.verify(&RSA1.sign(&claims()), &set, NOW).unwrap();
    let forged = RSA2.sign_as(jsonwebtoken::Algorithm::RS256, Some("rsa-1"), &claims());
    assert_eq!(verifier.verify(&forged, &set, NOW).unwrap_err().reason(), "bad_signature");
}

#[test]
fn rejects_documents_that_are_not_a_jwks() {
    assert!(matches!(KeySet::from_jwks_json(b"{"), Err(KeySetError::Json(_))));
    assert_eq!(KeySet::from_jwks_json(b"{}").unwrap_err(), KeySetError::NoKeysArray);
    assert_eq!(KeySet::from_jwks_json(br#"{"keys": {}}"#).unwrap_err(), KeySetError::NoKeysArray);
    let many = json!({ "keys": vec![json!({"kty": "oct"}); 65] });
    assert!(matches!(KeySet::from_jwks_json(many.to_string().as_bytes()), Err(KeySetError::TooManyKeys { .. })));
    let big = vec![b' '; 300 * 1024];
    assert!(matches!(KeySet::from_jwks_json(&big), Err(KeySetError::TooLarge { .. })));
    assert!(KeySet::from_jwks_json(br#"{"keys": []}"#).unwrap().is_empty());
}
