//! Bodies that stream: large transfers with bounded buffering, SSE, gRPC trailers.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use sha2::{Digest, Sha256};
use warren_proxy::Backend;

use crate::harness::{
    CHUNK, Probe, body_json, chunks_sha256, counted_body, empty, h1, h2, mini_edge, probe_backend, request,
};

/// 64 MiB in 64 KiB chunks.
const CHUNKS: u64 = 1024;
/// What may be in flight between producer and consumer: a few MiB of socket and frame buffers.
const IN_FLIGHT_LIMIT: u64 = 16 * 1024 * 1024;

#[tokio::test]
async fn a_64_mib_upload_streams_and_arrives_intact() {
    let probe = Arc::new(Probe::default());
    let backend = probe_backend(Arc::clone(&probe)).await;
    let edge = mini_edge(Backend::new(backend.addr.to_string())).await;
    let mut client = h1(edge.addr).await;
    let body = counted_body(CHUNKS, Arc::clone(&probe)).boxed();
    let resp = client.send_request(request("POST", "/upload", body)).await.unwrap();
    let got = body_json(resp).await;
    assert_eq!(got["len"], CHUNKS * CHUNK as u64);
    assert_eq!(got["sha256"], chunks_sha256(CHUNKS));
    let at_first = got["produced_at_first"].as_u64().unwrap();
    assert!(at_first < IN_FLIGHT_LIMIT, "the backend saw its first byte only after {at_first} bytes were produced");
}

#[tokio::test]
async fn a_64_mib_download_streams_and_arrives_intact() {
    let probe = Arc::new(Probe::default());
    let backend = probe_backend(Arc::clone(&probe)).await;
    let edge = mini_edge(Backend::new(backend.addr.to_string())).await;
    let mut client = h1(edge.addr).await;
    let resp = client.send_request(request("GET", &format!("/download?n={CHUNKS}"), empty())).await.unwrap();
    assert_eq!(resp.headers()["content-length"], (CHUNKS * CHUNK as u64).to_string().as_str());
    let mut body = resp.into_body();
    let (mut len, mut at_first, mut hasher) = (0u64, None, Sha256::new());
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            at_first.get_or_insert(probe.produced.load(Ordering::SeqCst));
            len += data.len() as u64;
            hasher.update(&data);
        }
    }
    assert_eq!(len, CHUNKS * CHUNK as u64);
    assert_eq!(hex::encode(hasher.finalize()), chunks_sha256(CHUNKS));
    let at_first = at_first.unwrap();
    assert!(at_first < IN_FLIGHT_LIMIT, "the client saw its first byte only after {at_first} bytes were produced");
}

#[tokio::test]
async fn sse_events_arrive_one_by_one() {
    let probe = Arc::new(Probe::default());
    let backend = probe_backend(Arc::clone(&probe)).await;
    let edge = mini_edge(Backend::new(backend.addr.to_string())).await;
    let mut client = h1(edge.addr).await;
    let resp = client.send_request(request("GET", "/sse", empty())).await.unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();
    let mut seen = String::new();
    // Event 3 is only produced after we release it, so event 1 must arrive on its own.
    tokio::time::timeout(Duration::from_secs(10), async {
        while !seen.contains("event-1") {
            let frame = body.frame().await.unwrap().unwrap();
            seen.push_str(&String::from_utf8_lossy(&frame.into_data().unwrap()));
        }
    })
    .await
    .expect("event 1 did not arrive before event 3 was sent");
    assert!(!seen.contains("event-3"));
    probe.release.notify_one();
    while let Some(frame) = body.frame().await {
        seen.push_str(&String::from_utf8_lossy(&frame.unwrap().into_data().unwrap()));
    }
    assert_eq!(seen, "data: event-1\n\ndata: event-2\n\ndata: event-3\n\n");
}

#[tokio::test]
async fn grpc_trailers_survive_both_ways() {
    let probe = Arc::new(Probe::default());
    let backend = probe_backend(probe).await;
    let edge = mini_edge(Backend::new(backend.addr.to_string())).await;
    let mut client = h2(edge.addr).await;
    let mut trailers = HeaderMap::new();
    trailers.insert("x-client-trailer", "hello".parse().unwrap());
    let frames: Vec<Result<Frame<Bytes>, std::io::Error>> =
        vec![Ok(Frame::data(Bytes::from_static(b"\0\0\0\0\x04ping"))), Ok(Frame::trailers(trailers))];
    let req = http::Request::builder()
        .method("POST")
        .uri("http://api.edge.test/grpc")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(StreamBody::new(futures_util::stream::iter(frames)).boxed())
        .unwrap();
    let resp = client.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    // gRPC went to the backend over HTTP/2 (prior knowledge).
    assert_eq!(resp.headers()["x-backend-version"], "HTTP/2.0");
    let collected = resp.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned().expect("no trailers");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["x-request-trailer"], "hello");
    assert_eq!(&collected.to_bytes()[..], b"\0\0\0\0\x04ping");
}
