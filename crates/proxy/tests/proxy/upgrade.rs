//! Protocol upgrades: a WebSocket session through both halves.

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use warren_proxy::Backend;
use warren_test_support::EchoBackend;

use crate::harness::mini_edge;

#[tokio::test]
async fn websocket_echo_through_the_tunnel() {
    let backend = EchoBackend::start().await.unwrap();
    let edge = mini_edge(Backend::new(backend.addr().to_string())).await;
    let (mut ws, resp) = tokio_tungstenite::connect_async(format!("ws://{}/ws", edge.addr)).await.unwrap();
    assert_eq!(resp.status(), 101);
    for i in 0..3 {
        ws.send(Message::text(format!("hello {i}"))).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text(format!("hello {i}")));
    }
    let big = vec![7u8; 300_000];
    ws.send(Message::binary(big.clone())).await.unwrap();
    assert_eq!(ws.next().await.unwrap().unwrap(), Message::binary(big));
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn a_refused_upgrade_is_a_normal_response() {
    let backend = EchoBackend::start().await.unwrap();
    let edge = mini_edge(Backend::new(backend.addr().to_string())).await;
    // `/echo` does not speak WebSocket: the handshake gets a plain 200.
    let err = tokio_tungstenite::connect_async(format!("ws://{}/echo", edge.addr)).await.unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 200),
        other => panic!("unexpected {other}"),
    }
}
