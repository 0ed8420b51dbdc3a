//! Requests that reach the backend: HTTP/1.1 and HTTP/2, plain and TLS.

use reqwest::Version;
use warren_test_support::EchoBackend;

use crate::harness::{FakeRouter, HOST, client, http_url, https_url, start_edge};

#[tokio::test]
async fn http1_and_h2c_on_the_plain_listener() {
    let backend = EchoBackend::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let edge = start_edge(FakeRouter::new(backend.addr()), dir.path()).await;
    let addr = edge.http_addr().unwrap();
    for (client, version) in [
        (client(&edge, addr, |b| b.http1_only()), Version::HTTP_11),
        (client(&edge, addr, |b| b.http2_prior_knowledge()), Version::HTTP_2),
    ] {
        let resp = client
            .post(http_url(&edge, HOST, "/echo?q=1"))
            .header("x-forwarded-for", "6.6.6.6")
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), version);
        let echo: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(echo["body_len"], 5);
        assert_eq!(echo["query"], "q=1");
        assert_eq!(echo["headers"]["x-forwarded-for"], serde_json::json!(["127.0.0.1"]));
        assert_eq!(echo["headers"]["x-forwarded-proto"], serde_json::json!(["http"]));
        let host = format!("{HOST}:{}", addr.port());
        assert_eq!(echo["headers"]["host"], serde_json::json!([host]));
    }
}

#[tokio::test]
async fn http1_and_http2_over_tls_with_the_dev_ca() {
    let backend = EchoBackend::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let edge = start_edge(FakeRouter::new(backend.addr()), dir.path()).await;
    assert_eq!(edge.dev_ca_pem_path().unwrap(), dir.path().join("ca.pem"));
    let addr = edge.https_addr().unwrap();
    for (client, version) in
        [(client(&edge, addr, |b| b.http1_only()), Version::HTTP_11), (client(&edge, addr, |b| b), Version::HTTP_2)]
    {
        let resp = client.get(https_url(&edge, HOST, "/echo")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.version(), version, "ALPN picks the protocol");
        let echo: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(echo["headers"]["x-forwarded-proto"], serde_json::json!(["https"]));
    }
}

#[tokio::test]
async fn the_dev_ca_survives_restarts() {
    let backend = EchoBackend::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let first = start_edge(FakeRouter::new(backend.addr()), dir.path()).await;
    let ca = std::fs::read(first.dev_ca_pem_path().unwrap()).unwrap();
    first.shutdown(std::time::Duration::from_secs(1)).await;

    let second = start_edge(FakeRouter::new(backend.addr()), dir.path()).await;
    assert_eq!(std::fs::read(second.dev_ca_pem_path().unwrap()).unwrap(), ca, "same CA certificate bytes");
    // The new leaf is signed by the reloaded CA: a client trusting the original file accepts it.
    let client = client(&second, second.https_addr().unwrap(), |b| b);
    let resp = client.get(https_url(&second, HOST, "/echo")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}
