//! Requests that never reach a backend: stable codes as JSON or HTML.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use warren_test_support::EchoBackend;

use crate::harness::{FakeRouter, OFFLINE_HOST, client, http_url, https_url, start_edge};

#[tokio::test]
async fn unknown_host_is_404_json_or_html() {
    let backend = EchoBackend::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let edge = start_edge(FakeRouter::new(backend.addr()), dir.path()).await;
    let client = client(&edge, edge.https_addr().unwrap(), |b| b);

    let resp = client.get(https_url(&edge, "nowhere.edge.test", "/")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["warren-error-code"], "WARREN_ERR_ENDPOINT_NOT_FOUND");
    assert_eq!(resp.headers()["content-type"], "application/json");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "WARREN_ERR_ENDPOINT_NOT_FOUND");
    assert_eq!(body["error"]["status"], 404);

    let resp = client
        .get(https_url(&edge, "nowhere.edge.test", "/"))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = resp.text().await.unwrap();
    assert!(page.contains("WARREN_ERR_ENDPOINT_NOT_FOUND") && page.contains("<html"), "{page}");
}

#[tokio::test]
async fn offline_endpoint_is_502_with_its_code() {
    let backend = EchoBackend::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let edge = start_edge(FakeRouter::new(backend.addr()), dir.path()).await;
    let client = client(&edge, edge.http_addr().unwrap(), |b| b);
    let resp = client.get(http_url(&edge, OFFLINE_HOST, "/")).send().await.unwrap();
    assert_eq!(resp.status(), 502);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "WARREN_ERR_ENDPOINT_OFFLINE");
}

#[tokio::test]
async fn missing_host_is_400() {
    let backend = EchoBackend::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let edge = start_edge(FakeRouter::new(backend.addr()), dir.path()).await;
    for request in [
        "GET / HTTP/1.0\r\n\r\n",
        "GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a..b\r\nConnection: close\r\n\r\n",
    ] {
        let mut tcp = TcpStream::connect(edge.http_addr().unwrap()).await.unwrap();
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut resp = String::new();
        tcp.read_to_string(&mut resp).await.unwrap();
        assert!(resp.starts_with("HTTP/1.") && resp[9..].starts_with("400"), "{request:?} → {resp}");
        assert!(resp.to_ascii_lowercase().contains("warren-error-code: warren_err_bad_request"), "{resp}");
    }
}
