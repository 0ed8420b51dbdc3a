//! JWKS refresh decisions and the verified-token memo, with the time passed in.

mod support;

use std::sync::Arc;

use support::*;
use warren_jwt::{
    FetchDecision, FetchReason, JwksCacheConfig, JwksCacheState, JwksStatus, VerifiedCache, Verifier, VerifierConfig,
};

const URL: &str = "https://idp.example.com/.well-known/jwks.json";

fn keys_of(state: &JwksCacheState) -> Arc<warren_jwt::KeySet> {
    match state.status(URL) {
        JwksStatus::Keys { keys, .. } => keys,
        JwksStatus::NoKeys { .. } => panic!("no keys"),
    }
}

#[test]
fn initial_fetch_then_scheduled_refresh() {
    let mut s = JwksCacheState::new(JwksCacheConfig::default());
    assert_eq!(s.decide(URL, NOW), FetchDecision::FetchNow(FetchReason::Initial));
    assert!(matches!(s.status(URL), JwksStatus::NoKeys { last_error: None }));
    let ticket = s.begin_fetch(URL, NOW).unwrap();
    assert_eq!(ticket.url(), URL);
    // Single flight: nobody else may start one.
    assert!(s.begin_fetch(URL, NOW).is_none());
    assert_eq!(s.decide(URL, NOW + 1), FetchDecision::InFlight);
    assert!(s.finish_fetch(ticket, NOW + 1, Ok(jwks(&[&RSA1]))));
    assert_eq!(s.decide(URL, NOW + 2), FetchDecision::WaitUntil(NOW + 301));
    assert_eq!(s.next_wakeup(), Some(NOW + 301));
    assert_eq!(s.decide(URL, NOW + 301), FetchDecision::FetchNow(FetchReason::Scheduled));
    assert!(matches!(s.status(URL), JwksStatus::Keys { stale: false, fetched_at, .. } if fetched_at == NOW + 1));
}

#[test]
fn failures_keep_stale_keys_and_back_off() {
    let mut s = JwksCacheState::new(JwksCacheConfig::default());
    // Never succeeded: NoKeys with the error.
    let t = s.begin_fetch(URL, NOW).unwrap();
    s.finish_fetch(t, NOW, Err("connection refused".into()));
    assert!(matches!(s.status(URL), JwksStatus::NoKeys { last_error: Some(ref e) } if e == "connection refused"));
    assert_eq!(s.decide(URL, NOW), FetchDecision::WaitUntil(NOW + 1));
    let t = s.begin_fetch(URL, NOW + 1).unwrap();
    s.finish_fetch(t, NOW + 1, Err("again".into()));
    assert_eq!(s.decide(URL, NOW + 1), FetchDecision::WaitUntil(NOW + 3));
    assert_eq!(s.decide(URL, NOW + 3), FetchDecision::FetchNow(FetchReason::Retry));
    let t = s.begin_fetch(URL, NOW + 3).unwrap();
    s.finish_fetch(t, NOW + 3, Ok(jwks(&[&RSA1])));
    // Later failure: keys stay, marked stale.
    let t = s.begin_fetch(URL, NOW + 303).unwrap();
    s.finish_fetch(t, NOW + 303, Err("503".into()));
    assert!(matches!(s.status(URL), JwksStatus::Keys { stale: true, .. }));
    assert!(keys_of(&s).contains_kid("rsa-1"));
    // Backoff is capped.
    let mut now = NOW + 303;
    for _ in 0..20 {
        now += 1000;
        let t = s.begin_fetch(URL, now).unwrap();
        s.finish_fetch(t, now, Err("down".into()));
    }
    assert_eq!(s.decide(URL, now), FetchDecision::WaitUntil(now + 300));
}

#[test]
fn lost_fetches_time_out_and_late_tickets_are_ignored() {
    let mut s = JwksCacheState::new(JwksCacheConfig::default());
    let old = s.begin_fetch(URL, NOW).unwrap();
    assert!(s.begin_fetch(URL, NOW + 59).is_none());
    let new = s.begin_fetch(URL, NOW + 60).unwrap();
    assert!(!s.finish_fetch(old, NOW + 61, Ok(jwks(&[&RSA2]))));
    assert!(s.finish_fetch(new, NOW + 61, Ok(jwks(&[&RSA1]))));
    assert!(keys_of(&s).contains_kid("rsa-1") && !keys_of(&s).contains_kid("rsa-2"));
}

#[test]
fn unknown_kid_refetch_is_rate_limited() {
    let mut s = JwksCacheState::new(JwksCacheConfig::default());
    let t = s.begin_fetch(URL, NOW).unwrap();
    s.finish_fetch(t, NOW, Ok(jwks(&[&RSA1])));
    // A kid we have does not trigger anything.
    assert!(!s.on_unknown_kid(URL, Some("rsa-1"), NOW + 1));
    assert!(s.on_unknown_kid(URL, Some("rsa-2"), NOW + 1));
    assert_eq!(s.decide(URL, NOW + 1), FetchDecision::FetchNow(FetchReason::UnknownKid));
    let t = s.begin_fetch(URL, NOW + 1).unwrap();
    s.finish_fetch(t, NOW + 2, Ok(jwks(&[&RSA1])));
    // Another random kid within 10 s: no refetch.
    assert!(!s.on_unknown_kid(URL, Some("random"), NOW + 5));
    assert!(matches!(s.decide(URL, NOW + 5), FetchDecision::WaitUntil(_)));
    assert!(s.on_unknown_kid(URL, Some("random"), NOW + 11));
}

/// Key rotation end to end: the IdP starts signing with a new key; the edge sees unknown_kid,
/// decides to refetch, gets the new JWKS and accepts the token.
#[test]
fn rotation_new_kid_refetch_accepted() {
    let verifier = Verifier::new(VerifierConfig { issuers: vec![ISS.into()], ..Default::default() }).unwrap();
    let mut s = JwksCacheState::new(JwksCacheConfig::default());
    let t = s.begin_fetch(URL, NOW).unwrap();
    s.finish_fetch(t, NOW, Ok(jwks(&[&RSA1])));

    let token = RSA2.sign(&claims());
    let err = verifier.verify(&token, &keys_of(&s), NOW + 20).unwrap_err();
    assert!(err.wants_key_refetch());
    assert!(s.on_unknown_kid(URL, Some("rsa-2"), NOW + 20));
    let t = s.begin_fetch(URL, NOW + 20).expect("refetch granted");
    s.finish_fetch(t, NOW + 21, Ok(jwks(&[&RSA1, &RSA2])));
    let ok = verifier.verify(&token, &keys_of(&s), NOW + 21).unwrap();
    assert_eq!(ok.kid.as_deref(), Some("rsa-2"));
    // Old tokens keep working during the overlap.
    verifier.verify(&RSA1.sign(&claims()), &keys_of(&s), NOW + 21).unwrap();
}

#[test]
fn untrack_and_urls() {
    let mut s = JwksCacheState::default();
    s.track(URL);
    s.track("https://b.example/jwks");
    assert_eq!(s.urls().count(), 2);
    s.untrack(URL);
    assert_eq!(s.urls().collect::<Vec<_>>(), ["https://b.example/jwks"]);
}

#[test]
fn verified_cache_bounds_and_expiry() {
    let verifier = Verifier::new(VerifierConfig::default()).unwrap();
    let keys = jwks(&[&RSA1]);
    let mut cache = VerifiedCache::new(2);
    let mut tokens = Vec::new();
    for i in 0..3u64 {
        let mut c = claims();
        c["exp"] = serde_json::json!(NOW + 100 + i);
        c["n"] = serde_json::json!(i);
        let t = RSA1.sign(&c);
        let v = Arc::new(verifier.verify(&t, &keys, NOW).unwrap());
        cache.insert(&t, v, NOW);
        tokens.push(t);
    }
    assert_eq!(cache.len(), 2);
    assert!(cache.get(&tokens[0], NOW).is_none(), "oldest evicted");
    assert_eq!(cache.get(&tokens[2], NOW).unwrap().payload["n"], 2);
    // Expiry = token exp.
    assert!(cache.get(&tokens[1], NOW + 101).is_none());
    assert_eq!(cache.len(), 1);
    cache.purge_expired(NOW + 102);
    assert!(cache.is_empty());
    // No exp: never cached. Capacity 0: never cached.
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    let lax = Verifier::new(VerifierConfig { require_exp: false, ..Default::default() }).unwrap();
    let t = RSA1.sign(&c);
    cache.insert(&t, Arc::new(lax.verify(&t, &keys, NOW).unwrap()), NOW);
    assert!(cache.is_empty());
    let mut off = VerifiedCache::new(0);
    let t = RSA1.sign(&claims());
    off.insert(&t, Arc::new(verifier.verify(&t, &keys, NOW).unwrap()), NOW);
    assert!(off.is_empty());
    cache.insert(&t, Arc::new(verifier.verify(&t, &keys, NOW).unwrap()), NOW);
    cache.clear();
    assert!(cache.get(&t, NOW).is_none());
}

#[test]
fn verified_cache_prefers_evicting_expired() {
    let verifier = Verifier::new(VerifierConfig::default()).unwrap();
    let keys = jwks(&[&RSA1]);
    let mut cache = VerifiedCache::new(2);
    let sign = |exp: u64, n: u64| {
        let mut c = claims();
        c["exp"] = serde_json::json!(exp);
        c["n"] = serde_json::json!(n);
        RSA1.sign(&c)
    };
    let long = sign(NOW + 1000, 0);
    let short = sign(NOW + 10, 1);
    for t in [&long, &short] {
        cache.insert(t, Arc::new(verifier.verify(t, &keys, NOW).unwrap()), NOW);
    }
    let third = sign(NOW + 1000, 2);
    cache.insert(&third, Arc::new(verifier.verify(&third, &keys, NOW).unwrap()), NOW + 20);
    assert!(cache.get(&long, NOW + 20).is_some(), "expired entry went first, not the oldest");
    assert!(cache.get(&third, NOW + 20).is_some());
}
