//! The tunnel over real QUIC on loopback: handshake, registration, streams, revocation.

mod common;

use std::time::Duration;

use common::world;
use warren_tunnel::{AgentSession, Transport};

#[tokio::test]
async fn register_open_stream_and_revoke() {
    common::register_open_stream_and_revoke(Transport::Quic).await;
}

#[tokio::test]
async fn bad_token_is_refused_with_its_code() {
    common::bad_token_is_refused_with_its_code(Transport::Quic).await;
}

#[tokio::test]
async fn invalid_policy_and_url_in_use_are_refused_per_endpoint() {
    common::invalid_policy_and_url_in_use_are_refused_per_endpoint(Transport::Quic).await;
}

#[tokio::test]
async fn malformed_hello_is_dropped_and_counted_not_a_crash() {
    let w = world();
    let conn = w.client.connect(w.addr, "127.0.0.1").unwrap().await.unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    // A length prefix that promises 2^32-1 bytes.
    send.write_all(&[0xff, 0xff, 0xff, 0xff, 0, 1, 2]).await.unwrap();
    let buf =
        tokio::time::timeout(Duration::from_secs(3), recv.read_to_end(64 * 1024)).await.unwrap().unwrap_or_default();
    assert!(String::from_utf8_lossy(&buf).contains("WARREN_ERR_BAD_REQUEST"), "{buf:?}");
    // The listener still serves well-behaved agents.
    let ok = AgentSession::connect(&w.client, w.addr, "127.0.0.1", "good", "agent-1").await.unwrap();
    assert_eq!(ok.welcome.pop_id, "pop-a");
}
