//! The tunnel over the TCP+TLS fallback on loopback: the QUIC suite, then what only a TCP
//! carrier can get wrong (dead paths, sessions dying under a stream, drain).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{http, world};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use warren_tunnel::{AgentSession, SessionEvent, Transport};
use warren_wire::Protocol;

#[tokio::test]
async fn register_open_stream_and_revoke() {
    common::register_open_stream_and_revoke(Transport::Tcp).await;
}

#[tokio::test]
async fn bad_token_is_refused_with_its_code() {
    common::bad_token_is_refused_with_its_code(Transport::Tcp).await;
}

#[tokio::test]
async fn invalid_policy_and_url_in_use_are_refused_per_endpoint() {
    common::invalid_policy_and_url_in_use_are_refused_per_endpoint(Transport::Tcp).await;
}

/// A TCP relay in front of the PoP whose path can be frozen (packets silently lost) or cut.
struct Relay {
    addr: SocketAddr,
    state: watch::Sender<Path>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Path {
    Up,
    Frozen,
    Cut,
}

impl Relay {
    async fn start(to: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (state, rx) = watch::channel(Path::Up);
        tokio::spawn(async move {
            while let Ok((a, _)) = listener.accept().await {
                let b = TcpStream::connect(to).await.unwrap();
                let (ar, aw) = a.into_split();
                let (br, bw) = b.into_split();
                tokio::spawn(pump(ar, bw, rx.clone()));
                tokio::spawn(pump(br, aw, rx.clone()));
            }
        });
        Relay { addr, state }
    }

    fn set(&self, path: Path) {
        self.state.send_replace(path);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut path: watch::Receiver<Path>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::select! {
            n = from.read(&mut buf) => match n { Ok(0) | Err(_) => return, Ok(n) => n },
            p = async { path.wait_for(|p| *p != Path::Up).await.map(|p| *p).unwrap_or(Path::Cut) } => {
                if p == Path::Cut {
                    // Both sockets close: the session under the stream is gone.
                    return;
                }
                // Frozen: keep both sockets open, forward nothing, ever.
                std::future::pending::<()>().await;
                return;
            }
        };
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

async fn connect_via(w: &common::World, relay: &Relay) -> AgentSession {
    AgentSession::connect_tcp(&w.tcp_tls, relay.addr, "127.0.0.1", "good", "agent-1").await.unwrap()
}

#[tokio::test]
async fn a_dead_path_is_noticed_within_seconds_on_both_sides() {
    let w = world();
    let relay = Relay::start(w.server.fallback_addr().expect("bind has a fallback")).await;
    let session = connect_via(&w, &relay).await;
    session.register(vec![http("https://api.edge.test", None)]).await.unwrap();
    assert_eq!(w.server.session_count(), 1);
    // Idle but alive: keep-alives hold the tunnel up past the idle timeout.
    tokio::time::sleep(warren_tunnel::transport::IDLE_TIMEOUT + Duration::from_secs(1)).await;
    assert_eq!(w.server.session_count(), 1);

    relay.set(Path::Frozen);
    let started = std::time::Instant::now();
    let reason = tokio::time::timeout(Duration::from_secs(10), session.closed()).await.unwrap();
    assert!(reason.contains("idle timeout"), "{reason}");
    assert!(started.elapsed() < Duration::from_secs(8), "took {:?}", started.elapsed());
    warren_wait(|| w.server.session_count() == 0).await;
    assert!(w.server.registry().route_http("api.edge.test").is_err());
}

#[tokio::test]
async fn a_stream_cut_off_by_a_lost_session_reads_an_error_not_an_end() {
    let w = world();
    let relay = Relay::start(w.server.fallback_addr().expect("bind has a fallback")).await;
    let session = connect_via(&w, &relay).await;
    session.register(vec![http("https://api.edge.test", None)]).await.unwrap();
    let route = w.server.registry().route_http("api.edge.test").ok().unwrap();
    let client: SocketAddr = "127.0.0.9:5555".parse().unwrap();
    let mut pop_side = route.conn.open_stream(route.endpoint_key, Protocol::Tcp, client, w.addr).await.unwrap();
    pop_side.send.write_all(b"the first half of a body").await.unwrap();
    let mut agent_side = session.accept().await.unwrap();
    warren_tunnel::read_stream_header(&mut agent_side).await.unwrap();
    let mut first = [0u8; 24];
    agent_side.recv.read_exact(&mut first).await.unwrap();

    relay.set(Path::Cut);
    let mut rest = Vec::new();
    let res = tokio::time::timeout(Duration::from_secs(10), agent_side.recv.read_to_end(&mut rest)).await.unwrap();
    assert!(res.is_err(), "a truncated stream must not end cleanly: {res:?}");
}

#[tokio::test]
async fn drain_tells_the_agent_and_close_ends_the_session() {
    let w = world();
    let session = w.connect(Transport::Tcp, "good", "agent-1").await.unwrap();
    session.register(vec![http("https://api.edge.test", None)]).await.unwrap();
    w.server.drain();
    let ev = tokio::time::timeout(Duration::from_secs(2), session.next_event()).await.unwrap();
    assert!(matches!(ev, Some(SessionEvent::Drain(_))), "{ev:?}");
    // Draining stops new agents on both carriers.
    assert!(w.connect(Transport::Tcp, "good", "agent-2").await.is_err());

    w.server.close().await;
    let reason = tokio::time::timeout(Duration::from_secs(2), session.closed()).await.unwrap();
    assert_eq!(reason, "WARREN_ERR_POP_DRAINING");
    assert_eq!(w.server.session_count(), 0);
}

#[tokio::test]
async fn a_client_without_the_tunnel_alpn_is_not_an_agent() {
    let w = world();
    let mut tls = (*w.tcp_tls).clone();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tls = std::sync::Arc::new(tls);
    let err = AgentSession::connect_tcp(&tls, w.addr, "127.0.0.1", "good", "agent-1").await.unwrap_err();
    // rustls refuses it during the handshake (NoApplicationProtocol).
    let msg = err.to_string();
    assert!(msg.contains("NoApplicationProtocol") || msg.contains("ALPN"), "{msg}");
}

async fn warren_wait(mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "condition not met in 5 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
