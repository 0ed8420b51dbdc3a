//! Real signed tokens against a real JWKS: every acceptance and rejection path.

mod support;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use support::*;
use warren_jwt::{ConfigError, JwtError, KeySet, Verifier, VerifierConfig};

fn verifier() -> Verifier {
    Verifier::new(VerifierConfig {
        issuers: vec![ISS.into()],
        audiences: vec![AUD.into(), "other".into()],
        ..VerifierConfig::default()
    })
    .unwrap()
}

fn keys() -> KeySet {
    jwks(&[&RSA1, &EC256, &EC384])
}

fn reason(token: &str) -> &'static str {
    verifier().verify(token, &keys(), NOW).unwrap_err().reason()
}

#[test]
fn accepts_rsa_and_ec_tokens() {
    for key in [&RSA1, &EC256, &EC384] {
        let ok = verifier().verify(&key.sign(&claims()), &keys(), NOW).unwrap();
        assert_eq!(ok.payload["sub"], "user-1");
        assert_eq!(ok.kid.as_deref(), Some(key.kid));
        assert_eq!(ok.alg, key.alg);
        assert_eq!(ok.exp, Some((NOW + 600) as i64));
        assert_eq!(ok.header["kid"], key.kid);
    }
}

#[test]
fn accepts_ps256_with_rsa_key_and_tokens_without_kid() {
    let t = RSA1.sign_as(Algorithm::PS256, Some("rsa-1"), &claims());
    verifier().verify(&t, &keys(), NOW).unwrap();
    let t = EC256.sign_as(Algorithm::ES256, None, &claims());
    verifier().verify(&t, &keys(), NOW).unwrap();
}

#[test]
fn audience_array_and_no_audience_policy() {
    let mut c = claims();
    c["aud"] = json!(["x", "other"]);
    verifier().verify(&RSA1.sign(&c), &keys(), NOW).unwrap();
    c["aud"] = json!(["x", "y"]);
    assert_eq!(reason(&RSA1.sign(&c)), "bad_audience");
    // No audience list: a token carrying aud still passes.
    let open = Verifier::new(VerifierConfig { issuers: vec![ISS.into()], ..Default::default() }).unwrap();
    open.verify(&RSA1.sign(&c), &keys(), NOW).unwrap();
    // Audience list but no aud claim: rejected.
    c.as_object_mut().unwrap().remove("aud");
    assert_eq!(reason(&RSA1.sign(&c)), "bad_audience");
}

#[test]
fn rejects_alg_none_in_any_case() {
    let payload = b64(claims().to_string().as_bytes());
    for alg in ["none", "None", "NONE"] {
        let header = b64(json!({ "alg": alg, "kid": "rsa-1" }).to_string().as_bytes());
        assert_eq!(reason(&format!("{header}.{payload}.")), "alg_none");
        assert_eq!(reason(&format!("{header}.{payload}.c2ln")), "alg_none");
    }
}

#[test]
fn rejects_hs256_signed_with_the_rsa_public_key() {
    // The algorithm-confusion attack: HMAC keyed with the (public) RSA key PEM.
    let key = EncodingKey::from_secret(RSA1_PUBLIC_PEM).unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("rsa-1".into());
    let token = jsonwebtoken::encode(&header, &claims(), &key).unwrap();
    assert_eq!(reason(&token), "alg_not_allowed");
    // Symmetric algorithms cannot even be configured.
    let err = Verifier::new(VerifierConfig {
        allowed_algorithms: vec![Algorithm::RS256, Algorithm::HS256],
        ..Default::default()
    })
    .unwrap_err();
    assert_eq!(err, ConfigError::SymmetricAlgorithm(Algorithm::HS256));
    assert_eq!(
        Verifier::new(VerifierConfig { allowed_algorithms: vec![], ..Default::default() }).unwrap_err(),
        ConfigError::NoAlgorithms
    );
}

#[test]
fn rejects_alg_that_does_not_fit_the_named_key() {
    // ES256 token naming the RSA key's kid.
    let t = EC256.sign_as(Algorithm::ES256, Some("rsa-1"), &claims());
    let err = verifier().verify(&t, &keys(), NOW).unwrap_err();
    assert!(matches!(err, JwtError::KeyAlgMismatch { .. }), "{err:?}");
    assert_eq!(err.reason(), "alg_not_allowed");
    // ES384 token naming the P-256 key.
    let t = EC384.sign_as(Algorithm::ES384, Some("ec-256"), &claims());
    assert_eq!(reason(&t), "alg_not_allowed");
}

#[test]
fn rejects_algorithms_outside_the_allow_list() {
    let only_es =
        Verifier::new(VerifierConfig { allowed_algorithms: vec![Algorithm::ES256], ..Default::default() }).unwrap();
    let err = only_es.verify(&RSA1.sign(&claims()), &keys(), NOW).unwrap_err();
    assert_eq!(err.reason(), "alg_not_allowed");
    // Unknown algorithm names too.
    let header = b64(br#"{"alg":"XX512","kid":"rsa-1"}"#);
    let payload = b64(claims().to_string().as_bytes());
    assert_eq!(reason(&format!("{header}.{payload}.c2ln")), "alg_not_allowed");
}

#[test]
fn rejects_bad_signatures() {
    let t = RSA1.sign(&claims());
    let (head, _) = t.rsplit_once('.').unwrap();
    let forged = format!("{head}.{}", b64(&[7u8; 256]));
    assert_eq!(reason(&forged), "bad_signature");
    // Payload swapped after signing.
    let mut c = claims();
    c["sub"] = json!("admin");
    let other = RSA1.sign(&c);
    let parts: Vec<&str> = t.split('.').collect();
    let other_parts: Vec<&str> = other.split('.').collect();
    let spliced = format!("{}.{}.{}", parts[0], other_parts[1], parts[2]);
    assert_eq!(reason(&spliced), "bad_signature");
    // Signed by a key that is not in the set but claiming its kid.
    let t = RSA2.sign_as(Algorithm::RS256, Some("rsa-1"), &claims());
    assert_eq!(reason(&t), "bad_signature");
}

#[test]
fn rejects_expired_and_not_yet_valid_with_leeway() {
    let mut c = claims();
    c["exp"] = json!(NOW - 31);
    assert_eq!(reason(&RSA1.sign(&c)), "expired");
    c["exp"] = json!(NOW - 29); // within the 30 s leeway
    verifier().verify(&RSA1.sign(&c), &keys(), NOW).unwrap();
    let mut c = claims();
    c["nbf"] = json!(NOW + 31);
    assert_eq!(reason(&RSA1.sign(&c)), "not_yet_valid");
    c["nbf"] = json!(NOW + 29);
    verifier().verify(&RSA1.sign(&c), &keys(), NOW).unwrap();
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    assert_eq!(reason(&RSA1.sign(&c)), "missing_claim");
}

#[test]
fn rejects_wrong_or_missing_issuer() {
    let mut c = claims();
    c["iss"] = json!("https://idp.example.com"); // no trailing slash: exact match only
    assert_eq!(reason(&RSA1.sign(&c)), "bad_issuer");
    c.as_object_mut().unwrap().remove("iss");
    assert_eq!(reason(&RSA1.sign(&c)), "bad_issuer");
}

#[test]
fn rejects_claims_of_the_wrong_type() {
    let cases = [
        ("exp", json!("1800000600")),
        ("nbf", json!(true)),
        ("iat", json!("yesterday")),
        ("iss", json!(42)),
        ("aud", json!(7)),
        ("aud", json!(["ok", 7])),
        ("sub", json!({"id": 1})),
    ];
    for (claim, value) in cases {
        let mut c = claims();
        c[claim] = value;
        let err = verifier().verify(&RSA1.sign(&c), &keys(), NOW).unwrap_err();
        assert_eq!(err, JwtError::BadClaimType { claim }, "{claim}");
        assert_eq!(err.reason(), "bad_claim_type");
    }
}

#[test]
fn rejects_oversized_tokens_before_parsing() {
    let huge = "a".repeat(16 * 1024 + 1);
    let err = verifier().verify(&huge, &keys(), NOW).unwrap_err();
    assert_eq!(err, JwtError::TooLarge { limit: 16 * 1024, actual: 16 * 1024 + 1 });
    assert_eq!(err.reason(), "too_large");
    let mut c = claims();
    c["pad"] = json!("x".repeat(17 * 1024));
    assert_eq!(reason(&RSA1.sign(&c)), "too_large");
}

#[test]
fn rejects_malformed_tokens() {
    let good = RSA1.sign(&claims());
    let parts: Vec<&str> = good.split('.').collect();
    let cases = vec![
        String::new(),
        "abc".to_string(),
        format!("{}.{}", parts[0], parts[1]),
        format!("{good}.extra"),
        format!("!!!.{}.{}", parts[1], parts[2]),
        format!("{}.%%%.{}", parts[0], parts[2]),
        format!("{}.{}.{}", b64(b"not json"), parts[1], parts[2]),
        format!("{}.{}.{}", parts[0], b64(b"[1,2]"), parts[2]),
        format!("{}.{}.{}", b64(br#"{"alg":"RS256","kid":5}"#), parts[1], parts[2]),
        format!("{}.{}.{}", b64(br#"{"alg":"RS256","crit":["exp"]}"#), parts[1], parts[2]),
        format!("{}.{}.{}", b64(br#"{"kid":"rsa-1"}"#), parts[1], parts[2]),
        format!("{}.{}.", parts[0], parts[1]),
    ];
    for token in cases {
        assert_eq!(reason(&token), "malformed", "{token:.60}");
    }
}

#[test]
fn unknown_kid_is_distinct() {
    let t = RSA2.sign(&claims());
    let err = verifier().verify(&t, &keys(), NOW).unwrap_err();
    assert_eq!(err, JwtError::UnknownKid { kid: Some("rsa-2".into()) });
    assert!(err.wants_key_refetch());
    assert_eq!(err.reason(), "unknown_kid");
    // Without kid and no key for the algorithm.
    let only_rsa = jwks(&[&RSA1]);
    let t = EC256.sign_as(Algorithm::ES256, None, &claims());
    assert_eq!(verifier().verify(&t, &only_rsa, NOW).unwrap_err(), JwtError::UnknownKid { kid: None });
}
