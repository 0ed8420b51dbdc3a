//! Plain request/response exchanges: headers, bodies, lengths, `Expect: 100-continue`.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use warren_proxy::Backend;
use warren_test_support::EchoBackend;

use crate::harness::{body_json, empty, full, h1, h2, mini_edge, request};

#[tokio::test]
async fn get_and_post_round_trip_with_the_real_client_address() {
    let backend = EchoBackend::start().await.unwrap();
    let edge = mini_edge(Backend::new(backend.addr().to_string())).await;
    let mut client = h1(edge.addr).await;

    let mut req = request("GET", "/echo?x=1", empty());
    req.headers_mut().insert("x-forwarded-for", "6.6.6.6".parse().unwrap());
    req.headers_mut().insert("x-forwarded-proto", "https".parse().unwrap());
    req.headers_mut().insert("connection", "keep-alive, x-hop".parse().unwrap());
    req.headers_mut().insert("x-hop", "1".parse().unwrap());
    let resp = client.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let echo = body_json(resp).await;
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["query"], "x=1");
    assert_eq!(echo["headers"]["x-forwarded-for"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(echo["headers"]["x-forwarded-proto"], serde_json::json!(["http"]));
    assert_eq!(echo["headers"]["x-forwarded-host"], serde_json::json!(["api.edge.test"]));
    assert_eq!(echo["headers"]["host"], serde_json::json!(["api.edge.test"]));
    assert!(echo["headers"].get("x-hop").is_none(), "{echo}");
    // A GET without a body reaches the backend without one (no chunked encoding, no length).
    assert!(echo["headers"].get("transfer-encoding").is_none(), "{echo}");
    assert!(echo["headers"].get("content-length").is_none(), "{echo}");

    let resp = client.send_request(request("POST", "/echo", full(b"hello"))).await.unwrap();
    let echo = body_json(resp).await;
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["body_len"], 5);
    assert_eq!(echo["body_sha256"], "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
    assert_eq!(echo["headers"]["content-length"], serde_json::json!(["5"]));
}

#[tokio::test]
async fn http2_clients_work_and_the_host_can_be_overridden() {
    let backend = EchoBackend::start().await.unwrap();
    let mut config = Backend::new(backend.addr().to_string());
    config.host_header = Some("internal.local".into());
    let edge = mini_edge(config).await;
    let mut client = h2(edge.addr).await;
    let req = http::Request::builder().uri("http://api.edge.test/echo").body(full(b"abc")).unwrap();
    let resp = client.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let echo = body_json(resp).await;
    assert_eq!(echo["headers"]["host"], serde_json::json!(["internal.local"]));
    assert_eq!(echo["headers"]["x-forwarded-host"], serde_json::json!(["api.edge.test"]));
    assert_eq!(echo["body_len"], 3);
}

#[tokio::test]
async fn content_length_is_preserved() {
    let backend = EchoBackend::start().await.unwrap();
    let edge = mini_edge(Backend::new(backend.addr().to_string())).await;
    let mut client = h1(edge.addr).await;
    let resp = client.send_request(request("GET", "/bytes?n=300000&seed=3", empty())).await.unwrap();
    assert_eq!(resp.headers()["content-length"], "300000");
    assert!(resp.headers().get("transfer-encoding").is_none());
    let digest = resp.headers()["x-body-sha256"].to_str().unwrap().to_owned();
    let body = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
    assert_eq!(body.len(), 300_000);
    assert_eq!(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body)), digest);

    // HEAD keeps the length of the body it does not carry.
    let resp = client.send_request(request("HEAD", "/bytes?n=1234", empty())).await.unwrap();
    assert_eq!(resp.headers()["content-length"], "1234");
}

/// What curl does for large uploads: send the head, wait for `100 Continue`, then the body.
#[tokio::test]
async fn expect_100_continue_works() {
    let backend = EchoBackend::start().await.unwrap();
    let edge = mini_edge(Backend::new(backend.addr().to_string())).await;
    let mut tcp = TcpStream::connect(edge.addr).await.unwrap();
    tcp.write_all(b"POST /echo HTTP/1.1\r\nHost: api.edge.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        .await
        .unwrap();
    let interim = read_until(&mut tcp, b"\r\n\r\n").await;
    assert!(interim.starts_with("HTTP/1.1 100 Continue"), "{interim}");
    tcp.write_all(b"hello").await.unwrap();
    let resp = read_until(&mut tcp, b"}").await;
    assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
    assert!(resp.contains("\"body_len\":5"), "{resp}");
    // This hop answered the expectation; the backend is not asked again.
    assert!(!resp.contains("\"expect\""), "{resp}");
}

async fn read_until(tcp: &mut TcpStream, end: &[u8]) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(10), async {
        while !got.windows(end.len()).any(|w| w == end) {
            let n = tcp.read(&mut buf).await.unwrap();
            assert!(n > 0, "connection closed after {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out after {:?}", String::from_utf8_lossy(&got)));
    String::from_utf8_lossy(&got).into_owned()
}
