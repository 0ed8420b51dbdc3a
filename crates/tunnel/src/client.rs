//! The agent's side of a tunnel: dial a PoP (QUIC, or TCP+TLS where UDP is blocked),
//! authenticate, register endpoints, accept streams.
//!
//! This is the transport half of the SDK; `warren-agent` builds the reconnecting agent on it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::{Mutex, mpsc};
use tracing::debug;
use warren_wire::{
    AgentMsg, EndpointSpec, MAX_CONTROL_FRAME, MAX_HEAD_FRAME, PROTOCOL_VERSION, PopMsg, RegisterResult, StreamHeader,
};

use crate::fallback::{MuxConn, Side, Watched};
use crate::framed::{read_frame, write_frame};
use crate::{BoxRead, BoxWrite, Transport, TunnelError, TunnelStream, transport};

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

/// A live tunnel to one PoP, over QUIC or the TCP+TLS fallback.
pub struct AgentSession {
    carrier: Carrier,
    control: Mutex<BoxWrite>,
    registered: Mutex<mpsc::Receiver<Vec<RegisterResult>>>,
    events: Mutex<mpsc::Receiver<SessionEvent>>,
    /// The last error code the PoP sent on the control stream: the close reason of a carrier
    /// that has none of its own.
    last_error: Arc<std::sync::Mutex<Option<String>>>,
    pub welcome: Welcome,
}

enum Carrier {
    Quic(quinn::Connection),
    Tcp(MuxConn),
}

/// A UDP endpoint for dialing PoPs; one per agent process.
pub fn client_endpoint(tls: rustls::ClientConfig, ipv6: bool) -> Result<quinn::Endpoint, TunnelError> {
    let bind: SocketAddr = if ipv6 { "[::]:0" } else { "0.0.0.0:0" }.parse().expect("literal address");
    let mut endpoint = quinn::Endpoint::client(bind)?;
    endpoint.set_default_client_config(transport::client_config(tls)?);
    Ok(endpoint)
}

/// How long a QUIC or TCP+TLS handshake may take when nothing better is known.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

impl AgentSession {
    /// Dials `addr` over QUIC, checks its certificate for `server_name`, and authenticates.
    pub async fn connect(
        endpoint: &quinn::Endpoint,
        addr: SocketAddr,
        server_name: &str,
        authtoken: &str,
        agent_id: &str,
    ) -> Result<AgentSession, TunnelError> {
        Self::connect_quic(endpoint, addr, server_name, authtoken, agent_id, HANDSHAKE_TIMEOUT).await
    }

    /// [`AgentSession::connect`] with a bound on the QUIC handshake alone: a short one tells
    /// quickly that UDP gets no answer (see [`AgentSession::connect_tcp`]).
    pub async fn connect_quic(
        endpoint: &quinn::Endpoint,
        addr: SocketAddr,
        server_name: &str,
        authtoken: &str,
        agent_id: &str,
        handshake_timeout: Duration,
    ) -> Result<AgentSession, TunnelError> {
        let conn = tokio::time::timeout(handshake_timeout, endpoint.connect(addr, server_name)?)
            .await
            .map_err(|_| TunnelError::Timeout("the QUIC handshake"))??;
        let (send, recv) = conn.open_bi().await?;
        let control = TunnelStream::new(crate::quic_io::QuicSend::new(send), recv);
        Self::hello(Carrier::Quic(conn), control, authtoken, agent_id).await
    }

    /// Dials `addr` over the TCP+TLS fallback (same port as QUIC), checks the certificate for
    /// `server_name`, and authenticates. `tls` comes from [`crate::fallback::client_config`].
    pub async fn connect_tcp(
        tls: &Arc<rustls::ClientConfig>,
        addr: SocketAddr,
        server_name: &str,
        authtoken: &str,
        agent_id: &str,
    ) -> Result<AgentSession, TunnelError> {
        let name = rustls::pki_types::ServerName::try_from(server_name.to_owned())
            .map_err(|e| TunnelError::Tls(format!("{server_name:?} is not a server name: {e}")))?;
        let handshake = async {
            let tcp = tokio::net::TcpStream::connect(addr).await?;
            let _ = tcp.set_nodelay(true);
            let tcp = Watched::new(tcp);
            let last_read = tcp.last_read();
            let tls = tokio_rustls::TlsConnector::from(tls.clone()).connect(name, tcp).await?;
            Ok::<_, TunnelError>((tls, last_read))
        };
        let (tls, last_read) = tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
            .await
            .map_err(|_| TunnelError::Timeout("the TLS handshake"))??;
        if tls.get_ref().1.alpn_protocol() != Some(warren_wire::ALPN) {
            return Err(TunnelError::Tls(format!("{addr} does not speak the Warren tunnel protocol (ALPN)")));
        }
        let mux = MuxConn::start(tls, last_read, Side::Agent);
        let control = mux.open_stream().await?;
        Self::hello(Carrier::Tcp(mux), control, authtoken, agent_id).await
    }

    /// Says hello on the control stream and waits for the welcome.
    async fn hello(
        carrier: Carrier,
        control: TunnelStream,
        authtoken: &str,
        agent_id: &str,
    ) -> Result<AgentSession, TunnelError> {
        let TunnelStream { mut send, mut recv } = control;
        let hello = AgentMsg::Hello {
            version: PROTOCOL_VERSION,
            authtoken: authtoken.to_owned(),
            agent_id: agent_id.to_owned(),
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        write_frame(&mut send, &hello, MAX_CONTROL_FRAME).await?;
        send.flush().await?;
        let welcome =
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, read_frame::<_, PopMsg>(&mut recv, MAX_CONTROL_FRAME))
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
        let last_error = Arc::default();
        tokio::spawn(control_reader(recv, reg_tx, ev_tx, Arc::clone(&last_error)));
        let session = AgentSession {
            carrier,
            control: Mutex::new(send),
            registered: Mutex::new(reg_rx),
            events: Mutex::new(ev_rx),
            last_error,
            welcome,
        };
        Ok(session)
    }

    /// What carries this tunnel.
    pub fn transport(&self) -> Transport {
        match self.carrier {
            Carrier::Quic(_) => Transport::Quic,
            Carrier::Tcp(_) => Transport::Tcp,
        }
    }

    /// Registers (or re-registers) this session's endpoints and waits for the PoP's answer.
    pub async fn register(&self, endpoints: Vec<EndpointSpec>) -> Result<Vec<RegisterResult>, TunnelError> {
        let mut registered = self.registered.lock().await;
        self.send(&AgentMsg::Register { endpoints }).await?;
        tokio::time::timeout(Duration::from_secs(10), registered.recv())
            .await
            .map_err(|_| TunnelError::Timeout("the registration answer"))?
            .ok_or(TunnelError::ControlClosed)
    }

    /// Sends a heartbeat (keep-alives of the carrier already detect dead paths; this checks
    /// the PoP's control loop is alive too).
    pub async fn heartbeat(&self, seq: u64) -> Result<(), TunnelError> {
        self.send(&AgentMsg::Heartbeat { seq }).await
    }

    async fn send(&self, msg: &AgentMsg) -> Result<(), TunnelError> {
        let mut control = self.control.lock().await;
        write_frame(&mut *control, msg, MAX_CONTROL_FRAME).await?;
        control.flush().await?;
        Ok(())
    }

    /// The next data stream opened by the PoP. Read its header with [`read_stream_header`].
    pub async fn accept(&self) -> Result<TunnelStream, TunnelError> {
        match &self.carrier {
            Carrier::Quic(conn) => {
                let (send, recv) = conn.accept_bi().await?;
                Ok(TunnelStream::new(crate::quic_io::QuicSend::new(send), recv))
            }
            Carrier::Tcp(mux) => mux.accept_stream().await,
        }
    }

    /// The next event from the PoP; `None` once the control stream is gone.
    pub async fn next_event(&self) -> Option<SessionEvent> {
        self.events.lock().await.recv().await
    }

    /// Waits until the tunnel is closed and says why, in words a user can act on (the PoP's
    /// stable code when it closed on purpose).
    pub async fn closed(&self) -> String {
        match &self.carrier {
            Carrier::Quic(conn) => describe_close(&conn.closed().await),
            Carrier::Tcp(mux) => {
                let reason = mux.closed().await;
                let told = self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
                match told {
                    Some(code) => code,
                    None if reason.contains("idle timeout") => "the PoP stopped answering (idle timeout)".into(),
                    None => reason,
                }
            }
        }
    }

    /// Closes the tunnel.
    pub fn close(&self) {
        match &self.carrier {
            Carrier::Quic(conn) => conn.close(quinn::VarInt::from_u32(0), b"agent closing"),
            Carrier::Tcp(mux) => mux.close("agent closing"),
        }
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
    mut recv: BoxRead,
    registered: mpsc::Sender<Vec<RegisterResult>>,
    events: mpsc::Sender<SessionEvent>,
    last_error: Arc<std::sync::Mutex<Option<String>>>,
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
                *last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(code.clone());
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
