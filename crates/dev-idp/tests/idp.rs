//! The provider over real HTTP on loopback, checked with an independent verifier (jsonwebtoken
//! decoding against the JWKS fetched with reqwest), the way Warren's JWT policy will use it.

use std::net::SocketAddr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::{Value, json};
use warren_dev_idp::{Alg, DevIdp, DevIdpOptions, Time, TokenSpec};

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn start() -> DevIdp {
    DevIdp::start(loopback(), DevIdpOptions::default()).await.unwrap()
}

async fn fetch_jwks(idp: &DevIdp) -> JwkSet {
    let resp = reqwest::get(idp.jwks_url()).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// Verifies the way a careful verifier does: the algorithm is fixed by the caller, the key is
/// found by kid in the JWKS.
fn verify(token: &str, jwks: &JwkSet, alg: Alg, idp: &DevIdp, aud: &str) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = jwks.find(&kid).ok_or_else(|| format!("kid {kid} not in JWKS"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(alg.jsonwebtoken());
    validation.set_audience(&[aud]);
    validation.set_issuer(&[idp.issuer()]);
    jsonwebtoken::decode::<Value>(token, &key, &validation).map(|data| data.claims).map_err(|e| e.to_string())
}

fn segments(token: &str) -> (Value, Value, String) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS compact token has three parts: {token}");
    let decode = |s: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap();
    (decode(parts[0]), decode(parts[1]), parts[2].to_owned())
}

#[tokio::test]
async fn minted_tokens_verify_against_the_fetched_jwks() {
    let idp = start().await;
    assert_eq!(idp.issuer(), format!("http://{}", idp.addr()));
    let jwks = fetch_jwks(&idp).await;
    assert_eq!(idp.jwks_fetches(), 1);
    assert_eq!(jwks.keys.len(), 2);

    for alg in Alg::ALL {
        let token = idp.mint(&TokenSpec::new(alg).sub("alice").aud("api").claim("scope", "read"));
        let (header, _, _) = segments(&token);
        assert_eq!(header["alg"], alg.as_str());
        assert_eq!(header["kid"], idp.current_kid(alg).as_str());
        let claims = verify(&token, &jwks, alg, &idp, "api").unwrap();
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["scope"], "read");
        assert_eq!(claims["iss"], idp.issuer());
        // Wrong audience is rejected: the verifier is really checking.
        assert!(verify(&token, &jwks, alg, &idp, "other").is_err());
    }

    // Published JWKs carry what RFC 7517 verifiers look for.
    let raw: Value = reqwest::get(idp.jwks_url()).await.unwrap().json().await.unwrap();
    let keys = raw["keys"].as_array().unwrap();
    let rsa = keys.iter().find(|k| k["kty"] == "RSA").unwrap();
    let ec = keys.iter().find(|k| k["kty"] == "EC").unwrap();
    assert_eq!(
        (rsa["alg"].as_str(), rsa["use"].as_str(), rsa["e"].as_str()),
        (Some("RS256"), Some("sig"), Some("AQAB"))
    );
    assert_eq!((ec["alg"].as_str(), ec["crv"].as_str()), (Some("ES256"), Some("P-256")));
    assert!(ec["x"].is_string() && ec["y"].is_string() && rsa["n"].is_string());
    assert_eq!(idp.jwks_fetches(), 2);
}

#[tokio::test]
async fn time_claims_are_enforced_by_a_verifier() {
    let idp = start().await;
    let jwks = fetch_jwks(&idp).await;
    let expired = idp.mint(&TokenSpec::es256().aud("api").iat(Time::ago(3600)).exp(Time::ago(600)));
    let err = verify(&expired, &jwks, Alg::Es256, &idp, "api").unwrap_err();
    assert!(err.contains("ExpiredSignature"), "{err}");
    let (_, claims, _) = segments(&expired);
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 3000);

    let absolute = idp.mint(&TokenSpec::rs256().audiences(["a", "b"]).exp(Time::At(4_000_000_000)).kid("k1"));
    let (header, claims, _) = segments(&absolute);
    assert_eq!(header["kid"], "k1");
    assert_eq!(claims["exp"], 4_000_000_000i64);
    assert_eq!(claims["aud"], json!(["a", "b"]));
}

#[tokio::test]
async fn token_endpoint_answers_json_and_form_requests() {
    let idp = start().await;
    let client = reqwest::Client::new();
    let resp = client
        .post(idp.token_url())
        .json(
            &json!({"sub": "bob", "aud": ["api", "admin"], "ttl_secs": 120, "alg": "ES256", "claims": {"role": "ops"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 120);
    let token = body["access_token"].as_str().unwrap();
    let jwks = fetch_jwks(&idp).await;
    let claims = verify(token, &jwks, Alg::Es256, &idp, "admin").unwrap();
    assert_eq!(claims["sub"], "bob");
    assert_eq!(claims["role"], "ops");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 120);

    let resp = client
        .post(idp.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("sub=carol&aud=api")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let claims = verify(body["access_token"].as_str().unwrap(), &jwks, Alg::Rs256, &idp, "api").unwrap();
    assert_eq!(claims["sub"], "carol");

    let bad = client.post(idp.token_url()).json(&json!({"alg": "HS256"})).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    let config: Value =
        reqwest::get(format!("{}/.well-known/openid-configuration", idp.issuer())).await.unwrap().json().await.unwrap();
    assert_eq!(config["issuer"], idp.issuer());
    assert_eq!(config["jwks_uri"], idp.jwks_url());
    assert_eq!(config["token_endpoint"], idp.token_url());
}

#[tokio::test]
async fn rotation_keeps_old_keys_until_retired() {
    let idp = start().await;
    let client = reqwest::Client::new();
    let old_kid = idp.current_kid(Alg::Rs256);
    let old_token = idp.mint(&TokenSpec::rs256().aud("api"));

    let resp: Value =
        client.post(format!("{}/rotate?alg=RS256", idp.issuer())).send().await.unwrap().json().await.unwrap();
    let new_kid = resp["rotated"][0]["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);
    assert_eq!(idp.current_kid(Alg::Rs256), new_kid);
    assert_eq!(resp["retired"], json!([]));

    let new_token = idp.mint(&TokenSpec::rs256().aud("api"));
    assert_eq!(jsonwebtoken::decode_header(&new_token).unwrap().kid.as_deref(), Some(new_kid.as_str()));
    let jwks = fetch_jwks(&idp).await;
    assert_eq!(jwks.keys.len(), 3);
    verify(&new_token, &jwks, Alg::Rs256, &idp, "api").unwrap();
    verify(&old_token, &jwks, Alg::Rs256, &idp, "api").unwrap();

    let resp: Value = client
        .post(format!("{}/rotate?alg=RS256&retire=true", idp.issuer()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let newest_kid = resp["rotated"][0]["kid"].as_str().unwrap().to_owned();
    assert_eq!(resp["retired"], json!([old_kid.clone(), new_kid.clone()]));
    let jwks = fetch_jwks(&idp).await;
    assert_eq!(jwks.keys.len(), 2);
    let err = verify(&old_token, &jwks, Alg::Rs256, &idp, "api").unwrap_err();
    assert!(err.contains("not in JWKS"), "{err}");
    assert!(verify(&new_token, &jwks, Alg::Rs256, &idp, "api").is_err());
    let newest = idp.mint(&TokenSpec::rs256().aud("api"));
    assert_eq!(jsonwebtoken::decode_header(&newest).unwrap().kid, Some(newest_kid));
    verify(&newest, &jwks, Alg::Rs256, &idp, "api").unwrap();
    // The ES256 key was not touched.
    verify(&idp.mint(&TokenSpec::es256().aud("api")), &jwks, Alg::Es256, &idp, "api").unwrap();

    // The in-process API rotates the same way.
    let rotation = idp.rotate(Alg::Es256, false).unwrap();
    assert_eq!(idp.current_kid(Alg::Es256), rotation.kid);
    assert_eq!(idp.kids().len(), 3);
}

#[tokio::test]
async fn bad_tokens_are_what_they_claim_to_be() {
    let idp = start().await;
    let jwks = fetch_jwks(&idp).await;
    let spec = TokenSpec::rs256().sub("mallory").aud("api");

    // alg none: header says none, signature empty.
    let none = idp.mint_alg_none(&spec);
    let (header, claims, signature) = segments_allow_empty(&none);
    assert_eq!(header["alg"], "none");
    assert_eq!(claims["sub"], "mallory");
    assert_eq!(signature, "");

    // Algorithm confusion: HS256, RS256 kid, HMAC keyed with the public key PEM.
    let rsa_kid = idp.current_kid(Alg::Rs256);
    let confused = idp.mint_hs256_with_public_key(&spec);
    let header = jsonwebtoken::decode_header(&confused).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::HS256);
    assert_eq!(header.kid.as_deref(), Some(rsa_kid.as_str()));
    let pem = idp.public_key_pem(Alg::Rs256);
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    let mut hs = Validation::new(jsonwebtoken::Algorithm::HS256);
    hs.set_audience(&["api"]);
    let hmac_key = DecodingKey::from_secret(pem.as_bytes()).unwrap();
    jsonwebtoken::decode::<Value>(&confused, &hmac_key, &hs).expect("HMAC over the PEM verifies");
    assert!(verify(&confused, &jwks, Alg::Rs256, &idp, "api").is_err());
    let confused_der = idp.mint_hs256_with_public_key_der(&spec);
    assert!(jsonwebtoken::decode::<Value>(&confused_der, &hmac_key, &hs).is_err());

    // Unknown kid: a good signature, but the kid names no published key.
    let unknown = idp.mint_with_unknown_kid(&spec);
    let kid = jsonwebtoken::decode_header(&unknown).unwrap().kid.unwrap();
    assert!(jwks.find(&kid).is_none());
    let rsa_key = DecodingKey::from_jwk(jwks.find(&rsa_kid).unwrap()).unwrap();
    let mut rs = Validation::new(jsonwebtoken::Algorithm::RS256);
    rs.set_audience(&["api"]);
    jsonwebtoken::decode::<Value>(&unknown, &rsa_key, &rs).expect("signed by the real key");

    // Foreign key: with its own kid or forging the real one, it never verifies.
    for alg in Alg::ALL {
        let foreign = idp.mint_with_foreign_key(&TokenSpec::new(alg).aud("api"));
        let kid = jsonwebtoken::decode_header(&foreign).unwrap().kid.unwrap();
        assert!(jwks.find(&kid).is_none());
        let forged = idp.mint_with_foreign_key(&TokenSpec::new(alg).aud("api").kid(idp.current_kid(alg)));
        let err = verify(&forged, &jwks, alg, &idp, "api").unwrap_err();
        assert!(err.contains("InvalidSignature"), "{err}");
    }
}

fn segments_allow_empty(token: &str) -> (Value, Value, String) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let decode = |s: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap();
    (decode(parts[0]), decode(parts[1]), parts[2].to_owned())
}

#[tokio::test]
async fn outage_answers_503_and_counts_fetches() {
    let idp = start().await;
    idp.set_available(false);
    let resp = reqwest::get(idp.jwks_url()).await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_eq!(idp.jwks_fetches(), 1);
    idp.set_available(true);
    assert_eq!(reqwest::get(idp.jwks_url()).await.unwrap().status(), 200);
    assert_eq!(idp.jwks_fetches(), 2);
    // Token issuing is unaffected by the JWKS outage switch and does not count as a fetch.
    let resp = reqwest::Client::new().post(idp.token_url()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(idp.jwks_fetches(), 2);
}

#[tokio::test]
async fn shutdown_closes_the_listener() {
    let idp = start().await;
    let addr = idp.addr();
    assert!(tokio::net::TcpStream::connect(addr).await.is_ok());
    idp.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());

    let idp = start().await;
    let addr = idp.addr();
    drop(idp);
    // Abort is asynchronous: the listener closes once the aborted task is dropped by the runtime.
    let mut closed = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            closed = true;
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(closed, "listener still open after drop");
}
