//! The PoP's cluster endpoint: one QUIC socket that both listens and dials, with one
//! authenticated connection per peer, reused for every RPC and forwarded request. A connection
//! is dialled independently of the call that needed it and kept while the peer is heard from,
//! so that peers a long round trip away stay connected (see [`Transport::connection`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use warren_tunnel::TunnelStream;
use warren_tunnel::framed::{read_frame, write_frame};

use crate::rpc::{MAX_RPC, Rpc, RpcReply};
use crate::secret::ClusterSecret;
use crate::{ClusterError, auth, metrics, tls};

/// Dial and authentication, together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a call to a peer failed.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum CallError {
    #[error("cannot reach {addr}: {reason}")]
    Unreachable { addr: String, reason: String },
    #[error("{0}")]
    Io(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the peer sent an unexpected reply")]
    Unexpected,
}

/// A dial's outcome.
type Dialled = Result<quinn::Connection, CallError>;

/// What this PoP holds for one peer address: the live connection, and the dial under way, which
/// every call to that peer waits for. (A `Shared` future rather than a `watch` channel: it wakes
/// its waiters in a fixed order, where tokio's `watch` picks one at random, and the simulation
/// must replay exactly.)
#[derive(Default)]
struct Peer {
    conn: Option<quinn::Connection>,
    dialing: Option<Shared<BoxFuture<'static, Dialled>>>,
    /// Datagrams `conn` had received when that count was last seen to change, and when.
    heard: (u64, Option<tokio::time::Instant>),
}

/// A call that timed out drops its connection only if the connection has been seen to receive
/// nothing at all from the peer for this long: a live peer sends at least keep-alives every 2 s
/// (`tls.rs`) and acknowledges what it gets within a round trip, even when its replies are slow
/// or a lossy path makes QUIC back off; a restarted one never answers on the old connection.
const SILENCE_TO_FORGET: Duration = Duration::from_secs(5);

pub(crate) struct Transport {
    endpoint: quinn::Endpoint,
    client: quinn::ClientConfig,
    pub(crate) secret: ClusterSecret,
    pub(crate) me: String,
    peers: Arc<Mutex<HashMap<String, Peer>>>,
}

impl Transport {
    /// Binds `addr`, or serves on `endpoint` when one is given (a simulation's, already bound).
    pub(crate) fn bind(
        addr: SocketAddr,
        endpoint: Option<quinn::Endpoint>,
        secret: ClusterSecret,
        me: String,
    ) -> Result<Arc<Transport>, ClusterError> {
        let (server, client) = tls::configs()?;
        let endpoint = match endpoint {
            Some(endpoint) => {
                endpoint.set_server_config(Some(server));
                endpoint
            }
            None => quinn::Endpoint::server(server, addr).map_err(|source| ClusterError::Bind { addr, source })?,
        };
        Ok(Arc::new(Transport { endpoint, client, secret, me, peers: Arc::default() }))
    }

    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    pub(crate) fn endpoint(&self) -> &quinn::Endpoint {
        &self.endpoint
    }

    /// The authenticated connection to `addr`, dialled if there is none.
    ///
    /// The dial runs on its own task, bounded by [`CONNECT_TIMEOUT`] only, and every call to that
    /// peer waits for the same one: a caller whose deadline is shorter than the dial (a QUIC
    /// handshake and the secret's proof take two round trips, over 700 ms to the far side of the
    /// planet) gives up waiting but does not cancel the dial, so the next call finds the
    /// connection made instead of starting over and timing out again.
    async fn connection(&self, addr: &str) -> Result<quinn::Connection, CallError> {
        let dialled = {
            let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
            let peer = peers.entry(addr.to_owned()).or_default();
            if let Some(c) = &peer.conn {
                if c.close_reason().is_none() {
                    return Ok(c.clone());
                }
                peer.conn = None;
            }
            match &peer.dialing {
                Some(dial) => dial.clone(),
                None => {
                    let task = tokio::spawn(self.dial(addr.to_owned()));
                    let owned = addr.to_owned();
                    let dial = async move {
                        task.await.unwrap_or_else(|_| {
                            Err(CallError::Unreachable { addr: owned, reason: "the dial was abandoned".into() })
                        })
                    }
                    .boxed()
                    .shared();
                    peer.dialing = Some(dial.clone());
                    dial
                }
            }
        };
        dialled.await
    }

    /// Dials and authenticates `addr` (within [`CONNECT_TIMEOUT`]) and keeps the connection for
    /// the next calls.
    fn dial(&self, addr: String) -> impl Future<Output = Dialled> + Send + 'static {
        let (endpoint, client, secret, me) =
            (self.endpoint.clone(), self.client.clone(), self.secret.clone(), self.me.clone());
        let peers = self.peers.clone();
        async move {
            let unreachable = |reason: String| CallError::Unreachable { addr: addr.clone(), reason };
            let dial = async {
                let sa = tokio::net::lookup_host(addr.as_str())
                    .await
                    .map_err(|e| unreachable(e.to_string()))?
                    .next()
                    .ok_or_else(|| unreachable("no address".into()))?;
                let conn = endpoint
                    .connect_with(client, sa, tls::SERVER_NAME)
                    .map_err(|e| unreachable(e.to_string()))?
                    .await
                    .map_err(|e| unreachable(e.to_string()))?;
                match auth::dial(&conn, &secret, &me).await {
                    Ok(peer) => {
                        tracing::debug!(peer, %addr, "cluster connection up");
                        Ok(conn)
                    }
                    Err(reason) => {
                        metrics::auth_failure("outbound");
                        tracing::warn!(%addr, %reason, "cluster authentication failed");
                        Err(unreachable(reason))
                    }
                }
            };
            let result = tokio::time::timeout(CONNECT_TIMEOUT, dial)
                .await
                .unwrap_or_else(|_| Err(unreachable(format!("no connection within {CONNECT_TIMEOUT:?}"))));
            {
                let mut peers = peers.lock().unwrap_or_else(PoisonError::into_inner);
                let peer = peers.entry(addr.clone()).or_default();
                peer.dialing = None;
                if let Ok(conn) = &result {
                    peer.conn = Some(conn.clone());
                    peer.heard = (conn.stats().udp_rx.datagrams, Some(tokio::time::Instant::now()));
                }
            }
            result
        }
    }

    /// After a call on `conn` timed out: forgets the connection (so the next call dials afresh)
    /// if it has received nothing from the peer for [`SILENCE_TO_FORGET`]. A peer that was killed
    /// and restarted on the same address never answers on the old connection (its new process
    /// does not know it), and waiting for the idle timeout would keep it unreachable for 15 s;
    /// but a peer that is merely far, slow to reply or behind a lossy path still sends
    /// something, and dropping its connection would cost a new handshake across the same path,
    /// which a short call would then cancel again. Other failures keep the connection too: a
    /// broken connection is noticed by its close reason.
    fn forget_if_silent(&self, addr: &str, conn: &quinn::Connection) {
        let received = conn.stats().udp_rx.datagrams;
        let now = tokio::time::Instant::now();
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(peer) = peers.get_mut(addr) else { return };
        if peer.conn.as_ref().is_none_or(|c| c.stable_id() != conn.stable_id()) {
            return;
        }
        match peer.heard {
            (count, Some(since)) if count == received => {
                if now.saturating_duration_since(since) >= SILENCE_TO_FORGET {
                    tracing::debug!(%addr, "cluster connection dropped: nothing heard from the peer for 5 s");
                    peer.conn = None;
                }
            }
            _ => peer.heard = (received, Some(now)),
        }
    }

    /// One request, one reply, within `timeout`.
    pub(crate) async fn call(&self, addr: &str, rpc: &Rpc, timeout: Duration) -> Result<RpcReply, CallError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let conn = tokio::time::timeout_at(deadline, self.connection(addr))
            .await
            .map_err(|_| CallError::Timeout(timeout))??;
        let exchange = async {
            let (mut send, mut recv) = conn.open_bi().await.map_err(|e| CallError::Io(e.to_string()))?;
            write_frame(&mut send, rpc, MAX_RPC).await.map_err(|e| CallError::Io(e.to_string()))?;
            let _ = send.finish();
            read_frame::<_, RpcReply>(&mut recv, MAX_RPC)
                .await
                .map_err(|e| CallError::Io(e.to_string()))?
                .ok_or_else(|| CallError::Io("the peer closed the stream without a reply".into()))
        };
        let reply =
            tokio::time::timeout_at(deadline, exchange).await.map_err(|_| CallError::Timeout(timeout)).flatten();
        if let Err(CallError::Timeout(_)) = reply {
            self.forget_if_silent(addr, &conn);
        }
        reply
    }

    /// Opens a stream, sends `rpc` and waits for the first reply; the stream stays open.
    pub(crate) async fn open(
        &self,
        addr: &str,
        rpc: &Rpc,
        timeout: Duration,
    ) -> Result<(RpcReply, TunnelStream), CallError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let conn = tokio::time::timeout_at(deadline, self.connection(addr))
            .await
            .map_err(|_| CallError::Timeout(timeout))??;
        let exchange = async {
            let (mut send, mut recv) = conn.open_bi().await.map_err(|e| CallError::Io(e.to_string()))?;
            write_frame(&mut send, rpc, MAX_RPC).await.map_err(|e| CallError::Io(e.to_string()))?;
            let reply = read_frame::<_, RpcReply>(&mut recv, MAX_RPC)
                .await
                .map_err(|e| CallError::Io(e.to_string()))?
                .ok_or_else(|| CallError::Io("the peer closed the stream without a reply".into()))?;
            Ok((reply, TunnelStream::from_quic(send, recv)))
        };
        let opened =
            tokio::time::timeout_at(deadline, exchange).await.map_err(|_| CallError::Timeout(timeout)).flatten();
        if let Err(CallError::Timeout(_)) = opened {
            self.forget_if_silent(addr, &conn);
        }
        opened
    }

    pub(crate) async fn close(&self) {
        self.endpoint.close(0u32.into(), b"PoP stopping");
        let _ = tokio::time::timeout(Duration::from_secs(1), self.endpoint.wait_idle()).await;
    }
}
