//! The TCP+TLS fallback: the same tunnel for networks that drop UDP.
//!
//! Corporate firewalls, some hotel and train Wi-Fi and strict container egress rules let TCP
//! out but not UDP, so a QUIC handshake never gets an answer. The PoP therefore also listens on
//! TCP at the *same* address and port as its QUIC socket (one number for operators to open and
//! for agents to know), and an agent whose QUIC handshake gets no answer dials that instead.
//!
//! Only the carrier changes. The agent still opens the first stream and speaks
//! Hello/Welcome/Register on it, and the PoP still opens one stream per public connection and
//! writes a `StreamHeader`; `server::control` runs the very same handshake and control loop
//! for both carriers, and the registry sees either through [`StreamOpener`].
//!
//! - **TLS 1.3** (tokio-rustls) with the PoP's tunnel certificate and the QUIC ALPN
//!   (`warren-wire::ALPN`), so an agent never takes an ordinary HTTPS server for a PoP.
//! - **yamux** (tokio-yamux) multiplexes streams over the TLS stream. Each stream has its own
//!   flow-control window; `shutdown()` sends FIN (half-close, like a finished QUIC stream);
//!   dropping a stream that was not shut down resets it.
//! - **Liveness**: both sides send a yamux ping every [`KEEP_ALIVE`], and a session that has
//!   read no byte for [`IDLE_TIMEOUT`] is closed: a dead path is noticed within seconds, as with
//!   QUIC's keep-alives and idle timeout.
//! - **Close reasons**: QUIC carries the reason of a close (`WARREN_ERR_AUTHTOKEN_REVOKED`) in
//!   its CONNECTION_CLOSE; yamux's GoAway carries only a code. A PoP closing a fallback session
//!   on purpose therefore says why on the control stream first (`PopMsg::Error`), and sends
//!   GoAway [`CLOSE_GRACE`] later.
//! - **Truncation is an error**: yamux ends every stream with a clean EOF when the session
//!   dies under it. Reads here fail instead once the session is dead, so a body cut off by a
//!   lost connection is never taken for a complete one (the guarantee `quic_io` gives on QUIC).
//!
//! The price of TCP is head-of-line blocking between streams when packets are lost; that is
//! what getting through a UDP-hostile network costs, and why agents retry QUIC now and then.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf, ReadHalf};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_yamux::{Session, StreamHandle};

use crate::session::{AgentConn, BoxFuture, Transport};
use crate::transport::{IDLE_TIMEOUT, KEEP_ALIVE, MAX_STREAMS_TO_AGENT};
use crate::{StreamOpener, TunnelError, TunnelStream};

/// How long a PoP gives its last word on the control stream before it sends GoAway.
pub const CLOSE_GRACE: Duration = Duration::from_millis(250);
/// How long a closing session waits for the peer's GoAway before it drops the connection.
const GOAWAY_WAIT: Duration = Duration::from_secs(1);
/// Per-stream receive window; it also bounds a yamux frame, read before authentication.
const STREAM_WINDOW: u32 = 1024 * 1024;

/// Which end of the session this is: the agent dials (yamux client), the PoP accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Pop,
    Agent,
}

fn config(side: Side) -> tokio_yamux::Config {
    tokio_yamux::Config {
        // The PoP only ever accepts the control stream; the agent accepts one per request.
        accept_backlog: match side {
            Side::Pop => 4,
            Side::Agent => 256,
        },
        enable_keepalive: true,
        keepalive_interval: KEEP_ALIVE,
        connection_write_timeout: IDLE_TIMEOUT,
        max_stream_count: MAX_STREAMS_TO_AGENT as usize + 8,
        max_stream_window_size: STREAM_WINDOW,
    }
}

/// The rustls client config for the fallback (ALPN is set here).
pub fn client_config(mut tls: rustls::ClientConfig) -> Arc<rustls::ClientConfig> {
    tls.alpn_protocols = vec![warren_wire::ALPN.to_vec()];
    Arc::new(tls)
}

/// The rustls server config for the fallback listener (ALPN is set here).
pub(crate) fn server_config(mut tls: rustls::ServerConfig) -> Arc<rustls::ServerConfig> {
    tls.alpn_protocols = vec![warren_wire::ALPN.to_vec()];
    Arc::new(tls)
}

/// When a byte was last read from the socket: the liveness signal of a session.
pub(crate) struct LastRead {
    origin: Instant,
    millis: AtomicU64,
}

impl LastRead {
    fn touch(&self) {
        self.millis.store(self.origin.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    fn idle(&self) -> Duration {
        self.origin.elapsed().saturating_sub(Duration::from_millis(self.millis.load(Ordering::Relaxed)))
    }
}

/// A socket that records when it last read something.
pub(crate) struct Watched<S> {
    inner: S,
    last_read: Arc<LastRead>,
}

impl<S> Watched<S> {
    pub(crate) fn new(inner: S) -> Watched<S> {
        let last_read = Arc::new(LastRead { origin: Instant::now(), millis: AtomicU64::new(0) });
        Watched { inner, last_read }
    }

    pub(crate) fn last_read(&self) -> Arc<LastRead> {
        self.last_read.clone()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.last_read.touch();
        }
        res
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// One multiplexed session over a TLS stream; its yamux state runs on a task of its own.
///
/// Dropping it closes the session (as dropping the last handle of a QUIC connection does).
pub(crate) struct MuxConn {
    control: tokio_yamux::Control,
    inbound: tokio::sync::Mutex<mpsc::UnboundedReceiver<StreamHandle>>,
    /// Set once a close was asked for, with the reason.
    closing: watch::Sender<Option<String>>,
    /// Set by the driver when the session is gone, with the reason.
    dead: watch::Receiver<Option<String>>,
}

impl MuxConn {
    /// Starts the session over `io`; `last_read` comes from the [`Watched`] socket under it.
    pub(crate) fn start<S>(io: S, last_read: Arc<LastRead>, side: Side) -> MuxConn
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let session = match side {
            Side::Pop => Session::new_server(io, config(side)),
            Side::Agent => Session::new_client(io, config(side)),
        };
        let control = session.control();
        let (inbound_tx, inbound_rx) = mpsc::unbounded_channel();
        let (closing, closing_rx) = watch::channel(None);
        let (dead_tx, dead) = watch::channel(None);
        // The PoP takes one stream from the agent, the control stream (QUIC allows the agent
        // no more than a handful): any other is reset at once instead of piling up unread.
        let accept_limit = match side {
            Side::Pop => 1,
            Side::Agent => usize::MAX,
        };
        tokio::spawn(drive(session, inbound_tx, accept_limit, closing_rx, dead_tx, last_read));
        MuxConn { control, inbound: tokio::sync::Mutex::new(inbound_rx), closing, dead }
    }

    fn wrap(&self, handle: StreamHandle) -> TunnelStream {
        let (recv, send) = tokio::io::split(handle);
        TunnelStream::new(send, MuxRecv { inner: recv, dead: self.dead.clone() })
    }

    /// Opens a stream to the peer.
    pub(crate) async fn open_stream(&self) -> Result<TunnelStream, TunnelError> {
        let handle = self.control.clone().open_stream().await.map_err(|e| TunnelError::Fallback(e.to_string()))?;
        Ok(self.wrap(handle))
    }

    /// The next stream the peer opened; an error once the session is gone.
    pub(crate) async fn accept_stream(&self) -> Result<TunnelStream, TunnelError> {
        match self.inbound.lock().await.recv().await {
            Some(handle) => Ok(self.wrap(handle)),
            None => Err(TunnelError::Fallback(self.closed().await)),
        }
    }

    /// Asks the session to close: GoAway after [`CLOSE_GRACE`], so a last word on a stream
    /// (the reason, for the agent) still goes out. The first reason given wins.
    pub(crate) fn close(&self, reason: &str) {
        self.closing.send_if_modified(|r| {
            let first = r.is_none();
            if first {
                *r = Some(reason.to_owned());
            }
            first
        });
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closing.borrow().is_some() || self.dead.borrow().is_some()
    }

    /// Waits until the session is gone and says why.
    pub(crate) async fn closed(&self) -> String {
        let mut dead = self.dead.clone();
        let reason = dead.wait_for(Option::is_some).await.ok().and_then(|r| r.clone());
        reason.unwrap_or_else(|| "the connection closed".into())
    }

    /// Resolves once a close was asked for (with its reason) or the session is gone (`None`).
    async fn closing_or_closed(&self) -> Option<String> {
        let mut closing = self.closing.subscribe();
        tokio::select! {
            r = closing.wait_for(Option::is_some) => r.ok().and_then(|r| r.clone()),
            _ = self.closed() => None,
        }
    }
}

impl StreamOpener for MuxConn {
    fn open(&self) -> BoxFuture<'_, Result<TunnelStream, TunnelError>> {
        Box::pin(self.open_stream())
    }

    fn is_closed(&self) -> bool {
        MuxConn::is_closed(self)
    }

    fn close(&self, reason: &str) {
        MuxConn::close(self, reason)
    }
}

impl AgentConn for MuxConn {
    fn accept_control(&self) -> BoxFuture<'_, Result<TunnelStream, TunnelError>> {
        Box::pin(self.accept_stream())
    }

    fn closing(&self) -> BoxFuture<'_, Option<String>> {
        Box::pin(self.closing_or_closed())
    }

    fn transport(&self) -> Transport {
        Transport::Tcp
    }
}

/// Runs the yamux session: hands out inbound streams, watches liveness, closes on request.
async fn drive<S>(
    mut session: Session<S>,
    inbound: mpsc::UnboundedSender<StreamHandle>,
    mut accept_limit: usize,
    mut closing: watch::Receiver<Option<String>>,
    dead: watch::Sender<Option<String>>,
    last_read: Arc<LastRead>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    #[derive(PartialEq)]
    enum Phase {
        Open,
        Grace,
        GoingAway,
    }
    let mut phase = Phase::Open;
    let timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(timer);
    let mut tick = tokio::time::interval(KEEP_ALIVE / 2);
    let asked = |closing: &watch::Receiver<Option<String>>| closing.borrow().clone();
    let reason = loop {
        tokio::select! {
            next = session.next() => match next {
                // Past the limit, or nobody accepting any more (the session is being torn
                // down): the stream is dropped, which resets it.
                Some(Ok(stream)) if accept_limit > 0 => {
                    accept_limit -= 1;
                    drop(inbound.send(stream));
                }
                Some(Ok(stream)) => drop(stream),
                Some(Err(e)) => break asked(&closing).unwrap_or_else(|| format!("connection lost: {e}")),
                None => break asked(&closing).unwrap_or_else(|| "closed by the peer".into()),
            },
            _ = tick.tick() => {
                if last_read.idle() > IDLE_TIMEOUT {
                    break "the peer stopped answering (idle timeout)".into();
                }
            }
            changed = closing.changed(), if phase == Phase::Open => {
                // Every handle dropped: close at once; else leave time for a last word.
                let wait = if changed.is_ok() { CLOSE_GRACE } else { Duration::ZERO };
                timer.as_mut().reset(Instant::now() + wait);
                phase = Phase::Grace;
            }
            () = &mut timer, if phase != Phase::Open => {
                if phase == Phase::Grace {
                    if let Err(e) = std::future::poll_fn(|cx| Poll::Ready(session.shutdown(cx))).await {
                        break format!("connection lost: {e}");
                    }
                    timer.as_mut().reset(Instant::now() + GOAWAY_WAIT);
                    phase = Phase::GoingAway;
                } else {
                    break asked(&closing).unwrap_or_else(|| "closed".into());
                }
            }
        }
    };
    // Marked dead before the session (and with it every stream) is dropped, so a stream that
    // ends because of it reads an error rather than a clean end.
    dead.send_replace(Some(reason));
    drop(session);
}

/// The receiving half of a fallback stream: an end caused by a dead session is an error.
struct MuxRecv {
    inner: ReadHalf<StreamHandle>,
    dead: watch::Receiver<Option<String>>,
}

impl AsyncRead for MuxRecv {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() == before && buf.remaining() > 0 => {
                if let Some(reason) = self.dead.borrow().as_ref() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        format!("the tunnel closed: {reason}"),
                    )));
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn pair() -> (MuxConn, MuxConn) {
        let (a, b) = tokio::io::duplex(1 << 20);
        let (a, b) = (Watched::new(a), Watched::new(b));
        let (la, lb) = (a.last_read(), b.last_read());
        (MuxConn::start(a, la, Side::Agent), MuxConn::start(b, lb, Side::Pop))
    }

    #[tokio::test]
    async fn the_pop_takes_only_the_control_stream_from_an_agent() {
        let (agent, pop) = pair();
        let mut control = agent.open_stream().await.unwrap();
        control.send.write_all(b"hello").await.unwrap();
        let mut extra = agent.open_stream().await.unwrap();
        // Refused streams may fail as early as this write.
        let _ = extra.send.write_all(b"more").await;

        let mut got = pop.accept_stream().await.unwrap();
        let mut buf = [0u8; 5];
        got.recv.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        // The second stream is reset, never handed out.
        let mut rest = Vec::new();
        let res = tokio::time::timeout(Duration::from_secs(2), extra.recv.read_to_end(&mut rest)).await.unwrap();
        assert!(res.is_err(), "{res:?}");
        assert!(tokio::time::timeout(Duration::from_millis(200), pop.accept_stream()).await.is_err());

        // Streams the PoP opens reach the agent, in both directions, with half-close.
        let mut down = pop.open_stream().await.unwrap();
        down.send.write_all(b"req").await.unwrap();
        down.send.shutdown().await.unwrap();
        let mut up = agent.accept_stream().await.unwrap();
        let mut req = Vec::new();
        up.recv.read_to_end(&mut req).await.unwrap();
        assert_eq!(req, b"req");
        up.send.write_all(b"resp").await.unwrap();
        up.send.shutdown().await.unwrap();
        let mut resp = Vec::new();
        down.recv.read_to_end(&mut resp).await.unwrap();
        assert_eq!(resp, b"resp");
    }

    #[tokio::test]
    async fn close_gives_the_reason_time_then_ends_both_sides() {
        let (agent, pop) = pair();
        let mut control = agent.open_stream().await.unwrap();
        control.send.write_all(b"x").await.unwrap();
        let mut accepted = pop.accept_stream().await.unwrap();
        pop.close("WARREN_ERR_AUTHTOKEN_REVOKED");
        assert!(pop.is_closed());
        // Within the grace the last word still goes out.
        accepted.send.write_all(b"why").await.unwrap();
        let mut buf = [0u8; 3];
        control.recv.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"why");
        let reason = tokio::time::timeout(Duration::from_secs(3), pop.closed()).await.unwrap();
        assert_eq!(reason, "WARREN_ERR_AUTHTOKEN_REVOKED");
        tokio::time::timeout(Duration::from_secs(3), agent.closed()).await.unwrap();
        assert!(agent.accept_stream().await.is_err());
    }
}
