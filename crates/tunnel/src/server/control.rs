//! The handshake and control loop of an agent session, the same for every carrier.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tracing::{info, warn};
use warren_core::ErrorCode;
use warren_wire::{AgentMsg, MAX_CONTROL_FRAME, PROTOCOL_VERSION, PopMsg, RegisterResult};

use super::{HANDSHAKE_TIMEOUT, TunnelServer, drained};
use crate::framed::{read_frame, write_frame};
use crate::metrics as m;
use crate::registry::SessionId;
use crate::session::{AgentConn, SessionConn};
use crate::{BoxRead, BoxWrite, TunnelError, TunnelStream};

impl TunnelServer {
    /// Accepts the control stream, reads Hello, checks the version and the authtoken.
    /// Returns the control stream, the token's id and the agent's id.
    pub(super) async fn handshake(&self, conn: &dyn AgentConn) -> Result<(TunnelStream, String, String), TunnelError> {
        let fail = |reason: &'static str| metrics::counter!(m::HANDSHAKE_FAILURES, "reason" => reason).increment(1);
        let mut control = tokio::time::timeout(HANDSHAKE_TIMEOUT, conn.accept_control()).await.map_err(|_| {
            fail("timeout");
            TunnelError::Timeout("the control stream")
        })??;
        let hello =
            tokio::time::timeout(HANDSHAKE_TIMEOUT, read_frame::<_, AgentMsg>(&mut control.recv, MAX_CONTROL_FRAME))
                .await
                .map_err(|_| {
                    fail("timeout");
                    TunnelError::Timeout("hello")
                })?;
        let send = &mut control.send;
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
            Ok(token_id) => Ok((control, token_id, agent_id.chars().take(128).collect())),
            Err(code) => {
                fail("auth");
                warn!(code = %code, "agent refused");
                Err(refuse(conn, send, code, code.title().to_owned()).await)
            }
        }
    }

    /// Serves registrations and heartbeats until the agent goes away, the session is closed,
    /// or the control stream breaks; tells the agent when the PoP drains.
    pub(super) async fn control_loop(
        &self,
        id: SessionId,
        agent_id: &str,
        conn: &Arc<dyn AgentConn>,
        send: &mut BoxWrite,
        mut recv: BoxRead,
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
        let session_conn = SessionConn::from_arc(conn.clone());
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
                reason = conn.closing() => {
                    // A carrier without close reasons (the TCP fallback): the agent learns
                    // here why, before the carrier goes away.
                    if let Some(code) = reason {
                        let message = ErrorCode::from_code(&code).map_or_else(|| code.clone(), |c| c.title().to_owned());
                        let _ = write_frame(send, &PopMsg::Error { code, message }, MAX_CONTROL_FRAME).await;
                        let _ = send.flush().await;
                    }
                    return Ok(());
                }
            }
        }
    }
}

/// Tells the agent why it is refused, then closes the session.
async fn refuse(conn: &dyn AgentConn, send: &mut BoxWrite, code: ErrorCode, message: String) -> TunnelError {
    let _ = write_frame(send, &error_msg(code, &message), MAX_CONTROL_FRAME).await;
    let _ = send.shutdown().await;
    // Give the agent a moment to read the reason before the session goes away.
    let _ = tokio::time::timeout(Duration::from_millis(500), conn.closing()).await;
    conn.close(code.as_str());
    TunnelError::Refused { code: code.as_str().into(), message }
}

pub(super) fn error_msg(code: ErrorCode, message: &str) -> PopMsg {
    PopMsg::Error { code: code.as_str().into(), message: message.into() }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
