//! The PoP's tunnel listener: accepts agents, authenticates them, runs their control streams.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::sync::Mutex;

use tokio::sync::{mpsc, watch};
use tracing::{Instrument, debug, info, info_span, warn};
use warren_core::ErrorCode;
use warren_wire::{AgentMsg, MAX_CONTROL_FRAME, PROTOCOL_VERSION, PopMsg, RegisterResult};

use crate::framed::{read_frame, write_frame};
use crate::metrics as m;
use crate::registry::{Registry, SessionId};
use crate::session::SessionConn;
use crate::{TunnelError, transport};

/// How long an agent has to open its control stream and say hello.
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
    conn: quinn::Connection,
}

/// The tunnel listener of a PoP.
pub struct TunnelServer {
    endpoint: quinn::Endpoint,
    registry: Arc<Registry>,
    hooks: Arc<dyn SessionHooks>,
    pop_id: String,
    sessions: Mutex<HashMap<SessionId, SessionEntry>>,
    next_id: AtomicU64,
    drain: watch::Sender<bool>,
}

impl TunnelServer {
    /// Binds the QUIC listener.
    pub fn bind(
        addr: SocketAddr,
        tls: rustls::ServerConfig,
        registry: Arc<Registry>,
        hooks: Arc<dyn SessionHooks>,
        pop_id: String,
    ) -> Result<Arc<TunnelServer>, TunnelError> {
        let endpoint = quinn::Endpoint::server(transport::server_config(tls)?, addr)?;
        Ok(Arc::new(TunnelServer {
            endpoint,
            registry,
            hooks,
            pop_id,
            sessions: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            drain: watch::channel(false).0,
        }))
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Accepts agents until [`TunnelServer::drain`] is called.
    pub async fn run(self: Arc<Self>) {
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
                    Ok(conn) => this.session(conn).instrument(span).await,
                    Err(e) => debug!(parent: &span, error = %e, "QUIC handshake failed"),
                }
            });
        }
    }

    /// Stops accepting and asks every agent to move (they reconnect elsewhere or later).
    pub fn drain(&self) {
        self.drain.send_replace(true);
    }

    /// Closes every session of a token at once; returns how many were closed.
    pub fn revoke_token(&self, token_id: &str) -> usize {
        let sessions = self.lock_sessions();
        let mut n = 0;
        for (id, s) in sessions.iter().filter(|(_, s)| s.token_id == token_id) {
            s.conn.close(
                quinn::VarInt::from_u32(crate::session::CLOSE_BY_POP),
                ErrorCode::AuthtokenRevoked.as_str().as_bytes(),
            );
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

    /// Closes the endpoint (after draining) and waits until the peers were told.
    pub async fn close(&self) {
        self.endpoint
            .close(quinn::VarInt::from_u32(crate::session::CLOSE_BY_POP), ErrorCode::PopDraining.as_str().as_bytes());
        let _ = tokio::time::timeout(Duration::from_secs(1), self.endpoint.wait_idle()).await;
    }

    async fn session(self: Arc<Self>, conn: quinn::Connection) {
        let (mut send, recv, token_id, agent_id) = match self.handshake(&conn).await {
            Ok(v) => v,
            Err(e) => {
                debug!(error = %e, "tunnel handshake refused");
                return;
            }
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        tracing::Span::current().record("tunnel.id", id);
        self.lock_sessions().insert(id, SessionEntry { token_id, conn: conn.clone() });
        metrics::counter!(m::SESSIONS_TOTAL).increment(1);
        metrics::gauge!(m::SESSIONS_ACTIVE).increment(1.0);
        info!(agent.id = %agent_id, "agent connected");

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
                let _ =
                    write_frame(&mut send, &error_msg(ErrorCode::BadRequest, &e.to_string()), MAX_CONTROL_FRAME).await;
                conn.close(quinn::VarInt::from_u32(crate::session::CLOSE_BY_POP), b"malformed control frame");
            }
            debug!(error = %e, "control stream ended");
        }
        self.lock_sessions().remove(&id);
        self.registry.remove_session(id);
        metrics::gauge!(m::SESSIONS_ACTIVE).decrement(1.0);
        info!(agent.id = %agent_id, "agent disconnected");
    }

    async fn handshake(
        &self,
        conn: &quinn::Connection,
    ) -> Result<(quinn::SendStream, quinn::RecvStream, String, String), TunnelError> {
        let fail = |reason: &'static str| metrics::counter!(m::HANDSHAKE_FAILURES, "reason" => reason).increment(1);
        let (send, mut recv) = tokio::time::timeout(HANDSHAKE_TIMEOUT, conn.accept_bi()).await.map_err(|_| {
            fail("timeout");
            TunnelError::Timeout("the control stream")
        })??;
        let hello = tokio::time::timeout(HANDSHAKE_TIMEOUT, read_frame::<_, AgentMsg>(&mut recv, MAX_CONTROL_FRAME))
            .await
            .map_err(|_| {
                fail("timeout");
                TunnelError::Timeout("hello")
            })?;
        let (authtoken, agent_id) = match hello {
            Ok(Some(AgentMsg::Hello { version, authtoken, agent_id, .. })) => {
                if version != PROTOCOL_VERSION {
                    fail("version");
                    let msg = format!("this PoP speaks tunnel protocol {PROTOCOL_VERSION}, the agent {version}");
                    return Err(refuse(conn, send, ErrorCode::ProtocolVersion, msg).await);
                }
                (authtoken, agent_id)
            }
            Ok(other) => {
                fail("protocol");
                return Err(refuse(conn, send, ErrorCode::BadRequest, format!("expected Hello, got {other:?}")).await);
            }
            Err(e) => {
                fail("protocol");
                metrics::counter!(m::MALFORMED_FRAMES, "side" => "pop").increment(1);
                return Err(refuse(conn, send, ErrorCode::BadRequest, format!("bad hello: {e}")).await);
            }
        };
        match self.hooks.authenticate(&authtoken) {
            Ok(token_id) => Ok((send, recv, token_id, agent_id.chars().take(128).collect())),
            Err(code) => {
                fail("auth");
                warn!(code = %code, "agent refused");
                Err(refuse(conn, send, code, code.title().to_owned()).await)
            }
        }
    }

    async fn control_loop(
        &self,
        id: SessionId,
        agent_id: &str,
        conn: &quinn::Connection,
        send: &mut quinn::SendStream,
        mut recv: quinn::RecvStream,
    ) -> Result<(), TunnelError> {
        // Reading a frame is not cancel-safe, so the reader runs on its own and hands over
        // whole messages; the loop can then also react to a drain at any time.
        let (tx, mut rx) = mpsc::channel(8);
        let reader = tokio::spawn(async move {
            loop {
                let msg = read_frame::<_, AgentMsg>(&mut recv, MAX_CONTROL_FRAME).await;
                let end = !matches!(msg, Ok(Some(_)));
                if tx.send(msg).await.is_err() || end {
                    break;
                }
            }
        });
        let _abort = AbortOnDrop(reader);
        let session_conn = SessionConn::new(conn.clone());
        let mut drain = self.drain.subscribe();
        let mut draining = false;
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    None | Some(Ok(None)) => return Ok(()),
                    Some(Err(e)) => return Err(e),
                    Some(Ok(Some(AgentMsg::Register { endpoints }))) => {
                        let mut results = Vec::with_capacity(endpoints.len());
                        let mut valid = Vec::with_capacity(endpoints.len());
                        for spec in endpoints {
                            match spec.traffic_policy.as_deref().map(|p| self.hooks.check_policy(p)) {
                                Some(Err(reason)) => results.push(RegisterResult::Refused {
                                    key: spec.key,
                                    code: ErrorCode::PolicyInvalid.as_str().into(),
                                    message: reason,
                                }),
                                _ => valid.push(spec),
                            }
                        }
                        let seed = rand::random::<u64>();
                        results.extend(self.registry.register(id, agent_id, &session_conn, &valid, seed));
                        for r in &results {
                            match r {
                                RegisterResult::Online { url, .. } => info!(endpoint.url = %url, "endpoint online"),
                                RegisterResult::Refused { code, message, .. } => info!(%code, %message, "endpoint refused"),
                            }
                        }
                        write_frame(send, &PopMsg::Registered { results }, MAX_CONTROL_FRAME).await?;
                    }
                    Some(Ok(Some(AgentMsg::Heartbeat { seq }))) => {
                        write_frame(send, &PopMsg::HeartbeatAck { seq }, MAX_CONTROL_FRAME).await?;
                    }
                    Some(Ok(Some(AgentMsg::Hello { .. }))) => {
                        return Err(TunnelError::Unexpected("a second Hello".into()));
                    }
                },
                () = drained(&mut drain), if !draining => {
                    draining = true;
                    write_frame(send, &PopMsg::Drain { reason: "the PoP is shutting down".into() }, MAX_CONTROL_FRAME).await?;
                }
                _ = conn.closed() => return Ok(()),
            }
        }
    }
}

/// Tells the agent why it is refused, then closes the connection.
async fn refuse(
    conn: &quinn::Connection,
    mut send: quinn::SendStream,
    code: ErrorCode,
    message: String,
) -> TunnelError {
    let _ = write_frame(&mut send, &error_msg(code, &message), MAX_CONTROL_FRAME).await;
    let _ = send.finish();
    // Give the agent a moment to read the reason before the connection goes away.
    let _ = tokio::time::timeout(Duration::from_millis(500), conn.closed()).await;
    conn.close(quinn::VarInt::from_u32(crate::session::CLOSE_BY_POP), code.as_str().as_bytes());
    TunnelError::Refused { code: code.as_str().into(), message }
}

fn error_msg(code: ErrorCode, message: &str) -> PopMsg {
    PopMsg::Error { code: code.as_str().into(), message: message.into() }
}

/// Resolves once a drain was requested (the guard of `wait_for` is not `Send`; drop it here).
async fn drained(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|d| *d).await.map(|_| ());
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
