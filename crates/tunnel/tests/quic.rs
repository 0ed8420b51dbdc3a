//! The tunnel over real QUIC on loopback: handshake, registration, streams, revocation.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warren_core::{ErrorCode, Zone};
use warren_tunnel::{AgentSession, Registry, SessionHooks, TunnelError, TunnelServer, read_stream_header};
use warren_wire::{EndpointSpec, Protocol, RegisterResult};

struct Hooks;

impl SessionHooks for Hooks {
    fn authenticate(&self, authtoken: &str) -> Result<String, ErrorCode> {
        match authtoken {
            "good" => Ok("tok_1".into()),
            "other" => Ok("tok_2".into()),
            _ => Err(ErrorCode::AuthtokenInvalid),
        }
    }
    fn check_policy(&self, text: &str) -> Result<(), String> {
        if text.contains("bad") { Err("pol.yaml:1:1: bad: nope".into()) } else { Ok(()) }
    }
}

struct World {
    server: Arc<TunnelServer>,
    client: quinn::Endpoint,
    addr: std::net::SocketAddr,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn world() -> World {
    let ca = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = ca.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ca.signing_key.serialize_der().into());
    let server_tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let registry = Arc::new(Registry::new(Zone::parse("edge.test").unwrap(), None, None));
    let server =
        TunnelServer::bind("127.0.0.1:0".parse().unwrap(), server_tls, registry, Arc::new(Hooks), "pop-a".into())
            .unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.clone().run());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client_tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let client = warren_tunnel::client_endpoint(client_tls, false).unwrap();
    World { server, client, addr }
}

fn http(url: &str, policy: Option<&str>) -> EndpointSpec {
    EndpointSpec {
        key: 0,
        url: Some(url.into()),
        protocol: Protocol::Http,
        traffic_policy: policy.map(Into::into),
        pooling: false,
    }
}

#[tokio::test]
async fn register_open_stream_and_revoke() {
    let w = world();
    let session = AgentSession::connect(&w.client, w.addr, "127.0.0.1", "good", "agent-1").await.unwrap();
    assert_eq!(session.welcome.pop_id, "pop-a");
    assert_eq!(session.welcome.zone, "edge.test");
    let res = session.register(vec![http("https://api.edge.test", None)]).await.unwrap();
    assert_eq!(res, vec![RegisterResult::Online { key: 0, url: "https://api.edge.test".into() }]);
    assert_eq!(w.server.session_count(), 1);

    // The PoP opens a stream for a "request"; the agent reads the header, then echoes.
    let route = w.server.registry().route_http("api.edge.test").ok().unwrap();
    let client: std::net::SocketAddr = "127.0.0.9:5555".parse().unwrap();
    let mut pop_side = route.conn.open_stream(route.endpoint_key, Protocol::Http, client, w.addr).await.unwrap();
    pop_side.send.write_all(b"hello").await.unwrap();
    pop_side.send.shutdown().await.unwrap();
    let mut agent_side = session.accept().await.unwrap();
    let header = read_stream_header(&mut agent_side).await.unwrap();
    assert_eq!((header.endpoint_key, header.client_addr), (0, client));
    let mut got = Vec::new();
    agent_side.recv.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"hello");
    agent_side.send.write_all(b"world").await.unwrap();
    agent_side.send.shutdown().await.unwrap();
    let mut back = Vec::new();
    pop_side.recv.read_to_end(&mut back).await.unwrap();
    assert_eq!(back, b"world");

    // Revoking the token closes the tunnel at once, with the reason.
    assert_eq!(w.server.revoke_token("tok_1"), 1);
    let reason = tokio::time::timeout(Duration::from_secs(1), session.closed()).await.unwrap();
    assert_eq!(reason, "WARREN_ERR_AUTHTOKEN_REVOKED");
    assert_eq!(w.server.registry().route_http("api.edge.test").err(), Some(ErrorCode::EndpointOffline));
}

#[tokio::test]
async fn bad_token_is_refused_with_its_code() {
    let w = world();
    let err = AgentSession::connect(&w.client, w.addr, "127.0.0.1", "wrong", "agent-1").await.unwrap_err();
    match err {
        TunnelError::Refused { code, .. } => assert_eq!(code, "WARREN_ERR_AUTHTOKEN_INVALID"),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.server.session_count(), 0);
}

#[tokio::test]
async fn invalid_policy_and_url_in_use_are_refused_per_endpoint() {
    let w = world();
    let a = AgentSession::connect(&w.client, w.addr, "127.0.0.1", "good", "agent-a").await.unwrap();
    let res = a.register(vec![http("https://p.edge.test", Some("bad"))]).await.unwrap();
    assert!(
        matches!(&res[0], RegisterResult::Refused { code, message, .. } if code == "WARREN_ERR_POLICY_INVALID" && message.contains("pol.yaml:1:1"))
    );
    a.register(vec![http("https://api.edge.test", None)]).await.unwrap();
    let b = AgentSession::connect(&w.client, w.addr, "127.0.0.1", "other", "agent-b").await.unwrap();
    let res = b.register(vec![http("https://api.edge.test", None)]).await.unwrap();
    assert!(matches!(&res[0], RegisterResult::Refused { code, .. } if code == "WARREN_ERR_URL_IN_USE"), "{res:?}");
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
