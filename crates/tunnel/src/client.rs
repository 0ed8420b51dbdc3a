//! The agent's side of a tunnel: dial a PoP, authenticate, register endpoints, accept streams.
//!
//! This is the transport half of the SDK; `warren-agent` builds the reconnecting agent on it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, mpsc};
use tracing::debug;
use warren_wire::{
    AgentMsg, EndpointSpec, MAX_CONTROL_FRAME, MAX_HEAD_FRAME, PROTOCOL_VERSION, PopMsg, RegisterResult, StreamHeader,
};

use crate::framed::{read_frame, write_frame};
use crate::{TunnelError, TunnelStream, transport};

/// Something the PoP said outside a request/response exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// The PoP is going away: reconnect (elsewhere, or here later).
    Drain(String),
    /// A fatal error; the PoP closes the tunnel.
    Error { code: String, message: String },
}

/// What the PoP said when the session opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    pub session_id: String,
    pub pop_id: String,
    pub zone: String,
}

/// A live tunnel to one PoP.
pub struct AgentSession {
    conn: quinn::Connection,
    control: Mutex<quinn::SendStream>,
    registered: Mutex<mpsc::Receiver<Vec<RegisterResult>>>,
    events: Mutex<mpsc::Receiver<SessionEvent>>,
    pub welcome: Welcome,
}

/// A UDP endpoint for dialing PoPs; one per agent process.
pub fn client_endpoint(tls: rustls::ClientConfig, ipv6: bool) -> Result<quinn::Endpoint, TunnelError> {
    let bind: SocketAddr = if ipv6 { "[::]:0" } else { "0.0.0.0:0" }.parse().expect("literal address");
    let mut endpoint = quinn::Endpoint::client(bind)?;
    endpoint.set_default_client_config(transport::client_config(tls)?);
    Ok(endpoint)
}

impl AgentSession {
    /// Dials `addr`, checks its certificate for `server_name`, and authenticates.
    pub async fn connect(
        endpoint: &quinn::Endpoint,
        addr: SocketAddr,
        server_name: &str,
        authtoken: &str,
        agent_id: &str,
    ) -> Result<AgentSession, TunnelError> {
        let conn = tokio::time::timeout(Duration::from_secs(10), endpoint.connect(addr, server_name)?)
            .await
            .map_err(|_| TunnelError::Timeout("the QUIC handshake"))??;
        let (mut send, mut recv) = conn.open_bi().await?;
        let hello = AgentMsg::Hello {
            version: PROTOCOL_VERSION,
            authtoken: authtoken.to_owned(),
            agent_id: agent_id.to_owned(),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        write_frame(&mut send, &hello, MAX_CONTROL_FRAME).await?;
        let welcome =
            match tokio::time::timeout(Duration::from_secs(10), read_frame::<_, PopMsg>(&mut recv, MAX_CONTROL_FRAME))
                .await
                .map_err(|_| TunnelError::Timeout("the PoP's welcome"))??
            {
                Some(PopMsg::Welcome { session_id, pop_id, zone, .. }) => Welcome { session_id, pop_id, zone },
                Some(PopMsg::Error { code, message }) => return Err(TunnelError::Refused { code, message }),
                Some(other) => return Err(TunnelError::Unexpected(format!("{other:?}"))),
                None => return Err(TunnelError::ControlClosed),
            };
        let (reg_tx, reg_rx) = mpsc::channel(4);
        let (ev_tx, ev_rx) = mpsc::channel(16);
        tokio::spawn(control_reader(recv, reg_tx, ev_tx));
        let session = AgentSession {
            conn,
            control: Mutex::new(send),
            registered: Mutex::new(reg_rx),
            events: Mutex::new(ev_rx),
            welcome,
        };
        Ok(session)
    }

    /// Registers (or re-registers) this session's endpoints and waits for the PoP's answer.
    pub async fn register(&self, endpoints: Vec<EndpointSpec>) -> Result<Vec<RegisterResult>, TunnelError> {
        let mut registered = self.registered.lock().await;
        write_frame(&mut *self.control.lock().await, &AgentMsg::Register { endpoints }, MAX_CONTROL_FRAME).await?;
        tokio::time::timeout(Duration::from_secs(10), registered.recv())
            .await
            .map_err(|_| TunnelError::Timeout("the registration answer"))?
            .ok_or(TunnelError::ControlClosed)
    }

    /// Sends a heartbeat (QUIC keep-alives already detect dead paths; this checks the PoP's
    /// control loop is alive too).
    pub async fn heartbeat(&self, seq: u64) -> Result<(), TunnelError> {
        write_frame(&mut *self.control.lock().await, &AgentMsg::Heartbeat { seq }, MAX_CONTROL_FRAME).await
    }

    /// The next data stream opened by the PoP. Read its header with [`read_stream_header`].
    pub async fn accept(&self) -> Result<TunnelStream, TunnelError> {
        let (send, recv) = self.conn.accept_bi().await?;
        Ok(TunnelStream::new(crate::quic_io::QuicSend::new(send), recv))
    }

    /// The next event from the PoP; `None` once the control stream is gone.
    pub async fn next_event(&self) -> Option<SessionEvent> {
        self.events.lock().await.recv().await
    }

    /// Waits until the tunnel is closed and says why, in words a user can act on.
    pub async fn closed(&self) -> String {
        describe_close(&self.conn.closed().await)
    }

    /// Closes the tunnel.
    pub fn close(&self) {
        self.conn.close(quinn::VarInt::from_u32(0), b"agent closing");
    }
}

/// Reads the header the PoP writes at the start of every data stream.
pub async fn read_stream_header(stream: &mut TunnelStream) -> Result<StreamHeader, TunnelError> {
    read_frame(&mut stream.recv, MAX_HEAD_FRAME).await?.ok_or(TunnelError::ControlClosed)
}

/// Turns a QUIC close into a reason: the PoP's stable code when it closed on purpose.
pub fn describe_close(e: &quinn::ConnectionError) -> String {
    match e {
        quinn::ConnectionError::ApplicationClosed(a) => String::from_utf8_lossy(&a.reason).into_owned(),
        quinn::ConnectionError::TimedOut => "the PoP stopped answering (idle timeout)".into(),
        other => other.to_string(),
    }
}

async fn control_reader(
    mut recv: quinn::RecvStream,
    registered: mpsc::Sender<Vec<RegisterResult>>,
    events: mpsc::Sender<SessionEvent>,
) {
    loop {
        match read_frame::<_, PopMsg>(&mut recv, MAX_CONTROL_FRAME).await {
            Ok(Some(PopMsg::Registered { results })) => {
                let _ = registered.send(results).await;
            }
            Ok(Some(PopMsg::HeartbeatAck { .. })) => {}
            Ok(Some(PopMsg::Drain { reason })) => {
                let _ = events.send(SessionEvent::Drain(reason)).await;
            }
            Ok(Some(PopMsg::Error { code, message })) => {
                let _ = events.send(SessionEvent::Error { code, message }).await;
            }
            Ok(Some(PopMsg::Welcome { .. })) => debug!("ignoring a second welcome"),
            Ok(None) => break,
            Err(e) => {
                metrics::counter!(crate::metrics::MALFORMED_FRAMES, "side" => "agent").increment(1);
                debug!(error = %e, "control stream from the PoP failed");
                break;
            }
        }
    }
}

impl std::fmt::Debug for AgentSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentSession").field("welcome", &self.welcome).finish()
    }
}

/// Shared so several tasks can use one session.
pub type SharedSession = Arc<AgentSession>;
