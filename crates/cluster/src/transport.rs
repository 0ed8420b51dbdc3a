//! The PoP's cluster endpoint: one QUIC socket that both listens and dials, with one
//! authenticated connection per peer, reused for every RPC and forwarded request.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

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

type Slot = Arc<tokio::sync::Mutex<Option<quinn::Connection>>>;

pub(crate) struct Transport {
    endpoint: quinn::Endpoint,
    client: quinn::ClientConfig,
    pub(crate) secret: ClusterSecret,
    pub(crate) me: String,
    conns: Mutex<HashMap<String, Slot>>,
}

impl Transport {
    pub(crate) fn bind(addr: SocketAddr, secret: ClusterSecret, me: String) -> Result<Arc<Transport>, ClusterError> {
        let (server, client) = tls::configs()?;
        let endpoint = quinn::Endpoint::server(server, addr).map_err(|source| ClusterError::Bind { addr, source })?;
        Ok(Arc::new(Transport { endpoint, client, secret, me, conns: Mutex::default() }))
    }

    pub(crate) fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    pub(crate) fn endpoint(&self) -> &quinn::Endpoint {
        &self.endpoint
    }

    /// The authenticated connection to `addr`, dialled if there is none (one dial at a time per
    /// peer; the others wait for it).
    async fn connection(&self, addr: &str) -> Result<quinn::Connection, CallError> {
        let slot =
            self.conns.lock().unwrap_or_else(PoisonError::into_inner).entry(addr.to_owned()).or_default().clone();
        let mut guard = slot.lock().await;
        if let Some(c) = guard.as_ref()
            && c.close_reason().is_none()
        {
            return Ok(c.clone());
        }
        let unreachable = |reason: String| CallError::Unreachable { addr: addr.to_owned(), reason };
        let dial = async {
            let sa = tokio::net::lookup_host(addr)
                .await
                .map_err(|e| unreachable(e.to_string()))?
                .next()
                .ok_or_else(|| unreachable("no address".into()))?;
            let conn = self
                .endpoint
                .connect_with(self.client.clone(), sa, tls::SERVER_NAME)
                .map_err(|e| unreachable(e.to_string()))?
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            match auth::dial(&conn, &self.secret, &self.me).await {
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
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, dial)
            .await
            .map_err(|_| unreachable(format!("no connection within {CONNECT_TIMEOUT:?}")))??;
        *guard = Some(conn.clone());
        Ok(conn)
    }

    /// Forgets the cached connection to `addr` if it is still `conn`, so the next call dials
    /// afresh. Used when an exchange on it failed or timed out: a peer that was killed and
    /// restarted on the same address never answers on the old connection (its new process
    /// does not know it), and waiting for the idle timeout would keep it unreachable for
    /// seconds. The connection itself is left to finish the streams it still carries.
    fn forget(&self, addr: &str, conn: &quinn::Connection) {
        let slot = self.conns.lock().unwrap_or_else(PoisonError::into_inner).get(addr).cloned();
        if let Some(slot) = slot
            && let Ok(mut guard) = slot.try_lock()
            && guard.as_ref().is_some_and(|c| c.stable_id() == conn.stable_id())
        {
            tracing::debug!(%addr, "cluster connection dropped after a failed exchange");
            *guard = None;
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
        if reply.is_err() {
            self.forget(addr, &conn);
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
        if opened.is_err() {
            self.forget(addr, &conn);
        }
        opened
    }

    pub(crate) async fn close(&self) {
        self.endpoint.close(0u32.into(), b"PoP stopping");
        let _ = tokio::time::timeout(Duration::from_secs(1), self.endpoint.wait_idle()).await;
    }
}
