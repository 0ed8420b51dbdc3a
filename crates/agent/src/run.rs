//! The reconnecting agent: one supervised tunnel per PoP address.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{Instrument, debug, info_span, warn};
use warren_core::ErrorCode;
use warren_tunnel::{AgentSession, SessionEvent, Transport, TunnelError};
use warren_wire::{EndpointSpec, RegisterResult};

use crate::backoff::Backoff;
use crate::dial::{Dialer, PathMemory};
use crate::serve::serve_stream;
use crate::{AgentError, AgentOptions, EndpointOptions};

/// What happens to the agent, for its user interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEvent {
    /// A tunnel to `server` is up (PoP `pop_id`), carried by `transport`.
    Connected { server: String, pop_id: String, transport: Transport },
    /// QUIC to `server` got no answer (`reason`), so its tunnel uses TCP+TLS. Sent once per
    /// server.
    Fallback { server: String, reason: String },
    /// An endpoint is reachable at `url` through `server`.
    Online { server: String, url: String },
    /// The endpoints' new settings (a reloaded traffic policy) are live through `server`.
    Updated { server: String },
    /// The tunnel to `server` is down; the agent retries after `retry_in`.
    Disconnected { server: String, reason: String, retry_in: Duration },
}

/// Closes an agent's tunnels (see [`Agent::closer`]).
#[derive(Debug, Clone)]
pub struct AgentCloser {
    endpoint: quinn::Endpoint,
    tcp_sessions: TcpSessions,
}

/// The live TCP+TLS tunnels (QUIC ones are closed through their endpoint).
type TcpSessions = Arc<Mutex<Vec<Weak<AgentSession>>>>;

impl AgentCloser {
    /// Sends every PoP a close and waits (at most a second) for them to hear it.
    pub async fn close(&self) {
        self.endpoint.close(quinn::VarInt::from_u32(0), b"agent stopped");
        let tcp: Vec<Arc<AgentSession>> =
            self.tcp_sessions.lock().unwrap_or_else(|p| p.into_inner()).iter().filter_map(Weak::upgrade).collect();
        for s in &tcp {
            s.close();
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            tokio::join!(self.endpoint.wait_idle(), wait_all(tcp.iter().map(|s| s.closed())))
        })
        .await;
    }
}

async fn wait_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) {
    for f in futures {
        f.await;
    }
}

/// Changes the endpoints' settings of a running agent (see [`Agent::updater`]).
#[derive(Debug, Clone)]
pub struct EndpointUpdater(tokio::sync::watch::Sender<Arc<[EndpointOptions]>>);

impl EndpointUpdater {
    /// Publishes new settings; each tunnel re-registers them. The list must describe the same
    /// endpoints in the same order (only their settings change).
    pub fn update(&self, endpoints: Vec<EndpointOptions>) {
        self.0.send_replace(endpoints.into());
    }
}

fn specs_of(endpoints: &[EndpointOptions]) -> Vec<EndpointSpec> {
    endpoints
        .iter()
        .enumerate()
        .map(|(i, e)| EndpointSpec {
            key: i as u32,
            url: e.url.clone(),
            protocol: e.protocol,
            traffic_policy: e.traffic_policy.clone(),
            pooling: e.pooling,
        })
        .collect()
}

/// Fills in the URL an endpoint without one was given first (see `Inner::pinned`).
fn with_pinned(mut specs: Vec<EndpointSpec>, pinned: &[Option<String>]) -> Vec<EndpointSpec> {
    for spec in &mut specs {
        if spec.url.is_none() {
            spec.url = pinned.get(spec.key as usize).cloned().flatten();
        }
    }
    specs
}

/// Remembers the URLs endpoints were given, for those not pinned yet.
fn pin(pinned: &mut [Option<String>], results: &[RegisterResult]) {
    for r in results {
        if let RegisterResult::Online { key, url } = r
            && let Some(slot @ None) = pinned.get_mut(*key as usize)
        {
            *slot = Some(url.clone());
        }
    }
}

/// The agent: tunnels to every PoP address, each re-established on its own.
pub struct Agent {
    inner: Arc<Inner>,
}

struct Inner {
    opts: AgentOptions,
    endpoint: quinn::Endpoint,
    /// TLS for the TCP+TLS fallback (tunnel ALPN).
    tcp_tls: Arc<rustls::ClientConfig>,
    tcp_sessions: TcpSessions,
    agent_id: String,
    tls_backend: Arc<rustls::ClientConfig>,
    /// The endpoints as they are now; a change (a reloaded traffic policy) is re-registered on
    /// every live tunnel without closing it.
    current: tokio::sync::watch::Sender<Arc<[EndpointOptions]>>,
    /// The URL each endpoint was first given (by index), for endpoints configured without one
    /// (a random name, or the next free TCP port): every tunnel and every reconnect asks for
    /// that URL again, so the endpoint has one address on every PoP and keeps it. While one is
    /// still unknown, registrations take turns (the lock), so two tunnels starting together
    /// cannot be handed two different names.
    pinned: tokio::sync::Mutex<Vec<Option<String>>>,
}

/// Codes after which retrying cannot help: the agent stops and says why.
fn is_fatal(code: &str) -> bool {
    [ErrorCode::AuthtokenInvalid, ErrorCode::AuthtokenRevoked, ErrorCode::ProtocolVersion]
        .iter()
        .any(|c| c.as_str() == code)
}

impl Agent {
    pub fn new(opts: AgentOptions) -> Result<Agent, AgentError> {
        if opts.server_addrs.is_empty() {
            return Err(AgentError::NoServers);
        }
        if opts.authtoken.is_empty() {
            return Err(AgentError::NoAuthtoken);
        }
        for server in &opts.server_addrs {
            let port_ok =
                server.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !port_ok {
                return Err(AgentError::BadServer(server.clone()));
            }
        }
        let ca = match &opts.ca_file {
            Some(p) => Some(
                std::fs::read(p)
                    .map_err(|e| AgentError::CaFile { path: p.display().to_string(), reason: e.to_string() })?,
            ),
            None => None,
        };
        let ca_ref = opts.ca_file.as_ref().zip(ca.as_deref()).map(|(p, pem)| (p.to_str().unwrap_or("CA file"), pem));
        let tls = crate::client_tls(ca_ref)?;
        let ipv6 = opts.server_addrs.iter().all(|a| a.starts_with('['));
        let endpoint = warren_tunnel::client_endpoint(tls.clone(), ipv6)?;
        let tcp_tls = warren_tunnel::fallback::client_config(tls.clone());
        // Backends with TLS (https:// targets) are checked against the same roots.
        let mut backend_tls = tls;
        backend_tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let agent_id = format!("agent-{:016x}", rand::random::<u64>());
        let current = tokio::sync::watch::channel(Arc::from(opts.endpoints.clone())).0;
        let pinned = tokio::sync::Mutex::new(vec![None; opts.endpoints.len()]);
        let inner = Inner {
            current,
            pinned,
            opts,
            endpoint,
            tcp_tls,
            tcp_sessions: TcpSessions::default(),
            agent_id,
            tls_backend: Arc::new(backend_tls),
        };
        Ok(Agent { inner: Arc::new(inner) })
    }

    /// A handle that closes every tunnel at once, so PoPs stop routing to this agent
    /// immediately instead of after the idle timeout.
    pub fn closer(&self) -> AgentCloser {
        AgentCloser { endpoint: self.inner.endpoint.clone(), tcp_sessions: self.inner.tcp_sessions.clone() }
    }

    /// A handle that replaces the endpoints' settings (same endpoints, e.g. a new traffic
    /// policy) on every live tunnel; open connections are not touched.
    pub fn updater(&self) -> EndpointUpdater {
        EndpointUpdater(self.inner.current.clone())
    }

    /// Runs until a fatal error (bad authtoken, refused endpoint); transient failures are retried.
    pub async fn run(self, events: mpsc::UnboundedSender<AgentEvent>) -> Result<(), AgentError> {
        let mut tasks = tokio::task::JoinSet::new();
        for server in self.inner.opts.server_addrs.clone() {
            let inner = self.inner.clone();
            let events = events.clone();
            let span = info_span!("tunnel", server = %server);
            tasks.spawn(async move { inner.supervise(server, events).await }.instrument(span));
        }
        // The first fatal error stops the agent; tunnels to other PoPs end with it.
        while let Some(res) = tasks.join_next().await {
            match res {
                Ok(Err(e)) => return Err(e),
                Ok(Ok(())) => {}
                Err(e) => warn!(error = %e, "tunnel task panicked"),
            }
        }
        Ok(())
    }
}

impl Inner {
    async fn supervise(
        self: Arc<Self>,
        server: String,
        events: mpsc::UnboundedSender<AgentEvent>,
    ) -> Result<(), AgentError> {
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(30));
        let mut path = PathMemory::default();
        loop {
            let reason = self.session_once(&server, &events, &mut backoff, &mut path).await?;
            let retry_in = backoff.next_delay(rand::random());
            let _ = events.send(AgentEvent::Disconnected { server: server.clone(), reason, retry_in });
            tokio::time::sleep(retry_in).await;
        }
    }

    /// One tunnel's life. `Ok(reason)` means "reconnect"; `Err` means "stop the agent".
    async fn session_once(
        &self,
        server: &str,
        events: &mpsc::UnboundedSender<AgentEvent>,
        backoff: &mut Backoff,
        path: &mut PathMemory,
    ) -> Result<String, AgentError> {
        let (host, addr) = match resolve(server).await {
            Ok(v) => v,
            Err(reason) => return Ok(reason),
        };
        let dialer = Dialer {
            mode: self.opts.transport,
            endpoint: &self.endpoint,
            tcp_tls: &self.tcp_tls,
            authtoken: &self.opts.authtoken,
            agent_id: &self.agent_id,
        };
        let session = match dialer.dial(server, addr, &host, path, events).await {
            Ok(s) => Arc::new(s),
            Err(TunnelError::Refused { code, message }) if is_fatal(&code) => {
                return Err(AgentError::Refused { code, message });
            }
            // An untrusted certificate will not become trusted by retrying: say what to do.
            Err(e) if e.to_string().contains("invalid peer certificate") => {
                return Err(AgentError::Untrusted { server: server.to_owned(), reason: e.to_string() });
            }
            Err(e) => return Ok(e.to_string()),
        };
        if session.transport() == Transport::Tcp {
            let mut live = self.tcp_sessions.lock().unwrap_or_else(|p| p.into_inner());
            live.retain(|s| s.strong_count() > 0);
            live.push(Arc::downgrade(&session));
        }
        backoff.reset();
        let _ = events.send(AgentEvent::Connected {
            server: server.into(),
            pop_id: session.welcome.pop_id.clone(),
            transport: session.transport(),
        });
        let mut updates = self.current.subscribe();
        let mut endpoints: Arc<[EndpointOptions]> = updates.borrow_and_update().clone();
        let results = {
            let pinned = self.pinned.lock().await;
            let specs = with_pinned(specs_of(&endpoints), &pinned);
            // The turn is kept only while some endpoint still waits for its first URL.
            let mut pinned = specs.iter().any(|s| s.url.is_none()).then_some(pinned);
            let results = match session.register(specs).await {
                Ok(r) => r,
                Err(e) => return Ok(format!("registration failed: {e}")),
            };
            if let Some(pinned) = pinned.as_mut() {
                pin(pinned, &results);
            }
            results
        };
        for r in results {
            match r {
                RegisterResult::Online { url, .. } => {
                    let _ = events.send(AgentEvent::Online { server: server.into(), url });
                }
                RegisterResult::Refused { code, message, .. } => {
                    session.close();
                    return Err(AgentError::Refused { code, message });
                }
            }
        }

        let heartbeat = {
            let session = session.clone();
            tokio::spawn(async move {
                for seq in 0.. {
                    tokio::time::sleep(Duration::from_secs(10)).await;
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
                        let endpoints = endpoints.clone();
                        let tls = self.tls_backend.clone();
                        tokio::spawn(async move {
                            if let Err(e) = serve_stream(stream, &endpoints, tls).await {
                                debug!(error = %e, "stream ended with an error");
                            }
                        });
                    }
                    Err(_) => break None,
                },
                changed = updates.changed() => {
                    if changed.is_err() {
                        continue;
                    }
                    endpoints = updates.borrow_and_update().clone();
                    let specs = with_pinned(specs_of(&endpoints), &self.pinned.lock().await);
                    match session.register(specs).await {
                        Ok(results) => {
                            for r in results {
                                if let RegisterResult::Refused { code, message, .. } = r {
                                    warn!(%code, %message, "the PoP refused the updated endpoint; it keeps the previous settings");
                                }
                            }
                            let _ = events.send(AgentEvent::Updated { server: server.into() });
                        }
                        Err(e) => break Some(Ok(format!("re-registration failed: {e}"))),
                    }
                }
                event = session.next_event(), if control_open => match event {
                    Some(SessionEvent::Drain(reason)) => {
                        // Requests in flight on this tunnel finish (the PoP closes it when they
                        // have); new ones will come through the next tunnel.
                        let old = session.clone();
                        tokio::spawn(async move { old.closed().await });
                        break Some(Ok(format!("the PoP is draining ({reason})")));
                    }
                    Some(SessionEvent::Error { code, message }) if is_fatal(&code) => {
                        break Some(Err(AgentError::Refused { code, message }));
                    }
                    Some(SessionEvent::Error { code, message }) => warn!(%code, %message, "the PoP reported an error"),
                    None => control_open = false,
                },
            }
        };
        heartbeat.abort();
        match outcome {
            Some(result) => result,
            None => {
                let reason = session.closed().await;
                if is_fatal(&reason) {
                    return Err(AgentError::Refused {
                        code: reason.clone(),
                        message: "the PoP closed the tunnel".into(),
                    });
                }
                Ok(reason)
            }
        }
    }
}

/// `host:port` → (host for TLS, first address).
async fn resolve(server: &str) -> Result<(String, SocketAddr), String> {
    let host = match server.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']').to_owned(),
        None => return Err(format!("{server:?} is not HOST:PORT")),
    };
    let mut addrs = tokio::net::lookup_host(server).await.map_err(|e| format!("cannot resolve {server}: {e}"))?;
    let addr = addrs.next().ok_or_else(|| format!("{server} has no address"))?;
    Ok((host, addr))
}
