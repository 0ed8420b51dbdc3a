//! Backend failures become stable codes the edge can render.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use warren_core::ErrorCode;
use warren_proxy::{Backend, ProxyError, serve};
use warren_tunnel::TunnelStream;
use warren_wire::{FrameDecoder, HttpFrame, MAX_HEAD_FRAME, RequestHead, decode, encode_frame};

use crate::harness::{Probe, empty, h1, mini_edge, probe_backend, request};

fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

async fn status_and_code(backend: Backend, path: &str) -> (u16, String) {
    let edge = mini_edge(backend).await;
    let mut client = h1(edge.addr).await;
    let resp = client.send_request(request("GET", path, empty())).await.unwrap();
    (resp.status().as_u16(), resp.headers()["warren-error-code"].to_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_refused_backend_is_upstream_refused() {
    let (status, code) = status_and_code(Backend::new(closed_port()), "/").await;
    assert_eq!((status, code.as_str()), (502, "WARREN_ERR_UPSTREAM_REFUSED"));
}

#[tokio::test]
async fn the_agent_reports_refusal_as_an_error_frame() {
    let (mut edge_end, agent_end) = TunnelStream::pair(64 * 1024);
    let head =
        RequestHead { method: "GET".into(), uri: "/".into(), host: "a.test".into(), version: 11, headers: vec![] };
    edge_end.send.write_all(&encode_frame(&HttpFrame::Request(head), MAX_HEAD_FRAME).unwrap()).await.unwrap();
    edge_end.send.shutdown().await.unwrap();
    let err = serve(agent_end, &Backend::new(closed_port())).await.unwrap_err();
    assert!(matches!(err, ProxyError::UpstreamConnect { .. }), "{err}");
    let mut bytes = Vec::new();
    edge_end.recv.read_to_end(&mut bytes).await.unwrap();
    let mut decoder = FrameDecoder::new(MAX_HEAD_FRAME);
    decoder.extend(&bytes);
    let frame: HttpFrame = decode(&decoder.next_frame().unwrap().unwrap(), MAX_HEAD_FRAME).unwrap();
    match frame {
        HttpFrame::Error { code, .. } => assert_eq!(ErrorCode::from_code(&code), Some(ErrorCode::UpstreamRefused)),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn a_silent_backend_is_upstream_timeout() {
    let backend = probe_backend(std::sync::Arc::new(Probe::default())).await;
    let mut config = Backend::new(backend.addr.to_string());
    config.response_timeout = Duration::from_millis(300);
    let (status, code) = status_and_code(config, "/hang").await;
    assert_eq!((status, code.as_str()), (504, "WARREN_ERR_UPSTREAM_TIMEOUT"));
}

#[tokio::test]
async fn garbage_from_the_backend_is_upstream_protocol() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = tcp.read(&mut buf).await;
            let _ = tcp.write_all(b"SMTP ready, not HTTP\r\n\r\n").await;
        }
    });
    let (status, code) = status_and_code(Backend::new(addr.to_string()), "/").await;
    assert_eq!((status, code.as_str()), (502, "WARREN_ERR_UPSTREAM_PROTOCOL"));
}
