//! A simulated agent: Warren's real tunnel client ([`AgentSession`]) on a turmoil host, holding
//! one tunnel to every PoP of its endpoint and echoing every stream the PoPs open.
//!
//! The agent of endpoint `k` is the host `agent{k}` (placed in `world.rs`). It dials each PoP
//! that holds the endpoint over QUIC on the simulated network, authenticates with its own
//! token (the driver creates it through the cluster during the warm-up: until then the PoPs
//! refuse it, and it retries), registers the endpoint's URL, and serves the PoP's streams: it
//! reads the stream header, then sends back every byte it reads (the request path in `pop.rs`
//! checks the payload comes back intact).
//!
//! The reconnect loop is a small copy of `warren-agent`'s (`crates/agent/src/run.rs`: dial,
//! register, serve streams with a heartbeat beside, leave on a drain, wait, dial again), not that
//! crate: its `Agent` also proxies HTTP to a backend through `warren-proxy` and dials OS sockets
//! (falling back to TCP), none of which fits here. Differences: the delays double from
//! [`BACKOFF_BASE`] to [`BACKOFF_MAX`] without the real agent's jitter (jitter would need
//! randomness, and one agent per endpoint cannot stampede a PoP), and a refused authtoken is
//! retried rather than fatal (the agent starts before the driver has created its token).
//!
//! The trace shows each tunnel coming up and going down (with the reason the PoP or QUIC gave),
//! and each change in why a dial fails; never session ids or datagram counts (see `chaos.rs`).

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tracing::debug;
use warren_tunnel::{AgentSession, SessionEvent, TunnelStream, read_stream_header, transport};
use warren_wire::{EndpointSpec, Protocol, RegisterResult};

use super::net::{self, SimSocket};
use super::pop::{Env, now_ms};
use super::tunnel::{SERVER_NAME, TUNNEL_PORT};

/// The agents' UDP port.
const AGENT_PORT: u16 = 5000;
/// First reconnect delay.
const BACKOFF_BASE: Duration = Duration::from_millis(250);
/// Longest reconnect delay.
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Between two heartbeats on the control stream (as `warren-agent` sends them).
const HEARTBEAT: Duration = Duration::from_secs(10);

/// The id the agent of `host` presents (also the one the PoPs replicate in their bindings).
fn agent_id(host: &str) -> String {
    format!("sim-agent-{host}")
}

/// The host software of the agent of endpoint `k`.
pub(crate) async fn run(env: Arc<Env>, k: usize) -> turmoil::Result {
    let ep = env.world.endpoints[k].clone();
    let ip = turmoil::lookup(ep.agent.as_str());
    let socket = turmoil::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, AGENT_PORT)).await?;
    let seed = env.seed_bytes("agent quic", &ep.agent, 1);
    let mut endpoint = net::endpoint(SimSocket::new(socket, ip, env.faults.clone()), seed)?;
    endpoint.set_default_client_config(transport::client_config(env.tunnel_tls.client.clone())?);
    let mut tasks = Vec::new();
    for &pop in &ep.holders {
        let addr = SocketAddr::new(turmoil::lookup(env.world.pops[pop].id.as_str()), TUNNEL_PORT);
        tasks.push(tokio::spawn(hold(env.clone(), k, pop, addr, endpoint.clone())));
    }
    for task in tasks {
        let _ = task.await;
    }
    Ok(())
}

/// Keeps one tunnel to the PoP `pop` (at `addr`) up, forever.
async fn hold(env: Arc<Env>, k: usize, pop: usize, addr: SocketAddr, endpoint: quinn::Endpoint) {
    let ep = &env.world.endpoints[k];
    let pop_id = env.world.pops[pop].id.clone();
    let id = agent_id(&ep.host);
    let secret = env.agent_tokens[k].1.expose().to_owned();
    let trace = |what: std::fmt::Arguments<'_>| env.history(|h| h.trace(now_ms(), &ep.agent, what));
    let mut delay = BACKOFF_BASE;
    let mut last_failure = String::new();
    loop {
        match AgentSession::connect(&endpoint, addr, SERVER_NAME, &secret, &id).await {
            Ok(session) => {
                let spec = EndpointSpec {
                    key: 0,
                    url: Some(ep.url.clone()),
                    protocol: Protocol::Http,
                    traffic_policy: None,
                    pooling: false,
                };
                match session.register(vec![spec]).await {
                    Ok(results) if matches!(results.as_slice(), [RegisterResult::Online { .. }]) => {
                        trace(format_args!("tunnel to {pop_id} up, {} online", ep.host));
                        last_failure.clear();
                        delay = BACKOFF_BASE;
                        let session = Arc::new(session);
                        let why = match serve(&session).await {
                            Some(why) => why,
                            None => session.closed().await,
                        };
                        trace(format_args!("tunnel to {pop_id} down: {why}"));
                    }
                    Ok(results) => {
                        note(&trace, &mut last_failure, &pop_id, format!("registration refused: {results:?}"));
                        session.close();
                    }
                    Err(e) => note(&trace, &mut last_failure, &pop_id, format!("registration failed: {e}")),
                }
            }
            Err(e) => note(&trace, &mut last_failure, &pop_id, e.to_string()),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(BACKOFF_MAX);
    }
}

/// Traces why a dial failed when the reason changed.
fn note(trace: &impl Fn(std::fmt::Arguments<'_>), last: &mut String, pop_id: &str, why: String) {
    if *last != why {
        trace(format_args!("cannot hold a tunnel to {pop_id}: {why}"));
        *last = why;
    }
}

/// Serves the session's streams, with a heartbeat every [`HEARTBEAT`], until it ends (`None`:
/// the carrier closed, ask it why) or the PoP drains (then the tunnel is left to close).
async fn serve(session: &Arc<AgentSession>) -> Option<String> {
    let heartbeat = {
        let session = session.clone();
        tokio::spawn(async move {
            for seq in 0.. {
                tokio::time::sleep(HEARTBEAT).await;
                if session.heartbeat(seq).await.is_err() {
                    break;
                }
            }
        })
    };
    let mut control_open = true;
    let outcome = loop {
        tokio::select! {
            stream = session.accept() => match stream {
                Ok(stream) => {
                    tokio::spawn(echo(stream));
                }
                Err(_) => break None,
            },
            event = session.next_event(), if control_open => match event {
                Some(SessionEvent::Drain(reason)) => break Some(format!("the PoP is draining ({reason})")),
                Some(SessionEvent::Error { code, message }) => debug!(%code, %message, "the PoP reported an error"),
                None => control_open = false,
            },
        }
    };
    heartbeat.abort();
    outcome
}

/// Reads a stream's header, then sends back everything that follows.
async fn echo(mut stream: TunnelStream) {
    if read_stream_header(&mut stream).await.is_err() {
        return;
    }
    let TunnelStream { mut send, mut recv } = stream;
    if tokio::io::copy(&mut recv, &mut send).await.is_ok() {
        let _ = send.shutdown().await;
    }
}
