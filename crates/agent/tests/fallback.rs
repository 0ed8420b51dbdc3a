//! An agent behind a network that drops UDP: it falls back to TCP+TLS on the same port, says
//! so once, and traffic flows.
//!
//! "UDP blocked" on loopback: the agent is given port P, where a UDP socket swallows every
//! datagram (so QUIC gets no answer, as behind a firewall that drops rather than rejects) and
//! a TCP relay leads to the PoP's fallback listener. The PoP's QUIC socket is on another port.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use tokio::sync::mpsc;
use warren_agent::{
    Agent, AgentEvent, AgentOptions, EndpointOptions, Protocol, ProxyProtocol, Transport, TransportMode, Upstream,
};
use warren_core::{ErrorCode, Zone};
use warren_test_support::EchoBackend;
use warren_tunnel::{Registry, SessionHooks, TunnelServer};

struct Hooks;

impl SessionHooks for Hooks {
    fn authenticate(&self, authtoken: &str) -> Result<String, ErrorCode> {
        if authtoken == "good" { Ok("tok_1".into()) } else { Err(ErrorCode::AuthtokenInvalid) }
    }
    fn check_policy(&self, _: &str) -> Result<(), String> {
        Ok(())
    }
}

struct Pop {
    server: Arc<TunnelServer>,
    ca_file: tempfile::NamedTempFile,
}

fn pop() -> Pop {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let ca_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca_file.path(), cert.cert.pem()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    let registry = Arc::new(Registry::new(Zone::parse("edge.test").unwrap(), None, None));
    let server =
        TunnelServer::bind("127.0.0.1:0".parse().unwrap(), tls, registry, Arc::new(Hooks), "pop-a".into()).unwrap();
    tokio::spawn(server.clone().run());
    Pop { server, ca_file }
}

/// Port P: UDP swallowed, TCP relayed to `to`. Returns P; both sockets live as long as the test.
async fn udp_blocked_port(to: SocketAddr) -> (SocketAddr, std::net::UdpSocket) {
    for _ in 0..32 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Never read: datagrams to P vanish, like behind a firewall that drops UDP.
        let Ok(black_hole) = std::net::UdpSocket::bind(addr) else { continue };
        tokio::spawn(async move {
            while let Ok((mut a, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut b = tokio::net::TcpStream::connect(to).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
                });
            }
        });
        return (addr, black_hole);
    }
    panic!("no port free for both TCP and UDP");
}

fn options(server: SocketAddr, ca_file: &std::path::Path, backend: SocketAddr, mode: TransportMode) -> AgentOptions {
    AgentOptions {
        server_addrs: vec![server.to_string()],
        authtoken: "good".into(),
        ca_file: Some(ca_file.to_path_buf()),
        endpoints: vec![EndpointOptions {
            url: Some("https://api.edge.test".into()),
            protocol: Protocol::Http,
            upstream: Upstream { addr: backend.to_string(), tls: false },
            traffic_policy: None,
            pooling: false,
            proxy_protocol: ProxyProtocol::None,
            response_timeout: Duration::from_secs(10),
        }],
        transport: mode,
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<AgentEvent>) -> AgentEvent {
    tokio::time::timeout(Duration::from_secs(15), rx.recv()).await.expect("an agent event in time").expect("agent runs")
}

/// A request through the PoP's registry and the tunnel, as the edge sends it.
async fn get_echo(server: &TunnelServer) -> (u16, String) {
    let Ok(route) = server.registry().route_http("api.edge.test") else { panic!("the endpoint is not online") };
    let client: SocketAddr = "127.0.0.9:5555".parse().unwrap();
    let stream = route.conn.open_stream(route.endpoint_key, Protocol::Http, client, server.local_addr().unwrap());
    let stream = stream.await.unwrap();
    let req = http::Request::get("/echo").header("host", "api.edge.test").body(Empty::<Bytes>::new()).unwrap();
    let info = warren_proxy::ForwardInfo {
        client_addr: client,
        proto: warren_proxy::Proto::Https,
        host: "api.edge.test".into(),
    };
    let res = warren_proxy::forward(req, stream, &info).await.unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn udp_blocked_agent_falls_back_to_tcp_and_serves() {
    let pop = pop();
    let (server_addr, _black_hole) = udp_blocked_port(pop.server.fallback_addr().expect("bind has a fallback")).await;
    assert_ne!(server_addr.port(), pop.server.local_addr().unwrap().port());
    let echo = EchoBackend::start().await.unwrap();
    let agent = Agent::new(options(server_addr, pop.ca_file.path(), echo.addr(), TransportMode::Auto)).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let running = tokio::spawn(agent.run(tx));

    match next(&mut rx).await {
        AgentEvent::Fallback { server, reason } => {
            assert_eq!(server, server_addr.to_string());
            assert!(reason.contains("QUIC"), "{reason}");
        }
        other => panic!("expected the fallback warning first, got {other:?}"),
    }
    assert!(matches!(next(&mut rx).await, AgentEvent::Connected { transport: Transport::Tcp, .. }));
    assert!(matches!(next(&mut rx).await, AgentEvent::Online { url, .. } if url == "https://api.edge.test"));
    assert_eq!(pop.server.session_count(), 1);

    let (status, body) = get_echo(&pop.server).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("/echo"), "{body}");
    assert_eq!(echo.requests(), 1);
    running.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn forced_tcp_and_forced_quic_use_that_carrier_without_a_warning() {
    let pop = pop();
    let echo = EchoBackend::start().await.unwrap();
    let addr = pop.server.local_addr().unwrap();
    for (mode, want) in [(TransportMode::Tcp, Transport::Tcp), (TransportMode::Quic, Transport::Quic)] {
        let agent = Agent::new(options(addr, pop.ca_file.path(), echo.addr(), mode)).unwrap();
        let closer = agent.closer();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let running = tokio::spawn(agent.run(tx));
        match next(&mut rx).await {
            AgentEvent::Connected { transport, .. } => assert_eq!(transport, want),
            other => panic!("{other:?}"),
        }
        assert!(matches!(next(&mut rx).await, AgentEvent::Online { .. }));
        assert_eq!(get_echo(&pop.server).await.0, 200);
        // Stopping the agent closes its tunnel at once, whatever carries it.
        closer.close().await;
        running.abort();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while pop.server.session_count() > 0 {
            assert!(tokio::time::Instant::now() < deadline, "{want} session still open after the agent closed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
