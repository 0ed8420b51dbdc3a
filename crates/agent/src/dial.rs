//! Choosing the carrier of a tunnel: QUIC, or TCP+TLS where UDP is blocked.
//!
//! In `auto` mode a dial first gives QUIC [`QUIC_PROBE`] to complete its handshake. If it gets
//! no answer or a network error (not a refusal: a PoP that says no over QUIC says no over TCP
//! too), the same PoP is dialled over TCP+TLS on the same port. A server reached that way is
//! remembered for [`REMEMBER_TCP`], so reconnects do not pay the probe each time; after that a
//! reconnect tries QUIC again, so a network that lets UDP through again gets QUIC back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use warren_tunnel::{AgentSession, TunnelError};

use crate::{AgentEvent, TransportMode};

/// How long QUIC gets to answer before `auto` tries TCP+TLS.
pub(crate) const QUIC_PROBE: Duration = Duration::from_secs(3);
/// How long a server reached only over TCP+TLS is dialled over TCP+TLS directly.
pub(crate) const REMEMBER_TCP: Duration = Duration::from_secs(10 * 60);

/// What the agent learnt about the path to one server.
#[derive(Debug, Default)]
pub(crate) struct PathMemory {
    tcp_until: Option<Instant>,
    warned: bool,
}

/// Everything a dial needs that does not change between dials.
pub(crate) struct Dialer<'a> {
    pub(crate) mode: TransportMode,
    pub(crate) endpoint: &'a quinn::Endpoint,
    pub(crate) tcp_tls: &'a Arc<rustls::ClientConfig>,
    pub(crate) authtoken: &'a str,
    pub(crate) agent_id: &'a str,
}

impl Dialer<'_> {
    /// Opens a tunnel to `server` (`addr`, certificate name `host`) with the configured mode.
    pub(crate) async fn dial(
        &self,
        server: &str,
        addr: SocketAddr,
        host: &str,
        memory: &mut PathMemory,
        events: &mpsc::UnboundedSender<AgentEvent>,
    ) -> Result<AgentSession, TunnelError> {
        let quic =
            |timeout| AgentSession::connect_quic(self.endpoint, addr, host, self.authtoken, self.agent_id, timeout);
        let tcp = || AgentSession::connect_tcp(self.tcp_tls, addr, host, self.authtoken, self.agent_id);
        match self.mode {
            TransportMode::Quic => quic(warren_tunnel::HANDSHAKE_TIMEOUT).await,
            TransportMode::Tcp => tcp().await,
            TransportMode::Auto => {
                if memory.tcp_until.is_some_and(|until| Instant::now() < until) {
                    return tcp().await;
                }
                let quic_err = match quic(QUIC_PROBE).await {
                    Ok(session) => {
                        memory.tcp_until = None;
                        return Ok(session);
                    }
                    Err(e) if e.is_unreachable() => e,
                    Err(e) => return Err(e),
                };
                match tcp().await {
                    Ok(session) => {
                        memory.tcp_until = Some(Instant::now() + REMEMBER_TCP);
                        if !std::mem::replace(&mut memory.warned, true) {
                            let reason = quic_err.to_string();
                            let _ = events.send(AgentEvent::Fallback { server: server.to_owned(), reason });
                        }
                        Ok(session)
                    }
                    // The PoP answered over TCP and said no: that answer is the one to act on.
                    Err(e @ TunnelError::Refused { .. }) => Err(e),
                    Err(e) => Err(TunnelError::NoPath { quic: quic_err.to_string(), tcp: e.to_string() }),
                }
            }
        }
    }
}
