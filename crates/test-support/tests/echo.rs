//! The echo backends over real sockets, checked with independent clients (reqwest,
//! tokio-tungstenite, plain TCP).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use warren_test_support::{EchoBackend, TcpEchoBackend, expected_bytes_sha256, pseudo_random_bytes};

#[tokio::test]
async fn echo_reports_method_headers_and_body_hash() {
    let backend = EchoBackend::start().await.unwrap();
    assert!(backend.addr().ip().is_loopback());
    let body: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let expected = hex::encode(Sha256::digest(&body));
    let resp = reqwest::Client::new()
        .put(format!("{}/echo?x=1&y=two", backend.url()))
        .header("x-test", "a")
        .header("x-other", "b")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("x-backend").is_none());
    let echo: Value = resp.json().await.unwrap();
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["path"], "/echo");
    assert_eq!(echo["query"], "x=1&y=two");
    assert_eq!(echo["version"], "HTTP/1.1");
    assert_eq!(echo["headers"]["x-test"], serde_json::json!(["a"]));
    assert_eq!(echo["headers"]["x-other"], serde_json::json!(["b"]));
    assert_eq!(echo["body_len"], 1_000_000);
    assert_eq!(echo["body_sha256"], expected.as_str());
    assert!(echo["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_eq!(backend.requests(), 1);

    // Repeated headers are reported as a list, on /headers too.
    let resp = reqwest::Client::new()
        .get(format!("{}/headers", backend.url()))
        .header("x-multi", "1")
        .header("x-multi", "2")
        .send()
        .await
        .unwrap();
    let echo: Value = resp.json().await.unwrap();
    assert_eq!(echo["headers"]["x-multi"], serde_json::json!(["1", "2"]));
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["body_len"], 0);
    assert_eq!(backend.requests(), 2);
}

#[tokio::test]
async fn named_backends_stamp_their_name() {
    let a = EchoBackend::start_with_name("alpha").await.unwrap();
    let b = EchoBackend::start_with_name("beta").await.unwrap();
    for (backend, name) in [(&a, "alpha"), (&b, "beta")] {
        let resp = reqwest::get(format!("{}/status/404", backend.url())).await.unwrap();
        assert_eq!(resp.status(), 404);
        assert_eq!(resp.headers()["x-backend"], name);
        let echo: Value = reqwest::get(format!("{}/echo", backend.url())).await.unwrap().json().await.unwrap();
        assert_eq!(echo["backend"], name);
    }
}

#[tokio::test]
async fn upload_status_and_delay_routes() {
    let backend = EchoBackend::start().await.unwrap();
    let client = reqwest::Client::new();
    let body = pseudo_random_bytes(3 * 1024 * 1024 + 5, 9);
    let resp: Value =
        client.post(format!("{}/upload", backend.url())).body(body.clone()).send().await.unwrap().json().await.unwrap();
    assert_eq!(resp["body_len"], body.len());
    assert_eq!(resp["body_sha256"], expected_bytes_sha256(body.len() as u64, 9).as_str());

    assert_eq!(client.get(format!("{}/status/418", backend.url())).send().await.unwrap().status(), 418);
    let no_content = client.get(format!("{}/status/204", backend.url())).send().await.unwrap();
    assert_eq!(no_content.status(), 204);
    assert!(no_content.bytes().await.unwrap().is_empty());
    assert_eq!(client.get(format!("{}/status/abc", backend.url())).send().await.unwrap().status(), 400);

    let delayed: Value =
        client.get(format!("{}/delay?ms=50", backend.url())).send().await.unwrap().json().await.unwrap();
    assert_eq!(delayed["delayed_ms"], 50);
    assert_eq!(backend.requests(), 5);
}

#[tokio::test]
async fn bytes_match_the_expected_hash() {
    let backend = EchoBackend::start().await.unwrap();
    let n = 5_000_003u64;
    let resp = reqwest::get(format!("{}/bytes?n={n}&seed=42", backend.url())).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.content_length(), Some(n));
    let expected = expected_bytes_sha256(n, 42);
    assert_eq!(resp.headers()["x-body-sha256"], expected.as_str());
    let mut hasher = Sha256::new();
    let mut len = 0u64;
    let mut chunks = resp.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.unwrap();
        len += chunk.len() as u64;
        hasher.update(&chunk);
    }
    assert_eq!(len, n);
    assert_eq!(hex::encode(hasher.finalize()), expected);
    assert_ne!(expected_bytes_sha256(n, 43), expected);
}

#[tokio::test]
async fn sse_events_arrive_one_at_a_time() {
    let backend = EchoBackend::start().await.unwrap();
    let interval = Duration::from_millis(300);
    let resp = reqwest::get(format!("{}/sse?n=3&interval_ms=300", backend.url())).await.unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut stream = resp.bytes_stream();
    let mut buf = String::new();
    let mut events: Vec<(String, Instant)> = Vec::new();
    while let Some(chunk) = stream.next().await {
        buf.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        while let Some(end) = buf.find("\n\n") {
            events.push((buf[..end].to_owned(), Instant::now()));
            buf.drain(..end + 2);
        }
    }
    let texts: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(texts, ["id: 1\ndata: event-1", "id: 2\ndata: event-2", "id: 3\ndata: event-3"]);
    // Event 3 is sent two intervals after event 1. Had the stream been buffered, events 1 and 3
    // would arrive together; arriving well apart proves event 1 got here before event 3 was sent.
    let gap = events[2].1 - events[0].1;
    assert!(gap >= interval * 3 / 2, "events 1 and 3 arrived only {gap:?} apart");
    assert!(events[1].1 - events[0].1 >= interval / 2);
}

#[tokio::test]
async fn h2c_prior_knowledge_works() {
    let backend = EchoBackend::start().await.unwrap();
    let client = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    let resp = client.post(format!("{}/echo", backend.url())).body("hi").send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let echo: Value = resp.json().await.unwrap();
    assert_eq!(echo["version"], "HTTP/2.0");
    assert_eq!(echo["body_len"], 2);
    assert_eq!(echo["body_sha256"], hex::encode(Sha256::digest(b"hi")).as_str());
    let bytes = client.get(format!("{}/bytes?n=100000&seed=1", backend.url())).send().await.unwrap();
    assert_eq!(bytes.version(), reqwest::Version::HTTP_2);
    assert_eq!(bytes.bytes().await.unwrap().as_ref(), pseudo_random_bytes(100_000, 1).as_slice());
}

#[tokio::test]
async fn websocket_echoes_text_and_binary() {
    let backend = EchoBackend::start_with_name("ws").await.unwrap();
    let (mut ws, resp) = tokio_tungstenite::connect_async(format!("ws://{}/ws", backend.addr())).await.unwrap();
    assert_eq!(resp.status(), 101);
    assert_eq!(resp.headers()["x-backend"], "ws");
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello"));
    let blob: Vec<u8> = (0..=255u8).collect();
    ws.send(Message::binary(blob.clone())).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(blob));
    ws.close(None).await.unwrap();
    // The server answers the close and ends the stream.
    while let Some(msg) = ws.next().await {
        match msg {
            Ok(Message::Close(_)) => {}
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => break,
        }
    }

    let plain = reqwest::get(format!("{}/ws", backend.url())).await.unwrap();
    assert_eq!(plain.status(), 400);
}

#[tokio::test]
async fn tcp_echo_honours_half_close() {
    let backend = TcpEchoBackend::start().await.unwrap();
    let payload = pseudo_random_bytes(1_000_000, 5);
    let stream = tokio::net::TcpStream::connect(backend.addr()).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let to_send = payload.clone();
    let writer = tokio::spawn(async move {
        wr.write_all(&to_send).await.unwrap();
        // Half-close: we are done sending, but still reading.
        wr.shutdown().await.unwrap();
        wr
    });
    let mut received = Vec::new();
    rd.read_to_end(&mut received).await.unwrap();
    let _wr = writer.await.unwrap();
    assert_eq!(received.len(), payload.len());
    assert!(received == payload, "echoed bytes differ");
    assert_eq!(backend.connections(), 1);

    let mut second = tokio::net::TcpStream::connect(backend.addr()).await.unwrap();
    second.write_all(b"ping\n").await.unwrap();
    second.shutdown().await.unwrap();
    let mut out = String::new();
    second.read_to_string(&mut out).await.unwrap();
    assert_eq!(out, "ping\n");
    assert_eq!(backend.connections(), 2);
}
