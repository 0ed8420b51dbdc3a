//! A PoP tunnel listener and an agent dialer on loopback, and the checks every carrier must
//! pass (QUIC and the TCP+TLS fallback run the same suite).

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warren_core::{ErrorCode, Zone};
use warren_tunnel::{AgentSession, Registry, SessionHooks, Transport, TunnelError, TunnelServer, read_stream_header};
use warren_wire::{EndpointSpec, Protocol, RegisterResult};

pub struct Hooks;

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

pub struct World {
    pub server: Arc<TunnelServer>,
    pub client: quinn::Endpoint,
    pub tcp_tls: Arc<rustls::ClientConfig>,
    pub addr: SocketAddr,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A self-signed certificate for `localhost` / `127.0.0.1`: the listener's config, and an
/// agent's config trusting it.
pub fn tls_pair() -> (rustls::ServerConfig, rustls::ClientConfig) {
    let ca = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = ca.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ca.signing_key.serialize_der().into());
    let server_tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client_tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (server_tls, client_tls)
}

pub fn world() -> World {
    let (server_tls, client_tls) = tls_pair();
    let registry = Arc::new(Registry::new(Zone::parse("edge.test").unwrap(), None, None));
    let server =
        TunnelServer::bind("127.0.0.1:0".parse().unwrap(), server_tls, registry, Arc::new(Hooks), "pop-a".into())
            .unwrap();
    let addr = server.local_addr().unwrap();
    assert_eq!(server.fallback_addr(), Some(addr), "the fallback listens on the QUIC port");
    tokio::spawn(server.clone().run());
    let client = warren_tunnel::client_endpoint(client_tls.clone(), false).unwrap();
    let tcp_tls = warren_tunnel::fallback::client_config(client_tls);
    World { server, client, tcp_tls, addr }
}

impl World {
    pub async fn connect(&self, transport: Transport, token: &str, agent: &str) -> Result<AgentSession, TunnelError> {
        let s = match transport {
            Transport::Quic => AgentSession::connect(&self.client, self.addr, "127.0.0.1", token, agent).await,
            Transport::Tcp => AgentSession::connect_tcp(&self.tcp_tls, self.addr, "127.0.0.1", token, agent).await,
        };
        if let Ok(s) = &s {
            assert_eq!(s.transport(), transport);
        }
        s
    }
}

pub fn http(url: &str, policy: Option<&str>) -> EndpointSpec {
    EndpointSpec {
        key: 0,
        url: Some(url.into()),
        protocol: Protocol::Http,
        traffic_policy: policy.map(Into::into),
        pooling: false,
    }
}

pub async fn register_open_stream_and_revoke(transport: Transport) {
    let w = world();
    let session = w.connect(transport, "good", "agent-1").await.unwrap();
    assert_eq!(session.welcome.pop_id, "pop-a");
    assert_eq!(session.welcome.zone, "edge.test");
    let res = session.register(vec![http("https://api.edge.test", None)]).await.unwrap();
    assert_eq!(res, vec![RegisterResult::Online { key: 0, url: "https://api.edge.test".into() }]);
    assert_eq!(w.server.session_count(), 1);

    // The PoP opens a stream for a "request"; the agent reads the header, then echoes.
    let route = w.server.registry().route_http("api.edge.test").ok().unwrap();
    let client: SocketAddr = "127.0.0.9:5555".parse().unwrap();
    let mut pop_side = route.conn.open_stream(route.endpoint_key, Protocol::Http, client, w.addr).await.unwrap();
    pop_side.send.write_all(b"hello").await.unwrap();
    pop_side.send.shutdown().await.unwrap();
    let mut agent_side = session.accept().await.unwrap();
    let header = read_stream_header(&mut agent_side).await.unwrap();
    assert_eq!((header.endpoint_key, header.client_addr), (0, client));
    let mut got = Vec::new();
    agent_side.recv.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"hello");
    // Half-close: the other direction still carries data after the first one ended.
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

pub async fn bad_token_is_refused_with_its_code(transport: Transport) {
    let w = world();
    let err = w.connect(transport, "wrong", "agent-1").await.unwrap_err();
    match err {
        TunnelError::Refused { code, .. } => assert_eq!(code, "WARREN_ERR_AUTHTOKEN_INVALID"),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.server.session_count(), 0);
}

pub async fn invalid_policy_and_url_in_use_are_refused_per_endpoint(transport: Transport) {
    let w = world();
    let a = w.connect(transport, "good", "agent-a").await.unwrap();
    let res = a.register(vec![http("https://p.edge.test", Some("bad"))]).await.unwrap();
    assert!(
        matches!(&res[0], RegisterResult::Refused { code, message, .. } if code == "WARREN_ERR_POLICY_INVALID" && message.contains("pol.yaml:1:1"))
    );
    a.register(vec![http("https://api.edge.test", None)]).await.unwrap();
    let b = w.connect(transport, "other", "agent-b").await.unwrap();
    let res = b.register(vec![http("https://api.edge.test", None)]).await.unwrap();
    assert!(matches!(&res[0], RegisterResult::Refused { code, .. } if code == "WARREN_ERR_URL_IN_USE"), "{res:?}");
}
