//! The PoP's tunnel listener: accepts agents over QUIC, or over the TCP+TLS fallback on the
//! same port, authenticates them and runs their control streams.
//!
//! Both carriers end in [`TunnelServer::session`], which runs one handshake and one control
//! loop (`control.rs`) over an [`AgentConn`]; only accepting differs (`run` for QUIC,
//! `tcp.rs` for the fallback).
//!
//! [`TunnelServer::bind`] binds both listeners on OS sockets (production);
//! [`TunnelServer::from_endpoint`] serves QUIC on an endpoint the caller built, with no fallback
//! (the chaos simulation runs the listener on a simulated network, where there are no OS sockets).

mod control;
mod tcp;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tracing::{Instrument, debug, info, info_span};
use warren_core::ErrorCode;
use warren_wire::{MAX_CONTROL_FRAME, PopMsg};

use crate::framed::write_frame;
use crate::metrics as m;
use crate::registry::{Registry, SessionId};
use crate::session::AgentConn;
use crate::{TunnelError, TunnelStream, fallback, transport};

/// How long an agent has to open its control stream and say hello (and to finish TLS on TCP).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What the PoP decides for the tunnel layer: who may connect, which policies are valid.
pub trait SessionHooks: Send + Sync + 'static {
    /// Checks an authtoken; returns the token's id (never the token) or why it is refused.
    fn authenticate(&self, authtoken: &str) -> Result<String, ErrorCode>;
    /// Validates a traffic policy sent with a registration; `Err` is the readable reason.
    fn check_policy(&self, text: &str) -> Result<(), String>;
}

struct SessionEntry {
    token_id: String,
    conn: Arc<dyn AgentConn>,
}

/// The tunnel listener of a PoP: QUIC on a UDP socket, and the TCP+TLS fallback on the TCP
/// port of the same number.
pub struct TunnelServer {
    endpoint: quinn::Endpoint,
    /// Taken by `run`; never set when built by [`TunnelServer::from_endpoint`].
    tcp: Mutex<Option<tokio::net::TcpListener>>,
    /// `None` without a fallback listener.
    tcp_addr: Option<SocketAddr>,
    tcp_tls: tokio_rustls::TlsAcceptor,
    registry: Arc<Registry>,
    hooks: Arc<dyn SessionHooks>,
    pop_id: String,
    sessions: Mutex<HashMap<SessionId, SessionEntry>>,
    next_id: AtomicU64,
    drain: watch::Sender<bool>,
}

impl TunnelServer {
    /// Binds the QUIC listener on `addr` and the TCP+TLS fallback on the same address and port
    /// (with port 0, a port free for both is picked).
    pub fn bind(
        addr: SocketAddr,
        tls: rustls::ServerConfig,
        registry: Arc<Registry>,
        hooks: Arc<dyn SessionHooks>,
        pop_id: String,
    ) -> Result<Arc<TunnelServer>, TunnelError> {
        let tcp_tls = tokio_rustls::TlsAcceptor::from(fallback::server_config(tls.clone()));
        let (endpoint, tcp) = tcp::bind_pair(addr, transport::server_config(tls)?)?;
        let tcp_addr = tcp.local_addr()?;
        Ok(Self::new(endpoint, Some((tcp, tcp_addr)), tcp_tls, registry, hooks, pop_id))
    }

    /// Serves QUIC on `endpoint`, which the caller bound (e.g. on a simulated socket), with
    /// `tls` as its server config (ALPN and transport settings as [`TunnelServer::bind`] sets
    /// them); no TCP+TLS fallback, so [`TunnelServer::fallback_addr`] is `None`.
    pub fn from_endpoint(
        endpoint: quinn::Endpoint,
        tls: rustls::ServerConfig,
        registry: Arc<Registry>,
        hooks: Arc<dyn SessionHooks>,
        pop_id: String,
    ) -> Result<Arc<TunnelServer>, TunnelError> {
        let tcp_tls = tokio_rustls::TlsAcceptor::from(fallback::server_config(tls.clone()));
        endpoint.set_server_config(Some(transport::server_config(tls)?));
        Ok(Self::new(endpoint, None, tcp_tls, registry, hooks, pop_id))
    }

    fn new(
        endpoint: quinn::Endpoint,
        tcp: Option<(tokio::net::TcpListener, SocketAddr)>,
        tcp_tls: tokio_rustls::TlsAcceptor,
        registry: Arc<Registry>,
        hooks: Arc<dyn SessionHooks>,
        pop_id: String,
    ) -> Arc<TunnelServer> {
        let (tcp, tcp_addr) = tcp.map_or((None, None), |(l, a)| (Some(l), Some(a)));
        Arc::new(TunnelServer {
            tcp_addr,
            endpoint,
            tcp: Mutex::new(tcp),
            tcp_tls,
            registry,
            hooks,
            pop_id,
            sessions: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            drain: watch::channel(false).0,
        })
    }

    /// The QUIC (UDP) address; the TCP fallback listens on the same one.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// The address of the TCP+TLS fallback listener; `None` without one
    /// ([`TunnelServer::from_endpoint`]).
    pub fn fallback_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Accepts agents (both carriers) until [`TunnelServer::drain`] is called.
    pub async fn run(self: Arc<Self>) {
        let listener = self.tcp.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(listener) = listener {
            tokio::spawn(self.clone().accept_tcp(listener));
        }
        let mut drain = self.drain.subscribe();
        loop {
            let incoming = tokio::select! {
                i = self.endpoint.accept() => i,
                () = drained(&mut drain) => break,
            };
            let Some(incoming) = incoming else { break };
            let this = self.clone();
            tokio::spawn(async move {
                let remote = incoming.remote_address();
                let span = info_span!("tunnel.session", client.addr = %remote, tunnel.id = tracing::field::Empty);
                match incoming.await {
                    Ok(conn) => this.session(Arc::new(conn)).instrument(span).await,
                    Err(e) => debug!(parent: &span, error = %e, "QUIC handshake failed"),
                }
            });
        }
    }

    /// Stops accepting and asks every agent to move (they reconnect elsewhere or later).
    pub fn drain(&self) {
        self.drain.send_replace(true);
    }

    /// Closes every session of a token at once, whatever carries it; returns how many.
    pub fn revoke_token(&self, token_id: &str) -> usize {
        let sessions = self.lock_sessions();
        let mut n = 0;
        for (id, s) in sessions.iter().filter(|(_, s)| s.token_id == token_id) {
            s.conn.close(ErrorCode::AuthtokenRevoked.as_str());
            self.registry.remove_session(*id);
            n += 1;
        }
        n
    }

    /// Number of connected agent sessions.
    pub fn session_count(&self) -> usize {
        self.lock_sessions().len()
    }

    fn lock_sessions(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, SessionEntry>> {
        // Plain map updates only: a poisoned lock holds consistent data.
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Closes every session (after draining) and waits, at most a second, until the agents
    /// were told.
    pub async fn close(&self) {
        let reason = ErrorCode::PopDraining.as_str();
        self.endpoint.close(quinn::VarInt::from_u32(crate::session::CLOSE_BY_POP), reason.as_bytes());
        for s in self.lock_sessions().values() {
            s.conn.close(reason);
        }
        let fallback_gone = async {
            while self.session_count() > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            tokio::join!(self.endpoint.wait_idle(), fallback_gone)
        })
        .await;
    }

    /// One agent's session, from the handshake to its end, on either carrier.
    async fn session(self: Arc<Self>, conn: Arc<dyn AgentConn>) {
        let (control, token_id, agent_id) = match self.handshake(&*conn).await {
            Ok(v) => v,
            Err(e) => {
                debug!(error = %e, "tunnel handshake refused");
                return;
            }
        };
        let TunnelStream { mut send, recv } = control;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let transport = conn.transport().as_str();
        tracing::Span::current().record("tunnel.id", id);
        self.lock_sessions().insert(id, SessionEntry { token_id, conn: conn.clone() });
        metrics::counter!(m::SESSIONS_TOTAL, "transport" => transport).increment(1);
        metrics::gauge!(m::SESSIONS_ACTIVE, "transport" => transport).increment(1.0);
        info!(agent.id = %agent_id, tunnel.transport = transport, "agent connected");

        let welcome = PopMsg::Welcome {
            session_id: format!("{}-{id}", self.pop_id),
            pop_id: self.pop_id.clone(),
            zone: self.registry.zone().to_string(),
            heartbeat_ms: 10_000,
        };
        let outcome = match write_frame(&mut send, &welcome, MAX_CONTROL_FRAME).await {
            Ok(()) => self.control_loop(id, &agent_id, &conn, &mut send, recv).await,
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            if matches!(e, TunnelError::Wire(_)) {
                metrics::counter!(m::MALFORMED_FRAMES, "side" => "pop").increment(1);
                let msg = control::error_msg(ErrorCode::BadRequest, &e.to_string());
                let _ = write_frame(&mut send, &msg, MAX_CONTROL_FRAME).await;
                conn.close("malformed control frame");
            }
            debug!(error = %e, "control stream ended");
        }
        self.lock_sessions().remove(&id);
        self.registry.remove_session(id);
        metrics::gauge!(m::SESSIONS_ACTIVE, "transport" => transport).decrement(1.0);
        info!(agent.id = %agent_id, "agent disconnected");
    }
}

/// Resolves once a drain was requested (the guard of `wait_for` is not `Send`; drop it here).
async fn drained(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|d| *d).await.map(|_| ());
}
