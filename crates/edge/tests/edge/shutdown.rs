//! Graceful shutdown: in-flight requests finish, new connections are refused, a deadline cuts.

use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use warren_test_support::{EchoBackend, wait_until_sync};

use crate::harness::{FakeRouter, HOST, client, http_url, start_edge};

#[tokio::test]
async fn in_flight_requests_finish() {
    let backend = EchoBackend::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let edge = start_edge(FakeRouter::new(backend.addr()), dir.path()).await;
    let addr = edge.http_addr().unwrap();
    let client = client(&edge, addr, |b| b.http1_only());
    let slow = tokio::spawn(client.get(http_url(&edge, HOST, "/delay?ms=800")).send());
    wait_until_sync(Duration::from_secs(10), || backend.requests() == 1).await.unwrap();

    edge.shutdown(Duration::from_secs(10)).await;
    let resp = slow.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["delayed_ms"], 800);
    assert!(TcpStream::connect(addr).await.is_err(), "the listener is closed");
}

#[tokio::test]
async fn the_deadline_cuts_what_is_left() {
    let backend = EchoBackend::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let edge = start_edge(FakeRouter::new(backend.addr()), dir.path()).await;
    let client = client(&edge, edge.http_addr().unwrap(), |b| b.http1_only());
    let slow = tokio::spawn(client.get(http_url(&edge, HOST, "/delay?ms=30000")).send());
    wait_until_sync(Duration::from_secs(10), || backend.requests() == 1).await.unwrap();

    let start = Instant::now();
    edge.shutdown(Duration::from_millis(300)).await;
    assert!(start.elapsed() < Duration::from_secs(5), "shutdown took {:?}", start.elapsed());
    assert!(slow.await.unwrap().is_err(), "the cut request must fail");
}
