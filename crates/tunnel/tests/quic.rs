//! The tunnel over real QUIC on loopback: handshake, registration, streams, revocation.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::world;
use warren_core::Zone;
use warren_tunnel::{AgentSession, Registry, Transport, TunnelServer};
use warren_wire::RegisterResult;

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

#[tokio::test]
async fn a_listener_on_a_given_endpoint_serves_agents_without_a_fallback() {
    let (server_tls, client_tls) = common::tls_pair();
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = endpoint.local_addr().unwrap();
    let registry = Arc::new(Registry::new(Zone::parse("edge.test").unwrap(), None, None));
    let server =
        TunnelServer::from_endpoint(endpoint, server_tls, registry, Arc::new(common::Hooks), "pop-b".into()).unwrap();
    assert_eq!(server.fallback_addr(), None);
    tokio::spawn(server.clone().run());
    let client = warren_tunnel::client_endpoint(client_tls, false).unwrap();
    let session = AgentSession::connect(&client, addr, "127.0.0.1", "good", "agent-1").await.unwrap();
    assert_eq!(session.welcome.pop_id, "pop-b");
    let res = session.register(vec![common::http("https://api.edge.test", None)]).await.unwrap();
    assert_eq!(res, vec![RegisterResult::Online { key: 0, url: "https://api.edge.test".into() }]);
    assert!(server.registry().route_http("api.edge.test").is_ok());
}
